"""The stand-in and the request builders must behave like Slack, or every test built on them lies."""

from __future__ import annotations

import json
import time
from urllib.error import URLError
from urllib.parse import parse_qs

import pytest
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.support import slack_requests as sr
from tests.support.slack_standin import SlackStandin

SECRET = "test-signing-secret"
VIEW = {
    "type": "modal", "callback_id": "renew", "private_metadata": "tok-1",
    "title": {"type": "plain_text", "text": "Renew"},
    "blocks": [
        {"type": "section", "block_id": "intro", "text": {"type": "mrkdwn", "text": "hi"},
         "accessory": {"type": "static_select", "action_id": "ignored", "options": []}},
        {"type": "input", "block_id": "secret", "element": {"type": "plain_text_input", "action_id": "v"}},
        {"type": "input", "block_id": "expires", "element": {"type": "datepicker", "action_id": "d",
                                                              "initial_date": "2030-01-31"}},
        {"type": "input", "block_id": "notify", "element": {"type": "checkboxes", "action_id": "c", "options": []}},
        {"type": "input", "block_id": "kind", "element": {
            "type": "static_select", "action_id": "s",
            "initial_option": {"text": {"type": "plain_text", "text": "API key"}, "value": "api_key"}}},
    ],
}


@pytest.fixture
def standin():
    with SlackStandin() as server:
        yield server
    assert server.errors == []


@pytest.fixture
def client(standin):
    return WebClient(token="xoxb-test", base_url=standin.url, retry_handlers=[], timeout=5)


def test_signature_verifies_and_tampering_fails():
    body = sr.slash_command_body(text="rotate db", response_url="http://127.0.0.1:1/response/r")
    headers = sr.sign(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body.replace("rotate", "delete"), headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    old = sr.sign(SECRET, body, timestamp=int(time.time()) - 3600)
    assert not verifier.is_valid_request(body, old)  # replay window
    fields = parse_qs(body)
    assert fields["command"] == ["/renew-token"] and fields["text"] == ["rotate db"]
    assert next(iter(fields)) == "token" and fields["trigger_id"] == ["T.trigger.1"]


def test_web_api_round_trip(standin, client):
    assert client.auth_test()["user_id"] == "UBOT"
    posted = client.chat_postMessage(channel="C1", text="expiring", blocks=[{"type": "divider"}])
    second = client.chat_postMessage(channel="C1", text="reply", thread_ts=posted["ts"])
    assert posted["ts"] < second["ts"] and posted["message"]["user"] == "UBOT"
    updated = client.chat_update(channel="C1", ts=posted["ts"], text="renewed")
    assert updated["text"] == "renewed" and standin.messages["C1"][0]["text"] == "renewed"
    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel="C1", ts="1.000000", text="x")
    assert missing.value.response["error"] == "message_not_found"
    call = standin.calls_to("chat.postMessage")[0]
    assert call.params["blocks"] == [{"type": "divider"}] and call.headers["authorization"] == "Bearer xoxb-test"
    replies = client.conversations_replies(channel="C1", ts=posted["ts"])["messages"]
    assert [m["text"] for m in replies] == ["renewed", "reply"]


def test_views_usergroups_and_unknown(standin, client):
    opened = client.views_open(trigger_id="T.1", view=VIEW)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "renew" and opened["hash"]
    updated = client.views_update(view_id=opened["id"], view={**VIEW, "private_metadata": "tok-2"})["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert standin.views[opened["id"]]["private_metadata"] == "tok-2"
    with pytest.raises(SlackApiError, match="not_found"):
        client.views_update(view_id="V404", view=VIEW)
    standin.usergroups["S1"] = ["U1", "U2"]
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError, match="no_such_subteam"):
        client.usergroups_users_list(usergroup="S2")
    assert standin.calls_to("usergroups.users.list")[0].params["usergroup"] == "S1"  # query string
    with pytest.raises(SlackApiError, match="unknown_method"):
        client.api_call("bots.dance")
    with pytest.raises(SlackApiError, match="not_authed"):
        WebClient(base_url=standin.url, retry_handlers=[]).auth_test()


def test_history_shows_metadata_only_when_asked(client):
    meta = {"event_type": "token_expiring", "event_payload": {"token_id": 7}}
    first = client.chat_postMessage(channel="C1", text="a", metadata=meta)
    client.chat_postMessage(channel="C1", text="in thread", thread_ts=first["ts"])
    client.chat_postMessage(channel="C1", text="b")
    full = client.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert [m["text"] for m in full] == ["b", "a"]
    assert full[1]["metadata"] == meta and full[1]["reply_count"] == 1
    plain = client.conversations_history(channel="C1")
    assert [m["text"] for m in plain["messages"]] == ["b", "a"] and "metadata" not in plain["messages"][1]
    assert client.conversations_history(channel="C1", limit=1)["has_more"] is True
    after_first = client.conversations_history(channel="C1", oldest=first["ts"])["messages"]
    assert [m["text"] for m in after_first] == ["b"]  # oldest is exclusive, like Slack's


