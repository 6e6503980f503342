"""Hostile and bad input, as properties: the bot never answers 5xx, never half-applies, always explains.

Every property posts through the bot's real HTTP stack (waitress + bolt, signed like Slack signs) or
calls the real import path. Inputs that should be refused are bracketed by database snapshots
(tokens with version, secret and expiry; accounts; token-account links; notices; renewals) that
must be identical. The bugs the properties found are pinned below as regression tests.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from sqlmodel import select

from handlers.payload import parse_submission
from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.blocks.messages import failure_text
from renewbot.blocks.modal import ModalState, renew_modal
from renewbot.domain.validation import MAX_SECRET, expiry_problem, secret_problem
from renewbot.errors import ImportFileError, RenewalRejected
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.importing import import_file
from storage import queries
from storage.db import session_scope
from storage.models import Account, Notice, NoticeState, Renewal, Token, TokenAccount
from tests.conftest import NOW
from tests.support import hostile as h
from tests.support.bot_server import SIGNING_SECRET
from tests.support.seed import account, seed, token
from tests.support.slack_requests import (
    block_actions_payload,
    form_payload_body,
    sign,
    slash_command_body,
    state_values,
    view_submission_payload,
)

# Even with database=None, Hypothesis caches mined constants and Unicode tables under ./.hypothesis;
# keep them out of the working tree unless HYPOTHESIS_STORAGE_DIRECTORY says where they belong.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "renewbot-hypothesis")

# --- counting what was tried ------------------------------------------------------------------

TRIED: Counter = Counter()
_serial = itertools.count(1)


def tried(name: str) -> int:
    """Counts one input for `name`; returns a number unique in this run (for markers and file names)."""
    TRIED[name] += 1
    return next(_serial)


@pytest.fixture(autouse=True)
def _no_rate_limit(monkeypatch):
    # Fuzzing floods the bot from a few users on purpose; replays are still dropped (handlers/replay.py).
    monkeypatch.setattr("handlers.replay.PER_MINUTE", None)


@pytest.fixture(autouse=True)
def _inputs_per_test(record_property):
    before = sum(TRIED.values())
    yield
    record_property("hostile_inputs_tried", sum(TRIED.values()) - before)


@pytest.fixture(scope="module", autouse=True)
def _inputs_total(request):
    yield
    line = (f"hostile inputs tried: {sum(TRIED.values())} ("
            + ", ".join(f"{name}: {count}" for name, count in sorted(TRIED.items())) + ")")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():  # past output capturing, like capsys.disabled()
        reporter.write("\n" + line + "\n")


SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
            HealthCheck.filter_too_much]
# CI tries about 11,000 inputs (scale 7); a developer's run about 1,500, for speed. HOSTILE_SCALE overrides
# either, e.g. HOSTILE_SCALE=20 for a longer hunt.
SCALE = max(1, int(os.environ.get("HOSTILE_SCALE", "7" if os.environ.get("CI") == "true" else "1")))
HTTP = settings(max_examples=50 * SCALE, deadline=None, database=None, suppress_health_check=SUPPRESS)
PURE = settings(max_examples=300 * SCALE, deadline=None, database=None, suppress_health_check=SUPPRESS)

# --- the world every HTTP property starts from -------------------------------------------------

OWNER, OTHER, MEMBER = "U0OWNER", "U0OTHER", "U0MEMBER"
WORLD = {  # id: (kind, name, owners, accounts, days to expiry, channel); one notice per channel, so no pacing
    "sp": ("amazon-sp-api", "Selling Partner token", [OWNER], ["acc-a", "acc-b"], 3, "C0ALERTS"),
    "mws": ("amazon-mws", "Amazon EU MWS token", [OWNER, "S0OPS"], ["acc-a"], 20, "C0OPS"),
    "gen": ("generic", "Shipping API key", [], [], 40, "C0ALERTS"),
}
REFS = sorted(WORLD) + [w[1] for w in WORLD.values()]
USERS = st.sampled_from((OWNER, OTHER, MEMBER))
MESSAGE = {"ts": "1700000000.000100", "text": "a notice"}


def seed_world(engine) -> None:
    seed(engine, now=NOW,
         accounts=[account("acc-a", name="Account A", enabled=False), account("acc-b", name="Account B",
                                                                            fetch_orders=False)],
         tokens=[token(tid, NOW + timedelta(days=days), kind=kind, name=name, owners=owners, accounts=accts,
                       channel=channel)
                 for tid, (kind, name, owners, accts, days, channel) in WORLD.items()])


@pytest.fixture
def world(engine, slack):
    seed_world(engine)
    slack.usergroups["S0OPS"] = [MEMBER]
    slack.channel_members["C0ALERTS"] = [OWNER, MEMBER]  # "gen" names no owners: its channel's members may act
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)  # open notices to protect
    return engine


def may_renew(token_id: str, user: str) -> bool:
    owners = WORLD[token_id][2]
    if not owners:  # a token without owners is for the members of its channel
        return user in (OWNER, MEMBER) and WORLD[token_id][5] == "C0ALERTS"
    return user in owners or (user == MEMBER and "S0OPS" in owners)


def snapshot(engine) -> dict:
    with session_scope(engine) as s:
        return {
            "tokens": [t.model_dump() for t in s.exec(select(Token).order_by(Token.id)).all()],
            "accounts": [a.model_dump() for a in s.exec(select(Account).order_by(Account.id)).all()],
            "links": [link.model_dump() for link in s.exec(
                select(TokenAccount).order_by(TokenAccount.token_id, TokenAccount.account_id)).all()],
            "notices": [n.model_dump() for n in s.exec(select(Notice).order_by(Notice.id)).all()],
            "renewals": [r.model_dump() for r in s.exec(select(Renewal).order_by(Renewal.id)).all()],
        }


def current(engine, token_id: str) -> tuple[Token, list[Account]]:
    with session_scope(engine) as s:
        return s.get(Token, token_id), queries.token_accounts(session=s, token_id=token_id)


def open_view(slack, engine, token_id: str | None, channel: str = "C0ALERTS") -> dict:
    """The renewal modal as Slack holds it (id, hash), opened through the stand-in's views.open."""
    with session_scope(engine) as s:
        tok = s.get(Token, token_id) if token_id else None
        accounts = queries.token_accounts(session=s, token_id=token_id) if tok else []
    view = renew_modal(token=tok, accounts=accounts, today=NOW.date(), channel=channel)
    return make_client("xoxb-test", slack.url).views_open(trigger_id="T.test", view=view)["view"]


