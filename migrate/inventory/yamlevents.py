"""Build the Python data of a YAML document straight from the parser's events.

What PyYAML's composer and ``SafeConstructor`` would build, without the node tree in
between: a node with its two marks costs about 37 bytes of memory per byte of YAML, and
composing nodes then constructing them walks the document twice. Events are read once and
dropped, so memory holds the data and, for each mapping and list, the lines of its entries.

While reading, hostile documents are refused within bounded work: aliases that would repeat
more than ``MAX_ALIAS_VALUES`` values or ``MAX_ALIAS_CHARS`` characters (a "billion laughs"),
an alias inside the value it names, integers beyond 64 bits (Python refuses to read those
over 4,300 digits, and nothing downstream wants them). libyaml already refuses nesting
deeper than 1,000.

What this reader does not build itself (tags other than the core ones on a collection,
mapping keys that are collections, and any construction error) it hands back: the caller
then lets PyYAML build the document, which gives exactly PyYAML's data and messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.resolver import Resolver

MAX_ALIAS_VALUES = 100_000
"""Values (scalars, lists, mappings) that aliases may repeat, in all."""
MAX_ALIAS_CHARS = 10 * 1024 * 1024
"""Characters of scalars that aliases may repeat, in all."""
MAX_VALUES = 1_000_000
"""Values written in one document (about 70,000 services): reading more would take more
memory and time than any inventory needs (each value costs some hundred bytes here)."""
MAX_INT = 2**63 - 1
"""Integers are 64-bit signed: what JSON readers, SQLite and the SDKs take."""
_MAX_INT_CHARS = 100
"""A longer integer literal is refused before Python converts it (that is quadratic)."""

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
_RESOLVERS: dict[Any, list[tuple[str, Any]]] = Resolver.yaml_implicit_resolvers
_BOOL_VALUES: dict[str, bool] = SafeConstructor.bool_values
_EMPTY: tuple[tuple[str, Any], ...] = ()

if None in _RESOLVERS or Resolver.yaml_path_resolvers:  # pragma: no cover - a patched PyYAML
    raise ImportError("PyYAML's resolver has wildcard or path resolvers; this reader has none")


class Unsupported(Exception):
    """The document uses what only PyYAML's own constructor builds (or reports)."""


@dataclass
class Hostile:
    """The document is refused before it costs more: the line and what is wrong."""

    line: int | None
    message: str


@dataclass
class Built:
    data: Any
    root_line: int | None
    entries: dict[int, Any]
    """id(container) -> lines of its entries: a list for a list; for a mapping the pair
    (raw key -> line, raw key -> each value it had where that is not just ``data[raw]``)."""
    containers: list[Any]
    """Keeps every container alive while ``entries`` is keyed by their ids."""
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    """(line, message) of each duplicate key, once per place the mapping appears."""
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    """(line, message) of scalars that cannot be read (too large, or not of their tag)."""
    scalars: list[str] = field(default_factory=list)
    """The text of every scalar (keys and values), for the secret scan's first look."""
    keys: list[str] = field(default_factory=list)
    """The text of every mapping key."""


class _Anchor:
    __slots__ = ("chars", "duplicates", "line", "mark", "open", "raw", "size", "value")

    def __init__(self, value: Any, line: int, mark: Any, raw: str | None) -> None:
        self.value = value
        self.line = line
        self.mark = mark
        self.raw = raw
        self.open = raw is None
        self.size = 1
        self.chars = len(raw) if raw is not None else 0
        self.duplicates: list[tuple[int, str]] = []


class _Frame:
    """An open list or mapping, and where its next entry goes."""

    __slots__ = (
        "anchor",
        "chars",
        "dup_at",
        "dup_lines",
        "key",
        "key_line",
        "keylines",
        "line",
        "lines",
        "merges",
        "others",
        "pairs",
        "raw",
        "size",
        "value",
    )

    def __init__(self, value: Any, lines: Any, line: int, anchor: _Anchor | None) -> None:
        self.value = value
        self.lines = lines
        self.line = line
        self.anchor = anchor
        self.size = 1
        self.chars = 0
        self.key: Any = _NO_KEY
        self.raw: str | None = None
        self.key_line = 0
        self.others: dict[str, list[Any]] | None = None
        """Raw key -> every value it had, for keys that are not ``data[raw]`` alone."""
        self.keylines: dict[str, int] | None = None
        self.dup_lines: dict[str, int] | None = None
        self.merges: list[Any] | None = None
        self.pairs: list[tuple[str, Any, Any]] | None = None
        """(raw key, key, value) of every pair, kept when the mapping may be merged."""
        self.dup_at = 0


