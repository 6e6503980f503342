"""Acknowledge, snooze, mute and unmute as use cases: what they write, what they refuse, and what planning does
with a muted token (scans called with a frozen clock against the Slack stand-in)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from handlers.access import Decision
from jobs.plan import due_notices, plan_notices
from jobs.scan import scan
from renewbot.runtime.cli import main
from renewbot.runtime.slack_client import make_client
from renewbot.usecases import attention
from renewbot.usecases.attention import AttentionRefused, NoticeRef
from renewbot.usecases.status import collect, render_text
from storage import attention as store
from storage import queries
from storage.attention import is_muted
from storage.db import session_scope
from storage.models import Notice, NoticeState, Token, TokenEvent
from tests.conftest import NOW
from tests.support.seed import seed, token

ALLOW = lambda owners, channel: Decision(True, "named")
DENY = lambda owners, channel: Decision(False, "not_owner")


@pytest.fixture
def client(slack):
    return make_client("xoxb-test", slack.url)


def posted(engine, client, *, days: float = 10, now=NOW) -> Notice:
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=days), owners=["U0OWNER"])])
    scan(engine=engine, client=client, now=now)
    (notice,) = rows(engine, Notice)
    assert notice.state == NoticeState.SENT
    return notice


def rows(engine, model) -> list:
    with session_scope(engine) as s:
        return list(s.exec(select(model).order_by(model.id)).all())


def ref(notice: Notice) -> NoticeRef:
    return NoticeRef(token_id=notice.token_id, expires_at=notice.expires_at, stage=notice.stage)


def the_token(engine) -> Token:
    with session_scope(engine) as s:
        return s.get(Token, "t1")


def test_acknowledge_records_who_and_when_once(engine, slack, client):
    notice = posted(engine, client)
    outcome = attention.acknowledge(engine=engine, ref=ref(notice), user_id="U0OWNER", now=NOW, decide=ALLOW)
    (shown,) = outcome.edits
    assert (shown.channel, shown.ts, shown.stage) == ("C0ALERTS", notice.ts, "14d")
    assert (shown.attention.acked_by, shown.attention.acked_at) == ("U0OWNER", NOW)
    # A second "I'm on it" (a race, or a message not edited yet) is refused, saying whose stands: nothing to edit.
    with pytest.raises(AttentionRefused) as caught:
        attention.acknowledge(engine=engine, ref=ref(notice), user_id="U0LATE", now=NOW + timedelta(hours=1),
                              decide=ALLOW)
    assert caught.value.text == "<@U0OWNER> is already on *Token t1*: nothing was changed."
    (stored,) = rows(engine, Notice)
    assert (stored.acked_by, stored.acked_at) == ("U0OWNER", NOW)
    (event,) = rows(engine, TokenEvent)
    assert (event.token_id, event.action, event.by, event.at, event.expires_at, event.stage) == (
        "t1", "acknowledged", "U0OWNER", NOW, notice.expires_at, "14d")


def test_a_refused_person_changes_nothing(engine, slack, client):
    notice = posted(engine, client)
    for act in (lambda: attention.acknowledge(engine=engine, ref=ref(notice), user_id="U0X", now=NOW, decide=DENY),
                lambda: attention.snooze(engine=engine, ref=ref(notice), user_id="U0X", days=1, now=NOW, decide=DENY),
                lambda: attention.check_mute(engine=engine, ref=ref(notice), decide=DENY),
                lambda: attention.mute(engine=engine, ref=ref(notice), user_id="U0X", reason="retired", now=NOW,
                                       decide=DENY)):
        with pytest.raises(AttentionRefused) as caught:
            act()
        assert caught.value.decision.why == "not_owner" and caught.value.token.id == "t1"
    (stored,) = rows(engine, Notice)
    assert stored.acked_at is None and stored.snoozed_until is None
    assert not is_muted(the_token(engine)) and rows(engine, TokenEvent) == []


def test_snooze_is_checked_again_on_the_server(engine, slack, client):
    notice = posted(engine, client, days=4)  # 7d stage, 4 days left: 1 and 3 days fit, a week does not
    for forged in (7, 30, 0, -1, None):
        with pytest.raises(AttentionRefused, match="can't be snoozed for that long"):
            attention.snooze(engine=engine, ref=ref(notice), user_id="U0OWNER", days=forged, now=NOW, decide=ALLOW)
    assert rows(engine, TokenEvent) == []
    outcome = attention.snooze(engine=engine, ref=ref(notice), user_id="U0OWNER", days=3, now=NOW, decide=ALLOW)
    assert outcome.edits[0].attention.snoozed_until == NOW + timedelta(days=3)
    (stored,) = rows(engine, Notice)
    assert (stored.snoozed_until, stored.snoozed_by) == (NOW + timedelta(days=3), "U0OWNER")
    (event,) = rows(engine, TokenEvent)
    assert (event.action, event.stage, event.detail) == ("snoozed", "7d", "until 2026-11-29T12:00+00:00")


def test_snooze_is_per_notice_a_later_threshold_is_not_snoozed(engine, slack, client):
    first = posted(engine, client, days=4)
    attention.snooze(engine=engine, ref=ref(first), user_id="U0OWNER", days=3, now=NOW, decide=ALLOW)
    later = NOW + timedelta(days=1, hours=12)  # 2.5 days left: the 3d threshold, while the snooze lasts
    scan(engine=engine, client=client, now=later)
    seven, three = rows(engine, Notice)
    assert (seven.stage, three.stage, three.state) == ("7d", "3d", NoticeState.SENT)
    assert seven.snoozed_until == NOW + timedelta(days=3) and three.snoozed_until is None


def test_a_notice_of_an_expiry_renewed_away_is_refused_as_already_renewed(engine, slack, client):
    notice = posted(engine, client)
    with session_scope(engine) as s:  # what a renewal does to it
        s.get(Notice, notice.id).state = NoticeState.CLOSED
    with pytest.raises(AttentionRefused, match="already renewed"):
        attention.acknowledge(engine=engine, ref=ref(notice), user_id="U0OWNER", now=NOW, decide=ALLOW)
    stale = NoticeRef(token_id="t1", expires_at=notice.expires_at - timedelta(days=1), stage="14d")
    with pytest.raises(AttentionRefused, match="already renewed"):
        attention.snooze(engine=engine, ref=stale, user_id="U0OWNER", days=1, now=NOW, decide=ALLOW)
    assert rows(engine, TokenEvent) == []


def test_mute_stops_planning_and_unposted_notices_and_unmute_brings_the_current_stage_back(engine, slack, client):
    notice = posted(engine, client, days=10)  # the 14d notice is posted
    attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="handled elsewhere", now=NOW,
                   decide=ALLOW)
    token_row = the_token(engine)
    assert is_muted(token_row) and (token_row.muted_by, token_row.mute_reason) == ("U0OWNER", "handled elsewhere")
    # The 7d threshold passes while muted: nothing is planned, nothing posted.
    later = NOW + timedelta(days=4)
    with session_scope(engine) as s:
        assert due_notices(session=s, now=later) == []
        assert list(queries.tokens_due(session=s, now=later)) == []
    report = scan(engine=engine, client=client, now=later)
    assert report.planned == 0 and report.delivery.sent == []
    assert len(slack.calls_to("chat.postMessage")) == 1
    attention.unmute(engine=engine, ref=ref(notice), user_id="U0OWNER", now=later, decide=ALLOW)
    assert not is_muted(the_token(engine))
    report = scan(engine=engine, client=client, now=later)
    assert report.planned == 1 and len(report.delivery.sent) == 1
    assert [(n.stage, n.state) for n in rows(engine, Notice)] == [("14d", "sent"), ("7d", "sent")]
    assert [(e.action, e.detail) for e in rows(engine, TokenEvent)] == [
        ("muted", "handled elsewhere"), ("unmuted", "handled elsewhere")]


def test_a_notice_planned_but_not_posted_when_muted_is_not_posted_and_comes_back_on_unmute(engine, slack, client):
    notice = posted(engine, client, days=10)
    later = NOW + timedelta(days=4)
    assert plan_notices(engine=engine, now=later) == 1  # the 7d notice, pending
    attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="retired", now=later, decide=ALLOW)
    assert [(n.stage, n.state) for n in rows(engine, Notice)] == [("14d", "sent"), ("7d", "superseded")]
    assert scan(engine=engine, client=client, now=later).delivery.sent == []
    attention.unmute(engine=engine, ref=ref(notice), user_id="U0OWNER", now=later, decide=ALLOW)
    assert [(n.stage, n.state) for n in rows(engine, Notice)] == [("14d", "sent"), ("7d", "pending")]
    assert len(scan(engine=engine, client=client, now=later).delivery.sent) == 1
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_a_new_expiry_ends_the_mute_by_itself(engine, slack, client):
    notice = posted(engine, client, days=10)
    attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="retired", now=NOW, decide=ALLOW)
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=12), owners=["U0OWNER"])])  # the import moves it
    token_row = the_token(engine)
    assert token_row.muted_by == "U0OWNER" and not is_muted(token_row)  # nothing was written: the dates differ
    report = scan(engine=engine, client=client, now=NOW)
    assert report.planned == 1 and len(report.delivery.sent) == 1


def test_refused_while_muted_ack_and_snooze(engine, slack, client):
    notice = posted(engine, client)
    attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="retired", now=NOW, decide=ALLOW)
    with pytest.raises(AttentionRefused, match="is muted"):
        attention.acknowledge(engine=engine, ref=ref(notice), user_id="U0OWNER", now=NOW, decide=ALLOW)
    with pytest.raises(AttentionRefused, match="is muted"):
        attention.snooze(engine=engine, ref=ref(notice), user_id="U0OWNER", days=1, now=NOW, decide=ALLOW)


def test_status_and_audit_show_mute_acknowledge_and_snooze(engine, slack, client, monkeypatch, capsys, db_url,
                                                           tmp_path):
    notice = posted(engine, client)
    attention.acknowledge(engine=engine, ref=ref(notice), user_id="U0ACK", now=NOW, decide=ALLOW)
    attention.snooze(engine=engine, ref=ref(notice), user_id="U0SNZ", days=1, now=NOW, decide=ALLOW)
    with session_scope(engine) as s:
        status = collect(session=s, now=NOW)
    data = status.to_json()["tokens"][0]
    assert "muted" not in data
    assert data["open_notice"] == {"id": notice.id, "stage": "14d", "state": "sent", "channel": "C0ALERTS",
                                   "ts": notice.ts, "acked_by": "U0ACK", "acked_at": NOW.isoformat(),
                                   "snoozed_until": (NOW + timedelta(days=1)).isoformat(), "snoozed_by": "U0SNZ"}
    text = render_text(status)
    assert "acknowledged by U0ACK at 2026-11-26 12:00 UTC" in text
    assert "snoozed until 2026-11-27 12:00 UTC by U0SNZ" in text
    attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="other: moved", now=NOW, decide=ALLOW)
    with session_scope(engine) as s:
        status = collect(session=s, now=NOW)
    assert status.to_json()["tokens"][0]["muted"] == {"by": "U0OWNER", "at": NOW.isoformat(), "reason": "other: moved"}
    assert list(status.to_json()["tokens"][0])[-1] == "muted"
    assert "muted by U0OWNER (other: moved) since 2026-11-26 12:00 UTC" in render_text(status)
    # `renewbot audit --token t1`: renewals (none) then the attention events, one a line.
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    assert main(["audit", "--token", "t1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "no renewals recorded" and "ATTENTION (acknowledge, snooze, mute)" in out
    table = out[out.index("ATTENTION (acknowledge, snooze, mute)") + 1:]
    assert table[0].split() == ["AT", "(UTC)", "TOKEN", "ACTION", "BY", "EXPIRY", "STAGE", "DETAIL"]
    assert [line.split()[2] for line in table[1:]] == ["acknowledged", "snoozed", "muted"]
    assert table[-1].endswith("other: moved")
    assert main(["audit", "--token", "t1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # --json lists renewals only, as before


def test_a_second_mute_is_refused_and_overwrites_nothing(engine, slack, client):
    notice = posted(engine, client)
    attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="retired", now=NOW, decide=ALLOW)
    later = NOW + timedelta(hours=2)
    # A stale Mute button (the form would not open) and a second form submitted (the mute is not applied again).
    for act in (lambda: attention.check_mute(engine=engine, ref=ref(notice), decide=ALLOW),
                lambda: attention.mute(engine=engine, ref=ref(notice), user_id="U0OTHER", reason="other: mine",
                                       now=later, decide=ALLOW)):
        with pytest.raises(AttentionRefused) as caught:
            act()
        assert caught.value.text == "*Token t1* is already muted by <@U0OWNER>: nothing was changed."
        assert caught.value.plain == "Token t1 is already muted (the notice says by whom): nothing was changed."
    token_row = the_token(engine)
    assert (token_row.muted_by, token_row.muted_at, token_row.mute_reason) == ("U0OWNER", NOW, "retired")
    assert [(e.action, e.by) for e in rows(engine, TokenEvent)] == [("muted", "U0OWNER")]


def test_the_mute_write_itself_never_overwrites_a_mute(engine, slack, client):
    """The compare-and-set under the use case's check: a mute committed between its read and its write."""
    notice = posted(engine, client)
    attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="retired", now=NOW, decide=ALLOW)
    with session_scope(engine) as s:
        assert store.mute(session=s, token_id="t1", expires_at=notice.expires_at, by="U0OTHER", at=NOW,
                          reason="other: mine") is False
        assert store.unmute(session=s, token_id="t1") is True
        assert store.unmute(session=s, token_id="t1") is False  # of two unmutes at once, one is written
    assert the_token(engine).muted_by is None