def wait_for(slack, match, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = [c for c in slack.calls if match(c)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.005)


def raw_post(url: str, body: str, headers: dict) -> int:
    request = urllib.request.Request(url, data=body.encode("utf-8"), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def post_payload(bot, payload: dict) -> tuple[int, dict | None]:
    status, _, body = bot.post(form_payload_body(payload))
    try:
        return status, (json.loads(body) if body.strip() else None)
    except ValueError:
        return status, {"unparseable": body.decode("utf-8", "replace")}


def without_markup(text: str, allowed: tuple[str, ...] = ("<@U0OWNER>", "<!subteam^S0OPS>", "<#C0ALERTS>")) -> str:
    for mention in allowed:
        text = text.replace(mention, "")
    return text


# The static texts a message may contain whatever was pasted: a "secret" that happens to be a
# substring of them is not a leak.
def _static_texts() -> str:
    texts = [secret_problem(kind, value) or "" for kind in ("amazon-mws", "amazon-sp-api", "generic", "x")
             for value in ("", "bad value", "bad", "x" * (MAX_SECRET + 1))]
    for current_expiry in (NOW + timedelta(days=d) for d in range(0, 60)):
        texts += [expiry_problem(None, current=current_expiry, now=NOW) or "",
                  expiry_problem(date(2020, 1, 1), current=current_expiry, now=NOW) or "",
                  expiry_problem(NOW.date() + timedelta(days=1), current=current_expiry, now=NOW) or ""]
    texts += ["That is not a date.", "Pick the token to renew.", "This token no longer exists.",
              "Only this token's owners can renew it.", failure_text(),
              "renewbot could not save this (nothing was changed). Try again."]
    return "\n".join(texts)


STATIC_TEXT = _static_texts()


def leaks(secret, message: str) -> bool:
    if not isinstance(secret, str):
        return False
    return any(len(s) > 8 and s in message and s not in STATIC_TEXT for s in {secret, secret.strip()})


def check_errors(answer, view: dict, secret=None) -> dict:
    """A refusal Slack can show: response_action errors, a non-empty message on blocks the form has."""
    assert isinstance(answer, dict) and answer.get("response_action") == "errors", answer
    errors = answer.get("errors")
    assert isinstance(errors, dict) and errors, answer
    inputs = {b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"}
    for block_id, message in errors.items():
        assert block_id in inputs, f"error on {block_id!r}, which the form does not have ({sorted(inputs)})"
        assert isinstance(message, str) and message.strip(), errors
        assert not leaks(secret, message), f"the message repeats the pasted secret: {message!r}"
    return errors


# --- known bugs: the properties tolerate these, the regression tests below pin them ------------







# === slash command ===========================================================================

def expected_token(ref: str | None) -> str | None:
    """What find_token resolves: the id, else the name ignoring case (names here are ASCII)."""
    if not ref:
        return None
    ref = ref.strip()
    if ref in WORLD:
        return ref
    return next((tid for tid, w in WORLD.items() if w[1].lower() == ref.lower()), None)


@HTTP
@given(text=st.one_of(st.just(h.MISSING), h.near(REFS), h.hostile_text), user=USERS)
def test_slash_command_text_is_answered_and_changes_nothing(world, slack, bot, text, user):
    n = tried("slash command text")
    marker, trigger = f"cmd{n}", f"T.cmd.{n}"
    body = slash_command_body(text="" if text is h.MISSING else text, user_id=user, trigger_id=trigger,
                              response_url=slack.response_url(marker))
    if text is h.MISSING:
        body = urlencode([(k, v) for k, v in parse_qsl(body, keep_blank_values=True) if k != "text"])
    before = snapshot(world)

    status, _, answer = bot.post(body)
    assert status == 200 and answer == b""
    replies = wait_for(slack, lambda c: c.method == f"response_url:{marker}" or (
        c.method == "views.open" and c.params.get("trigger_id") == trigger))
    assert len(replies) == 1, f"expected one ephemeral reply or one modal, got {[c.method for c in replies]}"
    (reply,) = replies
    assert snapshot(world) == before
    event(f"answered with {reply.method.split(':')[0]}")

    ref = " ".join(("" if text is h.MISSING else text).split()) or None
    wanted = expected_token(ref)
    if reply.method == "views.open":
        assert wanted is not None or ref is None, f"a modal for {ref!r}, which names no token"
        assert wanted is None or may_renew(wanted, user)
        view = reply.params["view"]
        assert len(view["private_metadata"]) <= 3000
        opened = ModalState.load(view["private_metadata"])
        assert (opened.token_id, opened.channel) == (wanted, "C0ALERTS")
        return
    said = reply.params.get("text") or ""
    assert reply.params.get("response_type") == "ephemeral" and said.strip()
    assert said != failure_text(), f"{ref!r} got the internal-failure reply"
    if wanted is None:
        assert ref is not None and said.startswith("No token called")
    else:
        assert not may_renew(wanted, user) and said.startswith("You can't renew")
    assert "<" not in without_markup(said) and ">" not in without_markup(said), f"unescaped markup: {said!r}"
    assert len(said) <= 3000


# === buttons on a notice =====================================================================

@HTTP
@given(action_id=st.sampled_from((ids.RENEW_BUTTON, ids.STEPS_BUTTON, ids.SETTINGS_BUTTON)),
       value=st.one_of(st.just(h.MISSING), h.near(sorted(WORLD)), h.hostile_value), user=USERS)
def test_button_values_are_answered_and_change_nothing(world, slack, bot, action_id, value, user):
    n = tried("button value")
    channel, trigger = f"C0X{n}", f"T.click.{n}"
    payload = block_actions_payload(action_id=action_id, user_id=user, channel_id=channel, trigger_id=trigger,
                                    message=MESSAGE, response_url=slack.response_url(f"click{n}"))
    if value is not h.MISSING:
        payload["actions"][0]["value"] = value
    before = snapshot(world)

    status, _ = post_payload(bot, payload)
    assert status == 200
    if action_id == ids.SETTINGS_BUTTON:
        assert snapshot(world) == before
        return
    replies = wait_for(slack, lambda c: (c.method == "views.open" and c.params.get("trigger_id") == trigger) or (
        c.method in ("chat.postEphemeral", "chat.postMessage") and c.params.get("channel") == channel))
    assert len(replies) == 1, [c.method for c in replies]
    (reply,) = replies
    assert snapshot(world) == before
    event(f"{action_id} answered with {reply.method}")

    raw = "" if value is h.MISSING else str(value or "")
    said = reply.params.get("text") or ""
    if reply.method == "chat.postEphemeral":
        assert reply.params.get("user") == user and said.strip()
        assert said != failure_text(), f"{value!r} got the internal-failure reply"
        assert "<" not in without_markup(said), f"unescaped markup: {said!r}"
    if action_id == ids.RENEW_BUTTON:
        # Button values are ours: one with control characters names no token, whatever it contains.
        wanted = None if re.search(r"[\x00-\x1f\x7f]", raw) else expected_token(raw or None)
        if reply.method == "views.open":
            assert (wanted is None and not raw) or (wanted is not None and may_renew(wanted, user))
        elif wanted is None:
            assert said.startswith("No token called")
        else:
            assert not may_renew(wanted, user) and said.startswith("You can't renew")
    else:  # Renewal steps: the runbook in the thread for an existing token, else an explanation
        if raw in WORLD:
            assert reply.method == "chat.postMessage" and reply.params.get("thread_ts") == MESSAGE["ts"]
        else:
            assert reply.method == "chat.postEphemeral" and said == "That token no longer exists."


# === picking a token inside the modal ========================================================

# A selected_option that is not an object at all is BUG D, pinned by test_regression_pick_with_a_bad_option.
options = st.one_of(
    st.fixed_dictionaries({"value": st.one_of(st.sampled_from(sorted(WORLD)), h.near(sorted(WORLD)),
                                              h.hostile_text, h.json_scalars)},
                          optional={"text": st.one_of(h.hostile_value, st.just({"type": "plain_text", "text": "x"}))}),
    st.fixed_dictionaries({}, optional={"text": h.hostile_value}),
    st.none(), st.just(h.MISSING),
)
metadata_values = st.one_of(h.private_metadata, h.wrong_type.map(lambda v: ("value", v)))


def render(metadata, version: int):
    kind, value = metadata
    if kind == "doc":
        return h.render_metadata(value, version)
    return value  # raw text, or a wrongly typed JSON value where Slack sends a string


@HTTP
@given(option=options, metadata=metadata_values, user=USERS)
@example(option={"value": "sp"}, metadata=("doc", {"token_id": None, "version": 0, "channel": "C" * 5000}), user=OWNER)
@example(option={"value": "mws"}, metadata=("raw", "{not json"), user=OTHER)
def test_picking_a_token_with_hostile_values(world, slack, bot, option, metadata, user):
    n = tried("token picked in the modal")
    view = open_view(slack, world, None)
    view["private_metadata"] = render(metadata, 1)
    payload = block_actions_payload(action_id=ids.TOKEN_SELECT, block_id=ids.TOKEN_BLOCK, view=view,
                                    user_id=user, action_type="static_select", trigger_id=f"T.pick.{n}")
    if option is not h.MISSING:
        payload["actions"][0]["selected_option"] = option
    before = snapshot(world)

    status, _ = post_payload(bot, payload)
    assert status == 200
    updates = wait_for(slack, lambda c: c.method == "views.update" and c.params.get("view_id") == view["id"])
    assert len(updates) == 1, "the modal was not answered"
    assert snapshot(world) == before
    assert not updates[0].failed, updates[0].error
    new_view = updates[0].params["view"]
    assert len(new_view["private_metadata"]) <= 3000, "Slack refuses private_metadata over 3000 characters"
    value = (option or {}).get("value") if isinstance(option, dict) else None
    known = isinstance(value, str) and value in WORLD
    state = ModalState.load(new_view["private_metadata"])
    assert state.token_id == (value if known and may_renew(value, user) else None)
    assert state.channel == ModalState.load(view["private_metadata"]).channel
    if known and not may_renew(value, user):
        assert "You can't renew" in json.dumps(new_view["blocks"])


# === submitting the modal: hostile state.values ==============================================

ACTION_OF = {"secret": ids.SECRET_INPUT, "expiry": ids.EXPIRY_INPUT, "token": ids.TOKEN_SELECT,
             "reenable:0": ids.ACCOUNTS_INPUT, "nofetch:0": ids.ACCOUNTS_INPUT}
TYPE_OF = {"secret": "plain_text_input", "expiry": "datepicker", "token": "static_select",
           "reenable:0": "checkboxes", "nofetch:0": "checkboxes"}


def apply_edits(values: dict, edits: list[tuple], current_expiry: date) -> dict:
    values = copy.deepcopy(values)
    for edit in edits:
        if edit[0] == "block":
            values[edit[1]] = edit[2]
            continue
        block = edit[1]
        entry = values.setdefault(block, {ACTION_OF[block]: {"type": TYPE_OF[block]}})
        if not isinstance(entry, dict):
            continue
        action = entry.setdefault(ACTION_OF[block], {"type": TYPE_OF[block]})
        if edit[0] == "drop":
            action.pop(edit[2], None)
        else:
            value = edit[3]
            action[edit[2]] = value.resolve(current_expiry) if isinstance(value, h.RelDate) else value
    return json.loads(json.dumps(values))  # what the handler sees after Slack's JSON


def renewal_announced(slack) -> int:
    return len([c for c in slack.calls if c.method == "chat.postMessage" and "renewed by" in str(c.params)])


def check_renewed(engine, deps, slack, before: dict, tok: Token, accounts: list[Account], submission,
                  announced: int) -> None:
    """A renewal that went through went through completely."""
    after = snapshot(engine)
    new, _ = current(engine, tok.id)
    assert new.version == tok.version + 1 and new.expires_at == submission.new_expiry
    assert deps.box.decrypt(new.secret_encrypted) == submission.secret
    assert len(after["renewals"]) == len(before["renewals"]) + 1
    audit = after["renewals"][-1]
    assert (audit["token_id"], audit["old_expires_at"], audit["new_expires_at"]) == (
        tok.id, tok.expires_at, submission.new_expiry)
    flags = {a["id"]: (a["enabled"], a["fetch_orders"]) for a in after["accounts"]}
    for acc in accounts:
        assert flags[acc.id] == (acc.enabled or acc.id in submission.reenable, acc.id not in submission.no_fetch)
    assert not [n for n in after["notices"] if n["token_id"] == tok.id and n["state"] in NoticeState.open()]
    assert [t for t in after["tokens"] if t["id"] != tok.id] == [t for t in before["tokens"] if t["id"] != tok.id]
    deadline = time.monotonic() + 5
    while renewal_announced(slack) <= announced:  # the thread reply comes after the ack
        assert time.monotonic() < deadline, "the renewal was saved but never announced"
        time.sleep(0.005)


def dig(values, *path):
    """values[a][b][c], or None where anything on the way is missing or not a mapping."""
    for key in path:
        if not isinstance(values, dict):
            return None
        values = values.get(key)
    return values


@HTTP
@given(edits=h.modal_mutations())
def test_modal_values_are_refused_inline_or_applied_whole(world, deps, slack, bot, edits):
    tried("modal state.values")
    seed_world(world)  # every example starts from the same token state
    tok, accounts = current(world, "sp")
    view = open_view(slack, world, "sp")
    view["private_metadata"] = ModalState("sp", tok.version, "C0ALERTS").dump()
    values = apply_edits(state_values(view), edits, tok.expires_at.date())
    secret = dig(values, ids.SECRET_BLOCK, ids.SECRET_INPUT, "value")
    before, announced = snapshot(world), renewal_announced(slack)

    status, answer = post_payload(bot, view_submission_payload(view=view, values=values, user_id=OWNER))
    assert status == 200, answer
    block = values.get(ids.TOKEN_BLOCK)
    action = block.get(ids.TOKEN_SELECT) if isinstance(block, dict) else None
    malformed = (block is not None and not isinstance(block, dict)) or (
        isinstance(block, dict) and ids.TOKEN_SELECT in block and not isinstance(action, dict))
    picked = action.get("selected_option") if isinstance(action, dict) else None
    if malformed or (picked and (not isinstance(picked, dict) or picked.get("value") != "sp")):
        assert check_errors(answer, view, secret) == {ids.TOKEN_BLOCK: "Pick the token to renew."}
        assert snapshot(world) == before
        return
    try:
        submission = parse_submission(values, token_id="sp", version=tok.version, kind=tok.kind,
                                      current_expiry=tok.expires_at, accounts=accounts, now=NOW)
    except RenewalRejected as exc:
        event(f"refused on {sorted(exc.errors)}")
        assert check_errors(answer, view, secret) == exc.errors
        assert snapshot(world) == before
        return
    event("renewed")
    assert answer is None, f"a valid form was refused: {answer}"
    check_renewed(world, deps, slack, before, tok, accounts, submission, announced)


# === submitting the modal: corrupted private_metadata =======================================

@HTTP
@given(metadata=metadata_values, user=USERS)
def test_corrupted_private_metadata_changes_nothing(world, deps, slack, bot, metadata, user):
    n = tried("modal private_metadata")
    seed_world(world)
    tok, accounts = current(world, "sp")
    view = open_view(slack, world, "sp")
    secret = f"Atzr|metadata-{n}"
    new_day = (tok.expires_at + timedelta(days=400)).date().isoformat()
    values = state_values(view, {ids.SECRET_BLOCK: {"value": secret}, ids.EXPIRY_BLOCK: {"selected_date": new_day}})
    view["private_metadata"] = render(metadata, tok.version)
    state = ModalState.load(view["private_metadata"])
    before, announced = snapshot(world), renewal_announced(slack)

    status, answer = post_payload(bot, view_submission_payload(view=view, values=values, user_id=user))
    assert status == 200, answer
    valid = state.token_id == "sp" and may_renew("sp", user) and state.version == tok.version
    event("renewed" if answer is None else "refused")
    if valid and answer is None:
        submission = parse_submission(values, token_id="sp", version=tok.version, kind=tok.kind,
                                      current_expiry=tok.expires_at, accounts=accounts, now=NOW)
        check_renewed(world, deps, slack, before, tok, accounts, submission, announced)
        return
    # A version that is True (a bool is an int in Python) may be refused by PostgreSQL's types.
    assert not valid or state.version is True, f"metadata {view['private_metadata']!r} was refused: {answer}"
    errors = check_errors(answer, view, secret)
    assert set(errors) <= {ids.TOKEN_BLOCK, ids.SECRET_BLOCK}
    if state.token_id != "sp":
        assert errors == {ids.TOKEN_BLOCK: "Pick the token to renew."}
    assert snapshot(world) == before


# === a token that is gone: unknown, or deleted since the notice ==============================

@settings(HTTP, max_examples=25 * SCALE)
@given(kind=st.sampled_from(("amazon-mws", "amazon-sp-api", "generic")), edits=h.modal_mutations(),
       user=USERS)
def test_payloads_for_a_deleted_token_change_nothing(world, slack, bot, kind, edits, user):
    n = tried("payloads for a deleted token")
    gone = f"gone-{n}"
    seed(world, now=NOW, tokens=[token(gone, NOW + timedelta(days=2), kind=kind, name=f"Gone {n}")])
    view = open_view(slack, world, gone)
    picker = open_view(slack, world, None)
    with session_scope(world) as s:
        s.delete(s.get(Token, gone))
    values = apply_edits(state_values(view), edits, (NOW + timedelta(days=2)).date())
    before = snapshot(world)

    status, answer = post_payload(bot, view_submission_payload(view=view, values=values, user_id=user))
    assert status == 200
    errors = check_errors(answer, view)
    assert set(errors) == {ids.TOKEN_BLOCK}
    assert snapshot(world) == before

    for action_id, expect in ((ids.RENEW_BUTTON, f"No token called `{gone}`"),
                              (ids.STEPS_BUTTON, "That token no longer exists.")):
        channel = f"C0G{n}{action_id[-1].upper()}"
        payload = block_actions_payload(action_id=action_id, value=gone, user_id=user, channel_id=channel,
                                        message=MESSAGE, response_url=slack.response_url(f"gone{n}"))
        assert post_payload(bot, payload)[0] == 200
        replies = wait_for(slack, lambda c, channel=channel: c.params.get("channel") == channel)
        assert [c.method for c in replies] == ["chat.postEphemeral"]
        assert replies[0].params["text"].startswith(expect)
    payload = block_actions_payload(action_id=ids.TOKEN_SELECT, block_id=ids.TOKEN_BLOCK, view=picker,
                                    user_id=user, action_type="static_select",
                                    selected_option={"text": {"type": "plain_text", "text": gone}, "value": gone})
    assert post_payload(bot, payload)[0] == 200
    (update,) = wait_for(slack, lambda c: c.method == "views.update" and c.params.get("view_id") == picker["id"])
    assert ModalState.load(update.params["view"]["private_metadata"]).token_id is None
    assert snapshot(world) == before


# === forged signatures, stale timestamps =====================================================

ATTACKS = ("wrong secret", "stale", "tampered", "garbage signature", "no signature", "no timestamp",
           "garbage timestamp", "signed garbage")
ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=80)
# Headers that once got a 500: "²".isdigit() is true but int() refuses it; 5,000 digits pass Python's int limit.
TIMESTAMP_TRAPS = ("²", "¹²³", "1" * 5000, "9" * 20, " 1", "+1", "1_000", "0x10", "١٢٣".encode().decode("latin-1"))


@settings(HTTP, max_examples=60 * SCALE)
@given(attack=st.sampled_from(ATTACKS), body_kind=st.sampled_from(("renewal", "command", "hostile")),
       hostile_body=h.hostile_text, secret=st.text(h.any_char, min_size=1, max_size=64),
       skew=st.integers(min_value=306, max_value=10 ** 10), direction=st.sampled_from((-1, 1)),
       garbage=st.one_of(ascii_text, st.sampled_from(TIMESTAMP_TRAPS), st.integers(-10 ** 30, 10 ** 30).map(str)),
       content_type=st.sampled_from(("application/x-www-form-urlencoded", "application/json", "text/plain")))
def test_forged_and_stale_requests_get_401(world, slack, bot, attack, body_kind, hostile_body, secret, skew,
                                          direction, garbage, content_type):
    tried("forged or stale request")
    if body_kind == "renewal":  # accepted, this would renew the token
        view = open_view(slack, world, "sp")
        values = state_values(view, {ids.SECRET_BLOCK: {"value": "Atzr|forged"}})
        body = form_payload_body(view_submission_payload(view=view, values=values, user_id=OWNER))
    elif body_kind == "command":  # accepted, this would open a modal
        body = slash_command_body(text="sp", user_id=OWNER, response_url=slack.response_url("forged"))
    else:
        body = hostile_body
    now = int(time.time())
    sent = body
    if attack == "wrong secret":
        headers = sign(secret if secret != SIGNING_SECRET else secret + "x", body, now)
    elif attack == "stale":
        headers = sign(SIGNING_SECRET, body, now + direction * skew)
    elif attack == "tampered":
        headers, sent = sign(SIGNING_SECRET, body, now), body + "&user_id=U0EVIL" if body else "x"
    elif attack == "garbage signature":
        headers = {**sign(SIGNING_SECRET, body, now), "X-Slack-Signature": garbage}
    elif attack == "no signature":
        headers = {k: v for k, v in sign(SIGNING_SECRET, body, now).items() if k != "X-Slack-Signature"}
    elif attack == "no timestamp":
        headers = {k: v for k, v in sign(SIGNING_SECRET, body, now).items() if k != "X-Slack-Request-Timestamp"}
    elif attack == "garbage timestamp":
        stamp = garbage
        try:
            if abs(int(stamp) - now) <= 310:
                stamp = "x" + stamp  # a timestamp inside the window is no attack
        except ValueError:
            pass
        digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
        headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}
    else:  # correctly signed, but the body is no Slack request at all
        body = sent = hostile_body
        headers = sign(SIGNING_SECRET, body, now)
    headers["Content-Type"] = content_type if attack != "signed garbage" else "application/x-www-form-urlencoded"
    calls, before = len(slack.calls), snapshot(world)

    status = raw_post(bot.events, sent, headers)
    if attack == "signed garbage":
        assert status in (200, 400, 404)
    else:
        assert status == 401
    assert snapshot(world) == before
    # bolt checks the bot token (auth.test) on the first request that passes the signature check
    assert [c for c in slack.calls[calls:] if c.method != "auth.test"] == []


# === import files ============================================================================



def write_import(tmp_path, n: int, doc, flow: bool, unicode: bool):
    path = tmp_path / f"hostile-{n}.yml"
    kind, data = doc
    if kind == "data":
        path.write_text(yaml.safe_dump(data, default_flow_style=flow, allow_unicode=unicode, sort_keys=False),
                        encoding="utf-8")
    elif kind == "text":
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


@settings(PURE, max_examples=200 * SCALE)
@given(doc=h.import_documents, flow=st.booleans(), unicode=st.booleans())
def test_import_file_succeeds_or_refuses_cleanly(sqlite_engine, tmp_path, doc, flow, unicode):
    n = tried("import file")
    path = write_import(tmp_path, n, doc, flow, unicode)
    before = snapshot(sqlite_engine)
    try:
        with session_scope(sqlite_engine) as session:
            import_file(path, session=session, now=NOW)
    except ImportFileError as exc:
        event("refused")
        assert snapshot(sqlite_engine) == before
        assert exc.problems and all(isinstance(p, str) and p.strip() for p in exc.problems)
        assert str(path) in exc.render()
        return
    event("imported")
    # Accepted: importing the same file again is a no-op.
    with session_scope(sqlite_engine) as session:
        again = import_file(path, session=session, now=NOW)
    assert not again.created and not again.updated, again


# === validation, pure ========================================================================

KINDS = ("amazon-mws", "amazon-sp-api", "generic", "unheard-of")


@PURE
@given(kind=st.sampled_from(KINDS),
       value=st.one_of(st.none(), h.secrets(), h.secrets("amzn.mws."), h.hostile_text))
def test_secret_problem_never_raises_and_never_repeats_the_secret(kind, value):
    tried("secret_problem")
    problem = secret_problem(kind, value)
    assert problem is None or (isinstance(problem, str) and problem.strip())
    assert problem is None or not leaks(value, problem), problem
    if problem is None:
        assert value and value.strip() and len(value.strip()) <= MAX_SECRET


def _pure_token(kind: str) -> tuple[Token, list[Account]]:
    expires = NOW + timedelta(days=3)
    tok = Token(id="sp", kind=kind, name="Selling Partner token", expires_at=expires, notify_from=expires,
                channel="C0ALERTS", owners=[OWNER], version=4)
    accounts = [Account(id="acc-a", name="Account A", enabled=False), Account(id="acc-b", name="Account B",
                                                                               fetch_orders=False)]
    return tok, accounts


@PURE
@given(kind=st.sampled_from(KINDS), edits=h.modal_mutations(typed=True))
def test_parse_submission_raises_only_renewal_rejected(kind, edits):
    tried("parse_submission")
    tok, accounts = _pure_token(kind)
    view = renew_modal(token=tok, accounts=accounts, today=NOW.date())
    values = apply_edits(state_values(view), edits, tok.expires_at.date())
    secret = dig(values, ids.SECRET_BLOCK, ids.SECRET_INPUT, "value")
    try:
        sub = parse_submission(values, token_id="sp", version=tok.version, kind=kind,
                               current_expiry=tok.expires_at, accounts=accounts, now=NOW)
    except RenewalRejected as exc:
        assert exc.errors and set(exc.errors) <= {ids.SECRET_BLOCK, ids.EXPIRY_BLOCK}
        for message in exc.errors.values():
            assert isinstance(message, str) and message.strip()
            assert not leaks(secret, message), message
        assert not leaks(secret, str(exc))
        return
    assert sub.secret == secret.strip() and sub.new_expiry > max(NOW, tok.expires_at)
    assert sub.reenable <= {"acc-a", "acc-b"} and sub.no_fetch <= {"acc-a", "acc-b"}


# ============================================================================================
# Regression tests for the bugs the properties found (A-K in the session notes), fixed since.
# ============================================================================================

@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database plays no part
@pytest.mark.parametrize("body, content_type", [
    ("{", "application/x-www-form-urlencoded"),
    ("payload=not-json", "application/x-www-form-urlencoded"),
    ("payload=%5B1%5D", "application/x-www-form-urlencoded"),
    ("a=b", "application/json"),
])
def test_regression_forged_unparseable_body_gets_401(world, slack, bot, body, content_type):
    tried("regression")
    headers = {**sign("not-the-signing-secret", body), "Content-Type": content_type}
    assert raw_post(bot.events, body, headers) == 401


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("stamp", ["abc", ""])
def test_regression_garbage_timestamp_gets_401(world, slack, bot, stamp):
    tried("regression")
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=00",
               "Content-Type": "application/x-www-form-urlencoded"}
    assert raw_post(bot.events, "a=b", headers) == 401


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("breakage", ["selected_option is text", "token block is a list", "values is a list"])
def test_regression_wrongly_typed_token_field_is_refused_inline(world, slack, bot, breakage):
    tried("regression")
    view = open_view(slack, world, "sp")
    values = state_values(view, {ids.SECRET_BLOCK: {"value": "Atzr|fine"}})
    if breakage == "selected_option is text":
        values[ids.TOKEN_BLOCK][ids.TOKEN_SELECT]["selected_option"] = "sp"
    elif breakage == "token block is a list":
        values[ids.TOKEN_BLOCK] = [values[ids.TOKEN_BLOCK]]
    else:
        values = [values]
    before = snapshot(world)
    status, answer = post_payload(bot, view_submission_payload(view=view, values=values, user_id=OWNER))
    assert snapshot(world) == before
    assert status == 200
    check_errors(answer, view)


