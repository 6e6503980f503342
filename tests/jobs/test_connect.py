"""The connector delivery job with a fake sender (a plain function): outcomes, retries, give-up, supersede,
the thread's answer. Real HTTP is in tests/test_connector_loop.py."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from sqlmodel import select

from jobs.connect import LEASE, deliver_connectors, run_when_woken
from renewbot.connectors.base import AccountResult, Attempt, DeliveryRequest, Outcome
from renewbot.crypto import SecretBox
from renewbot.domain.validation import Submission
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.importing import import_file
from renewbot.usecases.renewal import apply_renewal
from storage import deliveries
from storage.db import session_scope
from storage.models import Delivery, Token
from tests.conftest import NOW

UK_SETTINGS = "https://commerce.example/configuration/selling/amazon/accounts/amazon-uk"


def inventory(engine, *, connector: dict | None = None, token_connector: str | None = "commerce-eu",
              now=NOW, extra_tokens: list[dict] = ()) -> None:
    """Accounts, one token (and its connector) through the real import path."""
    connector = connector or {"id": "commerce-eu", "type": "webhook", "url": "http://127.0.0.1:9/hook",
                              "secret_env": "COMMERCE_EU_WEBHOOK_SECRET"}
    tok = {"id": "amazon-eu-mws", "kind": "amazon-mws", "name": "Amazon EU MWS token",
           "expires_at": (now + timedelta(days=5)).isoformat(), "channel": "C0ALERTS",
           "accounts": ["amazon-uk", "amazon-de"], "owners": ["U0OWNER"], "app_id": "532089569783"}
    if token_connector:
        tok["connector"] = token_connector
    data = {"connectors": [connector],
            "accounts": [{"id": "amazon-uk", "name": "Amazon UK", "enabled": False, "settings_url": UK_SETTINGS},
                         {"id": "amazon-de", "name": "Amazon DE", "enabled": False, "fetch_orders": False}],
            "tokens": [tok, *extra_tokens]}
    path = Path(tempfile.gettempdir()) / f"renewbot-connect-{uuid.uuid4().hex}.yml"
    path.write_text(yaml.safe_dump(data))
    try:
        with session_scope(engine) as session:
            import_file(path, session=session, now=now)
    finally:
        path.unlink(missing_ok=True)


def renew_now(engine, box: SecretBox, secret: str, *, now=NOW, user: str = "U0OWNER", token_id="amazon-eu-mws"):
    """One committed renewal through apply_renewal (the use case's transaction), as the modal would make it."""
    with session_scope(engine) as session:
        version = session.get(Token, token_id).version
        return apply_renewal(session=session, box=box, now=now, user_id=user, submission=Submission(
            token_id=token_id, version=version, secret=secret, new_expiry=now + timedelta(days=365),
            reenable=frozenset({"amazon-uk", "amazon-de"}), no_fetch=frozenset({"amazon-de"})))


class FakeSender:
    """Answers from a script of Attempts (the last one repeats) and keeps every request it was given."""

    def __init__(self, *attempts: Attempt) -> None:
        self.attempts = list(attempts) or [Attempt(Outcome.DELIVERED, "HTTP 200")]
        self.requests: list[DeliveryRequest] = []
        self.lock = threading.Lock()

    def __call__(self, request: DeliveryRequest) -> Attempt:
        with self.lock:
            self.requests.append(request)
            return self.attempts.pop(0) if len(self.attempts) > 1 else self.attempts[0]

    def bodies(self) -> list[dict]:
        return [json.loads(r.body) for r in self.requests]


@pytest.fixture
def box() -> SecretBox:
    return SecretBox((Fernet.generate_key().decode(),))


def run(engine, slack, box, sender, now=NOW):
    return deliver_connectors(engine=engine, client=make_client("xoxb-test", slack.url), box=box, now=now,
                              sender_for=lambda connector: sender)


def delivery_rows(engine) -> list[Delivery]:
    with session_scope(engine) as s:
        return list(s.exec(select(Delivery).order_by(Delivery.id)).all())


def place_confirmation(engine, renewal_id: int, channel="C0ALERTS", ts="1700000000.000100") -> None:
    with session_scope(engine) as s:
        deliveries.set_reply_place(session=s, renewal_id=renewal_id, channel=channel, thread_ts=ts,
                                   confirmation_ts=ts)


def test_a_renewal_plans_one_delivery_and_the_job_sends_the_body_built_from_the_encrypted_token(
        engine, slack, box):
    inventory(engine)
    secret = f"amzn.mws.{uuid.uuid4()}"
    outcome = renew_now(engine, box, secret)
    assert outcome.connector == "commerce-eu" and outcome.delivery_id.startswith("dlv_")
    (row,) = delivery_rows(engine)
    assert (row.state, row.connector_id, row.delivery_id) == ("pending", "commerce-eu", outcome.delivery_id)
    assert row.give_up_at == NOW + timedelta(hours=24)
    sender = FakeSender(Attempt(Outcome.DELIVERED, "HTTP 200", accounts=(
        AccountResult("amazon-uk", True), AccountResult("amazon-de", False, "seller account suspended"))))
    report = run(engine, slack, box, sender)
    assert report.delivered == [row.id]
    (request,) = sender.requests
    assert request.delivery_id == outcome.delivery_id and request.event == "token.renewed"
    body = json.loads(request.body)
    assert body["type"] == "token.renewed" and body["delivery_id"] == outcome.delivery_id
    assert body["renewal_id"] == outcome.renewal_id and body["renewed_by"] == "U0OWNER"
    assert body["occurred_at"] == "2026-11-26T12:00:00Z"
    assert body["token"] == {"id": "amazon-eu-mws", "kind": "amazon-mws", "name": "Amazon EU MWS token",
                             "app_id": "532089569783", "secret": secret, "expires_at": "2027-11-26T12:00:00Z"}
    assert body["accounts"] == [{"id": "amazon-uk", "name": "Amazon UK", "enabled": True, "fetch_orders": True},
                                {"id": "amazon-de", "name": "Amazon DE", "enabled": True, "fetch_orders": False}]
    (row,) = delivery_rows(engine)
    assert row.state == "delivered" and row.attempts == 1 and row.claimed_until is None
    assert row.result == [{"id": "amazon-uk", "ok": True, "error": None},
                          {"id": "amazon-de", "ok": False, "error": "seller account suspended"}]
    # Never again once delivered.
    assert run(engine, slack, box, sender, now=NOW + timedelta(days=2)).delivered == []
    assert len(sender.requests) == 1
    # No thread was known yet: nothing posted, until the confirmation's place is stored (announce does this).
    assert slack.calls_to("chat.postMessage") == []


def test_no_connector_plans_nothing(engine, slack, box):
    inventory(engine, token_connector=None)
    outcome = renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")
    assert outcome.connector is None and outcome.delivery_id is None and outcome.renewal_id is not None
    assert delivery_rows(engine) == []


def test_the_answer_goes_in_the_thread_once_with_each_accounts_outcome(engine, slack, box):
    inventory(engine)
    outcome = renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")
    place_confirmation(engine, outcome.renewal_id)
    sender = FakeSender(Attempt(Outcome.DELIVERED, "HTTP 200", accounts=(
        AccountResult("amazon-uk", True), AccountResult("amazon-de", False, "seller account suspended"))))
    run(engine, slack, box, sender)
    (post,) = slack.calls_to("chat.postMessage")
    assert post.params["channel"] == "C0ALERTS" and post.params["thread_ts"] == "1700000000.000100"
    assert ("Amazon UK re-enabled by commerce-eu; Amazon DE: seller account suspended" in post.params["text"])
    assert "Amazon EU MWS token" in post.params["text"] and "2027-11-26" in post.params["text"]
    assert UK_SETTINGS not in str(post.params["blocks"])  # UK went through: nothing to fix there
    # Storing the place again (a retried announce) does not answer twice.
    place_confirmation(engine, outcome.renewal_id)
    from jobs.connect import answer
    (row,) = delivery_rows(engine)
    assert answer(engine=engine, client=make_client("xoxb-test", slack.url), row_id=row.id, now=NOW) is False
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_retry_keeps_the_delivery_id_then_delivers_once(engine, slack, box):
    inventory(engine)
    outcome = renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")
    sender = FakeSender(Attempt(Outcome.RETRY, "HTTP 503"), Attempt(Outcome.RETRY, "HTTP 503"),
                        Attempt(Outcome.DELIVERED, "HTTP 200"))
    assert run(engine, slack, box, sender).retrying
    (row,) = delivery_rows(engine)
    assert row.state == "pending" and row.last_error == "HTTP 503" and row.attempts == 1
    # Backoff with jitter: between half and all of 30 s for the first retry.
    assert NOW + timedelta(seconds=15) <= row.next_attempt_at <= NOW + timedelta(seconds=31)
    assert run(engine, slack, box, sender, now=NOW + timedelta(seconds=5)).retrying == []  # not due yet
    later = row.next_attempt_at + timedelta(seconds=1)
    run(engine, slack, box, sender, now=later)
    (row,) = delivery_rows(engine)
    run(engine, slack, box, sender, now=row.next_attempt_at + timedelta(seconds=1))
    (row,) = delivery_rows(engine)
    assert row.state == "delivered" and row.attempts == 3
    assert {r.delivery_id for r in sender.requests} == {outcome.delivery_id} and len(sender.requests) == 3


def test_retry_after_is_honoured(engine, slack, box):
    inventory(engine)
    renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")
    sender = FakeSender(Attempt(Outcome.RETRY, "HTTP 429", retry_after=600), Attempt(Outcome.DELIVERED, "HTTP 200"))
    run(engine, slack, box, sender)
    (row,) = delivery_rows(engine)
    assert NOW + timedelta(seconds=600) <= row.next_attempt_at < NOW + timedelta(seconds=605)
    run(engine, slack, box, sender, now=NOW + timedelta(seconds=595))
    assert len(sender.requests) == 1
    run(engine, slack, box, sender, now=NOW + timedelta(seconds=606))
    assert len(sender.requests) == 2 and delivery_rows(engine)[0].state == "delivered"


def test_24_hours_of_retries_fail_and_the_thread_says_what_to_do_by_hand(engine, slack, box):
    inventory(engine)
    outcome = renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")
    place_confirmation(engine, outcome.renewal_id)
    sender = FakeSender(Attempt(Outcome.RETRY, "HTTP 503"))
    moment = NOW
    for _ in range(200):
        run(engine, slack, box, sender, now=moment)
        (row,) = delivery_rows(engine)
        if row.state != "pending":
            break
        assert row.next_attempt_at <= row.give_up_at  # never scheduled past the end
        moment = row.next_attempt_at + timedelta(seconds=1)
    assert row.state == "failed" and row.last_error == "retried for 24 hours; last: HTTP 503"
    assert moment >= NOW + timedelta(hours=24)
    (post,) = slack.calls_to("chat.postMessage")
    blocks = str(post.params["blocks"])
    assert "<@U0OWNER>" in post.params["text"] and "could not be reached for 24 hours" in blocks
    assert UK_SETTINGS in blocks and "Amazon DE" in blocks


def test_a_refusal_fails_at_once(engine, slack, box):
    inventory(engine)
    outcome = renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")
    place_confirmation(engine, outcome.renewal_id)
    run(engine, slack, box, FakeSender(Attempt(Outcome.FAILED, "HTTP 400: unknown app id")))
    (row,) = delivery_rows(engine)
    assert row.state == "failed" and row.last_error == "HTTP 400: unknown app id" and row.attempts == 1
    (post,) = slack.calls_to("chat.postMessage")
    assert "refused it" in str(post.params["blocks"]) and "unknown app id" in str(post.params["blocks"])


def test_a_newer_renewal_supersedes_the_pending_one_which_is_never_sent(engine, slack, box):
    inventory(engine)
    first = renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")
    newer_secret = f"amzn.mws.{uuid.uuid4()}"
    second = renew_now(engine, box, newer_secret, now=NOW + timedelta(minutes=1))
    rows = delivery_rows(engine)
    assert [(r.delivery_id, r.state) for r in rows] == [(first.delivery_id, "superseded"),
                                                        (second.delivery_id, "pending")]
    sender = FakeSender()
    run(engine, slack, box, sender, now=NOW + timedelta(minutes=2))
    (request,) = sender.requests
    assert request.delivery_id == second.delivery_id and json.loads(request.body)["token"]["secret"] == newer_secret


def test_an_older_delivery_claimed_before_a_newer_renewal_is_not_sent_with_the_newer_secret(engine, slack, box):
    inventory(engine)
    first = renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")
    with session_scope(engine) as s:  # a replica claimed it, then stalled before building the body
        (claimed,) = deliveries.claim_due(session=s, now=NOW, lease=LEASE)
    second = renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}", now=NOW + timedelta(minutes=1))
    # The in-flight one is left to its claimer; the newer one waits for it (in order, never both at once).
    assert [r.state for r in delivery_rows(engine)] == ["sending", "pending"]
    sender = FakeSender()
    assert run(engine, slack, box, sender, now=NOW + timedelta(minutes=1)).delivered == []
    # Its lease runs out: the next pass finds it stale (a newer secret is stored) and drops it, then sends the newer.
    report = run(engine, slack, box, sender, now=NOW + LEASE + timedelta(minutes=1))
    assert report.superseded == [claimed] and len(report.delivered) == 1
    assert [r.delivery_id for r in sender.requests] == [second.delivery_id]
    assert first.delivery_id not in str(sender.requests)


