"""Read YAML safely and keep, for every value, the line it was written on.

Uses PyYAML's C loader when it is built in. The document is composed once into nodes; the
nodes give both the Python data and a ``LineIndex`` from a path (``("services", 3, "kind")``)
to a 1-based line number, used to report ``file:line: message``. Duplicate mapping keys, which
PyYAML silently collapses to the last one, are reported as problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from migrate.errors import Problem

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - only on a PyYAML built without libyaml
    _Loader = yaml.SafeLoader

Path = tuple[str | int, ...]


@dataclass
class LineIndex:
    """Maps a path inside the document to the line of its value (or key)."""

    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe:
            line = self.lines.get(probe)
            if line is not None:
                return line
            probe = probe[:-1]
        return self.lines.get(())


@dataclass
class YamlDocument:
    data: Any
    lines: LineIndex
    problems: list[Problem]


def load_yaml(text: str, filename: str) -> YamlDocument:
    """Parse ``text``; a syntax error becomes one problem with its line, never an exception."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None, LineIndex(), [])
        index = LineIndex()
        problems: list[Problem] = []
        _index(node, (), index, problems, filename)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        if exc.context_mark is not None and exc.problem_mark is not None:
            what += f" (the construct opened on line {exc.context_mark.line + 1})"
        return YamlDocument(None, LineIndex(), [Problem(filename, line, f"YAML syntax: {what}")])
    except yaml.YAMLError as exc:
        return YamlDocument(None, LineIndex(), [Problem(filename, None, f"YAML syntax: {exc}")])
    finally:
        loader.dispose()
    return YamlDocument(data, index, problems)


def _index(
    node: yaml.Node, path: Path, index: LineIndex, problems: list[Problem], filename: str
) -> None:
    """Walk the node tree iteratively (deep documents must not hit the recursion limit)."""
    stack: list[tuple[yaml.Node, Path]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        index.lines[where] = current.start_mark.line + 1
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
