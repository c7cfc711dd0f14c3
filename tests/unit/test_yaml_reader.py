"""The event reader gives what PyYAML's composer and SafeConstructor give: data, duplicate
keys, lines; and refuses what would cost more than its size."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.inventory import loader, yamlevents, yamlsrc
from migrate.inventory.yamlsrc import LineIndex, Path, YamlDocument, load_yaml
from tests.support import dump, inventory, messages, problems_of

DOCUMENTS = {
    "anchors": "a: &x {p: 1, q: [1, 2]}\nb: *x\nc: [*x, *x]\n",
    "merge": (
        "base: &b {x: 1, y: 2}\nother: &o {y: 3, z: 4}\nm:\n  <<: *b\n  y: 9\n"
        "n:\n  <<: [*b, *o]\n  w: 0\nk:\n  <<: {inline: 1}\n"
    ),
    "merge keys by identity": (
        "b: &b {xx: 1, yy: 2}\no: &o {yy: 3, zz: 4}\nn:\n  <<: [*b, *o]\n  ww: 0\n"
        "q:\n  <<: *o\n  <<: *b\n"
    ),
    "merge nested": "a: &a {aa: 1}\nb: &b {<<: *a, bb: 2}\nc: {<<: *b, cc: 3}\nd: {<<: [*b, *a]}\n",
    "merge of an anchored list": "s: &s [{aa: 1}, {bb: 2, aa: 3}]\nm:\n  <<: *s\n",
    "merge of a scalar": "a: &s 5\nm:\n  <<: *s\n",
    "merge in services": "a: &a {name: x}\nservices:\n  - <<: *a\n    kind: y\n  - <<: *a\n",
    "duplicates": "a: 1\nb: 2\na: 3\na: 4\n",
    "duplicates nested": "s:\n  - name: x\n    name: y\n  - {k: 1, k: 2}\n",
    "duplicates in an anchor": "d: &d {k: 1, k: 2}\ne: *d\nf: [*d, *d]\n",
    "duplicate subtrees": "a:\n  x: 1\n  y: [1, 2]\nb: 2\na:\n  y: [3]\n  z: 2\n",
    "keys of other types": "1: a\n'1': b\ntrue: c\nnull: d\n~: e\n1.5: f\n2001-01-01: g\nyes: h\n",
    "tags": (
        "a: !!str 123\nb: !!int '5'\nc: !!float '1.5'\nd: !!bool 'yes'\ne: !!null ''\n"
        "f: !!binary aGVsbG8=\ng: !!timestamp 2001-12-14\nh: !!map {x: 1}\ni: !!seq [1]\n"
    ),
    "set": "s: !!set {a, b}\n",
    "omap": "o: !!omap [a: 1, b: 2]\n",
    "local tag": "x: !foo bar\n",
    "complex key": "? [a, b]\n: c\n",
    "numbers": (
        "a: 0x1f\nb: 017\nc: 0b101\nd: 1_000\ne: +5\nf: -3\ng: 1:30\nh: .inf\ni: .nan\n"
        "j: 1.0e+3\nk: 9223372036854775807\n"
    ),
    "two documents": "a: 1\n---\nb: 2\n",
    "empty": "",
    "explicit empty": "---\n",
    "scalar": "hello\n",
    "syntax": "a: [1, 2\nb: 3\n",
    "undefined alias": "a: *nope\n",
    "duplicate anchor": "a: &x 1\nb: &x 2\n",
    "value key": "=: a\n",
    "alias as key": "k: &k name\n*k : v\n",
    "block scalars": "a: |\n  one\n  two\nb: >\n  folded\n  text\nc: 'q'\nd: \"d\\n\"\n",
    "nesting limit": "a: " + "[" * 1200 + "]" * 1200 + "\n",
}


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _paths(data: Any, prefix: Path = ()) -> list[Path]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key if isinstance(key, str | int) else str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _assert_like_pyyaml(text: str) -> None:
    ours = load_yaml(text, "f.yaml")
    theirs = yamlsrc._load_with_pyyaml(text, "f.yaml")
    assert _same(ours.data, theirs.data), (ours.data, theirs.data)
    assert sorted(messages_of(ours)) == sorted(messages_of(theirs))
    for path in _paths(theirs.data):
        for probe in (path, (*path, "missing"), (*path, 99)):
            assert ours.lines.line_of(probe) == theirs.lines.line_of(probe), probe


def messages_of(document: YamlDocument) -> list[str]:
    return [str(problem) for problem in document.problems]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_event_reader_reads_like_pyyaml(name: str) -> None:
    _assert_like_pyyaml(DOCUMENTS[name])


_KEYS = st.sampled_from(["a", "b", "name", "kind", "xx", "1", "true", "'q'", "k y", "<<x"])
_SCALARS = st.sampled_from(
    ["foo", "1", "-2", "0x10", "1.5", ".nan", "yes", "~", "''", "2001-12-14", "'s'", "a:b"]
)


@st.composite
def _documents(draw: st.DrawFn) -> str:
    """Block mappings and flow values with repeated keys, anchors and aliases (at most three
    aliases a document: anchors that alias earlier anchors expand exponentially, and the
    reference, PyYAML, has no limit; the limits have tests of their own)."""
    anchors: list[str] = []
    aliases: list[str] = []

    def value(depth: int) -> str:
        choice = draw(st.integers(0, 9))
        if anchors and choice == 0 and len(aliases) < 3:
            aliases.append(draw(st.sampled_from(anchors)))
            return "*" + aliases[-1]
        if depth > 2 or choice < 5:
            return draw(_SCALARS)
        count = draw(st.integers(0, 3))
        if choice < 8:
            text = "{" + ", ".join(f"{draw(_KEYS)}: {value(depth + 1)}" for _ in range(count)) + "}"
        else:
            text = "[" + ", ".join(value(depth + 1) for _ in range(count)) + "]"
        name = f"n{len(anchors)}"  # after the children: an alias only names a finished anchor
        if draw(st.booleans()):
            anchors.append(name)
            return f"&{name} {text}"
        return text

    rows = [f"{draw(_KEYS)}: {value(0)}" for _ in range(draw(st.integers(1, 6)))]
    return "\n".join(rows) + "\n"


@settings(max_examples=300, deadline=None)
@given(_documents())
def test_random_documents_read_like_pyyaml(text: str) -> None:
    _assert_like_pyyaml(text)


def test_duplicate_keys_point_at_the_first_value_under_them() -> None:
    document = load_yaml(DOCUMENTS["duplicate subtrees"], "f.yaml")
    assert document.data == {"a": {"y": [3], "z": 2}, "b": 2}
    assert document.lines.line_of(("a", "y", 1)) == 3  # only the first 'a' has y[1]
    assert document.lines.line_of(("a", "z")) == 7


def test_a_recursive_alias_is_refused() -> None:
    document = load_yaml("a: &a [1, *a]\n", "f.yaml")
    assert document.data is None
    assert document.refused
    assert "recursive alias" in messages_of(document)[0]


def test_aliases_that_repeat_too_much_text_are_refused() -> None:
    text = f"s: &s {'x' * 1_000_000}\nl: [" + ", ".join(["*s"] * 11) + "]\n"
    document = load_yaml(text, "f.yaml")
    assert document.refused
    assert messages_of(document) == [
        "f.yaml:2: aliases repeat more than 100,000 values or 10 MiB of text (alias '*s'): "
        "write the values out, or repeat fewer of them"
    ]


def test_a_document_of_too_many_values_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlevents, "MAX_VALUES", 10)
    document = load_yaml("l: [" + ", ".join(str(i) for i in range(20)) + "]\n", "f.yaml")
    assert document.refused
    assert "more than 10 values" in messages_of(document)[0]


def test_too_many_services_are_refused_before_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_SERVICES", 1)
    error = problems_of(inventory())
    assert error.message == "inv.yaml lists too many services"
    assert messages(error) == [
        "inv.yaml:19: services: 2 services; an inventory may list at most 1 (split the "
        "platform into several inventories)"
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: " + "9" * 5000 + "\n", "integer of 5,000 digits is out of range"),
        ("a: 9223372036854775808\n", "integer 9223372036854775808 is out of range"),
        ("a: !!bool maybe\n", "'maybe' cannot be read as !!bool"),
        ("a: !!int abc\n", "'abc' cannot be read as !!int"),
        ("a: !!timestamp abc\n", "'abc' cannot be read as !!timestamp"),
    ],
)
def test_scalars_that_cannot_be_read_are_problems_with_their_line(text: str, fragment: str) -> None:
    document = load_yaml(text, "f.yaml")
    assert document.refused
    (message,) = messages_of(document)
    assert message.startswith("f.yaml:1: ")
    assert fragment in message


def test_an_empty_line_index_answers_none() -> None:
    assert LineIndex().line_of(("a",)) is None


def test_the_loader_names_what_it_refuses() -> None:
    error = problems_of(dump(inventory()) + b"bomb: &b [" + b", ".join([b"x"] * 3) + b"]\n")
    assert "unknown field 'bomb'" in " ".join(messages(error))
    assert yaml.safe_load(dump(inventory()))["version"] == 1
