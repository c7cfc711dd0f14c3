"""``migrate discover`` without a server: names, the listing's figures and findings over the
in-memory source, SOURCE.yaml's errors, and the inventory it writes (that it loads and plans)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrate.cli.discover import write_new
from migrate.commands.discover import (
    EXAMPLES,
    DatabaseReader,
    Discovery,
    discover,
    service_names,
    target_limits,
)
from migrate.databases import DatabaseSurvey, TableInfo
from migrate.errors import (
    InvalidInput,
    InventoryError,
    PermanentStorageError,
    PolicyViolation,
    StorageError,
    TransientStorageError,
)
from migrate.inventory.discovery import LoadedSource, load_discovery_source
from migrate.inventory.loader import load_inventory
from migrate.naming import SERVICE_NAME, derive_service_name
from migrate.planner.build import build_plan
from migrate.ports import ListingPage, ObjectAttributes, ObjectInfo, TargetCapabilities
from migrate.views.discovered_inventory import inventory_text, target_placeholder
from migrate.views.discovery import as_dict, printable, render_readiness
from tests.fakes import FakeSource

HEAD = b"""version: 1
name: hub
source:
  provider: local
  path: /srv/hub   # one folder per container
policy:
  require_encryption: false
"""
TARGET = {"provider": "local", "path": "/srv/target", "encryption": "none"}


def _loaded(text: bytes = HEAD, env: dict[str, str] | None = None) -> LoadedSource:
    return load_discovery_source(text, "source.yaml", env or {})


def _discover(
    fake: FakeSource,
    loaded: LoadedSource | None = None,
    reader: DatabaseReader | None = None,
    capabilities: TargetCapabilities | None = None,
) -> Discovery:
    loaded = loaded or _loaded()
    return discover(
        loaded.spec, fake, reader, capabilities=capabilities, sleep=lambda _seconds: None
    )


def _written(result: Discovery, loaded: LoadedSource, target: dict[str, Any] | None) -> str:
    head = loaded.head()
    if target is not None:
        head = {**head, "target": target}
        head = {key: head[key] for key in ("version", "name", "source", "target", "policy")}
    return inventory_text(result, head, "source.yaml", "2026-12-02T00:00:00Z")


# -- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("snds-dcir", "snds-dcir"),
        ("$logs", "logs"),
        ("My Data_2026", "my-data-2026"),
        ("a", "a-data"),
        ("é", "data"),
        ("--x--", "x-data"),
    ],
)
def test_a_service_name_is_derived_from_what_it_is_named_after(text: str, expected: str) -> None:
    assert derive_service_name(text, set()) == expected


def test_long_names_are_cut_and_stay_apart() -> None:
    first = derive_service_name("x" * 80, set())
    second = derive_service_name("x" * 80 + "y", set())
    assert first != second
    assert all(SERVICE_NAME.match(name) for name in (first, second))


def test_taken_names_get_a_number_within_63_characters() -> None:
    taken = {"alpha", "alpha-2", "z" * 63}
    assert derive_service_name("alpha", taken) == "alpha-3"
    assert len(derive_service_name("z" * 63, taken)) == 63


def test_valid_names_keep_them_before_any_is_derived() -> None:
    names = service_names(["My-Data", "my-data", "ab", "metadata", "metadata"], 3)
    assert [n for n, _ in names] == ["my-data-2", "my-data", "ab-data", "metadata", "metadata-2"]
    assert names[1][1] is None
    assert "'My-Data'" in str(names[0][1])
    assert "another service has its name" in str(names[4][1])


# -- the listing --------------------------------------------------------------------------


def _fake() -> FakeSource:
    fake = FakeSource()
    fake.add("claims", "2026/01.csv", b"a" * 10, tier="Hot", blob_type="BlockBlob")
    fake.add("claims", "2026/02.csv", b"b" * 20, tier="Cool", blob_type="BlockBlob")
    fake.add("claims", "cold/old.csv", b"c" * 30, tier="Archive", blob_type="BlockBlob")
    fake.add("claims", "ends-with-dot.", b"d", tier="Hot", blob_type="BlockBlob")
    fake.add("claims", "disk.vhd", b"\0" * 512, blob_type="PageBlob")
    fake.add(
        "claims",
        "fat",
        b"e",
        attributes=ObjectAttributes(metadata={"Notes": "n" * 2100}),
        blob_type="BlockBlob",
    )
    fake.add("open-data", "readme.txt", b"hello", tier="Hot", blob_type="BlockBlob")
    fake.containers["empty"] = {}
    return fake


def test_every_container_is_counted_exactly_with_its_findings() -> None:
    result = _discover(_fake())
    claims, empty, open_data = result.containers
    assert [c.container for c in result.containers] == ["claims", "empty", "open-data"]
    assert (claims.tally.objects, claims.tally.bytes) == (6, 10 + 20 + 30 + 1 + 512 + 1)
    assert claims.tally.tiers == {"Hot": 2, "Cool": 1, "Archive": 1, "no tier": 2}
    assert claims.tally.blob_types == {"BlockBlob": 5, "PageBlob": 1}
    found = {p.kind: [key for key, _ in p.examples] for p in claims.problems}
    assert found == {
        "refused-name": ["ends-with-dot."],
        "archive": ["cold/old.csv"],
        "metadata": ["fat"],
    }
    assert len(claims.reasons) == 3
    assert (empty.tally.objects, empty.reasons) == (0, [])
    assert (open_data.tally.bytes, open_data.reasons) == (5, [])
    assert not result.failed
    assert not result.ready


def test_counts_are_exact_and_examples_few() -> None:
    fake = FakeSource()
    for index in range(40):
        fake.add("names", f"bad/{index:02d}/", b"x")
    fake.add("names", "big.bin", b"x" * 2048)
    result = _discover(fake, capabilities=TargetCapabilities(max_object_size=1024))
    problems = {p.kind: p for p in result.containers[0].problems}
    assert problems["refused-name"].count == 40
    assert [k for k, _ in problems["refused-name"].examples] == [
        f"bad/{i:02d}/" for i in range(EXAMPLES)
    ]
    assert problems["too-large"].count == 1
    assert "over the target's 1024" in problems["too-large"].examples[0][1]


class _Endless:
    """A source of ``pages`` pages of ``size`` objects made on the fly: nothing is stored."""

    def __init__(self, pages: int, size: int) -> None:
        self.pages, self.size = pages, size

    def list_containers(self) -> Iterator[str]:
        yield "huge"

    def list_page(self, container: str, prefix: str, marker: str | None) -> ListingPage:
        number = int(marker or 0)
        objects = [
            ObjectInfo(key=f"k/{number:06d}/{index:05d}.bin", size=3, tier="Hot")
            for index in range(self.size)
        ]
        last = number + 1 == self.pages
        return ListingPage(objects, None if last else str(number + 1))


def test_a_listing_is_never_held_whatever_its_length() -> None:
    source = _Endless(pages=20, size=1000)
    tracemalloc.start()
    try:
        loaded = _loaded()
        result = discover(loaded.spec, source)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.containers[0].tally.objects, result.containers[0].tally.bytes) == (20000, 60000)
    assert peak < 4 * 1024**2  # a page or two (under 1 MiB each), not 20 of them


def test_a_transient_error_is_retried_and_a_permanent_one_reported() -> None:
    fake = _fake()
    fake.faults.inject("list", TransientStorageError("busy"), at=[1])
    fake.faults.inject("list", PermanentStorageError("HTTP 403 AuthorizationFailure"), at=[5])
    result = _discover(fake)
    claims, empty, open_data = result.containers
    assert claims.error is None
    assert claims.tally.objects == 6
    assert empty.error is None
    assert open_data.error == "HTTP 403 AuthorizationFailure"
    assert result.failed
    assert open_data.reasons[0].tag == "listing failed"
    assert "HTTP 403" in open_data.reasons[0].text


def test_the_containers_listing_failing_is_an_error() -> None:
    fake = _fake()
    fake.faults.inject("containers", PermanentStorageError("HTTP 403"))
    with pytest.raises(StorageError):
        _discover(fake)


def test_names_are_checked_against_the_target_preset_when_there_is_one() -> None:
    outscale = _loaded(
        HEAD + b"target: {provider: s3, preset: outscale, region: cloudgouv-eu-west-1}\n"
    )
    assert target_limits(outscale.spec)[1] == "the limits of preset 'outscale'"
    assert target_limits(_loaded().spec)[1] == "the default S3 limits (no target given)"


# -- databases ----------------------------------------------------------------------------


def _survey() -> DatabaseSurvey:
    tables = (
        TableInfo("public", "datasets", ("id",), "d"),
        TableInfo("public", "audit_trail", (), "d"),
        TableInfo("public", "events", (), "f"),
    )
    return DatabaseSurvey(15, 12 * 1024**2, tables, ("pg_trgm",), 0, True)


def test_databases_are_read_and_an_unreachable_one_is_a_finding() -> None:
    loaded = _loaded(
        HEAD
        + b"databases:\n  - {name: metadata, url_env: META_URL}\n"
        + b"  - {name: Old_DB, url_env: OLD_URL}\n"
    )

    def reader(url_env: str, what: str) -> DatabaseSurvey:
        if url_env == "OLD_URL":
            raise StorageError(f"{what}: cannot connect (connection refused)")
        return _survey()

    result = _discover(FakeSource(), loaded, reader)
    metadata, old = result.databases
    assert metadata.service == "metadata"
    assert [t.qualified for t in metadata.survey.without_identity] == ["public.audit_trail"]  # type: ignore[union-attr]
    assert [r.tag for r in metadata.reasons] == ["no key"]
    assert "tables without a primary key or replica identity: 1" in metadata.reasons[0].text
    assert (old.service, old.survey) == ("old-db", None)
    assert "connection refused" in str(old.error)
    assert result.failed
    found = as_dict(result)["databases"]
    assert found[0]["without_identity"] == ["public.audit_trail"]
    assert found[0]["size_bytes"] == 12 * 1024**2
    assert found[1]["verdict"] == "needs action"


# -- SOURCE.yaml --------------------------------------------------------------------------


def _problems(text: bytes, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        _loaded(text, env)
    return [str(p) for p in caught.value.problems]


def test_source_yaml_problems_name_file_line_and_field() -> None:
    text = b"""version: 1
