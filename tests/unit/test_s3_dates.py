"""The S3 adapter parses answer dates with the standard library, as botocore's parser would."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import botocore.utils
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.s3 import parse_timestamp

moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@given(moments)
def test_headers_and_listings_parse_as_botocore_parses_them(moment: datetime) -> None:
    header = format_datetime(moment.replace(microsecond=0), usegmt=True)
    listing = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    for text in (header, listing):
        ours = parse_timestamp(text)
        assert ours == botocore.utils.parse_timestamp(text)
        assert ours.tzinfo is not None


@pytest.mark.parametrize("text", ["1700000000", "2026-11-28T20:47:18+01:00", "Sat, 28 Nov 2026"])
def test_other_forms_fall_back_to_botocore(text: str) -> None:
    assert parse_timestamp(text) == botocore.utils.parse_timestamp(text)


def test_garbage_is_refused_as_botocore_refuses_it() -> None:
    with pytest.raises(ValueError, match="Invalid timestamp"):
        parse_timestamp("not a date")
