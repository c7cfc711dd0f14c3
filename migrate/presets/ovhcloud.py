"""OVHcloud Object Storage (the same API also serves non-EU regions)."""

from migrate.presets.base import Features, Preset

PRESET = Preset(
    "ovhcloud",
    "https://s3.{region}.io.cloud.ovh.net",
    frozenset({"gra", "sbg", "rbx", "de", "uk", "waw", "bhs", "ca-east-tor", "eu-west-par"}),
    path_style=False,
    endpoint_hosts=("*.cloud.ovh.net",),
    features=Features(bucket_tagging=True, bucket_encryption=True, versioning=True),
)
