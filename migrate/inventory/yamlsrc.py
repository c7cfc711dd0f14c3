"""Read YAML safely and keep, for every value, the line it was written on.

Uses PyYAML's C parser when it is built in. The document is read from the parser's events
(``yamlevents``): one pass gives the Python data (what ``yaml.safe_load`` gives) and a
``LineIndex`` from a path (``("services", 3, "kind")``) to a 1-based line number, used to
report ``file:line: message``. Duplicate mapping keys, which PyYAML silently collapses to the
last one, are reported as problems. Documents that would cost more than their size (alias
bombs, recursive aliases, integers beyond 64 bits) are refused with the line.

A document with tags or keys that only PyYAML's constructor knows (``!!set``, ``!!omap``,
a list as a key, a tag it cannot build) is composed and built by PyYAML itself, with the
same results and messages; the event pass has bounded its cost first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from migrate.errors import Problem
from migrate.inventory import yamlevents

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - only on a PyYAML built without libyaml
    _Loader = yaml.SafeLoader

Path = tuple[str | int, ...]


class LineIndex:
    """Maps a path inside the document to the line of its value (or key)."""

    def __init__(
        self,
        root: Any = None,
        root_line: int | None = None,
        entries: dict[int, Any] | None = None,
        containers: list[Any] | None = None,
    ) -> None:
        self._root = root
        self._root_line = root_line
        self._entries = entries or {}
        self._containers = containers  # keeps the ids in ``_entries`` valid

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        depth, line = self._walk(self._root, path, 0)
        return line if depth else self._root_line

    def _walk(self, value: Any, path: Path, at: int) -> tuple[int, int | None]:
        """How many parts of ``path[at:]`` are found under ``value``, and the line of the
        last. Under a key written twice, the first place that goes deepest wins (as PyYAML's
        node tree indexed depth-first would say)."""
        entry = self._entries.get(id(value))
        if entry is None or at == len(path):
            return 0, None
        part = path[at]
        if isinstance(entry, list):
            if type(part) is not int or not 0 <= part < len(entry):
                return 0, None
            depth, line = self._walk(value[part], path, at + 1)
            return depth + 1, line if depth else entry[part]
        lines, others = entry
        found = lines.get(part) if isinstance(part, str) else None
        if found is None:
            return 0, None
        best, best_line = 0, None
        for candidate in (others.get(part) if others else None) or (value.get(part),):
            depth, line = self._walk(candidate, path, at + 1)
            if depth > best:
                best, best_line = depth, line
        return best + 1, best_line if best else found


@dataclass
class YamlDocument:
    data: Any
    lines: LineIndex
    problems: list[Problem]
    refused: bool = field(default=False)
    """The document was read as YAML but is refused (data is None): not a syntax error."""
    scalars: list[str] | None = field(default=None)
    """The text of every scalar, when the event reader read the document."""
    keys: list[str] = field(default_factory=list)
    """The text of every mapping key, with ``scalars``."""


def load_yaml(text: str, filename: str) -> YamlDocument:
    """Parse ``text``; a syntax error becomes one problem with its line, never an exception."""
    loader = _Loader(text)
    try:
        built = yamlevents.build(loader)
    except yamlevents.Unsupported:
        return _load_with_pyyaml(text, filename)
    except yaml.YAMLError as exc:
        return _syntax_error(exc, filename)
    finally:
        loader.dispose()
    if isinstance(built, yamlevents.Hostile):
        return YamlDocument(
            None, LineIndex(), [Problem(filename, built.line, built.message)], refused=True
        )
    if built.unreadable:
        problems = [Problem(filename, line, message) for line, message in built.unreadable]
        return YamlDocument(None, LineIndex(), problems, refused=True)
    index = LineIndex(built.data, built.root_line, built.entries, built.containers)
    problems = [Problem(filename, line, message) for line, message in built.duplicates]
    return YamlDocument(built.data, index, problems, scalars=built.scalars, keys=built.keys)


def _syntax_error(exc: yaml.YAMLError, filename: str) -> YamlDocument:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        if exc.context_mark is not None and exc.problem_mark is not None:
            what += f" (the construct opened on line {exc.context_mark.line + 1})"
        return YamlDocument(None, LineIndex(), [Problem(filename, line, f"YAML syntax: {what}")])
    return YamlDocument(None, LineIndex(), [Problem(filename, None, f"YAML syntax: {exc}")])


def _load_with_pyyaml(text: str, filename: str) -> YamlDocument:
    """PyYAML composes and builds the document (the event pass found it bounded)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None, LineIndex(), [])
        lines: dict[Path, int] = {}
        problems: list[Problem] = []
        _index(node, lines, problems, filename)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        return _syntax_error(exc, filename)
    except Exception as exc:
        problem = Problem(filename, None, f"YAML: a value cannot be read ({exc})")
        return YamlDocument(None, LineIndex(), [problem], refused=True)
    finally:
        loader.dispose()
    return YamlDocument(data, _PathIndex(lines), problems)


class _PathIndex(LineIndex):
    """The index of a document PyYAML built: every path of its node tree."""

    def __init__(self, lines: dict[Path, int]) -> None:
        super().__init__()
        self._lines = lines

    def line_of(self, path: Path) -> int | None:
        probe = tuple(path)
        while probe:
            line = self._lines.get(probe)
            if line is not None:
                return line
            probe = probe[:-1]
        return self._lines.get(())


def _index(node: yaml.Node, lines: dict[Path, int], problems: list[Problem], filename: str) -> None:
    """Walk the node tree iteratively (deep documents must not hit the recursion limit)."""
    stack: list[tuple[yaml.Node, Path]] = [(node, ())]
    while stack:
        current, where = stack.pop()
        lines[where] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, value_node in current.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    continue
                line = key_node.start_mark.line + 1
                if key in seen:
                    problems.append(
                        Problem(
                            filename, line, f"duplicate key '{key}' (first on line {seen[key]})"
                        )
                    )
                seen[key] = line
                stack.append((value_node, (*where, key)))
        elif isinstance(current, yaml.SequenceNode):
            for position, item in enumerate(current.value):
                stack.append((item, (*where, position)))
