"""POST /api/v1/accounts/{id}/state over real HTTP: the bot's own WSGI app on waitress, Slack played by the stand-in.

Keys good, wrong, revoked and out of scope; unknown accounts; bodies malformed, fuzzed and oversized; the open
notice edited in Slack afterwards, and Slack failing that edit without failing the call."""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from waitress.server import create_server

from jobs.scan import scan
from renewbot.runtime.api import MAX_API_BODY_BYTES, make_api_app
from renewbot.runtime.serve import waitress_options
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.apikeys import create_key, revoke_key
from renewbot.usecases.retire import retire
from renewbot.usecases.status import collect, render_text
from storage.db import session_scope
from storage.models import Account
from tests.conftest import NOW
from tests.support.bot_server import standin_settings
from tests.support.seed import account, seed, token

# Hypothesis caches under ./.hypothesis otherwise: keep the working tree clean (as tests/test_hostile_input.py does).
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "renewbot-hypothesis")

SETTINGS = standin_settings("http://127.0.0.1:9/api/")
OFF = {"enabled": False, "fetch_orders": True, "reason": "token expired"}


class Api:
    """The API app as make_wsgi_app mounts it, on waitress with the production options, with a settable clock."""

    def __init__(self, engine, client, clock, **options) -> None:
        app = make_api_app(engine, client, clock=clock, **options)
        self.server = create_server(app, host="127.0.0.1", port=0, **{**waitress_options(SETTINGS), "threads": 4})
        self.host, self.port, self.engine, self.clock = "127.0.0.1", self.server.effective_port, engine, clock
        self.keys: dict[str, str] = {}
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.close()
        self._thread.join(5)

    def key(self, name: str, scopes=None) -> str:
        with session_scope(self.engine) as s:
            self.keys[name] = create_key(session=s, name=name, scopes=scopes, now=NOW).key
        return self.keys[name]

    def request(self, path: str, *, key: str | None = None, body: bytes | dict | None = None, method: str = "POST",
                headers: dict | None = None) -> tuple[int, dict, dict]:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        sent = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {}),
                **(headers or {})}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body=raw, headers=sent)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        assert resp.getheader("Content-Type") == "application/json", data[:200]
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(data)

    def report(self, account_id: str, body=None, *, key: str | None = None, **kw) -> tuple[int, dict]:
        status, _, answer = self.request(f"/api/v1/accounts/{account_id}/state", key=key,
                                         body=OFF if body is None else body, **kw)
        return status, answer


def seed_world(engine) -> None:
    seed(engine, now=NOW,
         accounts=[account("amazon-uk", name="Amazon UK", settings_url="https://commerce.example/uk"),
                   account("amazon-de", name="Amazon DE"), account("amazon-fr")],
         tokens=[token("mws", NOW + timedelta(days=10), accounts=["amazon-uk", "amazon-de"])])


@pytest.fixture
def api(deps, slack, clock):
    seed_world(deps.engine)
    server = Api(deps.engine, make_client("xoxb-test", slack.url), clock)
    yield server
    server.close()


def stored(engine, account_id: str) -> Account:
    with session_scope(engine) as s:
        return s.get(Account, account_id)


def unchanged(engine, account_id: str = "amazon-uk") -> bool:
    row = stored(engine, account_id)
    return row.enabled is True and row.state_reason is None and row.state_reported_at is None


def test_a_good_key_stores_the_report_and_gets_the_account_back(api, caplog):
    caplog.set_level(logging.INFO)
    key = api.key("platform")
    status, answer = api.report("amazon-uk", key=key)
    assert status == 200
    row = stored(api.engine, "amazon-uk")
    assert answer == {"id": "amazon-uk", "name": "Amazon UK", "enabled": False, "fetch_orders": True,
                      "reason": "token expired", "reported_at": "2026-11-26T12:00:00+00:00"}
    assert (row.enabled, row.fetch_orders, row.state_reason, row.state_reported_at) == (
        False, True, "token expired", NOW)
    assert any("'amazon-uk' reported by key 'platform'" in r.getMessage() for r in caplog.records)
    assert key not in caplog.text and key[4:20] not in caplog.text
    with session_scope(api.engine) as s:
        text = render_text(collect(session=s, now=NOW))
    assert "off by the platform since 2026-11-26 12:00 UTC: token expired" in text


