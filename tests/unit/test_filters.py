"""data.include / data.exclude: rclone's glob syntax, relative to the prefix's folder; an
exclusion always wins."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrate.filters import KeyFilter, PatternError, check_patterns, compile_glob, folder_root

CASES = [
    # pattern, name, matches (rclone's documented examples and their edges)
    ("*.csv", "a.csv", True),
    ("*.csv", "x/y/a.csv", True),
    ("*.csv", "a.csv.gz", False),
    ("file.csv", "dir/file.csv", True),
    ("file.csv", "afile.csv", False),
    ("/file.csv", "dir/file.csv", False),
    ("/file.csv", "file.csv", True),
    ("/dir/*.csv", "dir/a.csv", True),
    ("/dir/*.csv", "dir/sub/a.csv", False),
    ("/dir/**.csv", "dir/sub/a.csv", True),
    ("dir/", "dir/a", True),
    ("dir/", "top/dir/sub/a", True),
    ("dir/", "dirt/a", False),
    ("/dir/", "top/dir/a", False),
    ("?.bin", "a.bin", True),
    ("?.bin", "ab.bin", False),
    ("?.bin", "/.bin", False),
    ("[a-c]*.bin", "b1.bin", True),
    ("[a-c]*.bin", "d1.bin", False),
    ("[!a-c]*.bin", "d1.bin", True),
    ("*.{csv,parquet}", "t.parquet", True),
    ("*.{csv,parquet}", "t.json", False),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("a+b(1).txt", "a+b(1).txt", True),
    ("**", "any/thing/at.all", True),
]


@pytest.mark.parametrize(("pattern", "name", "matches"), CASES)
def test_rclone_glob_semantics(pattern: str, name: str, matches: bool) -> None:
    assert bool(compile_glob(pattern).search(name)) is matches


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "empty pattern"),
        ("[abc", "'[' without its ']'"),
        ("{a,b", "'{' without its '}'"),
        ("a}", "'}' without its '{'"),
        ("trailing\\", "lone"),
        ("{{.*}}", "regular expressions"),
        ("x" * 2000, "1024 characters"),
    ],
)
def test_bad_patterns_are_refused_with_the_reason(pattern: str, problem: str) -> None:
    with pytest.raises(PatternError, match=problem.replace("[", r"\[").replace("{", r"\{")):
        check_patterns([pattern])


def test_every_bad_pattern_of_a_list_is_named_at_once() -> None:
    with pytest.raises(PatternError) as refused:
        check_patterns(["[a-", "*.csv", "{a,b"])
    assert "'[a-'" in str(refused.value)
    assert "'{a,b'" in str(refused.value)


def test_too_many_patterns_are_refused() -> None:
    with pytest.raises(PatternError, match="at most"):
        check_patterns(["*.a"] * 1001)


def test_patterns_are_relative_to_the_folder_of_the_prefix() -> None:
    assert folder_root("2024/raw") == "2024/"
    assert folder_root("2024/") == "2024/"
    assert folder_root("raw") == ""
    keep = KeyFilter.of([], ["/tmp/"], "2024/")
    assert not keep.keeps("2024/tmp/x.bin")
    assert keep.keeps("2024/data/tmp.bin")
    assert keep.keeps("2024/data/tmp/x.bin")  # anchored at the root: only the top folder


def test_an_exclusion_wins_over_an_inclusion() -> None:
    keep = KeyFilter.of(["*.csv"], ["secret/"])
    assert keep.keeps("a/b.csv")
    assert not keep.keeps("secret/b.csv")
    assert not keep.keeps("a/b.json")  # not included
    assert keep.describe() == "include *.csv; exclude secret/"


def test_no_filter_keeps_everything() -> None:
    keep = KeyFilter.of([], [])
    assert not keep.active
    assert keep.keeps("anything/at/all")
    assert keep.describe() == ""


names = st.lists(
    st.sampled_from(["a", "b", "tmp", "x.csv", "y.bin", "dir"]), min_size=1, max_size=4
).map("/".join)
patterns = st.lists(st.sampled_from(["*.csv", "tmp/", "/a/**", "?.bin", "dir/*"]), max_size=3)


@given(names, patterns, patterns)
def test_what_an_exclude_matches_is_never_kept(
    name: str, include: list[str], exclude: list[str]
) -> None:
    keep = KeyFilter.of(include, exclude)
    excluded = any(compile_glob(p).search(name) for p in exclude)
    included = not include or any(compile_glob(p).search(name) for p in include)
    assert keep.keeps(name) is (included and not excluded)


def test_a_hostile_pattern_is_matched_in_bounded_time() -> None:
    """Many stars against a long name: the regular expression must not backtrack for ever
    (each '*' is '[^/]*', so a '/' bounds every run)."""
    keep = KeyFilter.of([], ["*a*a*a*a*a*a*a*a*a*a*a*a*b"])
    assert keep.keeps("a" * 1000)


def test_patterns_that_expand_beyond_the_budget_are_refused_before_they_are_built() -> None:
    with pytest.raises(PatternError, match="over 64 alternatives"):
        check_patterns(["{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}"])  # 128
    heavy = "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}" + "*x" * 400  # 64 x 801 positions: alone, fine
    assert check_patterns([heavy]) == [heavy]
    with pytest.raises(PatternError, match="over 65,536 positions"):
        check_patterns([heavy] * 1000)


def test_a_list_is_matched_by_one_automaton_built_once() -> None:
    patterns = [f"/projects/p{i:04d}/**.csv" for i in range(1000)]
    keep = KeyFilter.of(patterns, ["tmp/"], "hub/")
    assert keep is KeyFilter.of(list(patterns), ("tmp/",), "hub/")  # shared, not rebuilt
    assert keep.keeps("hub/projects/p0999/2024/a.csv")
    assert not keep.keeps("hub/projects/p1000/2024/a.csv")
    assert not keep.keeps("hub/projects/p0001/tmp/a.csv")