def test_a_connector_that_cannot_be_built_is_retried_not_lost(engine, slack, box):
    inventory(engine)
    renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")

    def broken(connector):
        raise LookupError("connector type 'webhook' is not installed")

    report = deliver_connectors(engine=engine, client=make_client("xoxb-test", slack.url), box=box, now=NOW,
                                sender_for=broken)
    (row,) = delivery_rows(engine)
    assert report.retrying == [row.id] and row.state == "pending" and "not installed" in row.last_error


def test_a_secret_echoed_back_by_the_receiver_is_redacted_before_it_is_stored_or_shown(engine, slack, box):
    inventory(engine)
    secret = f"amzn.mws.{uuid.uuid4()}"
    outcome = renew_now(engine, box, secret)
    place_confirmation(engine, outcome.renewal_id)
    run(engine, slack, box, FakeSender(Attempt(Outcome.DELIVERED, f"HTTP 200 {secret}", accounts=(
        AccountResult("amazon-uk", False, f"bad token {secret}"),))))
    (row,) = delivery_rows(engine)
    assert secret not in json.dumps(row.result) and "[redacted]" in json.dumps(row.result)
    assert all(secret not in json.dumps(c.params) for c in slack.calls)


def test_the_serve_loop_runs_at_once_when_woken():
    runs, wake, stop = [], threading.Event(), threading.Event()
    ran = threading.Event()

    def job():
        runs.append(1)
        ran.set()

    thread = threading.Thread(target=run_when_woken, args=(job,), kwargs=dict(wake=wake, stop=stop, interval=3600))
    thread.start()
    try:
        assert ran.wait(5)  # one pass at start
        ran.clear()
        wake.set()
        assert ran.wait(5)  # and one as soon as it is woken, not an hour later
        assert len(runs) == 2
    finally:
        stop.set()
        wake.set()
        thread.join(5)
    assert not thread.is_alive()


