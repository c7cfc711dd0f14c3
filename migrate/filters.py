"""A service's ``data.include`` and ``data.exclude``: rclone's glob syntax, applied at listing.

A pattern is matched against an object's name relative to the service's root: the part of
``data.prefix`` up to and including its last ``/`` is cut off (prefix ``2024/raw`` gives the
root ``2024/``; the prefix ``raw`` names no folder, so the root is the container). As in
rclone:

- ``*`` matches any run of characters but ``/``; ``**`` matches anything, ``/`` included;
  ``?`` matches one character but ``/``; ``[a-z]`` and ``[!a-z]`` are classes;
  ``{csv,parquet}`` is one of the alternatives; ``\\`` takes the next character as it is;
- a pattern that starts with ``/`` matches from the root only; one that does not matches a
  whole trailing part of the name (``*.csv`` matches ``a.csv`` and ``x/a.csv``, never
  ``a.csv.gz``; ``file.csv`` matches ``file.csv`` and ``x/file.csv``, never ``afile.csv``);
- a pattern that ends with ``/`` names a folder, and matches everything under it.

An object is kept when it matches no ``exclude`` pattern and, when ``include`` is given, at
least one ``include`` pattern: an exclusion always wins (rclone leaves the order of
``--include`` and ``--exclude`` together undefined; here it is not).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import cast

from migrate.ports import ObjectInfo

MAX_PATTERNS = 1000
MAX_PATTERN_CHARS = 1024
MAX_ALTERNATIVES = 64
"""Brace alternatives one pattern may expand to (``{a,b}{c,d}`` is four)."""
MAX_POSITIONS = 65_536
"""Token positions of one list of patterns (include, or exclude), alternatives expanded:
what one name's match may have to follow at once. Real lists hold a few hundred."""


class PatternError(ValueError):
    """A pattern that is not a glob of rclone's syntax (the message says where)."""


# A glob is matched by simulating its automaton, never by a backtracking regular
# expression: a hostile pattern (``*a*a*a*a*b``) against a long name costs
# pattern length x name length steps, not an exponential search.
Token = tuple[str, object]
"""(``lit``, char) | (``any``, None) | (``star``, None) | (``dstar``, None) |
(``class``, (negated, members))."""


@dataclass(frozen=True)
class Glob:
    """One pattern, compiled: its brace alternatives in one automaton."""

    text: str
    anchored: bool
    automaton: _Automaton

    def search(self, name: str) -> bool:
        """Whether the pattern matches the whole name, or (unanchored) a whole trailing part
        of it that starts after a ``/``."""
        return self.automaton.matches(name)


class _Automaton:
    """Globs' automaton, simulated on sets of token positions, each set built once: the
    transitions seen are kept (a cache bounded in entries and in positions held), so a
    listing of a million names costs about one dictionary lookup per character, whatever
    the number of patterns: every alternative of every pattern of a list runs in one pass.
    Each alternative has its tokens then an accepting position."""

    CACHE_POSITIONS = 1_000_000

    def __init__(self, alternatives: Sequence[tuple[tuple[Token, ...], bool]]) -> None:
        self.tokens: list[Token] = []
        accept: set[int] = set()
        starts: set[int] = set()
        restarts: set[int] = set()
        for tokens, anchored in alternatives:
            base = len(self.tokens)
            self.tokens += [*tokens, ("end", None)]
            accept.add(base + len(tokens))
            starts.add(base)
            if not anchored:
                restarts.add(base)
        self.accept = frozenset(accept)
        self.start = frozenset(_closure(self.tokens, starts))
        self.restart = frozenset(_closure(self.tokens, restarts))
        self._moves: dict[tuple[frozenset[int], str], frozenset[int]] = {}
        self._held = 0

    def __len__(self) -> int:
        return len(self.tokens)

    def matches(self, name: str) -> bool:
        states = self.start
        moves = self._moves
        for char in name:
            after = moves.get((states, char))
            if after is None:
                after = self._move(states, char)
            states = after
            if not states and not self.restart:
                return False
        return not states.isdisjoint(self.accept)

    def _move(self, states: frozenset[int], char: str) -> frozenset[int]:
        after = _closure(self.tokens, _step(self.tokens, states, char))
        if char == "/":
            after |= self.restart  # a whole trailing part may start after any '/'
        moved = frozenset(after)
        if self._held + len(moved) + len(states) > self.CACHE_POSITIONS:
            self._moves.clear()
            self._held = 0
        self._moves[(states, char)] = moved
        self._held += len(moved) + len(states)
        return moved