@pytest.mark.parametrize("values", [
    {ids.SECRET_BLOCK: {ids.SECRET_INPUT: {"value": 12345}}},
    {ids.SECRET_BLOCK: {ids.SECRET_INPUT: {"value": ["Atzr|a"]}}},
    {ids.SECRET_BLOCK: None},
    {ids.SECRET_BLOCK: {ids.SECRET_INPUT: "Atzr|abc"}},
    {ids.EXPIRY_BLOCK: ["2028-01-01"]},
    {ids.SECRET_BLOCK: {ids.SECRET_INPUT: {"value": "Atzr|abc"}},
     ids.EXPIRY_BLOCK: {ids.EXPIRY_INPUT: {"selected_date": "2028-01-01"}},
     "reenable:0": {ids.ACCOUNTS_INPUT: {"selected_options": [{"value": ["acc-a"]}]}}},
    {ids.SECRET_BLOCK: {ids.SECRET_INPUT: {"value": "Atzr|abc"}},
     ids.EXPIRY_BLOCK: {ids.EXPIRY_INPUT: {"selected_date": "2028-01-01"}}, "nofetch:0": None},
], ids=["secret-number", "secret-list", "secret-block-null", "secret-action-text", "expiry-block-list",
        "option-value-list", "nofetch-block-null"])
