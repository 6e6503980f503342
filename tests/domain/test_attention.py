"""The follow-up schedule: escalation, expiry, reminders and the digest slot, DST included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from renewbot.domain.attention import (
    ESCALATION,
    EXPIRY,
    REMINDER,
    PostedNotice,
    digest_slot,
    due_followups,
    hold,
    latest_digest_slot,
    reminder_day,
    reminder_slot,
)

EXPIRES = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
FOUR_HOURS = timedelta(hours=4)


def due(notices, now, *, muted=False, tz="UTC", expires=EXPIRES):
    return [(d.kind, d.key, d.due_at) for d in due_followups(
        expires_at=expires, muted=muted, notices=notices, now=now, escalate_after=FOUR_HOURS, reminder_hour=9,
        reminder_tz=tz)]


def posted(stage, sent_at, **kw):
    return PostedNotice(stage=stage, sent_at=sent_at, thread_ts="111.1", **kw)


def test_escalation_comes_the_delay_after_a_near_stage_was_posted():
    sent = EXPIRES - timedelta(days=3)
    notices = [posted("7d", sent - timedelta(days=4)), posted("3d", sent)]
    assert due(notices, sent + FOUR_HOURS - timedelta(seconds=1)) == []
    assert due(notices, sent + FOUR_HOURS) == [(ESCALATION, "3d", sent + FOUR_HOURS)]


def test_no_escalation_for_far_stages_acknowledged_ones_or_muted_tokens():
    sent = EXPIRES - timedelta(days=7)
    assert due([posted("7d", sent)], sent + timedelta(hours=5)) == []
    sent = EXPIRES - timedelta(days=1)
    assert due([posted("1d", sent, acked=True)], sent + timedelta(hours=5)) == []
    assert due([posted("1d", sent)], sent + timedelta(hours=5), muted=True) == []


def test_a_snooze_moves_the_escalation_to_its_end():
    sent = EXPIRES - timedelta(days=3)
    until = sent + timedelta(days=1)
    notices = [posted("3d", sent, snoozed_until=until)]
    assert due(notices, sent + timedelta(hours=5)) == []
    assert due(notices, until) == [(ESCALATION, "3d", until)]


def test_only_the_nearest_stage_escalates_and_never_after_expiry():
    notices = [posted("3d", EXPIRES - timedelta(days=3)), posted("1d", EXPIRES - timedelta(days=1))]
    assert [k for _, k, _ in due(notices, EXPIRES - timedelta(hours=12))] == ["1d"]
    late = [posted("1d", EXPIRES - timedelta(hours=2))]  # due after the expiry: the expiry escalation speaks
    assert due(late, EXPIRES + timedelta(hours=3)) == []


def test_at_expiry_the_escalation_then_daily_reminders_at_the_local_hour():
    notices = [posted("1d", EXPIRES - timedelta(days=1), acked=True), posted("expired", EXPIRES)]
    assert due(notices, EXPIRES) == [(EXPIRY, "expired", EXPIRES)]
    next_day = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
    assert due(notices, next_day)[1] == (REMINDER, "2027-01-11", next_day)
    assert due(notices, next_day - timedelta(minutes=1)) == [(EXPIRY, "expired", EXPIRES)]


def test_an_acknowledged_expired_notice_gets_no_expiry_escalation_but_reminders_go_on():
    notices = [posted("expired", EXPIRES, acked=True)]
    assert [kind for kind, _, _ in due(notices, EXPIRES + timedelta(days=2))] == [REMINDER]


def test_reminders_daily_for_fourteen_days_then_weekly():
    keys = []
    now = EXPIRES
    while now < EXPIRES + timedelta(days=40):
        slot = reminder_slot(EXPIRES, now, 9, "UTC")
        if slot is not None and (not keys or keys[-1] != slot.date().isoformat()):
            keys.append(slot.date().isoformat())
        now += timedelta(hours=1)
    assert keys[:14] == [f"2027-01-{d:02d}" for d in range(11, 25)]
    assert keys[14:] == ["2027-01-31", "2027-02-07", "2027-02-14"]


def test_after_downtime_only_the_latest_slot_is_due():
    notices = [posted("expired", EXPIRES)]
    now = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)
    reminders = [k for kind, k, _ in due(notices, now) if kind == REMINDER]
    assert reminders == ["2027-01-15"]
    weekly_gap = datetime(2027, 1, 28, 10, 0, tzinfo=UTC)  # between the weekly ones: the last one passed
    assert [k for kind, k, _ in due(notices, weekly_gap) if kind == REMINDER] == ["2027-01-24"]


def test_a_snooze_on_another_notice_of_the_expiry_holds_the_escalation():
    # The 7d notice snoozed until a day after the 3d one was posted: the 3d escalation waits for its end.
    sent = EXPIRES - timedelta(days=3)
    until = sent + timedelta(days=1)
    notices = [posted("7d", sent - timedelta(days=4), snoozed_until=until), posted("3d", sent)]
    assert due(notices, sent + timedelta(hours=5)) == []
    assert due(notices, until) == [(ESCALATION, "3d", until)]
    base = dict(kind=ESCALATION, key="3d", planned_expiry=EXPIRES, expires_at=EXPIRES, retired=False, muted=False,
                notices=notices)
    held = hold(**base, now=sent + timedelta(hours=5))
    assert held.reason == "snoozed" and held.until == until
    assert hold(**base, now=until) is None


def test_reminder_hour_stays_local_across_berlin_dst_changes():
    # Berlin goes to summer time on 2027-03-28 (02:00 -> 03:00): 09:00 local is 08:00 UTC before, 07:00 after.
    expires = datetime(2027, 3, 25, 12, 0, tzinfo=UTC)
    before = reminder_slot(expires, datetime(2027, 3, 27, 12, 0, tzinfo=UTC), 9, "Europe/Berlin")
    after = reminder_slot(expires, datetime(2027, 3, 28, 12, 0, tzinfo=UTC), 9, "Europe/Berlin")
    assert before == datetime(2027, 3, 27, 8, 0, tzinfo=UTC)
    assert after == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)
    # Back to winter time on 2027-10-31.
    expires = datetime(2027, 10, 29, 12, 0, tzinfo=UTC)
    assert reminder_slot(expires, datetime(2027, 10, 31, 12, 0, tzinfo=UTC), 9, "Europe/Berlin") == \
        datetime(2027, 10, 31, 8, 0, tzinfo=UTC)
    # The hour that does not exist that night (02:xx on 2027-03-28) still gives one instant that day.
    gap = reminder_slot(datetime(2027, 3, 20, tzinfo=UTC), datetime(2027, 3, 28, 12, 0, tzinfo=UTC), 2,
                        "Europe/Berlin")
    assert gap is not None and gap.date().isoformat() == "2027-03-28"


def test_a_reminder_key_is_the_local_day():
    expires = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
    notices = [posted("expired", expires)]
    # 09:00 in Tokyo on the 12th is 00:00 UTC on the 12th.
    found = due(notices, datetime(2027, 1, 12, 0, 30, tzinfo=UTC), tz="Asia/Tokyo")
    assert (REMINDER, "2027-01-12", datetime(2027, 1, 12, 0, 0, tzinfo=UTC)) in found


def test_the_reminder_day_is_the_local_day_of_the_latest_reminder_hour_passed():
    # The daily pass for a day runs once that day's 09:00 local has passed; before it, the day before's is due.
    berlin_9 = datetime(2027, 3, 28, 7, 0, tzinfo=UTC)  # summer time since 02:00 that morning
    assert reminder_day(berlin_9 - timedelta(seconds=1), 9, "Europe/Berlin") == date(2027, 3, 27)
    assert reminder_day(berlin_9, 9, "Europe/Berlin") == date(2027, 3, 28)
    # 23:30 UTC on the 28th is already the 29th in Berlin, before its 09:00: still the 28th.
    assert reminder_day(datetime(2027, 3, 28, 23, 30, tzinfo=UTC), 9, "Europe/Berlin") == date(2027, 3, 28)
    # Every reminder due at a moment has its slot on that day or before (the pass for the day covers it).
    expires = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    for hours in range(0, 24 * 40, 5):
        now = expires + timedelta(hours=hours)
        slot = reminder_slot(expires, now, 9, "Europe/Berlin")
        if slot is not None:
            assert slot.astimezone(ZoneInfo("Europe/Berlin")).date() <= reminder_day(now, 9, "Europe/Berlin")


def test_digest_slot_is_this_iso_week_in_its_zone():
    monday_9 = dict(day=0, hour=9, minute=0)
    slot = digest_slot(datetime(2027, 1, 20, 15, 0, tzinfo=UTC), tz="UTC", **monday_9)  # a Wednesday
    assert slot.week == "2027-W03" and slot.at == datetime(2027, 1, 18, 9, 0, tzinfo=UTC)
    # Sunday 23:30 UTC is already Monday in Berlin: the next week there.
    slot = digest_slot(datetime(2027, 1, 24, 23, 30, tzinfo=UTC), tz="Europe/Berlin", **monday_9)
    assert slot.week == "2027-W04" and slot.at == datetime(2027, 1, 25, 8, 0, tzinfo=UTC)
    # The Monday after Berlin's spring change: 09:00 is 07:00 UTC.
    slot = digest_slot(datetime(2027, 3, 29, 12, 0, tzinfo=UTC), tz="Europe/Berlin", **monday_9)
    assert slot.at == datetime(2027, 3, 29, 7, 0, tzinfo=UTC)
    # ISO year boundary: 2027-01-01 (a Friday) belongs to 2026-W53.
    assert digest_slot(datetime(2027, 1, 1, 12, tzinfo=UTC), tz="UTC", **monday_9).week == "2026-W53"


def test_hold_rechecks_renewal_mute_ack_and_snooze_at_send_time():
    now = EXPIRES - timedelta(hours=10)
    notices = [posted("1d", now - timedelta(hours=12))]
    base = dict(kind=ESCALATION, key="1d", planned_expiry=EXPIRES, expires_at=EXPIRES, retired=False, muted=False,
                notices=notices, now=now)
    assert hold(**base) is None
    assert hold(**{**base, "expires_at": EXPIRES + timedelta(days=90)}).reason == "renewed"
    assert hold(**{**base, "notices": []}).reason == "renewed"
    assert hold(**{**base, "retired": True}).reason == "retired"
    assert hold(**{**base, "muted": True}).reason == "muted"
    assert hold(**{**base, "notices": [posted("1d", now, acked=True)]}).reason == "acknowledged"
    snoozed = hold(**{**base, "notices": [posted("1d", now, snoozed_until=now + timedelta(hours=3))]})
    assert snoozed.reason == "snoozed" and snoozed.until == now + timedelta(hours=3)


def test_the_latest_digest_slot_reaches_back_across_the_iso_week_boundary():
    sunday_9 = dict(day=6, hour=9, minute=0, tz="UTC")
    # Down from Sunday 2027-01-24 08:00 to Monday 00:30: Sunday's slot (2027-W03) is still the one due.
    monday = datetime(2027, 1, 25, 0, 30, tzinfo=UTC)
    assert digest_slot(monday, **sunday_9).week == "2027-W04"
    slot = latest_digest_slot(monday, **sunday_9)
    assert slot.week == "2027-W03" and slot.at == datetime(2027, 1, 24, 9, 0, tzinfo=UTC)
    # Once this week's slot has passed, it is this week's.
    assert latest_digest_slot(datetime(2027, 1, 31, 9, 0, tzinfo=UTC), **sunday_9).week == "2027-W04"