def compile_glob(pattern: str) -> Glob:
    """One rclone glob, compiled (PatternError says what is wrong)."""
    if not pattern:
        raise PatternError("an empty pattern matches nothing; remove it")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"a pattern is limited to {MAX_PATTERN_CHARS} characters")
    if pattern.startswith("{{"):
        raise PatternError("regular expressions ('{{...}}') are not supported; use a glob")
    body = pattern[1:] if pattern.startswith("/") else pattern
    if body.endswith("/") and not body.endswith("\\/"):
        body += "**"
    anchored = pattern.startswith("/")
    alternatives = [(_tokens(text, pattern), anchored) for text in _expand(body, pattern)]
    return Glob(pattern, anchored, _bounded(alternatives, pattern[:40]))


def _bounded(alternatives: list[tuple[tuple[Token, ...], bool]], what: str) -> _Automaton:
    automaton = _Automaton(alternatives)
    if len(automaton) > MAX_POSITIONS:
        raise PatternError(
            f"'{what}' expands to {len(automaton):,} positions (alternatives included), "
            f"over {MAX_POSITIONS:,}: write fewer or simpler patterns"
        )
    return automaton


def _expand(body: str, pattern: str) -> list[str]:
    """The pattern's brace alternatives, as brace-free globs (escapes and classes kept)."""
    start, depth, i = -1, 0, 0
    commas: list[int] = []
    while i < len(body):
        char = body[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(body, i, pattern)
            continue
        if char == "{":
            if depth == 0:
                start, commas = i, []
            depth += 1
        elif char == "}":
            if depth == 0:
                raise PatternError(f"'{pattern}' has a '}}' without its '{{'")
            depth -= 1
            if depth == 0:
                return _alternatives(body, start, commas, i, pattern)
        elif char == "," and depth == 1:
            commas.append(i)
        i += 1
    if depth:
        raise PatternError(f"'{pattern}' has a '{{' without its '}}'")
    return [body]


def _alternatives(body: str, start: int, commas: list[int], end: int, pattern: str) -> list[str]:
    bounds = [start, *commas, end]
    head, tail = body[:start], body[end + 1 :]
    found: list[str] = []
    for low, high in itertools.pairwise(bounds):
        for expanded in _expand(head + body[low + 1 : high] + tail, pattern):
            found.append(expanded)
            if len(found) > MAX_ALTERNATIVES:
                raise PatternError(f"'{pattern}' has over {MAX_ALTERNATIVES} alternatives")
    return found


def _class_end(body: str, start: int, pattern: str) -> int:
    first = start + 2 if body.startswith("[!", start) else start + 1
    end = body.find("]", first + 1 if body.startswith("]", first) else first)
    if end < 0:
        raise PatternError(f"'{pattern}' has a '[' without its ']'")
    return end + 1


def _tokens(body: str, pattern: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if i + 1 == len(body):
                raise PatternError(f"'{pattern}' ends with a lone '\\'")
            tokens.append(("lit", body[i + 1]))
            i += 2
        elif char == "*":
            double = body.startswith("**", i)
            tokens.append(("dstar" if double else "star", None))
            i += 2 if double else 1
        elif char == "?":
            tokens.append(("any", None))
            i += 1
        elif char == "[":
            end = _class_end(body, i, pattern)
            tokens.append(("class", _members(body[i + 1 : end - 1])))
            i = end
        else:
            tokens.append(("lit", char))
            i += 1
    return tuple(tokens)


def _members(inner: str) -> tuple[bool, tuple[tuple[str, str], ...]]:
    negated = inner.startswith("!")
    text = inner[1:] if negated else inner
    ranges: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        if i + 2 < len(text) and text[i + 1] == "-":
            ranges.append((text[i], text[i + 2]))
            i += 3
        else:
            ranges.append((text[i], text[i]))
            i += 1
    return negated, tuple(ranges)


def _in_class(member: object, char: str) -> bool:
    negated, ranges = cast(tuple[bool, tuple[tuple[str, str], ...]], member)
    inside = any(low <= char <= high for low, high in ranges)
    return char != "/" and inside is not negated


def _closure(tokens: Sequence[Token], states: AbstractSet[int]) -> set[int]:
    """Add the states reached by letting a ``*`` or ``**`` match nothing."""
    found = set(states)
    todo = list(states)
    while todo:
        state = todo.pop()
        skippable = tokens[state][0] in ("star", "dstar")
        if skippable and state + 1 not in found:
            found.add(state + 1)
            todo.append(state + 1)
    return found


def _step(tokens: Sequence[Token], states: AbstractSet[int], char: str) -> set[int]:
    after: set[int] = set()
    for state in states:
        kind, value = tokens[state]
        if kind == "dstar" or (kind == "star" and char != "/"):
            after.add(state)
        elif (
            (kind == "lit" and value == char)
            or (kind == "any" and char != "/")
            or (kind == "class" and _in_class(value, char))
        ):
            after.add(state + 1)
    return after


def folder_root(prefix: str) -> str:
    """What patterns are relative to: the prefix up to and including its last ``/``."""
    cut = prefix.rfind("/")
    return prefix[: cut + 1] if cut >= 0 else ""


@dataclass(frozen=True)
class KeyFilter:
    """Which of a service's object names it copies (see the module's docstring)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    root: str = ""
    _include: _Automaton | None = field(default=None, repr=False, compare=False)
    _exclude: _Automaton | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, include: Sequence[str], exclude: Sequence[str], prefix: str = "") -> KeyFilter:
        """The filter of these lists (built once per lists and prefix, then shared)."""
        return _built(tuple(include), tuple(exclude), folder_root(prefix))

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude)

    def keeps(self, key: str) -> bool:
        if not self.active:
            return True
        name = key[len(self.root) :] if key.startswith(self.root) else key
        if self._exclude is not None and self._exclude.matches(name):
            return False
        return self._include is None or self._include.matches(name)

    def split(self, objects: list[ObjectInfo]) -> tuple[list[ObjectInfo], list[ObjectInfo]]:
        """A listing page's objects: those kept, and those left out (each name matched once;
        the page itself, untouched, when there is no filter)."""
        if not self.active:
            return objects, []
        kept: list[ObjectInfo] = []
        left_out: list[ObjectInfo] = []
        for obj in objects:
            (kept if self.keeps(obj.key) else left_out).append(obj)
        return kept, left_out

    def describe(self) -> str:
        """One line for the plan and the dry run (empty when there is no filter)."""
        parts = []
        if self.include:
            parts.append("include " + ", ".join(self.include))
        if self.exclude:
            parts.append("exclude " + ", ".join(self.exclude))
        return "; ".join(parts)


@functools.lru_cache(maxsize=256)
def _built(include: tuple[str, ...], exclude: tuple[str, ...], root: str) -> KeyFilter:
    return KeyFilter(include, exclude, root, _list_automaton(include), _list_automaton(exclude))


def _list_automaton(patterns: Sequence[str]) -> _Automaton | None:
    """One automaton for a whole list: a name is matched once, not once per pattern."""
    if not patterns:
        return None
    alternatives = []
    positions = 0
    for pattern in patterns:
        glob = compile_glob(pattern)
        positions += len(glob.automaton)
        if positions > MAX_POSITIONS:  # refused before the next pattern is even compiled
            raise PatternError(
                f"the {len(patterns)} patterns expand to over {MAX_POSITIONS:,} positions "
                "(alternatives included): write fewer or simpler patterns"
            )
        alternatives += [(tuple(a), glob.anchored) for a in _alternatives_of(glob)]
    return _bounded(alternatives, f"{len(patterns)} patterns")


def _alternatives_of(glob: Glob) -> list[list[Token]]:
    """A compiled pattern's alternatives, each without its accepting position."""
    found: list[list[Token]] = []
    current: list[Token] = []
    for token in glob.automaton.tokens:
        if token[0] == "end":
            found.append(current)
            current = []
        else:
            current.append(token)
    return found


NO_FILTER = KeyFilter()


def check_patterns(patterns: Sequence[str]) -> list[str]:
    """The patterns as given, once they are known to compile, alone and together
    (PatternError otherwise)."""
    if len(patterns) > MAX_PATTERNS:
        raise PatternError(f"at most {MAX_PATTERNS} patterns")
    problems = []
    positions = 0
    for pattern in patterns:
        try:
            positions += len(compile_glob(pattern).automaton)
        except PatternError as error:
            problems.append(str(error))
        if positions > MAX_POSITIONS:  # refused before the next pattern is even compiled
            problems.append(
                f"the {len(patterns)} patterns expand to over {MAX_POSITIONS:,} positions "
                "(alternatives included): write fewer or simpler patterns"
            )
            break
    if problems:
        raise PatternError("; ".join(problems[:20]) + ("; ..." if len(problems) > 20 else ""))
    _list_automaton(patterns)
    return list(patterns)