def test_missing_wrong_malformed_and_revoked_keys_get_401_and_change_nothing(api):
    good = api.key("platform")
    for key, headers in [(None, {}), ("rbk_" + "A" * 43, {}), (good[:-2], {}), (None, {"Authorization": good}),
                         (None, {"Authorization": f"Basic {good}"}), (None, {"Authorization": "Bearer " + "a" * 9000}),
                         (None, {"Authorization": f"Bearer {good}, Bearer {good}"})]:
        status, headers_back, answer = api.request("/api/v1/accounts/amazon-uk/state", key=key, body=OFF,
                                                   headers=headers)
        assert (status, answer) == (401, {"error": "missing or invalid API key"}), (key, headers)
        assert headers_back["www-authenticate"].startswith("Bearer")
    assert unchanged(api.engine)
    with session_scope(api.engine) as s:
        revoke_key(session=s, name="platform", now=NOW)
    assert api.report("amazon-uk", key=good) == (401, {"error": "missing or invalid API key"})
    assert unchanged(api.engine)


def test_a_key_without_the_state_scope_gets_403(api):
    calendar_only = api.key("calendar", ["calendar"])
    assert api.report("amazon-uk", key=calendar_only) == (403, {"error": "this key lacks the 'state' scope"})
    assert unchanged(api.engine)
    assert api.report("amazon-uk", key=api.key("state-only", ["state"]))[0] == 200


def test_an_unknown_or_retired_account_gets_404(api):
    key = api.key("platform")
    with session_scope(api.engine) as s:
        retire(session=s, row_id="amazon-fr", account=True, undo=False, now=NOW)
    no_account, bad_path = {"error": "no such account"}, {"error": "not found"}
    for account_id, error in [("nope", no_account), ("amazon-fr", no_account), ("%C3%A9t%C3%A9", no_account),
                              ("a" * 200, no_account), ("a" * 201, bad_path), ("%FF%FE", bad_path),
                              ("amazon-uk%2Fx", bad_path)]:
        assert api.report(account_id, key=key) == (404, error), account_id
    assert unchanged(api.engine, "amazon-fr")


def test_other_paths_and_methods(api):
    key = api.key("platform")
    for path in ("/api/v1/accounts/amazon-uk", "/api/v1/accounts/amazon-uk/state/x", "/api/v1/", "/api/v1/x"):
        assert api.request(path, key=key, body=OFF)[::2] == (404, {"error": "not found"}), path
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        status, headers, answer = api.request("/api/v1/accounts/amazon-uk/state", key=key, body=OFF, method=method)
        assert (status, headers["allow"], answer) == (405, "POST", {"error": "use POST"}), method
    assert unchanged(api.engine)


@pytest.mark.parametrize("body, error", [
    (b"enabled=false", "the body is not JSON"),
    (b"", "the body is not JSON"),
    (b"[" * 10_000 + b"]" * 6_000, "the body is not JSON"),
    (b"[]", 'the body must be a JSON object: {"enabled": false, "reason": "..."}'),
    ({"enabled": "no"}, "enabled is required, true or false"),
    ({"enabled": False, "account": "amazon-de"}, "unknown field 'account' (fields: enabled, fetch_orders, reason)"),
    ({"enabled": False, "reason": "two\nlines"}, "reason must be one line of plain text (no control or format "
                                                 "characters)"),
])
def test_a_body_that_is_not_a_report_gets_400_and_changes_nothing(api, body, error):
    assert api.report("amazon-uk", body, key=api.key("platform")) == (400, {"error": error})
    assert unchanged(api.engine)


def test_the_key_is_checked_before_the_body_is_read(api):
    for body in (b"not json", b"x" * (MAX_API_BODY_BYTES + 1)):
        assert api.report("amazon-uk", body)[0] == 401
    assert api.report("amazon-uk", b"x" * (MAX_API_BODY_BYTES + 1), key=api.key("calendar", ["calendar"]))[0] == 403


