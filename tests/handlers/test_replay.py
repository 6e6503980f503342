"""Replays of signed requests and floods by one person are acknowledged and dropped, across replicas."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from handlers.replay import KEEP, PER_MINUTE, ReplayGuard, request_key
from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.runtime.deps import Deps
from renewbot.runtime.slack_client import make_client
from storage.db import make_engine, session_scope
from storage.models import Once
from tests.conftest import NOW
from tests.support.bot_server import SIGNING_SECRET, BotServer, settle, standin_settings
from tests.support.seed import seed, token
from tests.support.slack_requests import (
    block_actions_payload,
    form_payload_body,
    post_signed,
    slash_command_body,
    view_submission_payload,
)


def posted_notice(engine, slack) -> dict:
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=2), owners=["U0OWNER"])])
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    return slack.messages["C0ALERTS"][0]


def runbooks(slack) -> list:
    return [c for c in slack.calls_to("chat.postMessage") if c.params.get("thread_ts")]


def steps_click(slack, notice: dict, *, user: str = "U0OWNER") -> str:
    return form_payload_body(block_actions_payload(action_id=ids.STEPS_BUTTON, value="t1", user_id=user,
                                                   message=notice, response_url=slack.response_url("click")))


def test_one_signed_steps_click_sent_five_times_posts_one_runbook(engine, slack, bot):
    notice = posted_notice(engine, slack)
    body, stamp = steps_click(slack, notice), int(time.time())
    answers = [post_signed(bot.events, body, SIGNING_SECRET, timestamp=stamp) for _ in range(5)]
    assert [a[0] for a in answers] == [200] * 5
    assert all(a[2] == b"" for a in answers[1:])  # acknowledged, nothing else
    slack.wait_for("chat.postMessage", count=2)
    settle()
    assert len(runbooks(slack)) == 1


def test_the_same_slash_command_sent_again_opens_one_form(engine, slack, bot):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=2), owners=["U0OWNER"])])
    body = slash_command_body(text="t1", user_id="U0OWNER", response_url=slack.response_url("cmd"))
    stamp = int(time.time())
    for _ in range(3):
        assert post_signed(bot.events, body, SIGNING_SECRET, timestamp=stamp)[0] == 200
    slack.wait_for("views.open")
    settle()
    assert len(slack.calls_to("views.open")) == 1


def test_two_clicks_by_the_same_person_both_work(engine, slack, bot):
    notice = posted_notice(engine, slack)
    for _ in range(2):
        assert bot.click(ids.STEPS_BUTTON, "t1", message=notice) == 200
    slack.wait_for("chat.postMessage", count=3)
    settle()
    assert len(runbooks(slack)) == 2


def test_the_31st_click_in_a_minute_is_dropped_and_logged_once(engine, slack, bot, caplog):
    notice = posted_notice(engine, slack)
    caplog.set_level(logging.WARNING, logger="handlers.replay")
    for _ in range(PER_MINUTE + 2):
        assert bot.click(ids.STEPS_BUTTON, "t1", message=notice) == 200
    slack.wait_for("chat.postMessage", count=PER_MINUTE + 1)
    assert bot.click(ids.STEPS_BUTTON, "t1", message=notice, user="U0SOMEONE") == 200  # others are not limited
    slack.wait_for("chat.postMessage", count=PER_MINUTE + 2)
    settle()
    assert len(runbooks(slack)) == PER_MINUTE + 1
    warnings = [r for r in caplog.records if r.name == "handlers.replay" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "U0OWNER" in warnings[0].getMessage()


def test_replicas_share_what_was_seen(engine, db_url, slack, deps, bot):
    notice = posted_notice(engine, slack)
    other_engine = make_engine(db_url)  # a second process's own connections to the same database
    replica = BotServer(standin_settings(slack.url), Deps(engine=other_engine, box=deps.box, clock=deps.clock), slack)
    try:
        with replica:
            body, stamp = steps_click(slack, notice), int(time.time())
            assert post_signed(bot.events, body, SIGNING_SECRET, timestamp=stamp)[0] == 200
            slack.wait_for("chat.postMessage", count=2)
            status, _, answer = post_signed(replica.events, body, SIGNING_SECRET, timestamp=stamp)
            assert (status, answer) == (200, b"")
            assert bot.click(ids.STEPS_BUTTON, "t1", message=notice) == 200  # a new click to either still works
            slack.wait_for("chat.postMessage", count=3)
            settle()
            assert len(runbooks(slack)) == 2
    finally:
        other_engine.dispose()


def test_form_submissions_are_left_to_the_version_check(engine):
    view = {"id": "V1", "hash": "h1", "callback_id": "renew"}
    body = form_payload_body(view_submission_payload(view=view, values={}, user_id="U0OWNER")).encode()
    assert request_key(body, "v0=" + "a" * 64) is None
    guard = ReplayGuard(engine, per_minute=2)
    assert all(guard.admit(body, "v0=" + "a" * 64) for _ in range(3))


def test_without_a_limit_replays_are_still_dropped(engine):
    guard = ReplayGuard(engine, per_minute=None)
    commands = [slash_command_body(text=str(i), user_id="U1", response_url="https://x/").encode() for i in range(40)]
    assert all(guard.admit(body, f"v0={i:064x}") for i, body in enumerate(commands))
    assert not guard.admit(commands[0], f"v0={0:064x}")


def test_what_is_guarded():
    sig = "v0=" + "b" * 64
    assert request_key(b'{"type":"event_callback"}', sig) is None
    options = form_payload_body({"type": "block_suggestion", "user": {"id": "U1"}}).encode()
    assert request_key(options, sig) is None
    odd_user = form_payload_body({"type": "block_actions", "user": {"id": "U1%_:" * 50},
                                  "actions": [{"action_id": "x", "action_ts": "1.2"}]}).encode()
    prefix, identity = request_key(odd_user, sig)
    assert prefix.startswith("r:h") and len(prefix) < 30 and identity.startswith("a")
    # the same click, whatever else differs, is one identity; another click is another
    click = {"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "x", "action_ts": "1.2"}]}
    assert request_key(form_payload_body(click).encode(), sig) == request_key(
        form_payload_body({**click, "trigger_id": "other"}).encode(), "v0=" + "c" * 64)
    assert request_key(form_payload_body(click).encode(), sig) != request_key(form_payload_body(
        {**click, "actions": [{"action_id": "x", "action_ts": "1.3"}]}).encode(), sig)


def test_expired_claims_are_pruned(engine):
    clock = [datetime(2026, 1, 1, tzinfo=UTC).timestamp()]
    guard = ReplayGuard(engine, prune_every=2, clock=lambda: clock[0])
    command = slash_command_body(text="", user_id="U1", response_url="https://x/")
    assert guard.admit(command.encode(), "v0=" + "1" * 64)
    assert not guard.admit(command.encode(), "v0=" + "1" * 64)
    clock[0] += (KEEP + timedelta(seconds=1)).total_seconds()
    assert guard.admit(command.encode(), "v0=" + "2" * 64)  # the third request prunes first
    with session_scope(engine) as s:
        assert len(s.exec(select(Once)).all()) == 1
