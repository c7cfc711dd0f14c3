import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrate.units import format_bytes, format_duration, parse_duration, parse_rate, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("120TiB", 120 * 1024**4),
        ("900GiB", 900 * 1024**3),
        ("5TB", 5 * 10**12),
        ("1.5TiB", int(1.5 * 1024**4)),
        ("0", 0),
        (42, 42),
        ("2 GiB", 2 * 1024**3),
    ],
)
def test_parse_size(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["12XB", "TiB", "-3GiB", "", "lots", True, [1]])
def test_parse_size_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", 30), ("15m", 900), ("4h", 14400), ("2d", 172800), ("1h30m", 5400), (45, 45)],
)
def test_parse_duration(text: object, expected: int) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["15q", "m", "", "1h 30", -5, "forever", None])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_rate() -> None:
    assert parse_rate("1GiB/s") == 1024**3
    assert parse_rate("800MB/s") == 800 * 10**6
    with pytest.raises(ValueError, match="rate"):
        parse_rate("0/s")
    with pytest.raises(ValueError, match="rate"):
        parse_rate("fast")


def test_format_bytes() -> None:
    assert format_bytes(0) == "0 B"
    assert format_bytes(1023) == "1023 B"
    assert format_bytes(1024**4 * 212) == "212 TiB"
    assert format_bytes(int(1.5 * 1024**3)) == "1.5 GiB"


def test_format_duration() -> None:
    assert format_duration(45) == "45 s"
    assert format_duration(12 * 60) == "12 min"
    assert format_duration(31 * 3600) == "31 h"
    assert format_duration(4 * 86400) == "4.0 d"


@given(st.integers(min_value=0, max_value=10**7))
def test_duration_seconds_round_trip(seconds: int) -> None:
    assert parse_duration(f"{seconds}s") == seconds
