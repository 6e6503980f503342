"""GET /calendar.ics over real HTTP (the bot's own WSGI app on waitress), parsed with the `icalendar` package.

One all-day event per live token on its expiry day, its UID stable while a renewal moves the date, an alarm
7 days before, hostile names escaped, only expiries in the window; 401 for a missing, wrong or revoked key or a
key in the URL that can do more than read the calendar, 403 for a good key without the scope; a calendar key
cannot write through the API; at most two feeds at once; a database failure is a 500 before the first byte and
a cut-off download after it, never a short calendar."""

from __future__ import annotations

import http.client
import threading
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from waitress.server import create_server

from renewbot.domain.validation import RenewalForm
from renewbot.runtime.serve import build_app, waitress_options
from renewbot.runtime.web import make_wsgi_app
from renewbot.usecases.apikeys import create_key, revoke_key
from renewbot.usecases.calendar import CalendarEvent, calendar_chunks, escape_text, fold
from renewbot.usecases.renewal import RenewalRequest, renew
from renewbot.usecases.retire import retire
from storage.db import session_scope
from tests.conftest import NOW
from tests.support.bot_server import SIGNING_SECRET, standin_settings
from tests.support.seed import account, seed, token

MWS_SECRET = "amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
# Import refuses control characters in names (newlines are covered by the builder's own test below).
HOSTILE = 'Prod; "EU", \\path\\ END:VEVENT — ünïcødé ' + "x" * 80


class FeedServer:
    """The bot's WSGI app (make_wsgi_app, as serve mounts it) on waitress with the production options."""

    def __init__(self, deps, slack, metrics=None) -> None:
        app = build_app(standin_settings(slack.url), deps)
        wsgi = make_wsgi_app(app, deps.engine, SIGNING_SECRET, metrics=metrics, clock=deps.clock)
        self.server = create_server(wsgi, host="127.0.0.1", port=0,
                                    **{**waitress_options(standin_settings(slack.url)), "threads": 4})
        self.port, self.engine = self.server.effective_port, deps.engine
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.close()
        self._thread.join(5)

    def key(self, name: str, scopes=None) -> str:
        with session_scope(self.engine) as s:
            return create_key(session=s, name=name, scopes=scopes, now=NOW).key

    def get(self, path: str, *, key: str | None = None, method: str = "GET", body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, dict, bytes]:
        sent = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


@pytest.fixture
def feeds(deps, slack):
    server = FeedServer(deps, slack)
    yield server
    server.close()


def events(body: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(body)
    assert cal["VERSION"] == "2.0" and "renewbot" in str(cal["PRODID"])
    found = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert len(found) == len(cal.walk("VEVENT")), "UIDs must be unique"
    return found


def world(engine) -> None:
    seed(engine, now=NOW, accounts=[account("uk")], tokens=[
        token("mws", NOW + timedelta(days=3), accounts=["uk"], owners=["U0OWNER"], name="EU MWS"),
        token("jwt", datetime(2027, 3, 1, 23, 30, tzinfo=UTC), kind="generic", name=HOSTILE),
        token("old", NOW + timedelta(days=40), name="Retired one"),
    ])
    with session_scope(engine) as s:
        assert retire(session=s, row_id="old", now=NOW) is not None


def test_one_all_day_event_per_live_token_on_its_expiry_day_with_a_7_day_alarm(feeds):
    world(feeds.engine)
    status, headers, body = feeds.get("/calendar.ics", key=feeds.key("cal", ["calendar"]))
    assert status == 200
    assert headers["content-type"] == "text/calendar; charset=utf-8"
    assert headers["cache-control"] == "private, max-age=300"
    found = events(body)
    assert set(found) == {"mws@renewbot", "jwt@renewbot"}  # the retired token has none
    mws = found["mws@renewbot"]
    expiry = (NOW + timedelta(days=3)).date()
    assert mws["DTSTART"].dt == expiry and not isinstance(mws["DTSTART"].dt, datetime)  # all-day
    assert mws["DTEND"].dt == expiry + timedelta(days=1)
    assert str(mws["SUMMARY"]) == "EU MWS expires (Amazon MWS auth token (legacy))"
    assert "U0OWNER" in str(mws["DESCRIPTION"]) and "C0ALERTS" in str(mws["DESCRIPTION"])
    (alarm,) = mws.walk("VALARM")
    assert alarm["TRIGGER"].dt == timedelta(days=-7) and str(alarm["ACTION"]) == "DISPLAY"
    # The expiry's UTC day, even late in the day.
    assert found["jwt@renewbot"]["DTSTART"].dt == date(2027, 3, 1)
    # Every physical line is at most 75 octets and ends with CRLF.
    lines = body.split(b"\r\n")
    assert lines[-1] == b"" and all(len(line) <= 75 for line in lines)
    assert b"\n" not in body.replace(b"\r\n", b"")


def test_a_hostile_name_is_escaped_and_reads_back_whole(feeds):
    world(feeds.engine)
    _, _, body = feeds.get("/calendar.ics", key=feeds.key("cal", ["calendar"]))
    event = events(body)["jwt@renewbot"]
    assert str(event["SUMMARY"]) == f"{HOSTILE} expires (credential)"
    # Nothing in the name started a property or a component of its own.
    assert body.count(b"BEGIN:VEVENT") == 2 and body.count(b"\r\nEND:VEVENT") == 2


def test_the_builder_escapes_and_folds_per_rfc_5545():
    assert escape_text('a,b;c\\d\ne\r\nf\x00g') == "a\\,b\\;c\\\\d\\ne\\nfg"
    line = "SUMMARY:" + "é" * 100
    folded = fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "").removesuffix("\r\n") == line  # unfolding gives the line back
    event = CalendarEvent("t,1", "N", "credential", datetime(2027, 1, 2, tzinfo=UTC), "C1", ())
    body = b"".join(calendar_chunks([event], stamp=NOW))
    (parsed,) = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert str(parsed["UID"]) == "t,1@renewbot"


