"""The calendar feed: one all-day event per live token on its expiry day, as RFC 5545 text.

The builder is pure (events in, lines out); `feed_events` reads the tokens a page at a time, each page in its
own short transaction, so a calendar app reading 10,000 tokens slowly never holds one open. A token's UID is
its id, so a renewal moves its event (same UID, new date) instead of adding one.

Only expiries from 90 days ago to 2 years ahead are in the feed: older ones are history nobody needs an alarm
for, later ones are far beyond any planning horizon, and the window bounds what one GET costs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from renewbot.domain.kinds import Kind, resolve
from renewbot.usecases.kinds import team_kinds
from storage.db import session_scope
from storage.models import Token

PRODID = "-//renewbot//expiry calendar//EN"
UID_DOMAIN = "renewbot"
ALARM_BEFORE = "-P7D"
PAGE = 1000  # tokens read per transaction
WINDOW_PAST = timedelta(days=90)  # expiries this far back are still in the feed (overdue renewals stay visible)
WINDOW_AHEAD = timedelta(days=730)  # and this far ahead
MAX_LINE_OCTETS = 75  # RFC 5545 3.1: lines longer than this are folded
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # what no TEXT value may hold (tab and newline may)


@dataclass(frozen=True)
class CalendarEvent:
    token_id: str
    name: str
    kind_label: str
    expires_at: datetime  # aware, UTC
    channel: str
    owners: tuple[str, ...]


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped; other control
    characters, which no TEXT may hold, dropped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = CONTROL_RE.sub("", value)
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """Splits a content line into lines of at most 75 octets (continuations start with a space), never
    inside a UTF-8 sequence; the CRLF ends each one."""
    if len(line) * 4 <= MAX_LINE_OCTETS or len(line.encode("utf-8")) <= MAX_LINE_OCTETS:  # most lines
        return line + "\r\n"
    if line.isascii():  # one octet a character: plain slices
        first, rest = line[:MAX_LINE_OCTETS], line[MAX_LINE_OCTETS:]
        step = MAX_LINE_OCTETS - 1
        return "\r\n ".join([first, *(rest[i:i + step] for i in range(0, len(rest), step))]) + "\r\n"
    out, current, size = [], [], 0
    for char in line:
        width = len(char.encode("utf-8"))
        limit = MAX_LINE_OCTETS if not out else MAX_LINE_OCTETS - 1  # the leading space counts
        if size + width > limit:
            out.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    out.append("".join(current))
    return "\r\n ".join(out) + "\r\n"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _day(day: date) -> str:
    return day.strftime("%Y%m%d")


def event_lines(event: CalendarEvent, *, stamp: datetime) -> Iterator[str]:
    day = event.expires_at.date()  # callers pass UTC: the event is on the UTC day of the expiry
    summary = f"{event.name} expires ({event.kind_label})"
    details = [f"{event.kind_label} {event.name} expires {event.expires_at:%Y-%m-%d %H:%M} UTC.",
               f"Channel: {event.channel}"]
    if event.owners:
        details.append("Owners: " + " ".join(event.owners))
    details.append("Renew it in Slack with /renew-token.")
    yield "BEGIN:VEVENT"
    yield f"UID:{escape_text(event.token_id)}@{UID_DOMAIN}"
    yield f"DTSTAMP:{_stamp(stamp)}"
    yield f"DTSTART;VALUE=DATE:{_day(day)}"
    yield f"DTEND;VALUE=DATE:{_day(day + timedelta(days=1))}"
    yield f"SUMMARY:{escape_text(summary)}"
    yield f"DESCRIPTION:{escape_text(chr(10).join(details))}"
    yield "TRANSP:TRANSPARENT"  # a reminder, not time the owners are busy
    yield "BEGIN:VALARM"
    yield "ACTION:DISPLAY"
    yield f"DESCRIPTION:{escape_text(summary)}"
    yield f"TRIGGER:{ALARM_BEFORE}"
    yield "END:VALARM"
    yield "END:VEVENT"


def calendar_chunks(events: Iterable[CalendarEvent], *, stamp: datetime) -> Iterator[bytes]:
    """The whole VCALENDAR, one chunk per event (plus head and tail), CRLF line ends, folded."""
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
            "X-WR-CALNAME:renewbot expiries"]
    yield "".join(fold(line) for line in head).encode("utf-8")
    for event in events:
        yield "".join(fold(line) for line in event_lines(event, stamp=stamp)).encode("utf-8")
    yield fold("END:VCALENDAR").encode("utf-8")


def feed_events(*, engine: Engine, now: datetime, page: int | None = None) -> Iterator[CalendarEvent]:
    """Every live token whose known expiry is in the window around `now`, by id, `page` at a time: each page is
    one short transaction (keyset: id > the last one seen), so memory and lock time stay bounded however many
    tokens there are.

    The kinds and the first page are read before this returns: a database that is down fails this call, while
    the caller can still answer 500, rather than the response after its first bytes are sent."""
    page = page or PAGE
    with session_scope(engine) as session:
        kinds = team_kinds(session=session)
    start, end = now - WINDOW_PAST, now + WINDOW_AHEAD
    first = _page(engine, after="", start=start, end=end, page=page)
    return _events(engine, kinds, first, start=start, end=end, page=page)


def _page(engine: Engine, *, after: str, start: datetime, end: datetime, page: int) -> list:
    columns = (Token.id, Token.name, Token.kind, Token.expires_at, Token.channel, Token.owners)
    with session_scope(engine) as session:
        return session.execute(select(*columns).where(
            Token.retired.is_(False), Token.expiry_known.is_(True), Token.expires_at >= start,
            Token.expires_at <= end, Token.id > after).order_by(Token.id).limit(page)).all()


def _events(engine: Engine, kinds: dict[str, Kind], rows: list, *, start: datetime, end: datetime,
            page: int) -> Iterator[CalendarEvent]:
    while True:
        for token_id, name, kind, expires_at, channel, owners in rows:
            yield CalendarEvent(token_id=token_id, name=name, kind_label=resolve(kind, kinds).label,
                                expires_at=expires_at, channel=channel, owners=tuple(owners or ()))
        if len(rows) < page:
            return
        rows = _page(engine, after=rows[-1][0], start=start, end=end, page=page)