def test_a_second_unmute_is_refused_and_audited_once(engine, slack, client):
    notice = posted(engine, client)
    attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="retired", now=NOW, decide=ALLOW)
    attention.unmute(engine=engine, ref=ref(notice), user_id="U0OWNER", now=NOW, decide=ALLOW)
    with pytest.raises(AttentionRefused, match="is not muted"):
        attention.unmute(engine=engine, ref=ref(notice), user_id="U0OTHER", now=NOW, decide=ALLOW)
    assert [e.action for e in rows(engine, TokenEvent)] == ["muted", "unmuted"]


def test_owners_changed_while_deciding_refuse_every_action_and_change_nothing(engine, slack, client):
    """The decision is made between transactions (it may ask Slack): the write checks it still holds."""
    notice = posted(engine, client, days=4)

    def allow_but_owners_change(owners, channel):
        with session_scope(engine) as s:
            s.get(Token, "t1").owners = ["U0NEW"] if list(owners) == ["U0OWNER"] else ["U0OWNER"]
        return Decision(True, "named")

    for act in (lambda: attention.acknowledge(engine=engine, ref=ref(notice), user_id="U0OWNER", now=NOW,
                                              decide=allow_but_owners_change),
                lambda: attention.snooze(engine=engine, ref=ref(notice), user_id="U0OWNER", days=1, now=NOW,
                                         decide=allow_but_owners_change),
                lambda: attention.check_mute(engine=engine, ref=ref(notice), decide=allow_but_owners_change),
                lambda: attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="retired", now=NOW,
                                       decide=allow_but_owners_change)):
        with pytest.raises(AttentionRefused) as caught:
            act()
        assert caught.value.text == "*Token t1*'s owners changed just now: nothing was changed. Try again."
    (stored,) = rows(engine, Notice)
    assert (stored.acked_at, stored.snoozed_until) == (None, None)
    assert not is_muted(the_token(engine)) and rows(engine, TokenEvent) == []


