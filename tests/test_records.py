"""Provenance values: timestamps as datetime writes them."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from stet._records import iso


@given(st.floats(min_value=0, max_value=2**33))
def test_iso_timestamps_match_datetime(timestamp: float) -> None:
    """iso() writes exactly what datetime.isoformat writes, to the microsecond, in UTC."""
    expected = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    assert iso(timestamp) == expected.isoformat(timespec="microseconds")