def test_thread_texts_escape_what_the_receiver_said_and_stay_within_slacks_limits():
    from renewbot.blocks import ids
    from renewbot.blocks.platform import confirmed_blocks, delivered_blocks, delivered_text, not_connected_blocks

    accounts = [{"id": f"a{i}", "name": f"Account <{i}>", "reenabled": True} for i in range(300)]
    results = [{"id": f"a{i}", "ok": False, "error": "<!channel> see <https://evil.example|here>"} for i in range(300)]
    text = delivered_text("Token", NOW, "commerce-eu", accounts, results)
    (block,) = delivered_blocks("Token", "commerce-eu", accounts, results, {f"a{i}": UK_SETTINGS for i in range(300)})
    for shown in (text, block["text"]["text"]):
        assert "<!channel>" not in shown and "<https://evil" not in shown and "&lt;!channel&gt;" in shown
        assert len(shown) <= 3000
    blocks = not_connected_blocks(42)
    assert blocks[1]["elements"][0]["value"] == "42"
    done = confirmed_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}, *blocks], "U1", NOW)
    assert not any(b.get("block_id") == ids.PLATFORM_DONE_BLOCK for b in done)
    assert "confirmed by <@U1>" in done[-1]["elements"][0]["text"]


def test_each_claim_covers_only_what_is_in_flight_so_no_delivery_is_sent_on_an_expired_lease(
        engine, slack, box, monkeypatch):
    lease = timedelta(seconds=0.5)
    monkeypatch.setattr("jobs.connect.LEASE", lease)
    extra = [{"id": f"t{i}", "kind": "generic", "name": f"Token {i}", "channel": "C0ALERTS",
              "expires_at": (NOW + timedelta(days=5)).isoformat(), "connector": "commerce-eu",
              "accounts": ["amazon-uk"]} for i in range(8)]
    inventory(engine, extra_tokens=extra)
    for i in range(8):
        renew_now(engine, box, f"secret-{i}-{uuid.uuid4()}", token_id=f"t{i}")
    expired: list[str] = []
    started = time.monotonic()  # before the pass's own start: this clock is never behind the job's

    def slow(request: DeliveryRequest) -> Attempt:
        with session_scope(engine) as s:
            row = s.exec(select(Delivery).where(Delivery.delivery_id == request.delivery_id)).one()
        if row.claimed_until <= NOW + timedelta(seconds=time.monotonic() - started):
            expired.append(request.delivery_id)
        time.sleep(0.25)  # a slow receiver: two at a time, four rounds, longer than the lease in all
        return Attempt(Outcome.DELIVERED, "HTTP 200")

    report = deliver_connectors(engine=engine, client=make_client("xoxb-test", slack.url), box=box, now=NOW,
                                sender_for=lambda connector: slow, max_workers=2)
    assert len(report.delivered) == 8 and expired == []