def test_an_oversized_or_unmeasured_body_is_refused_unread(api):
    key = api.key("platform")
    status, answer = api.report("amazon-uk", b" " * (MAX_API_BODY_BYTES + 1), key=key)
    assert (status, answer) == (413, {"error": f"request body too large (at most {MAX_API_BODY_BYTES} bytes)"})
    padded = json.dumps(OFF).encode() + b" " * (MAX_API_BODY_BYTES - len(json.dumps(OFF)))
    assert api.report("amazon-uk", padded, key=key)[0] == 200  # the limit itself is fine
    # No Content-Length (nor chunked): 411, not a wait for a body that never ends.
    with socket.create_connection((api.host, api.port), timeout=10) as sock:
        sock.sendall(f"POST /api/v1/accounts/amazon-de/state HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                     "Connection: close\r\n\r\n".encode())
        reply = b"".join(iter(lambda: sock.recv(4096), b""))
    assert reply.startswith(b"HTTP/1.1 411 ") and reply.endswith(b'{"error": "Content-Length is required"}')
    assert unchanged(api.engine, "amazon-de")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
bodies = st.one_of(
    st.fixed_dictionaries({}, optional={"enabled": st.booleans() | json_values, "fetch_orders": st.booleans() |
                                        json_values, "reason": st.text(max_size=350) | json_values,
                                        "other": json_values}).map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies)
def test_any_body_gets_200_or_400_never_500(api, body):
    key = api.keys.get("fuzz") or api.key("fuzz")
    status, answer = api.report("amazon-de", body, key=key)
    assert status in (200, 400), (status, answer, body)
    assert set(answer) == ({"error"} if status == 400 else
                           {"id", "name", "enabled", "fetch_orders", "reason", "reported_at"})


def test_the_open_notice_is_edited_in_place_to_show_the_account_off_with_its_reason(api, slack):
    scan(engine=api.engine, client=make_client("xoxb-test", slack.url), now=NOW)
    (posted,) = slack.calls_to("chat.postMessage")
    original = posted.params["blocks"]
    assert api.report("amazon-uk", key=api.key("platform"))[0] == 200  # the same day: the same wording
    (update,) = slack.wait_for("chat.update")
    assert (update.params["channel"], update.params["ts"]) == ("C0ALERTS", slack.messages["C0ALERTS"][0]["ts"])
    assert update.params["text"] == posted.params["text"]
    edited = update.params["blocks"]
    # The same notice, field for field, but for the accounts line.
    assert [b for b in edited if b["type"] != "section"] == [b for b in original if b["type"] != "section"]
    old_fields, new_fields = original[1]["fields"], edited[1]["fields"]
    changed = [(o["text"], n["text"]) for o, n in zip(old_fields, new_fields, strict=True) if o != n]
    assert changed == [("*Accounts*\n<https://commerce.example/uk|Amazon UK> (on), Amazon DE (on)",
                        "*Accounts*\n<https://commerce.example/uk|Amazon UK> (off: token expired), Amazon DE (on)")]
    # A report that repeats the state edits nothing more.
    assert api.report("amazon-uk", key=api.keys["platform"])[0] == 200
    assert api.report("amazon-fr", key=api.keys["platform"])[0] == 200  # no token uses it: nothing to edit
    assert len(slack.calls_to("chat.update")) == 1


def test_a_slack_failure_to_edit_never_fails_the_call(api, slack, caplog):
    scan(engine=api.engine, client=make_client("xoxb-test", slack.url), now=NOW)
    slack.fail_next("chat.update", error="cant_update_message")
    assert api.report("amazon-uk", key=api.key("platform"))[0] == 200
    slack.wait_for("chat.update")
    assert stored(api.engine, "amazon-uk").state_reason == "token expired"
    # The failure is logged once the answer is out (the edit runs after the response is sent).
    for _ in range(500):
        if any("could not edit notice" in r.getMessage() for r in caplog.records):
            break
        time.sleep(0.01)
    assert any("could not edit notice" in r.getMessage() for r in caplog.records)
    # Slack down altogether: the call still answers 200.
    slack.stop()
    assert api.report("amazon-uk", {"enabled": True}, key=api.keys["platform"])[0] == 200
    assert stored(api.engine, "amazon-uk").enabled is True


class HeldSlack:
    """A Slack client whose chat.update is held until released: shows when renewbot calls it."""

    def __init__(self) -> None:
        self.entered, self.release, self.left = threading.Event(), threading.Event(), threading.Event()

    def chat_update(self, **_params) -> None:
        self.entered.set()
        self.release.wait(5)
        self.left.set()


def test_the_caller_has_its_answer_before_slack_is_asked(deps, slack, clock):
    seed_world(deps.engine)
    scan(engine=deps.engine, client=make_client("xoxb-test", slack.url), now=NOW)
    held = HeldSlack()
    server = Api(deps.engine, held, clock)
    try:
        assert server.report("amazon-uk", key=server.key("platform"))[0] == 200
        assert held.entered.wait(5)  # the edit did start...
        assert not held.left.is_set()  # ...and is still held: the answer never waited for it
        assert server.report("amazon-de", key=server.keys["platform"])[0] == 200  # nor does the next caller
    finally:
        held.release.set()
        server.close()
    assert held.left.wait(5)


class AskedHealth:
    """SlackHealth's `refused`, settable, and telling when it was read."""

    def __init__(self, refused: str | None) -> None:
        self.value, self.asked = refused, threading.Event()

    @property
    def refused(self) -> str | None:
        self.asked.set()
        return self.value


class RecordingPacer:
    def __init__(self) -> None:
        self.channels: list[str] = []

    def wait(self, channel: str) -> None:
        self.channels.append(channel)


def test_the_edits_keep_the_shared_pace_and_stop_while_slack_refuses_the_token(deps, slack, clock):
    seed_world(deps.engine)
    scan(engine=deps.engine, client=make_client("xoxb-test", slack.url), now=NOW)
    health, pacer = AskedHealth("invalid_auth"), RecordingPacer()
    server = Api(deps.engine, make_client("xoxb-test", slack.url), clock, pacer=pacer, health=health)
    try:
        key = server.key("platform")
        assert server.report("amazon-uk", key=key)[0] == 200
        assert health.asked.wait(5)  # the edit saw the refusal, and sent nothing
        health.value = None  # the token works again
        assert server.report("amazon-uk", {"enabled": True}, key=key)[0] == 200
        (update,) = slack.wait_for("chat.update")
    finally:
        server.close()
    assert "<https://commerce.example/uk|Amazon UK> (on)" in json.dumps(update.params["blocks"])
    assert pacer.channels == ["C0ALERTS"]  # paced like delivery's posts to that channel


def test_serve_routes_the_api_beside_slack(bot, deps, slack):
    """Through make_wsgi_app, as `serve` runs it: /api/v1/ reaches the API, /slack/events and /healthz still work."""
    seed_world(deps.engine)
    with session_scope(deps.engine) as s:
        key = create_key(session=s, name="platform", scopes=None, now=NOW).key
    host, port = bot.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    body = json.dumps(OFF)
    conn.request("POST", "/api/v1/accounts/amazon-uk/state", body=body,
                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    assert (resp.status, json.loads(resp.read())["reason"]) == (200, "token expired")
    conn.request("POST", "/api/v1/accounts/amazon-uk/state", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert (resp.status, json.loads(resp.read())) == (401, {"error": "missing or invalid API key"})
    conn.close()
    assert stored(deps.engine, "amazon-uk").state_reason == "token expired"
    assert bot.command("")[0] == 200  # Slack's route is untouched: the command opens its modal
    slack.wait_for("views.open")


def test_a_report_keeps_who_is_on_it_on_the_edited_notice(api, slack):
    """Re-rendering for an account's state must not bring back buttons an acknowledgement took away."""
    from sqlmodel import select

    from storage.models import Notice

    scan(engine=api.engine, client=make_client("xoxb-test", slack.url), now=NOW)
    with session_scope(api.engine) as session:
        notice = session.exec(select(Notice)).one()
        notice.acked_by, notice.acked_at = "U0ONIT", NOW
    assert api.report("amazon-uk", key=api.key("platform"))[0] == 200
    (update,) = slack.wait_for("chat.update")
    texts = json.dumps(update.params["blocks"])
    assert "<@U0ONIT> is on it" in texts
    labels = [e.get("text", {}).get("text") for b in update.params["blocks"] if b["type"] == "actions"
              for e in b["elements"]]
    assert "Renew" in labels and "I'm on it" not in labels
