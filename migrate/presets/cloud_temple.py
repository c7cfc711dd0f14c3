"""Cloud Temple (Dell ECS): path style only, endpoint given per customer; qualified."""

from migrate.presets.base import Preset

PRESET = Preset("cloud-temple", None, None, path_style=True, qualified=True)
