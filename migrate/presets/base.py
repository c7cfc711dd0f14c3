"""What an S3-compatible provider is known to need: endpoints, addressing, part limits, and
which optional bucket features it has. A preset is data, not a subclass.

``qualified`` says whether the provider offers a SecNumCloud-qualified object storage as far
as public sources say (see docs/security.md); a policy can refuse unqualified presets. A
feature is True or False where the provider documents it, None where only ``migrate probe``
can tell (apply then tries it and carries on with a warning when the server does not have it).
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024**2
GiB = 1024**3


@dataclass(frozen=True)
class Features:
    bucket_tagging: bool | None = None
    bucket_encryption: bool | None = None
    versioning: bool | None = None

    def as_dict(self) -> dict[str, bool | None]:
        return {
            "bucket_tagging": self.bucket_tagging,
            "bucket_encryption": self.bucket_encryption,
            "versioning": self.versioning,
        }


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
    qualified_regions: frozenset[str] | None = None
    """Where the preset is qualified only in some regions; None means every region."""
    endpoint_hosts: tuple[str, ...] = ()
    """Host patterns the provider's endpoints have (``*.outscale.com``); empty: any."""
    features: Features = Features()

    def endpoint_for(self, region: str | None) -> str | None:
        if self.endpoint_template is None or region is None:
            return None
        return self.endpoint_template.format(region=region)
