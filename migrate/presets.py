"""What each S3-compatible provider is known to need: endpoints, addressing, part limits.

A preset is data, not a subclass. ``qualified`` says whether the provider offers a
SecNumCloud-qualified object storage offer as far as public sources say (see docs/security.md);
a policy can refuse unqualified presets.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024**2
GiB = 1024**3


@dataclass(frozen=True)
class Preset:
    name: str
    endpoint_template: str | None
    """``https://...{region}...``; None when the endpoint must be given in the inventory."""
    regions: frozenset[str] | None
    """Regions the preset knows; None when any region name is accepted."""
    path_style: bool
    max_parts: int = 10_000
    min_part_size: int = 5 * MiB
    max_part_size: int = 5 * GiB
    max_single_put: int = 5 * GiB
    encryption_modes: frozenset[str] = frozenset({"AES256", "aws:kms", "SSE-C"})
    qualified: bool = False

    def endpoint_for(self, region: str | None) -> str | None:
        if self.endpoint_template is None or region is None:
            return None
        return self.endpoint_template.format(region=region)


PRESETS: dict[str, Preset] = {
    "generic": Preset("generic", None, None, path_style=True),
    "outscale": Preset(
        "outscale",
        "https://oos.{region}.outscale.com",
        frozenset({"eu-west-2", "cloudgouv-eu-west-1", "us-east-2", "us-west-1", "ap-northeast-1"}),
        path_style=True,
        encryption_modes=frozenset({"AES256", "aws:kms"}),
        qualified=True,
    ),
    "ovhcloud": Preset(
        "ovhcloud",
        "https://s3.{region}.io.cloud.ovh.net",
        frozenset({"gra", "sbg", "rbx", "de", "uk", "waw", "bhs", "ca-east-tor", "eu-west-par"}),
        path_style=False,
    ),
    "scaleway": Preset(
        "scaleway",
        "https://s3.{region}.scw.cloud",
        frozenset({"fr-par", "nl-ams", "pl-waw"}),
        path_style=False,
        max_parts=1_000,
        encryption_modes=frozenset({"AES256", "SSE-C"}),
    ),
    "cloud-temple": Preset("cloud-temple", None, None, path_style=True, qualified=True),
}

QUALIFIED_REGIONS: dict[str, frozenset[str] | None] = {
    "outscale": frozenset({"cloudgouv-eu-west-1"}),
    "cloud-temple": None,
}
"""Where a preset is qualified only in some regions; None means every region."""