name: hub
source:
  provider: azure
  acount: devstoreaccount1
databases:
  - {name: meta, url_env: "not a variable"}
  - {name: meta, url_env: META_URL}
"""
    problems = _problems(text)
    assert "source.yaml:5: source.acount: unknown field 'acount'" in problems
    assert "source.yaml:7: databases[0].url_env: 'not a variable' is not valid: " in problems[1]


def test_duplicate_databases_and_services_are_refused() -> None:
    text = HEAD + b"databases:\n  - {name: m, url_env: A}\n  - {name: m, url_env: B}\n"
    assert any("listed twice" in p for p in _problems(text))
    assert any("writes the services itself" in p for p in _problems(HEAD + b"services: []\n"))


def test_malformed_yaml_has_its_line() -> None:
    problems = _problems(b"version: 1\nsource: {provider: local\nname: x\n")
    assert problems[0].startswith("source.yaml:")
    assert "YAML syntax" in problems[0]


def test_an_inline_secret_is_refused_and_never_shown() -> None:
    text = HEAD.replace(b"  path: /srv/hub", b"  path: /srv/hub\n  key: Zm9vYmFy" + b"A" * 80)
    with pytest.raises(PolicyViolation) as caught:
        _loaded(text)
    assert "AAAA" not in str([str(p) for p in caught.value.problems])


def test_a_plain_http_source_outside_loopback_is_refused() -> None:
    text = (
        b"version: 1\nname: x\nsource: {provider: azure, account: a, endpoint: 'http://10.0.0.5'}\n"
    )
    with pytest.raises(PolicyViolation):
        _loaded(text)
    assert load_discovery_source(text, "s.yaml", {}, insecure=True).spec.source.account == "a"


def test_variables_are_kept_as_written_for_the_inventory() -> None:
    text = b"version: 1\nname: x\nsource: {provider: local, path: '${HUB_ROOT}/data'}\n"
    loaded = _loaded(text, {"HUB_ROOT": "/srv"})
    assert loaded.spec.source.path == "/srv/data"
    assert loaded.head()["source"]["path"] == "${HUB_ROOT}/data"
    with pytest.raises(InventoryError):
        _loaded(text)


# -- the inventory written ----------------------------------------------------------------


def test_the_inventory_loads_and_plans_once_the_target_is_filled_in() -> None:
    loaded = _loaded(HEAD + b"databases:\n  - {name: metadata, url_env: META_URL}\n")
    result = _discover(_fake(), loaded, lambda _env, _what: _survey())
    text = _written(result, loaded, None)
    assert "# target:" in text
    with pytest.raises(InventoryError) as caught:
        load_inventory(text.encode(), "inv.yaml", {})
    assert "missing required field 'target'" in str([str(p) for p in caught.value.problems])
    filled = load_inventory(_written(result, loaded, TARGET).encode(), "inv.yaml", {})
    services = {s.name: s for s in filled.inventory.services}
    assert set(services) == {"claims", "empty", "open-data", "metadata"}
    claims = services["claims"].data
    assert claims is not None
    assert (claims.size_estimate, claims.object_estimate) == (574, 6)
    database = services["metadata"].database
    assert database is not None
    assert database.source_url_env == "META_URL"
    assert database.target_url_env == target_placeholder("metadata")
    assert database.size_estimate == 12 * 1024**2
    plan = build_plan(filled)
    assert plan.services["claims"].estimated_objects == 6


def test_findings_are_comments_above_their_service() -> None:
    loaded = _loaded()
    text = _written(_discover(_fake(), loaded), loaded, TARGET)
    block = text[text.index("# container 'claims'") : text.index("- name: claims")]
    assert "access tiers: Hot 2, no tier 2, Archive 1, Cool 1" in block
    assert "blob types: BlockBlob 5, PageBlob 1" in block
    assert "'ends-with-dot.': name ends with '.'" in block
    assert "Archive blobs: 1 (rehydrate them first" in block
    assert all(line.strip().startswith("#") for line in block.splitlines() if line.strip())


def test_hostile_names_stay_inside_their_comments() -> None:
    fake = FakeSource()
    fake.add("claims", "evil\nservices: []\n\x1b[2Jname", b"x")
    fake.add("claims", "line\u2028sep", b"x")
    fake.containers["weird: {name}\n#"] = {}
    loaded = _loaded()
    result = _discover(fake, loaded)
    text = _written(result, loaded, TARGET)
    data = yaml.safe_load(text)
    assert [s["data"]["container"] for s in data["services"]] == ["claims", "weird: {name}\n#"]
    assert "\x1b" not in text
    assert "\\x1b[2J" in text
    rendered = str(render_readiness(result))
    assert printable("a\x1bb") == "a\\x1bb"
    assert "\x1b" not in rendered
    load_inventory(text.encode(), "inv.yaml", {})


def test_a_container_the_inventory_cannot_name_is_written_commented_out() -> None:
    loaded = _loaded(
        b"version: 1\nname: x\nsource: {provider: azure, account: acct}\n"
        b"policy: {require_encryption: false}\n"
    )
    fake = FakeSource()
    fake.add("$logs", "2026/01/01/0000.log", b"log")
    fake.add("$root", "index.html", b"<html>")
    fake.add("claims", "a.csv", b"a")
    result = _discover(fake, loaded)
    logs, root, claims = result.containers
    assert "not a valid Azure container name" in str(logs.excluded)
    assert claims.excluded is None
    assert (root.excluded, root.bucket) == (None, "root")
    text = _written(result, loaded, TARGET)
    assert "  # - name: logs" in text
    inventory = load_inventory(text.encode(), "inv.yaml", {}).inventory
    assert [s.name for s in inventory.services] == ["root", "claims"]
    assert inventory.bucket_of(inventory.services[0]) == "root"


def test_an_empty_account_writes_no_service() -> None:
    loaded = _loaded()
    text = _written(_discover(FakeSource(), loaded), loaded, TARGET)
    assert yaml.safe_load(text)["services"] == []


# -- writing the file ---------------------------------------------------------------------


def test_an_existing_file_is_never_replaced_without_force(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("hand-edited\n")
    with pytest.raises(InvalidInput, match="--force"):
        write_new(path, "new\n", force=False)
    assert path.read_text() == "hand-edited\n"
    write_new(path, "new\n", force=True)
    assert path.read_text() == "new\n"
    write_new(tmp_path / "fresh.yaml", "x\n", force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.yaml", "inv.yaml"]


def test_a_name_holding_a_line_separator_is_written_so_that_it_reads_back_the_same() -> None:
    """U+2028 in a folder name, beside the name it would collapse to: the written inventory
    names each container exactly (a raw separator loads back as a space)."""
    fake = FakeSource()
    fake.add("a\u2028b", "x.csv", b"1")
    fake.add("a b", "y.csv", b"22")
    loaded = _loaded()
    filled = load_inventory(
        _written(_discover(fake, loaded), loaded, TARGET).encode(), "inv.yaml", {}
    )
    containers = {
        s.data.container: s.data.size_estimate for s in filled.inventory.services if s.data
    }
    assert containers == {"a\u2028b": 1, "a b": 2}
