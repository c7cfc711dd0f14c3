"""The S3 provider presets, registered here: adding a preset is one module and one line."""

from __future__ import annotations

from migrate.presets import cloud_temple, generic, outscale, ovhcloud, scaleway
from migrate.presets.base import Features, GiB, MiB, Preset

PRESETS: dict[str, Preset] = {
    module.PRESET.name: module.PRESET
    for module in (generic, outscale, ovhcloud, scaleway, cloud_temple)
}

__all__ = ["PRESETS", "Features", "GiB", "MiB", "Preset"]
