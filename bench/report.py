"""Write one section of docs/benchmarks.md, replacing the previous run's."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\nMeasured by the scripts under `bench/` (run on demand with `make bench`), "
    "never by timed assertions in tests. Raw results are kept in `bench/results/`.\n\n"
)


def replace_section(heading: str, section: str) -> None:
    """Put ``section`` (starting with ``## heading``) in place of the old one, or append it."""
    text = DOC.read_text() if DOC.exists() else HEADER
    start = text.find(f"## {heading}")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section.rstrip("\n") + "\n" + (text[end:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    DOC.write_text(text)