def test_a_pass_tries_each_due_delivery_once_and_sends_them_all(engine, slack, box):
    extra = [{"id": f"t{i}", "kind": "generic", "name": f"Token {i}", "channel": "C0ALERTS",
              "expires_at": (NOW + timedelta(days=5)).isoformat(), "connector": "commerce-eu",
              "accounts": ["amazon-uk"]} for i in range(9)]
    inventory(engine, extra_tokens=extra)
    for i in range(9):
        renew_now(engine, box, f"secret-{i}-{uuid.uuid4()}", token_id=f"t{i}")
    # Every one asks to be retried at once: still one attempt each in this pass (no busy loop), none left out.
    sender = FakeSender(Attempt(Outcome.RETRY, "HTTP 429", retry_after=0))
    report = run(engine, slack, box, sender)
    assert len(report.retrying) == 9 and len(sender.requests) == 9
    assert len({r.delivery_id for r in sender.requests}) == 9


def test_delivery_bodies_are_not_shown_in_repr():
    from jobs.connect import _Prepared

    secret = f"amzn.mws.{uuid.uuid4()}"
    body = json.dumps({"token": {"secret": secret}}).encode()
    assert secret not in repr(DeliveryRequest("token.renewed", "dlv_1", body))
    assert secret not in repr(_Prepared(delivery_id="dlv_1", connector=None, body=body, give_up_at=NOW, attempts=1))


