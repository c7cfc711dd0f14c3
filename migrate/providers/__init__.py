"""The storage providers, registered in one place, each with what it declares.

A provider is a name the inventory gives (``source.provider``, ``target.provider``), the fields
it needs, whether it is reached over the network (endpoint policy, regions, presets) and its
optional features. The adapters that implement them are built by ``migrate.wiring`` from the
same names; nothing else asks which provider it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.ports import TargetCapabilities
from migrate.presets import PRESETS, Features


@dataclass(frozen=True)
class SourceProvider:
    name: str
    required: tuple[str, ...]
    """Inventory fields of ``source`` the provider needs, with what each is for."""
    network: bool
    azure_container_names: bool = False
    """Containers follow Azure's naming rules (checked at plan time)."""


@dataclass(frozen=True)
class TargetProvider:
    name: str
    required: tuple[str, ...]
    network: bool
    """Reached over the network: endpoint policy, regions and presets apply."""
    local_features: Features = field(default_factory=Features)

    def features(self, preset: str) -> Features:
        return PRESETS[preset].features if self.network else self.local_features

    def capabilities(self, preset: str) -> TargetCapabilities:
        if not self.network:  # a local folder: plain files, no encryption at rest
            return TargetCapabilities(max_metadata_bytes=None, encryption_modes=frozenset({"none"}))
        limits = PRESETS[preset]
        return TargetCapabilities(
            max_parts=limits.max_parts,
            min_part_size=limits.min_part_size,
            max_part_size=limits.max_part_size,
            max_single_put=limits.max_single_put,
            encryption_modes=limits.encryption_modes | {"none"},
        )


SOURCES: dict[str, SourceProvider] = {
    "azure": SourceProvider(
        "azure", required=("account",), network=True, azure_container_names=True
    ),
    "local": SourceProvider("local", required=("path",), network=False),
}

TARGETS: dict[str, TargetProvider] = {
    "s3": TargetProvider("s3", required=("region",), network=True),
    "local": TargetProvider(
        "local",
        required=("path",),
        network=False,
        local_features=Features(bucket_tagging=True, bucket_encryption=False, versioning=False),
    ),
}

REQUIRED_FOR = {
    "account": "the storage account name",
    "path": "a folder with one folder per container or bucket",
    "region": "the region of the target",
}


def source_provider(name: str) -> SourceProvider:
    return SOURCES[name]


def target_provider(name: str) -> TargetProvider:
    return TARGETS[name]