def test_regression_parse_submission_wrongly_typed(values):
    tried("regression")
    tok, accounts = _pure_token("amazon-sp-api")
    with pytest.raises(RenewalRejected):
        parse_submission(values, token_id="sp", version=tok.version, kind=tok.kind,
                         current_expiry=tok.expires_at, accounts=accounts, now=NOW)


def test_regression_secret_problem_wrongly_typed():
    tried("regression")
    assert secret_problem("generic", 12345)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_regression_wrongly_typed_secret_gets_a_field_message(world, slack, bot):
    tried("regression")
    view = open_view(slack, world, "sp")
    values = state_values(view, {ids.SECRET_BLOCK: {"value": 12345}})
    status, answer = post_payload(bot, view_submission_payload(view=view, values=values, user_id=OWNER))
    assert status == 200
    errors = check_errors(answer, view)
    assert "could not save" not in errors.get(ids.SECRET_BLOCK, "")


@pytest.mark.parametrize("db_url, option", [
    ("sqlite", "sp"),                    # an option that is text, not an object
    ("sqlite", {"value": 2 ** 70}),      # SQLite cannot bind an integer beyond 64 bits
    ("postgresql", {"value": "sp\x00"}),  # PostgreSQL text cannot hold NUL
], indirect=["db_url"], ids=["option-is-text", "value-huge-int-sqlite", "value-with-nul-postgresql"])
def test_regression_pick_with_a_bad_option(world, slack, bot, option):
    tried("regression")
    view = open_view(slack, world, None)
    payload = block_actions_payload(action_id=ids.TOKEN_SELECT, block_id=ids.TOKEN_BLOCK, view=view,
                                    user_id=OWNER, action_type="static_select")
    payload["actions"][0]["selected_option"] = option
    started = time.monotonic()
    status, _ = post_payload(bot, payload)
    assert status == 200 and time.monotonic() - started < 2.5
    assert wait_for(slack, lambda c: c.method == "views.update" and c.params.get("view_id") == view["id"], 2)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_regression_oversized_channel_in_private_metadata(world, slack, bot):
    tried("regression")
    view = open_view(slack, world, None)
    view["private_metadata"] = json.dumps({"token_id": None, "version": 0, "channel": "C" * 5000})
    payload = block_actions_payload(action_id=ids.TOKEN_SELECT, block_id=ids.TOKEN_BLOCK, view=view, user_id=OWNER,
                                    action_type="static_select", selected_option={"value": "sp"})
    assert post_payload(bot, payload)[0] == 200
    (update,) = wait_for(slack, lambda c: c.method == "views.update" and c.params.get("view_id") == view["id"])
    assert len(update.params["view"]["private_metadata"]) <= 3000


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("where", ["slash command", "Renew button", "Renewal steps button"])
def test_regression_nul_in_token_reference_on_postgresql(world, slack, bot, where):
    tried("regression")
    before = snapshot(world)
    if where == "slash command":
        assert bot.command("sp\x00") == (200, b"")
        (reply,) = wait_for(slack, lambda c: c.method == "response_url:cmd")
    else:
        action_id = ids.RENEW_BUTTON if where == "Renew button" else ids.STEPS_BUTTON
        assert bot.click(action_id, "sp\x00", message=MESSAGE) == 200
        (reply,) = wait_for(slack, lambda c: c.method == "chat.postEphemeral")
    assert snapshot(world) == before
    assert reply.params["text"] != failure_text()