def test_a_renewal_moves_the_event_and_keeps_its_uid(feeds, deps):
    world(feeds.engine)
    key = feeds.key("cal", ["calendar"])
    before = events(feeds.get("/calendar.ics", key=key)[2])["mws@renewbot"]
    form = RenewalForm(secret=MWS_SECRET, expiry="2027-11-26", reenable={0: frozenset({"uk"})},
                       no_fetch={0: frozenset()})
    renew(engine=deps.engine, box=deps.box, now=NOW, may_act=lambda owners: True,
          request=RenewalRequest(token_id="mws", version=1, user_id="U0OWNER", form=form))
    after = events(feeds.get("/calendar.ics", key=key)[2])
    assert before["DTSTART"].dt == (NOW + timedelta(days=3)).date()
    assert after["mws@renewbot"]["DTSTART"].dt == date(2027, 11, 26)
    assert len(after) == 2  # moved, not added


def test_the_key_may_come_in_the_query_for_calendar_apps_and_head_sends_no_body(feeds):
    world(feeds.engine)
    key = feeds.key("cal", ["calendar"])
    status, _, body = feeds.get(f"/calendar.ics?key={key}")
    assert status == 200 and set(events(body)) == {"mws@renewbot", "jwt@renewbot"}
    status, headers, body = feeds.get(f"/calendar.ics?key={key}", method="HEAD")
    assert status == 200 and body == b"" and headers["content-type"].startswith("text/calendar")


def test_401_without_a_valid_key_and_403_for_a_valid_key_without_the_calendar_scope(feeds):
    world(feeds.engine)
    state_only = feeds.key("platform", ["state"])
    metrics_only = feeds.key("prom", ["metrics"])
    revoked = feeds.key("gone", ["calendar"])
    with session_scope(feeds.engine) as s:
        assert revoke_key(session=s, name="gone", now=NOW)
    status, headers, body = feeds.get("/calendar.ics")
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="renewbot"'  # no key: no error code
    for path, key in [("/calendar.ics", "rbk_" + "A" * 43), ("/calendar.ics", revoked),
                      ("/calendar.ics?key=" + "k" * 600, None), (f"/calendar.ics?key={revoked}&key={revoked}", None),
                      (f"/calendar.ics?key={revoked}", None), ("/calendar.ics?key=not%20a%20key", None)]:
        status, headers, body = feeds.get(path, key=key)
        assert status == 401, (path, status)
        assert headers["www-authenticate"] == 'Bearer realm="renewbot", error="invalid_token"', path
        assert b"BEGIN:VCALENDAR" not in body
    for path, key in [("/calendar.ics", state_only), ("/calendar.ics", metrics_only),
                      (f"/calendar.ics?key={state_only}", None)]:
        status, headers, body = feeds.get(path, key=key)
        assert status == 403, (path, status)
        assert headers["www-authenticate"] == ('Bearer realm="renewbot", error="insufficient_scope", '
                                               'scope="calendar"')
        assert b"lacks the 'calendar' scope" in body and b"BEGIN:VCALENDAR" not in body
    assert feeds.get("/calendar.ics", method="POST", key=feeds.key("cal", ["calendar"]))[0] == 405


def test_a_key_in_the_url_must_hold_the_calendar_scope_alone(feeds):
    world(feeds.engine)
    default = feeds.key("default")  # no --scope
    both = feeds.key("both", ["state", "calendar"])
    everything = feeds.key("all", ["state", "calendar", "metrics"])
    for key in (both, everything):
        status, headers, body = feeds.get(f"/calendar.ics?key={key}")
        assert status == 401, status
        assert headers["www-authenticate"].startswith('Bearer realm="renewbot", error="invalid_token"')
        assert b"--scope calendar" in body and b"BEGIN:VCALENDAR" not in body and key.encode() not in body
        # The same key in the header, which a URL does not carry, reads the calendar.
        status, _, body = feeds.get("/calendar.ics", key=key)
        assert status == 200 and set(events(body)) == {"mws@renewbot", "jwt@renewbot"}
    assert feeds.get(f"/calendar.ics?key={default}")[0] == 403  # state only, now the default
    assert feeds.get("/calendar.ics", key=default)[0] == 403


