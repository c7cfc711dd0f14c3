"""Scaleway Object Storage: 1,000 parts per upload; not qualified as far as public sources say."""

from migrate.presets.base import Features, Preset

PRESET = Preset(
    "scaleway",
    "https://s3.{region}.scw.cloud",
    frozenset({"fr-par", "nl-ams", "pl-waw"}),
    path_style=False,
    max_parts=1_000,
    encryption_modes=frozenset({"AES256", "SSE-C"}),
    endpoint_hosts=("*.scw.cloud",),
    features=Features(bucket_tagging=True, bucket_encryption=None, versioning=True),
)