def test_a_locked_token_fails_the_mute_fast_with_nothing_written(engine, slack, client):
    """Lock waits are bounded (the form must be answered inside Slack's 3 s): a row locked elsewhere fails the
    mute instead of committing it after Slack has shown the person an error."""
    notice = posted(engine, client)
    with engine.connect() as blocker:
        blocker.begin()
        blocker.execute(update(Token).where(Token.id == "t1").values(name=Token.name))  # holds the lock
        # Unbounded, the mute would wait for this release (PostgreSQL has no wait limit of its own) and succeed.
        release = threading.Timer(10, blocker.rollback)
        release.start()
        started = time.monotonic()
        try:
            with pytest.raises(OperationalError):
                attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="retired", now=NOW,
                               decide=ALLOW)
            waited = time.monotonic() - started
        finally:
            release.cancel()
            release.join()
        blocker.rollback()
    assert waited < 10  # SQLite's usual wait is 30 s; bounded, it is LOCK_WAIT_SECONDS (1.5 s)
    assert not is_muted(the_token(engine)) and rows(engine, TokenEvent) == []
    # The bound was only for that transaction: the pooled connection is back to its usual patience.
    attention.mute(engine=engine, ref=ref(notice), user_id="U0OWNER", reason="retired", now=NOW, decide=ALLOW)
    assert is_muted(the_token(engine))
