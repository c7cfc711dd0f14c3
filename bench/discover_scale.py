"""``migrate discover`` at scale (issue 18): one container of a million objects, listed in
pages of 5,000 made on the fly (nothing is stored), through the discovery the command runs.
Measures the wall time, the objects per second, and the peak RSS after 10,000 objects and
after the million: the listing must stream (flat memory).

Writes bench/results/discover_scale.json and the "Discovery at scale" section of
docs/benchmarks.md.

    .venv/bin/python bench/discover_scale.py [--objects 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from report import replace_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from migrate.commands.discover import discover
from migrate.inventory.discovery import load_discovery_source
from migrate.ports import ListingPage, ObjectInfo, SourceCapabilities

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "discover_scale.json"
PAGE = 5000
SOURCE = b"""version: 1
name: scale
source: {provider: local, path: /srv/none}
policy: {require_encryption: false}
"""


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Generated:
    """A container of ``count`` objects, each page made when it is asked for."""

    capabilities = SourceCapabilities(native_md5=True, page_size=PAGE)

    def __init__(self, count: int) -> None:
        self.count = count
        self.peaks: dict[int, float] = {}

    def list_containers(self) -> Iterator[str]:
        yield "claims"

    def list_page(self, container: str, prefix: str, marker: str | None) -> ListingPage:
        start = int(marker or 0)
        end = min(start + PAGE, self.count)
        objects = [
            ObjectInfo(key=f"2026/{n // 1000:04d}/{n:07d}.parquet", size=4096 + n % 977, tier="Hot")
            for n in range(start, end)
        ]
        if end in (10_000, self.count):
            self.peaks[end] = _peak_mib()
        return ListingPage(objects, None if end == self.count else str(end))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1_000_000)
    args = parser.parse_args()
    source = Generated(args.objects)
    spec = load_discovery_source(SOURCE, "source.yaml", {}).spec
    started = time.perf_counter()
    result = discover(spec, source)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    tally = result.containers[0].tally
    expected = sum(4096 + n % 977 for n in range(args.objects))
    figures: dict[str, Any] = {
        "objects": tally.objects,
        "bytes": tally.bytes,
        "exact": tally.objects == args.objects and tally.bytes == expected,
        "seconds": round(wall, 1),
        "objects_per_second": round(tally.objects / wall),
        "peak_rss_mib_after_10k": round(source.peaks[10_000], 1),
        "peak_rss_mib_after_all": round(source.peaks[args.objects], 1),
    }
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    replace_section("Discovery at scale", section(figures))
    print(json.dumps(figures, indent=2))


def section(figures: dict[str, Any]) -> str:
    return (
        "## Discovery at scale\n\n"
        "`bench/discover_scale.py`: one container of "
        f"{figures['objects']:,} objects listed in pages of {PAGE:,} made on the fly, "
        "through the discovery `migrate discover` runs (counts, tiers, the name and size "
        "rules). The listing streams: the peak RSS after the first 10,000 objects and after "
        "the last are the same to within a page.\n\n"
        "| Objects | Counted exactly | Wall | Objects/s | Peak RSS at 10,000 | at the end |\n"
        "|---|---|---|---|---|---|\n"
        f"| {figures['objects']:,} | {'yes' if figures['exact'] else 'NO'} | "
        f"{figures['seconds']} s | {figures['objects_per_second']:,} | "
        f"{figures['peak_rss_mib_after_10k']} MiB | {figures['peak_rss_mib_after_all']} MiB |\n"
        "\nThe time includes making the pages; against Azure the "
        "listing's own requests, 5,000 names each, set the pace.\n"
    )


if __name__ == "__main__":
    main()