def test_injected_failures(standin, client):
    standin.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    standin.fail_next("chat.postMessage", status=503)
    with pytest.raises(SlackApiError) as upstream:
        client.chat_postMessage(channel="C1", text="x")
    assert upstream.value.response.status_code == 503
    standin.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.chat_postMessage(channel="C1", text="x")
    client.chat_postMessage(channel="C1", text="x")  # failures are used up
    assert [(c.failed, c.error) for c in standin.calls] == [
        (True, "ratelimited"), (True, "http_503"), (True, "channel_not_found"), (False, None)]
    assert len(standin.messages["C1"]) == 1


def test_rate_limit_retry_honours_retry_after(standin, monkeypatch):
    slept = []  # record the wait instead of spending 1-2 s of the suite on it
    monkeypatch.setattr(builtin_handlers.time, "sleep", slept.append)
    client = WebClient(token="xoxb-test", base_url=standin.url,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    standin.fail_next("chat.postMessage", status=429, retry_after=1)
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert len(slept) == 1 and 1 <= slept[0] < 2
    assert [c.failed for c in standin.calls_to("chat.postMessage")] == [True, False]


def test_dropped_connection(standin, client):
    standin.drop_connection_next("auth.test")
    with pytest.raises((URLError, ConnectionError)):  # http.client.RemoteDisconnected, in practice
        client.auth_test()
    assert standin.calls_to("auth.test")[0].error == "dropped"
    retrying = WebClient(token="xoxb-test", base_url=standin.url, retry_handlers=[
        ConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0.01))])
    standin.drop_connection_next("auth.test")
    assert retrying.auth_test()["ok"]


def test_channel_rate_limit(standin, client):
    standin.set_channel_rate_limit(per_second=0.5, burst=2)
    client.chat_postMessage(channel="C1", text="1")
    client.chat_postMessage(channel="C1", text="2")
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="3")
    assert limited.value.response.status_code == 429
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    client.chat_postMessage(channel="C2", text="other channel has its own bucket")
    assert standin.rate_limited == 1 and len(standin.messages["C1"]) == 2
    standin.reset()
    client.chat_postMessage(channel="C1", text="after reset")
    assert standin.rate_limited == 0 and len(standin.calls) == 1


def test_state_values_defaults_and_overrides():
    values = sr.state_values(VIEW, {"secret": {"value": "amzn.mws.x"}})
    assert values == {
        "secret": {"v": {"type": "plain_text_input", "value": "amzn.mws.x"}},
        "expires": {"d": {"type": "datepicker", "selected_date": "2030-01-31"}},
        "notify": {"c": {"type": "checkboxes", "selected_options": []}},
        "kind": {"s": {"type": "static_select", "selected_option": VIEW["blocks"][4]["element"]["initial_option"]}},
    }
    assert sr.state_values(VIEW)["secret"]["v"]["value"] is None
    with pytest.raises(KeyError):
        sr.state_values(VIEW, {"intro": {"value": "x"}})


def test_response_url_and_post_signed(standin):
    url = standin.response_url("cmd")
    assert WebhookClient(url).send(text="done", response_type="ephemeral").status_code == 200
    assert standin.wait_for("response_url:cmd")[0].params == {"text": "done", "response_type": "ephemeral"}
    body = sr.form_payload_body({"type": "block_actions", "text": "a&b=c"})
    status, headers, raw = sr.post_signed(url, body, SECRET)
    assert status == 200 and headers["content-type"].startswith("application/json") and json.loads(raw)["ok"]
    call = standin.calls_to("response_url:cmd")[1]
    assert json.loads(call.params["payload"])["text"] == "a&b=c"
    assert SignatureVerifier(SECRET).is_valid_request(body, call.headers)
    status, _, raw = sr.post_signed(standin.url.replace("/api/", "/nowhere"), body, SECRET)
    assert status == 404 and json.loads(raw)["error"] == "not_found"
    with pytest.raises(AssertionError, match="response_url:cmd"):
        standin.wait_for("chat.postMessage", timeout=0.05)