def test_a_refused_delivery_echoing_the_secret_never_stores_or_shows_it(engine, slack, box):
    inventory(engine)
    secret = f"amzn.mws.{uuid.uuid4()}"
    outcome = renew_now(engine, box, secret)
    place_confirmation(engine, outcome.renewal_id)
    run(engine, slack, box, FakeSender(Attempt(Outcome.FAILED, f"HTTP 400: bad token {secret}")))
    (row,) = delivery_rows(engine)
    assert row.state == "failed" and secret not in row.last_error and "[redacted]" in row.last_error
    assert slack.calls_to("chat.postMessage") and all(secret not in json.dumps(c.params) for c in slack.calls)


@pytest.mark.parametrize("breaks", ["sender", "builder"])
def test_an_error_raised_with_the_secret_in_it_is_never_stored_or_shown(engine, slack, box, caplog, breaks):
    inventory(engine)
    secret = f"amzn.mws.{uuid.uuid4()}"
    outcome = renew_now(engine, box, secret)
    place_confirmation(engine, outcome.renewal_id)

    def raising(request):
        raise ValueError(f"could not send {secret}")

    def sender_for(connector):
        if breaks == "builder":
            raise LookupError(f"bad config {secret} " + "x" * 5000)
        return raising

    # At give_up_at: this retry is the last, so the error is recorded as the failure and shown in the thread.
    deliver_connectors(engine=engine, client=make_client("xoxb-test", slack.url), box=box,
                       now=NOW + timedelta(hours=24), sender_for=sender_for)
    (row,) = delivery_rows(engine)
    assert row.state == "failed" and secret not in row.last_error and len(row.last_error) <= 400
    assert slack.calls_to("chat.postMessage") and all(secret not in json.dumps(c.params) for c in slack.calls)
    assert secret not in caplog.text


