"""Recording a claimed notice's outcome: each write lands only while the notice is still ours ("sending")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from jobs.plan import plan_notices
from storage import notices
from storage.db import session_scope
from storage.models import Notice, NoticeState
from tests.conftest import NOW
from tests.support.seed import seed, token

LATER = NOW + timedelta(minutes=5)

# Each write with its arguments, and what it leaves in the row.
WRITES = {
    "record_sent": (
        notices.record_sent, dict(ts="1.000200", root_ts="1.000100", sent_at=LATER),
        dict(state=NoticeState.SENT, ts="1.000200", root_ts="1.000100", sent_at=LATER, claimed_until=None,
             last_error=None),
    ),
    "record_failed": (
        notices.record_failed, dict(error="channel_not_found"),
        dict(state=NoticeState.FAILED, last_error="channel_not_found", claimed_until=None, ts=None),
    ),
    "reschedule": (
        notices.reschedule, dict(next_attempt_at=LATER, error="ratelimited"),
        dict(state=NoticeState.PENDING, next_attempt_at=LATER, last_error="ratelimited", claimed_until=None),
    ),
    "supersede": (
        notices.supersede, dict(closed_at=LATER),
        dict(state=NoticeState.SUPERSEDED, closed_at=LATER),
    ),
    "release": (  # never tried: the claim's attempt is given back
        notices.release, dict(next_attempt_at=LATER),
        dict(state=NoticeState.PENDING, next_attempt_at=LATER, claimed_until=None, attempts=0),
    ),
}


def _claimed_notice(engine) -> int:
    seed(engine, tokens=[token("t1", NOW + timedelta(days=3))], now=NOW)
    assert plan_notices(engine=engine, now=NOW) == 1
    with session_scope(engine) as session:
        # A previous attempt's error, to see that record_sent clears it.
        (notice_id,) = session.exec(select(Notice.id)).all()
        session.execute(update(Notice).values(last_error="http 503"))
        ((claimed, _),) = notices.claim_due_notices(session=session, now=NOW, lease=timedelta(minutes=2))
    assert claimed == notice_id
    return notice_id


def _row(engine, notice_id: int) -> dict:
    with session_scope(engine) as session:
        return session.get(Notice, notice_id).model_dump()


@pytest.mark.parametrize("write", WRITES)
def test_a_claimed_notice_takes_the_outcome(engine, write):
    func, kwargs, expected = WRITES[write]
    notice_id = _claimed_notice(engine)
    with session_scope(engine) as session:
        assert func(session=session, notice_id=notice_id, **kwargs) is True
    row = _row(engine, notice_id)
    assert {key: row[key] for key in expected} == expected


@pytest.mark.parametrize("state", [s for s in NoticeState if s != NoticeState.SENDING])
@pytest.mark.parametrize("write", WRITES)
def test_a_notice_no_longer_ours_is_not_overwritten(engine, write, state):
    # Its lease ran out and another process took it, or it was renewed or superseded meanwhile.
    func, kwargs, _ = WRITES[write]
    notice_id = _claimed_notice(engine)
    with session_scope(engine) as session:
        session.execute(update(Notice).where(Notice.id == notice_id).values(state=state))
    before = _row(engine, notice_id)
    with session_scope(engine) as session:
        assert func(session=session, notice_id=notice_id, **kwargs) is False
    assert _row(engine, notice_id) == before


def test_an_unknown_notice_is_not_recorded(engine):
    with session_scope(engine) as session:
        assert notices.record_sent(session=session, notice_id=404, ts="1.0", root_ts="1.0", sent_at=NOW) is False


def test_open_notices_by_token_has_every_asked_token_and_only_open_notices(engine):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=3)), token("t2", NOW + timedelta(days=3)),
                         token("t3", NOW + timedelta(days=200))], now=NOW)
    plan_notices(engine=engine, now=NOW)
    with session_scope(engine) as session:
        session.execute(update(Notice).where(Notice.token_id == "t2").values(state=NoticeState.FAILED))
    with session_scope(engine) as session:
        by_token = notices.open_notices_by_token(session=session, token_ids=["t1", "t2", "t3"])
        assert {t: [(n.token_id, n.stage) for n in ns] for t, ns in by_token.items()} == {
            "t1": [("t1", "3d")], "t2": [], "t3": []}
        assert notices.open_notices_by_token(session=session, token_ids=[]) == {}
        assert [n.id for n in notices.open_notices(session=session, token_id="t1")] == [n.id for n in by_token["t1"]]