def _import_text(engine, tmp_path, text: str):
    path = tmp_path / f"regression-{next(_serial)}.yml"
    path.write_text(text, encoding="utf-8")
    with session_scope(engine) as session:
        return import_file(path, session=session, now=NOW)


@pytest.mark.parametrize("text", ["1: a\nb: c\n", "accounts:\n  - {id: a, name: b, 1: x, y: z}\n",
                                  "tokens:\n  - {id: t, 2027-01-01: x, null: y, z: 1}\n"])
def test_regression_import_mixed_type_keys(sqlite_engine, tmp_path, text):
    tried("regression")
    with pytest.raises(ImportFileError):
        _import_text(sqlite_engine, tmp_path, text)


# Found by the import property and since fixed in importer.py: kept as plain regression tests.
@pytest.mark.parametrize("expires", ["'9999-12-31T23:00:00-05:00'", "0001-01-01 00:00:00+05:00", "0001-01-01",
                                     "0001-01-15", "9999-12-31", "!!timestamp tomorrow",
                                     "!!timestamp '1912-01-01 00:00:00-00:16:08'"])
def test_regression_import_expiry_out_of_range_or_unreadable(sqlite_engine, tmp_path, expires):
    tried("regression")
    with pytest.raises(ImportFileError):
        _import_text(sqlite_engine, tmp_path,
                     f"tokens:\n  - {{id: t, kind: generic, name: n, channel: C0AB, expires_at: {expires}}}\n")


