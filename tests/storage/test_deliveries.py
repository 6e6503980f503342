"""The connector outbox queries: planning, claiming with a lease, outcomes only while claimed, reads."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import select

from storage import deliveries
from storage.db import make_engine, session_scope
from storage.models import Delivery, PlatformConfirmation, Renewal
from tests.conftest import NOW

LEASE = timedelta(minutes=2)


def renewal(engine, token_id: str = "t1", via: str | None = None) -> int:
    with session_scope(engine) as s:
        row = Renewal(token_id=token_id, renewed_by="U0OWNER", renewed_at=NOW, old_expires_at=NOW,
                      new_expires_at=NOW + timedelta(days=365), accounts=[], via=via)
        s.add(row)
        s.flush()
        return row.id


def planned(engine, token_id: str = "t1", connector: str = "c1") -> Delivery:
    renewal_id = renewal(engine, token_id)
    with session_scope(engine) as s:
        deliveries.supersede_older(session=s, token_id=token_id, renewal_id=renewal_id, now=NOW)
        return deliveries.plan(session=s, renewal_id=renewal_id, token_id=token_id, connector_id=connector, now=NOW)


def state(engine, row_id: int) -> Delivery:
    with session_scope(engine) as s:
        return s.get(Delivery, row_id)


def claim(engine, now=NOW, limit=20) -> list[int]:
    with session_scope(engine) as s:
        return deliveries.claim_due(session=s, now=now, lease=LEASE, limit=limit)


def test_plan_gives_each_delivery_its_own_id_and_a_day_to_succeed(engine):
    a, b = planned(engine, "t1"), planned(engine, "t2")
    assert a.delivery_id != b.delivery_id and a.delivery_id.startswith("dlv_") and len(a.delivery_id) == 36
    assert (a.state, a.attempts, a.give_up_at) == ("pending", 0, NOW + timedelta(hours=24))


def test_claim_takes_each_due_row_once_and_again_only_after_its_lease(engine):
    a = planned(engine, "t1")
    assert claim(engine) == [a.id]
    assert claim(engine) == []  # held
    assert claim(engine, now=NOW + LEASE - timedelta(seconds=1)) == []
    assert claim(engine, now=NOW + LEASE + timedelta(seconds=1)) == [a.id]  # its claimer died
    assert state(engine, a.id).attempts == 2


def test_claim_skips_the_rows_a_pass_already_tried(engine):
    a, b, c = planned(engine, "t1"), planned(engine, "t2"), planned(engine, "t3")
    with session_scope(engine) as s:
        assert deliveries.claim_due(session=s, now=NOW, lease=LEASE, limit=20, exclude={a.id, c.id}) == [b.id]
    assert claim(engine) == [a.id, c.id]

def test_an_outcome_is_written_only_while_the_row_is_still_claimed(engine):
    a = planned(engine)
    claim(engine)
    with session_scope(engine) as s:
        place = deliveries.record_delivered(session=s, row_id=a.id, now=NOW, result=[])
    assert place == deliveries.ReplyPlace(None, None, None)
    with session_scope(engine) as s:  # a late claimer whose lease ran out has no say any more
        assert deliveries.record_failed(session=s, row_id=a.id, now=NOW, error="late") is None
        assert deliveries.reschedule(session=s, row_id=a.id, next_attempt_at=NOW, error="late") is False
    assert state(engine, a.id).state == "delivered"
    assert claim(engine, now=NOW + timedelta(days=3)) == []


def test_reschedule_makes_it_due_again_at_its_time(engine):
    a = planned(engine)
    claim(engine)
    with session_scope(engine) as s:
        assert deliveries.reschedule(session=s, row_id=a.id, next_attempt_at=NOW + timedelta(minutes=5),
                                     error="HTTP 503")
    assert claim(engine, now=NOW + timedelta(minutes=4)) == []
    assert claim(engine, now=NOW + timedelta(minutes=5)) == [a.id]


def test_a_newer_renewal_supersedes_pending_ones_and_waits_for_one_in_flight(engine):
    a = planned(engine)
    b = planned(engine)  # supersedes a, still pending
    assert state(engine, a.id).state == "superseded"
    assert claim(engine) == [b.id]
    c = planned(engine)  # b is in flight: left to finish, and c waits for it
    assert state(engine, b.id).state == "sending"
    assert claim(engine) == []
    with session_scope(engine) as s:
        deliveries.record_delivered(session=s, row_id=b.id, now=NOW, result=[])
    assert claim(engine) == [c.id]


def test_is_newest_ignores_renewals_seen_outside_renewbot(engine):
    a = planned(engine)
    with session_scope(engine) as s:
        assert deliveries.is_newest(session=s, delivery=s.get(Delivery, a.id))
    renewal(engine, via="tls://shop.example:443")  # no new secret came with it
    with session_scope(engine) as s:
        assert deliveries.is_newest(session=s, delivery=s.get(Delivery, a.id))
    renewal(engine)  # a person stored a newer secret
    with session_scope(engine) as s:
        assert not deliveries.is_newest(session=s, delivery=s.get(Delivery, a.id))


def test_the_reply_place_is_seen_by_whoever_writes_second(engine):
    a = planned(engine)
    claim(engine)
    with session_scope(engine) as s:
        assert deliveries.set_reply_place(session=s, renewal_id=a.renewal_id, channel="C1", thread_ts="1.0",
                                          confirmation_ts="2.0") == [(a.id, "sending")]
    with session_scope(engine) as s:
        place = deliveries.record_failed(session=s, row_id=a.id, now=NOW, error="HTTP 400")
    assert place == deliveries.ReplyPlace("C1", "1.0", "2.0")


def test_status_reads_pending_and_failed_but_not_a_failure_made_good(engine):
    a = planned(engine, "t1")
    claim(engine)
    with session_scope(engine) as s:
        deliveries.record_failed(session=s, row_id=a.id, now=NOW, error="HTTP 400")
    planned(engine, "t2")
    with session_scope(engine) as s:
        found = deliveries.unfinished_by_token(session=s, token_ids=["t1", "t2", "t3"])
    assert [d.state for d in found["t1"]] == ["failed"] and [d.state for d in found["t2"]] == ["pending"]
    assert found["t3"] == []
    b = planned(engine, "t1")
    claim(engine)
    with session_scope(engine) as s:
        deliveries.record_delivered(session=s, row_id=b.id, now=NOW, result=[])
        assert deliveries.unfinished_by_token(session=s, token_ids=["t1"])["t1"] == []


def test_done_in_the_platform_keeps_the_first_confirmer(engine):
    renewal_id = renewal(engine)
    with session_scope(engine) as s:
        first = deliveries.confirm_by_hand(session=s, renewal_id=renewal_id, user_id="U1", now=NOW)
    with session_scope(engine) as s:
        again = deliveries.confirm_by_hand(session=s, renewal_id=renewal_id, user_id="U2",
                                           now=NOW + timedelta(hours=1))
    assert (first.confirmed_by, again.confirmed_by, again.confirmed_at) == ("U1", "U1", NOW)
    with session_scope(engine) as s:
        assert len(s.exec(select(PlatformConfirmation)).all()) == 1


def test_concurrent_claimers_on_separate_engines_never_share_a_row(engine, db_url):
    rows = {planned(engine, f"t{i}").id for i in range(30)}
    engines = [make_engine(db_url) for _ in range(4)]
    got: list[list[int]] = [[] for _ in engines]
    barrier = threading.Barrier(len(engines))

    def worker(i: int) -> None:
        barrier.wait()
        while ids := claim(engines[i], limit=3):
            got[i].extend(ids)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    claimed = [row for ids in got for row in ids]
    assert sorted(claimed) == sorted(rows)  # every row, each exactly once
