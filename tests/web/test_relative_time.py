"""Times as the sessions and activity pages say them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quart_app.web.relative_time import exact_time, relative_time

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "said"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=-59), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(minutes=-1), "1 minute ago"),
        (timedelta(minutes=-3, seconds=-40), "3 minutes ago"),
        (timedelta(minutes=-59), "59 minutes ago"),
        (timedelta(hours=-1), "1 hour ago"),
        (timedelta(hours=-23, minutes=-59), "23 hours ago"),
        (timedelta(days=-1), "1 day ago"),
        (timedelta(days=-29), "29 days ago"),
        (timedelta(minutes=30), "in 30 minutes"),
        (timedelta(days=29, hours=23), "in 29 days"),
        (timedelta(days=-30), "on 2026-11-03"),
        (timedelta(days=90), "on 2027-03-03"),
    ],
)
def test_relative_times(offset: timedelta, said: str) -> None:
    assert relative_time(NOW + offset, NOW) == said


def test_the_exact_time_names_its_zone() -> None:
    assert exact_time(NOW) == "2026-12-03 12:00:00 UTC"