def test_only_expiries_from_90_days_ago_to_2_years_ahead_are_in_the_feed(feeds):
    seed(feeds.engine, now=NOW, tokens=[
        token("long-gone", NOW - timedelta(days=91)), token("overdue", NOW - timedelta(days=89)),
        token("far", NOW + timedelta(days=729)), token("too-far", NOW + timedelta(days=731)),
    ])
    _, _, body = feeds.get("/calendar.ics", key=feeds.key("cal", ["calendar"]))
    assert set(events(body)) == {"overdue@renewbot", "far@renewbot"}


@contextmanager
def token_pages(engine, *, fail_after: int | None = None, hold: threading.Event | None = None):
    """Intercepts the calendar's token-page reads in the database driver's path: the read after `fail_after`
    of them raises an OperationalError; with `hold`, every page but a request's first waits for it. Yields
    the list of reads seen (each one's thread name)."""
    seen: list[str] = []
    held = threading.Condition()

    def before(conn, cursor, statement, parameters, context, executemany):
        if "FROM token" not in statement or "ORDER BY token.id" not in statement:
            return
        with held:
            seen.append(threading.current_thread().name)
            held.notify_all()
        values = parameters.values() if isinstance(parameters, dict) else parameters
        if fail_after is not None and len(seen) > fail_after:
            raise OperationalError(statement, parameters, RuntimeError("database went away"))
        if hold is not None and "" not in values:  # not the first page (after id "")
            assert hold.wait(10)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_a_database_failure_before_the_first_byte_is_a_500(feeds):
    world(feeds.engine)
    key = feeds.key("cal", ["calendar"])
    with token_pages(feeds.engine, fail_after=0) as seen:
        status, headers, body = feeds.get("/calendar.ics", key=key)
    assert len(seen) == 1  # the real page read failed
    assert status == 500 and headers["content-type"].startswith("application/json")
    assert b"BEGIN:VCALENDAR" not in body
    assert feeds.get("/calendar.ics", key=key)[0] == 200  # and the slot it took was given back


def test_a_database_failure_mid_stream_cuts_the_download_instead_of_ending_the_calendar(feeds, monkeypatch):
    world(feeds.engine)
    monkeypatch.setattr("renewbot.usecases.calendar.PAGE", 1)  # two pages: the second fails
    key = feeds.key("cal", ["calendar"])
    with token_pages(feeds.engine, fail_after=1) as seen, pytest.raises(http.client.IncompleteRead) as cut:
        feeds.get("/calendar.ics", key=key)
    assert len(seen) == 2
    assert b"BEGIN:VCALENDAR" in cut.value.partial and b"END:VCALENDAR" not in cut.value.partial
    status, _, body = feeds.get("/calendar.ics", key=key)  # the slot was given back
    assert status == 200 and len(events(body)) == 2


def test_at_most_two_calendars_stream_at_once_and_the_next_gets_503(feeds, monkeypatch):
    world(feeds.engine)
    monkeypatch.setattr("renewbot.usecases.calendar.PAGE", 1)
    key = feeds.key("cal", ["calendar"])
    hold, results = threading.Event(), []
    with token_pages(feeds.engine, hold=hold) as seen:
        readers = [threading.Thread(target=lambda: results.append(feeds.get("/calendar.ics", key=key)))
                   for _ in range(2)]
        for reader in readers:
            reader.start()
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while len(seen) < 4 and datetime.now(UTC) < deadline:  # both past their first page, waiting on the second
            threading.Event().wait(0.02)
        assert len(seen) == 4
        status, headers, body = feeds.get("/calendar.ics", key=key)
        assert status == 503 and headers["retry-after"] == "30" and b"BEGIN:VCALENDAR" not in body
        assert feeds.get("/calendar.ics", key=key, method="HEAD")[0] == 200  # HEAD reads nothing, takes no slot
        hold.set()
        for reader in readers:
            reader.join(10)
    assert [r[0] for r in results] == [200, 200] and all(len(events(r[2])) == 2 for r in results)
    assert feeds.get("/calendar.ics", key=key)[0] == 200  # both slots free again


def test_a_calendar_key_cannot_write_and_a_state_key_still_can(feeds):
    seed(feeds.engine, now=NOW, accounts=[account("amazon-uk", enabled=True)],
         tokens=[token("mws", NOW + timedelta(days=3), accounts=["amazon-uk"])])
    report = b'{"enabled": false, "fetch_orders": true, "reason": "token expired"}'
    headers = {"Content-Type": "application/json"}
    for scopes in (["calendar"], ["metrics"], ["calendar", "metrics"]):
        status, _, _ = feeds.get("/api/v1/accounts/amazon-uk/state", method="POST", body=report, headers=headers,
                                 key=feeds.key("-".join(scopes), scopes))
        assert status == 403, scopes
    status, _, _ = feeds.get("/api/v1/accounts/amazon-uk/state", method="POST", body=report, headers=headers,
                             key=feeds.key("platform", ["state"]))
    assert status == 200