def test_a_refusal_on_the_last_attempt_is_reported_as_a_refusal_not_24_hours_of_retries(engine, slack, box):
    inventory(engine)
    outcome = renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")
    place_confirmation(engine, outcome.renewal_id)
    (row,) = delivery_rows(engine)
    run(engine, slack, box, FakeSender(Attempt(Outcome.FAILED, "HTTP 400: unknown app id")), now=row.give_up_at)
    (post,) = slack.calls_to("chat.postMessage")
    assert "refused it" in str(post.params["blocks"])
    assert "could not be reached for 24 hours" not in str(post.params["blocks"])


def test_a_refusal_on_the_last_attempt_answered_later_from_announce_is_still_a_refusal(engine, slack, box):
    from jobs.connect import answer

    inventory(engine)
    outcome = renew_now(engine, box, f"amzn.mws.{uuid.uuid4()}")
    (row,) = delivery_rows(engine)
    run(engine, slack, box, FakeSender(Attempt(Outcome.FAILED, "HTTP 400: unknown app id")), now=row.give_up_at)
    place_confirmation(engine, outcome.renewal_id)
    assert answer(engine=engine, client=make_client("xoxb-test", slack.url), row_id=row.id, now=row.give_up_at)
    (post,) = slack.calls_to("chat.postMessage")
    assert "refused it" in str(post.params["blocks"])
    assert "could not be reached for 24 hours" not in str(post.params["blocks"])


def test_a_delivery_finished_before_announce_stored_the_thread_is_answered_there_once(engine, slack, deps):
    from handlers.views import announce

    inventory(engine)
    outcome = renew_now(engine, deps.box, f"amzn.mws.{uuid.uuid4()}")
    assert len(run(engine, slack, deps.box, FakeSender()).delivered) == 1  # the job won the race
    assert slack.calls_to("chat.postMessage") == []
    client = make_client("xoxb-test", slack.url)
    announce(client, outcome, deps=deps)
    confirmation, reply = slack.calls_to("chat.postMessage")
    assert "On its way to commerce-eu" in confirmation.params["text"]
    (posted,) = [m for m in slack.messages["C0ALERTS"] if "On its way" in m["text"]]
    assert reply.params["channel"] == "C0ALERTS" and reply.params["thread_ts"] == posted["ts"]
    assert "Amazon EU MWS token" in reply.params["text"]
    announce(client, outcome, deps=deps)  # a retried announce: its own confirmation, no second answer
    assert len([c for c in slack.calls_to("chat.postMessage") if c.params.get("thread_ts")]) == 1
