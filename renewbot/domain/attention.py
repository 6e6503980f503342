"""When follow-ups are due: escalations, reminders after expiry and the weekly digest's slot. Pure functions.

Every datetime is aware; local hours (REMINDER_HOUR, DIGEST_TIME) are turned into instants with zoneinfo, so a
daylight-saving change moves the instant, never the local hour. Only the latest slot that has passed is due:
after downtime a token gets one late reminder, not one per missed day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from renewbot.domain.thresholds import EXPIRED

ESCALATION = "escalation"  # key: the stage ("3d")
EXPIRY = "expiry"  # key: "expired"
REMINDER = "reminder"  # key: the local day, YYYY-MM-DD
# Stages this near the expiry escalate when nobody acknowledged them in time.
ESCALATE_WITHIN_DAYS = 3
DAILY_REMINDERS = 14  # then one a week
WEEK = timedelta(days=7)
# How long after an expiry every scan still looks for its escalation at expiry. The full pass that plans
# reminders runs at least once a local day and covers every expired token, so this only has to outlast a day
# between two of them (an expired notice posted after a short downtime).
EXPIRY_LOOKBACK = timedelta(days=2)


@dataclass(frozen=True)
class PostedNotice:
    """What the schedule needs from a notice posted for the token's current expiry."""
    stage: str
    sent_at: datetime
    thread_ts: str | None  # the thread it lives in (Notice.root_ts); None in a dry run before it is posted
    acked: bool = False
    snoozed_until: datetime | None = None


@dataclass(frozen=True)
class DueFollowup:
    kind: str
    key: str
    due_at: datetime
    thread_ts: str | None


def stage_days(stage: str) -> int | None:
    """3 for "3d"; None for "expired" or anything else."""
    if stage.endswith("d") and stage[:-1].isdigit():
        return int(stage[:-1])
    return None


def local_at(day: date, hour: int, minute: int, tz: str) -> datetime:
    """The instant (UTC) of hour:minute on `day` in `tz`. A local time skipped by a DST change lands just after
    the gap (zoneinfo's fold=0), one repeated by it on its first occurrence."""
    local = datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC)


def reminder_day(now: datetime, hour: int, tz: str) -> date:
    """The local day of the latest REMINDER_HOUR at or before `now`: every reminder due at `now` is due since
    then or earlier, and none falls due again before the next day's hour."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return today if local_at(today, hour, 0, tz) <= now else today - timedelta(days=1)


def reminder_slot(expires_at: datetime, now: datetime, hour: int, tz: str) -> datetime | None:
    """The latest reminder instant at or before `now`: REMINDER_HOUR local on each of the 14 days after the
    expiry's local day, then every 7th day; None before the first."""
    first_day = expires_at.astimezone(ZoneInfo(tz)).date() + timedelta(days=1)
    today = now.astimezone(ZoneInfo(tz)).date()
    for day in (today, today - timedelta(days=1)):  # today's slot may still be ahead
        offset = (day - first_day).days
        if offset < 0:
            return None
        if offset >= DAILY_REMINDERS:
            # Weekly from the last daily one: step back to the latest day on that cadence.
            offset -= (offset - (DAILY_REMINDERS - 1)) % 7
        slot = local_at(first_day + timedelta(days=offset), hour, 0, tz)
        if slot <= now:
            return slot
    return None