def test_regression_import_deep_nesting(sqlite_engine, tmp_path):
    tried("regression")
    with pytest.raises(ImportFileError):
        _import_text(sqlite_engine, tmp_path, "tokens: " + "[" * 5000 + "]" * 5000 + "\n")


@pytest.mark.parametrize("field, value", [("id", "t\\n"), ("channel", "C0AB\\n"), ("owners", ["U0AB\\n"]),
                                          ("channel", "C" + "0" * 60), ("name", "a\\0b")])
def test_regression_import_ids_and_text_are_checked_whole(sqlite_engine, tmp_path, field, value):
    tried("regression")
    entry = {"id": '"t"', "kind": "generic", "name": "n", "channel": '"C0AB"', "expires_at": "2027-01-01"}
    entry[field] = f'["{value[0]}"]' if isinstance(value, list) else f'"{value}"'
    text = "tokens:\n  - {" + ", ".join(f"{k}: {v}" for k, v in entry.items()) + "}\n"
    with pytest.raises(ImportFileError):
        _import_text(sqlite_engine, tmp_path, text)


def test_regression_import_control_characters_in_settings_url(engine, tmp_path):
    tried("regression")
    before = snapshot(engine)
    try:
        _import_text(engine, tmp_path, 'accounts:\n  - {id: a, name: A, settings_url: "https://x.example/\\0a"}\n')
    except Exception as exc:
        assert snapshot(engine) == before  # whatever was raised, the transaction was rolled back
        assert isinstance(exc, ImportFileError), f"{type(exc).__name__}: {exc}"
    else:
        pytest.fail("accepted a settings_url with a NUL character")
