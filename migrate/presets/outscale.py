"""3DS Outscale OOS (Scality-based); SecNumCloud-qualified in cloudgouv-eu-west-1."""

from migrate.presets.base import Features, Preset

PRESET = Preset(
    "outscale",
    "https://oos.{region}.outscale.com",
    frozenset({"eu-west-2", "cloudgouv-eu-west-1", "us-east-2", "us-west-1", "ap-northeast-1"}),
    path_style=True,
    encryption_modes=frozenset({"AES256", "aws:kms"}),
    qualified=True,
    qualified_regions=frozenset({"cloudgouv-eu-west-1"}),
    endpoint_hosts=("*.outscale.com",),
    features=Features(bucket_tagging=True, bucket_encryption=True, versioning=True),
)