def due_followups(*, expires_at: datetime, muted: bool, notices: list[PostedNotice], now: datetime,
                  escalate_after: timedelta, reminder_hour: int, reminder_tz: str) -> list[DueFollowup]:
    """What is due at `now` for a token about its current expiry, given its notices posted for that expiry.

    - escalation: the nearest posted stage of ≤ 3 days, `escalate_after` after it was posted, or when the
      latest snooze on any of the expiry's notices ends if later, unless acknowledged; only before the expiry
      (from then on the expiry escalation speaks);
    - expiry: at the expiry, once the expired notice is posted, unless it was acknowledged;
    - reminder: the latest reminder slot.
    A snooze always ends before the expiry (the use case refuses longer ones), so it never touches the last two.
    Renewal changes the expiry, so a renewed token has no posted notice for the new one and nothing is due.
    """
    if muted or not notices:
        return []
    out: list[DueFollowup] = []
    near = [n for n in notices if (d := stage_days(n.stage)) is not None and d <= ESCALATE_WITHIN_DAYS]
    if near and now < expires_at:
        notice = min(near, key=lambda n: stage_days(n.stage))
        due = notice.sent_at + escalate_after
        snoozed = latest_snooze(notices)
        if snoozed is not None:
            due = max(due, snoozed)
        if not notice.acked and due <= now and due < expires_at:
            out.append(DueFollowup(ESCALATION, notice.stage, due, notice.thread_ts))
    expired = next((n for n in notices if n.stage == EXPIRED), None)
    if expired is None or now < expires_at:
        return out
    if not expired.acked:
        out.append(DueFollowup(EXPIRY, EXPIRED, expires_at, expired.thread_ts))
    slot = reminder_slot(expires_at, now, reminder_hour, reminder_tz)
    # A reminder follows the expired notice: none in the pass that first posts it (a token first seen long expired).
    if slot is not None and slot > expired.sent_at:
        key = slot.astimezone(ZoneInfo(reminder_tz)).date().isoformat()
        out.append(DueFollowup(REMINDER, key, slot, expired.thread_ts))
    return out


@dataclass(frozen=True)
class DigestSlot:
    week: str  # ISO week in DIGEST_TZ, "2027-W03": the digest's unique key per channel
    at: datetime  # DIGEST_DAY at DIGEST_TIME of that week, in UTC


def latest_snooze(notices: list[PostedNotice]) -> datetime | None:
    """A snooze on any notice of the expiry holds the token's escalation: people snooze the message in front of
    them, not necessarily the stage that escalates."""
    return max((n.snoozed_until for n in notices if n.snoozed_until is not None), default=None)


def digest_slot(now: datetime, *, day: int, hour: int, minute: int, tz: str) -> DigestSlot:
    """This week's digest slot in `tz` (ISO weeks start on Monday; `day` 0 is Monday). Due once `now` has
    passed `at`; a week whose slot passed while renewbot was down is still this week's, so it goes out late."""
    today = now.astimezone(ZoneInfo(tz)).date()
    year, week, weekday = today.isocalendar()
    slot_day = today + timedelta(days=day - (weekday - 1))
    return DigestSlot(f"{year}-W{week:02d}", local_at(slot_day, hour, minute, tz))


def latest_digest_slot(now: datetime, *, day: int, hour: int, minute: int, tz: str) -> DigestSlot:
    """The latest slot at or before `now`: this week's once it has passed, else last week's. A slot missed while
    down (Sunday's, say) is still due after the ISO week turned over, so it goes out late rather than never."""
    slot = digest_slot(now, day=day, hour=hour, minute=minute, tz=tz)
    if slot.at <= now:
        return slot
    return digest_slot(slot.at - timedelta(days=7), day=day, hour=hour, minute=minute, tz=tz)


@dataclass(frozen=True)
class Hold:
    """Why a planned follow-up is not sent now: `until` None closes it for good, else it waits until then."""
    reason: str
    until: datetime | None = None


def hold(*, kind: str, key: str, planned_expiry: datetime, expires_at: datetime, retired: bool, muted: bool,
         notices: list[PostedNotice], now: datetime) -> Hold | None:
    """Re-checked at send time, since a person may have acted after it was planned: renewed (the expiry moved),
    retired, muted, acknowledged, snoozed. None: send it. `notices`: those still open for `planned_expiry`."""
    if retired:
        return Hold("retired")
    if expires_at != planned_expiry or not notices:
        return Hold("renewed")
    if muted:
        return Hold("muted")
    if kind == ESCALATION:
        notice = next((n for n in notices if n.stage == key), None)
        if notice is None or notice.acked:
            return Hold("acknowledged")
        if now >= expires_at:
            return Hold("expired meanwhile: the escalation at expiry speaks")
        snoozed = latest_snooze(notices)
        if snoozed is not None and snoozed > now:
            return Hold("snoozed", snoozed)
    elif kind == EXPIRY and any(n.stage == EXPIRED and n.acked for n in notices):
        return Hold("acknowledged")
    # Snoozes end before the expiry, so none can hold the escalation at expiry or a reminder.
    return None