_NO_KEY = object()


def build(loader: Any) -> Built | Hostile:
    """Read one document from ``loader`` (a PyYAML parser) into data and line tables.

    Raises ``yaml.YAMLError`` for syntax errors (as PyYAML's composer would, in the same
    order) and ``Unsupported`` when PyYAML must build the document itself.
    """
    return _Reader(loader).read()


class _Reader:
    def __init__(self, loader: Any) -> None:
        self.get = loader.get_event
        self.anchors: dict[str, _Anchor] = {}
        self.entries: dict[int, Any] = {}
        self.containers: list[Any] = []
        self.duplicates: list[tuple[int, str]] = []
        self.unreadable: list[tuple[int, str]] = []
        self.scalars: list[str] = []
        self.keys: list[str] = []
        self.alias_values = 0
        self.alias_chars = 0
        self.unsupported = False
        self.constructor: SafeConstructor | None = None
        self.pairs_of: dict[int, list[tuple[str, Any, Any]]] = {}
        """id(mapping) -> its pairs, for the mappings that a ``<<`` key may merge."""

    def read(self) -> Built | Hostile:
        get = self.get
        get()  # StreamStartEvent
        event = get()
        if type(event) is StreamEndEvent:
            return Built(None, None, {}, [])
        outcome = self._document()
        if isinstance(outcome, Hostile):
            return outcome
        root, root_line, root_mark = outcome
        event = get()
        if type(event) is not StreamEndEvent:
            raise ComposerError(
                "expected a single document in the stream",
                root_mark,
                "but found another document",
                event.start_mark,
            )
        if self.unsupported:
            raise Unsupported
        return Built(
            root,
            root_line,
            self.entries,
            self.containers,
            self.duplicates,
            self.unreadable,
            self.scalars,
            self.keys,
        )

    def _document(self) -> tuple[Any, int, Any] | Hostile:  # noqa: PLR0912, PLR0915
        """The event loop: one iteration per event, the open collections on a stack."""
        get = self.get
        anchors = self.anchors
        entries = self.entries
        containers = self.containers
        scalars = self.scalars.append
        stack: list[_Frame] = []
        top: _Frame | None = None
        root: Any = None
        root_line = 0
        root_mark: Any = None
        written = 0
        while True:
            event = get()
            kind = type(event)
            raw: str | None = None
            if kind is ScalarEvent or kind is MappingStartEvent or kind is SequenceStartEvent:
                written += 1
                if written > MAX_VALUES:
                    return Hostile(
                        event.start_mark.line + 1,
                        f"the document holds more than {MAX_VALUES:,} values: no inventory "
                        "needs as many (split it)",
                    )
            if kind is ScalarEvent:
                raw = event.value
                scalars(raw)
                mark = event.start_mark
                line = mark.line + 1
                tag = event.tag
                if tag is None or tag == "!":
                    tag = _STR
                    if event.implicit[0]:
                        for candidate, pattern in _RESOLVERS.get(raw[:1], _EMPTY):
                            if pattern.match(raw):
                                tag = candidate
                                break
                if tag == _STR:
                    value: Any = raw
                elif top is not None and top.key is _NO_KEY and top.lines.__class__ is dict:
                    if tag in (_MERGE, _VALUE):
                        value = _MERGE_KEY if tag == _MERGE else raw
                    else:
                        value = self._scalar(tag, raw, event, line)
                else:
                    value = self._scalar(tag, raw, event, line)
                size = 1
                chars = len(raw)
                name = event.anchor
                if name is not None:
                    self._check_anchor(name, mark)
                    anchors[name] = _Anchor(value, line, mark, raw)
            elif kind is AliasEvent:
                target = anchors.get(event.anchor)
                if target is None:
                    raise ComposerError(None, None, "found undefined alias", event.start_mark)
                line = target.line
                if target.open:
                    return Hostile(
                        event.start_mark.line + 1,
                        f"alias '*{event.anchor}' is part of the value it names "
                        f"('&{event.anchor}' on line {target.line}): a recursive alias",
                    )
                self.alias_values += target.size
                self.alias_chars += target.chars
                if self.alias_values > MAX_ALIAS_VALUES or self.alias_chars > MAX_ALIAS_CHARS:
                    return Hostile(
                        event.start_mark.line + 1,
                        f"aliases repeat more than {MAX_ALIAS_VALUES:,} values or "
                        f"{MAX_ALIAS_CHARS // 1024 // 1024} MiB of text (alias '*{event.anchor}'"
                        "): write the values out, or repeat fewer of them",
                    )
                if target.duplicates:
                    self.duplicates.extend(target.duplicates)
                value = target.value
                raw = target.raw
                size = target.size
                chars = target.chars
                mark = target.mark
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                mark = event.start_mark
                line = mark.line + 1
                tag = event.tag
                is_map = kind is MappingStartEvent
                if tag is not None and tag not in ("!", _MAP if is_map else _SEQ):
                    self.unsupported = True  # !!set, !!omap, !!pairs, a local tag...
                if top is not None and top.key is _NO_KEY and top.lines.__class__ is dict:
                    self.unsupported = True  # a mapping key that is a collection
                container: Any = {} if is_map else []
                containers.append(container)
                lines: Any = {} if is_map else []
                entries[id(container)] = lines
                name = event.anchor
                anchor = None
                if name is not None:
                    self._check_anchor(name, mark)
                    anchor = anchors[name] = _Anchor(container, line, mark, None)
                frame = _Frame(container, lines, line, anchor)
                frame.dup_at = len(self.duplicates)
                if anchor is not None or (top is not None and _merged(top)):
                    frame.pairs = []  # what PyYAML's flatten_mapping would read
                if top is None:
                    root_mark = mark
                else:
                    stack.append(top)
                top = frame
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                if top is None:  # libyaml pairs start and end events: never, unless it breaks
                    raise ValueError("an end event without its start")
                frame = top
                if frame.lines.__class__ is dict:
                    if frame.merges is not None:
                        self._merge(frame)
                    if frame.pairs is not None:
                        self.pairs_of[id(frame.value)] = frame.pairs
                    entries[id(frame.value)] = (frame.lines, frame.others)
                value = frame.value
                line = frame.line
                size = frame.size
                chars = frame.chars
                mark = None
                if frame.anchor is not None:
                    frame.anchor.open = False
                    frame.anchor.size = size
                    frame.anchor.chars = chars
                    frame.anchor.duplicates = self.duplicates[frame.dup_at :]
                top = stack.pop() if stack else None
            elif kind is DocumentEndEvent:
                return root, root_line, root_mark
            else:  # pragma: no cover - libyaml sends no other event inside a document
                raise ComposerError(None, None, f"unexpected {kind.__name__}", event.start_mark)
            if top is None:
                root = value
                root_line = line
                if root_mark is None:
                    root_mark = mark
                continue
            top.size += size
            top.chars += chars
            lines = top.lines
            if lines.__class__ is list:
                top.value.append(value)
                lines.append(line)
            elif top.key is _NO_KEY:
                if raw is None:
                    self.unsupported = True  # an alias to a collection, as a key
                    top.key = None
                    top.raw = None
                    continue
                top.key = value
                top.raw = raw
                top.key_line = line
                self.keys.append(raw)
            else:
                self._put(top, value, line)

    def _put(self, frame: _Frame, value: Any, line: int) -> None:
        """Add one pair to the open mapping ``frame``, as PyYAML does (the last one wins)."""
        key = frame.key
        raw = frame.raw
        frame.key = _NO_KEY
        if raw is None:
            return  # a key PyYAML reports (the document is handed back)
        lines = frame.lines
        if raw in lines:
            self._duplicate(frame, raw, value)
        else:
            lines[raw] = line
            if frame.key_line != line:
                if frame.keylines is None:
                    frame.keylines = {}
                frame.keylines[raw] = frame.key_line
            if type(key) is not str or key != raw:
                if frame.others is None:
                    frame.others = {}
                frame.others[raw] = [value]
        if key is _MERGE_KEY:
            if frame.merges is None:
                frame.merges = []
            frame.merges.append(value)
            return
        try:
            frame.value[key] = value
        except TypeError:
            self.unsupported = True  # an unhashable key: PyYAML's message says so
        if frame.pairs is not None:
            frame.pairs.append((raw, key, value))

    def _duplicate(self, frame: _Frame, raw: str, value: Any) -> None:
        """Report a key written twice; keep each value it had, for the lines under it."""
        seen = frame.dup_lines or {}
        first = seen.get(raw) or (frame.keylines or {}).get(raw) or frame.lines[raw]
        self.duplicates.append((frame.key_line, f"duplicate key '{raw}' (first on line {first})"))
        seen[raw] = frame.key_line
        frame.dup_lines = seen
        if frame.others is None:
            frame.others = {}
        values = frame.others.get(raw)
        if values is None:
            values = frame.others[raw] = [frame.value[raw]]
        values.append(value)

    def _merge(self, frame: _Frame) -> None:
        """``<<`` merge keys, as PyYAML 6.0.4's ``flatten_mapping``: the merged pairs come
        first (a key merged once is not merged again), then the mapping's own pairs."""
        merged: list[tuple[str, Any, Any]] = []
        taken: set[int] = set()
        for source in frame.merges or ():
            mappings = source if isinstance(source, list) else [source]
            for mapping in mappings:
                pairs = self.pairs_of.get(id(mapping)) if isinstance(mapping, dict) else None
                if pairs is None:
                    self.unsupported = True  # not a mapping: PyYAML says what it expected
                    return
                for pair in pairs:
                    if id(pair[0]) not in taken:  # PyYAML compares the key strings' identity
                        taken.add(id(pair[0]))
                        merged.append(pair)
        own = dict(frame.value)
        frame.value.clear()
        for _, key, value in merged:
            frame.value[key] = value
        frame.value.update(own)
        if frame.pairs is not None:
            frame.pairs[:0] = merged

    def _check_anchor(self, name: str, mark: Any) -> None:
        first = self.anchors.get(name)
        if first is not None:
            raise ComposerError(
                "found duplicate anchor; first occurrence", first.mark, "second occurrence", mark
            )

    def _scalar(self, tag: str, raw: str, event: Any, line: int) -> Any:
        """A scalar of any tag but ``str``, built as ``SafeConstructor`` builds it."""
        if tag == _INT:
            return self._int(raw, event, line)
        if tag == _NULL:
            return None
        if tag == _BOOL and raw.lower() in _BOOL_VALUES:
            return _BOOL_VALUES[raw.lower()]
        if self.constructor is None:
            self.constructor = SafeConstructor()
        node = yaml.ScalarNode(tag, raw, event.start_mark, event.end_mark, event.style)
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            self.unsupported = True  # PyYAML's own message, in PyYAML's order
        except Exception:
            self.unreadable.append((line, f"YAML: {_shown(raw)} cannot be read as {_short(tag)}"))
        return None

    def _int(self, raw: str, event: Any, line: int) -> int | None:
        if len(raw) > _MAX_INT_CHARS:
            self.unreadable.append((line, _out_of_range(raw)))
            return None
        if raw.isdecimal() and (raw[0] != "0" or raw == "0"):
            value = int(raw)
        else:
            if self.constructor is None:
                self.constructor = SafeConstructor()
            node = yaml.ScalarNode(_INT, raw, event.start_mark, event.end_mark, event.style)
            try:
                value = self.constructor.construct_yaml_int(node)
            except ValueError:
                self.unreadable.append((line, f"YAML: {_shown(raw)} cannot be read as !!int"))
                return None
        if abs(value) > MAX_INT:
            self.unreadable.append((line, _out_of_range(raw)))
            return None
        return value


def _merged(parent: _Frame) -> bool:
    """Whether a collection opened under ``parent`` is the value of a ``<<`` key (or a list
    item of one): its pairs are then kept for the merge."""
    if parent.lines.__class__ is dict:
        return parent.key is _MERGE_KEY
    return parent.pairs is not None


class _MergeKey:
    """The ``<<`` key of a mapping, until the mapping ends."""

    def __repr__(self) -> str:  # pragma: no cover - never shown
        return "<<"


_MERGE_KEY = _MergeKey()


def _out_of_range(raw: str) -> str:
    shown = raw if len(raw) <= 40 else f"of {sum(ch.isdigit() for ch in raw):,} digits"
    return f"integer {shown} is out of range: integers are at most {MAX_INT} in magnitude"


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml") else tag


def _shown(text: str, limit: int = 40) -> str:
    """A scalar as a message shows it: quoted, cut when long (never a page of text)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"