def test_bolt_accepts_the_signed_requests(standin):
    """Slash command -> modal -> button -> submission through bolt's own verification and routing."""
    app = App(client=WebClient(token="xoxb-test", base_url=standin.url), signing_secret=SECRET,
              process_before_response=True)
    seen = {}

    @app.command("/renew-token")
    def command(ack, body, client, respond):
        ack()
        respond(f"renewing {body['text']}")
        client.views_open(trigger_id=body["trigger_id"], view=VIEW)

    @app.action("snooze")
    def snooze(ack, body):
        ack()
        seen["action"] = (body["actions"][0]["value"], body["container"]["message_ts"], body["container"]["channel_id"],
                          body["channel"]["id"])

    @app.view("renew")
    def submit(ack, view):
        ack()
        seen["secret"] = view["state"]["values"]["secret"]["v"]["value"]

    def dispatch(body: str):
        return app.dispatch(BoltRequest(body=body, headers=sr.sign(SECRET, body)))

    body = sr.slash_command_body(text="db", response_url=standin.response_url("cmd"))
    assert dispatch(body).status == 200
    assert standin.wait_for("response_url:cmd")[0].params["text"] == "renewing db"
    standin.wait_for("views.open")
    (view,) = standin.views.values()
    assert view["callback_id"] == "renew"
    action = sr.block_actions_payload(action_id="snooze", value="7d", message={"ts": "1700000000.000100"},
                                      response_url=standin.response_url("btn"))
    assert dispatch(sr.form_payload_body(action)).status == 200
    assert seen["action"] == ("7d", "1700000000.000100", "C0ALERTS", "C0ALERTS")
    values = sr.state_values(view, {"secret": {"value": "s3cr3t"}})
    submission = sr.view_submission_payload(view=view, values=values)
    assert dispatch(sr.form_payload_body(submission)).status == 200
    assert seen["secret"] == "s3cr3t"
    forged = sr.form_payload_body(submission)
    assert app.dispatch(BoltRequest(body=forged, headers=sr.sign("wrong", forged))).status == 401


def test_views_publish_stores_the_home_per_user_and_enforces_slacks_limits(standin, client):
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]}
    first = client.views_publish(user_id="U0ANNA", view=home)["view"]
    assert standin.home_views["U0ANNA"]["blocks"] == home["blocks"]
    again = client.views_publish(user_id="U0ANNA", view=home, hash=first["hash"])["view"]
    assert again["id"] == first["id"] and again["hash"] != first["hash"]
    with pytest.raises(SlackApiError, match="hash_conflict"):
        client.views_publish(user_id="U0ANNA", view=home, hash=first["hash"])
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.views_publish(user_id="U0ANNA", view={**home, "blocks": home["blocks"] * 101})
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.views_publish(user_id="U0ANNA", view={**home, "type": "modal"})


def test_permalinks_user_groups_and_channel_info(standin, client):
    ts = client.chat_postMessage(channel="C0ALERTS", text="hi")["ts"]
    link = client.chat_getPermalink(channel="C0ALERTS", message_ts=ts)["permalink"]
    assert link.endswith("/archives/C0ALERTS/p" + ts.replace(".", ""))
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_getPermalink(channel="C0ALERTS", message_ts="1.2")
    standin.usergroups = {"S0OPS": ["U0ANNA"]}
    standin.usergroup_handles = {"S0OPS": "ops"}
    assert [(g["id"], g["handle"]) for g in client.usergroups_list()["usergroups"]] == [("S0OPS", "ops")]
    assert "users" not in client.usergroups_list()["usergroups"][0]
    assert [g["users"] for g in client.usergroups_list(include_users=True)["usergroups"]] == [["U0ANNA"]]
    standin.outside_channels |= {"C0OUT", "G0SECRET"}
    assert client.conversations_info(channel="C0ALERTS")["channel"]["is_member"] is True
    assert client.conversations_info(channel="C0OUT")["channel"]["is_member"] is False
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.conversations_info(channel="G0SECRET")  # a private channel the bot is not in is invisible


def test_home_and_suggestion_payloads_reach_bolts_listeners(standin):
    app = App(client=WebClient(token="xoxb-test", base_url=standin.url), signing_secret=SECRET,
              process_before_response=True)
    seen = []

    @app.options("picker")
    def _options(ack, payload):
        seen.append(("options", payload["value"]))
        ack(options=[])

    @app.event("app_home_opened")
    def _home(event):
        seen.append(("home", event["user"]))

    @app.action("renew_open")
    def _click(ack, body):
        seen.append(("click", body["container"]["type"], body["view"]["type"]))
        ack()

    for body in (sr.form_payload_body(sr.block_suggestion_payload(action_id="picker", value="ama")),
                 sr.app_home_opened_body("U0ANNA"),
                 sr.form_payload_body(sr.home_action_payload(action_id="renew_open", value="tok-1"))):
        headers = {k.lower(): [v] for k, v in sr.sign(SECRET, body).items()}
        assert app.dispatch(BoltRequest(body=body, headers=headers)).status == 200
    assert sorted(seen) == sorted([("options", "ama"), ("home", "U0ANNA"), ("click", "view", "home")])
