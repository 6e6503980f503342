"""thresholds.py: ladders, stages, days left, and the first moment a notice can be due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from renewbot.domain.thresholds import (
    DEFAULT_LADDER,
    EXPIRED,
    OK,
    days_left,
    describe_days_left,
    ladder_for,
    notify_from,
    stage_for,
)

FROZEN = "2026-11-26 12:00:00"
DAY = timedelta(days=1)
SEC = timedelta(seconds=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- ladder_for ----------------------------------------------------------------

def test_default_ladder_is_30_14_7_3_1():
    assert DEFAULT_LADDER == (30, 14, 7, 3, 1)


@pytest.mark.parametrize("given", [None, [], (), [0], [0, -3]])
def test_ladder_falls_back_to_default_when_nothing_usable(given):
    assert ladder_for(given) == (30, 14, 7, 3, 1)


def test_custom_ladder_is_sorted_furthest_first_and_deduplicated():
    assert ladder_for([3, 60, 7, 3, 60, 1]) == (60, 7, 3, 1)


def test_custom_ladder_drops_non_positive_days_but_keeps_the_rest():
    assert ladder_for([0, 5, -1, 2]) == (5, 2)


# --- stage_for, with a frozen "now" ---------------------------------------------

@freeze_time(FROZEN)
def test_exactly_30_days_left_is_stage_30d():
    now = utcnow()
    assert now == datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert stage_for(now + 30 * DAY, now) == "30d"


@freeze_time(FROZEN)
def test_one_second_more_than_30_days_left_is_ok():
    now = utcnow()
    assert stage_for(now + 30 * DAY + SEC, now) == OK == "ok"


@freeze_time(FROZEN)
def test_zero_seconds_left_is_expired():
    now = utcnow()
    assert stage_for(now, now) == EXPIRED == "expired"


@freeze_time(FROZEN)
def test_one_second_left_is_1d_and_past_expiry_is_expired():
    now = utcnow()
    assert stage_for(now + SEC, now) == "1d"
    assert stage_for(now - SEC, now) == "expired"
    assert stage_for(now - 400 * DAY, now) == "expired"


@freeze_time(FROZEN)
def test_token_first_seen_at_two_days_left_gets_the_nearest_stage_only():
    # Inside 30, 14, 7 and 3 days at once: one notice, the nearest crossed threshold.
    now = utcnow()
    assert stage_for(now + 2 * DAY, now) == "3d"


@freeze_time(FROZEN)
@pytest.mark.parametrize("left, stage", [
    (30 * DAY, "30d"), (30 * DAY - SEC, "30d"), (14 * DAY + SEC, "30d"),
    (14 * DAY, "14d"), (7 * DAY + SEC, "14d"), (7 * DAY, "7d"), (3 * DAY + SEC, "7d"),
    (3 * DAY, "3d"), (DAY + SEC, "3d"), (DAY, "1d"),
])
def test_each_threshold_boundary_of_the_default_ladder(left, stage):
    now = utcnow()
    assert stage_for(now + left, now) == stage


def test_frozen_clock_moves_stage_as_time_passes():
    expires = datetime(2026, 12, 26, 12, tzinfo=UTC)  # 30 days after FROZEN
    with freeze_time("2026-11-26 11:59:59"):
        assert stage_for(expires, utcnow()) == "ok"
    with freeze_time(FROZEN):
        assert stage_for(expires, utcnow()) == "30d"
    with freeze_time("2026-12-23 12:00:00"):
        assert stage_for(expires, utcnow()) == "3d"
    with freeze_time("2026-12-26 12:00:00"):
        assert stage_for(expires, utcnow()) == "expired"


def test_unsorted_custom_ladder_still_picks_the_nearest_crossed():
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    ladder = (7, 60, 14)
    assert stage_for(now + 10 * DAY, now, ladder) == "14d"
    assert stage_for(now + 5 * DAY, now, ladder) == "7d"
    assert stage_for(now + 59 * DAY, now, ladder) == "60d"
    assert stage_for(now + 61 * DAY, now, ladder) == "ok"


def test_ladder_with_duplicates_behaves_like_without():
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    dup = (7, 7, 2, 7)
    for left in (8 * DAY, 7 * DAY, 3 * DAY, 2 * DAY, SEC):
        assert stage_for(now + left, now, dup) == stage_for(now + left, now, (7, 2))
    assert stage_for(now + 3 * DAY, now, dup) == "7d"


def test_custom_ladder_through_ladder_for_ignores_default_thresholds():
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    ladder = ladder_for([10, 2])
    assert stage_for(now + 20 * DAY, now, ladder) == "ok"  # 30d is not in this ladder
    assert stage_for(now + 5 * DAY, now, ladder) == "10d"  # nor is 7d
    assert stage_for(now + 1 * DAY, now, ladder) == "2d"


def test_stage_for_with_an_offset_aware_now_in_another_zone():
    expires = datetime(2026, 12, 26, 12, tzinfo=UTC)
    plus2 = timezone(timedelta(hours=2))
    assert stage_for(expires, datetime(2026, 11, 26, 14, tzinfo=plus2)) == "30d"  # same instant as 12:00 UTC
    assert stage_for(expires, datetime(2026, 11, 26, 13, 59, 59, tzinfo=plus2)) == "ok"


# --- notify_from -------------------------------------------------------------------

def test_notify_from_is_expiry_minus_the_furthest_threshold():
    expires = datetime(2027, 1, 31, tzinfo=UTC)
    assert notify_from(expires, None) == datetime(2027, 1, 1, tzinfo=UTC)  # the default ladder
    assert notify_from(expires, [3, 60, 7]) == expires - 60 * DAY


def test_notify_from_is_exactly_where_the_first_stage_begins():
    expires = datetime(2027, 1, 31, tzinfo=UTC)
    for ladder in (DEFAULT_LADDER, (45, 2), (1,)):
        start = notify_from(expires, ladder)
        assert stage_for(expires, start, ladder) == f"{max(ladder)}d"
        assert stage_for(expires, start - SEC, ladder) == "ok"


# --- days_left / describe_days_left ----------------------------------------------------

@freeze_time(FROZEN)
@pytest.mark.parametrize("left, days", [
    (30 * DAY, 30), (DAY + 12 * timedelta(hours=1), 1), (DAY, 1), (DAY - SEC, 0), (SEC, 0),
    (timedelta(0), 0), (-SEC, 0), (-DAY, -1), (-3 * DAY - 12 * timedelta(hours=1), -3),
])
def test_days_left_drops_partial_days(left, days):
    now = utcnow()
    assert days_left(now + left, now) == days


@freeze_time(FROZEN)
@pytest.mark.parametrize("left, text", [
    (30 * DAY, "30 days left"),
    (2 * DAY, "2 days left"),
    (DAY + timedelta(hours=23), "1 day left"),
    (DAY, "1 day left"),
    (timedelta(hours=5), "expires in less than a day"),
    (SEC, "expires in less than a day"),
    (timedelta(0), "expired less than a day ago"),
    (-timedelta(hours=23), "expired less than a day ago"),
    (-DAY, "expired 1 day ago"),
    (-DAY - timedelta(hours=20), "expired 1 day ago"),
    (-5 * DAY, "expired 5 days ago"),
])
def test_describe_days_left(left, text):
    now = utcnow()
    assert describe_days_left(now + left, now) == text
