"""The generic leased outbox: one claimer per row, leases that run out, outcomes only while ours."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from storage import outbox
from storage.db import session_scope
from storage.models import Digest
from tests.conftest import NOW
from tests.jobs.together import run_together

LEASE = timedelta(minutes=2)


def plan(engine, channel: str, week: str = "2027-W03") -> int | None:
    with session_scope(engine) as s:
        return outbox.insert_if_absent(Digest, session=s, key=("channel", "week"), values=dict(
            channel=channel, week=week, state="pending", attempts=0, created_at=NOW))


def claim(engine, now=NOW, **kw) -> list[int]:
    with session_scope(engine) as s:
        return outbox.claim_due(Digest, session=s, now=now, lease=LEASE, **kw)


def test_a_second_plan_under_the_same_key_is_a_no_op(engine):
    first = plan(engine, "C1")
    assert first is not None and plan(engine, "C1") is None and plan(engine, "C1", "2027-W04") is not None


def test_concurrent_claims_share_nothing(engine):
    ids = [plan(engine, f"C{i}") for i in range(12)]
    claimed = run_together(3, lambda: claim(engine, limit=12))
    flat = [i for c in claimed for i in c]
    assert sorted(flat) == sorted(ids)


def test_a_lease_that_ran_out_is_taken_over_and_only_the_new_claimer_may_finish(engine):
    row = plan(engine, "C1")
    first_fence, second_at = NOW + LEASE, NOW + LEASE + timedelta(seconds=1)
    assert claim(engine) == [row]
    assert claim(engine, now=NOW + LEASE - timedelta(seconds=1)) == []
    assert claim(engine, now=second_at) == [row]
    with session_scope(engine) as s:
        # The first claimer comes back late, the row still "sending" under the second's lease: its word is refused.
        assert not outbox.record_failed(Digest, session=s, row_id=row, fence=first_fence, error="late")
        assert not outbox.release(Digest, session=s, row_id=row, fence=first_fence, next_attempt_at=NOW)
        assert s.get(Digest, row).state == "sending"
        assert outbox.record_sent(Digest, session=s, row_id=row, fence=second_at + LEASE, ts="1.2", sent_at=NOW)
        assert not outbox.record_sent(Digest, session=s, row_id=row, fence=second_at + LEASE, ts="1.3", sent_at=NOW)
        stored = s.exec(select(Digest)).one()
    assert (stored.state, stored.ts, stored.attempts) == ("sent", "1.2", 2)


def test_release_gives_the_attempt_back_and_waits(engine):
    row = plan(engine, "C1")
    claim(engine)
    with session_scope(engine) as s:
        outbox.release(Digest, session=s, row_id=row, fence=NOW + LEASE, next_attempt_at=NOW + timedelta(hours=1))
    assert claim(engine, now=NOW + timedelta(minutes=30)) == []
    assert claim(engine, now=NOW + timedelta(hours=1), exclude=[row]) == []
    assert claim(engine, now=NOW + timedelta(hours=1), where=Digest.channel == "C2") == []
    assert claim(engine, now=NOW + timedelta(hours=1)) == [row]
    with session_scope(engine) as s:
        assert s.get(Digest, row).attempts == 1
