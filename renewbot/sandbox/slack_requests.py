"""Inbound requests built and signed the way Slack builds and signs them.

Tests and `renewbot sandbox`'s page post these at the bot's real HTTP endpoint, so bolt's signature check,
body parsing and payload routing run exactly as they do in production.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote_plus, urlencode

TEAM = {"id": "T0TEST", "domain": "test"}
API_APP_ID = "A0TEST"
# Slack still sends the deprecated verification token; bolt ignores it when signing is on.
VERIFICATION_TOKEN = "verification-token-test"


def sign(signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _channel_name(channel_id: str) -> str:
    # The names Slack reports for conversations that have none of their own.
    if channel_id.startswith("D"):
        return "directmessage"
    return "privategroup" if channel_id.startswith("G") else "alerts"


def slash_command_body(*, text: str = "", command: str = "/renew-token", user_id: str = "U0USER",
                       channel_id: str = "C0ALERTS", trigger_id: str = "T.trigger.1", response_url: str,
                       team_id: str = "T0TEST", user_name: str = "tester") -> str:
    # Field order follows what Slack sends; urlencode uses quote_plus like Slack does.
    return urlencode({
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM["domain"],
        "channel_id": channel_id,
        "channel_name": _channel_name(channel_id),
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": API_APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    })


def _user(user_id: str) -> dict:
    return {"id": user_id, "username": "tester", "name": "tester", "team_id": TEAM["id"]}


def block_actions_payload(*, action_id: str, value: str | None = None, block_id: str = "actions",
                          user_id: str = "U0USER", channel_id: str = "C0ALERTS", message: dict | None = None,
                          message_ts: str | None = None, trigger_id: str = "T.trigger.2",
                          response_url: str | None = None, action_type: str = "button", url: str | None = None,
                          view: dict | None = None, selected_option: dict | None = None) -> dict:
    """A block_actions payload from a message button (default) or from a modal (view=...).

    response_url is required for message actions; Slack sends none for actions inside a modal.
    """
    action_ts = f"{time.time():.6f}"
    action = {"action_id": action_id, "block_id": block_id, "type": action_type, "action_ts": action_ts}
    if value is not None:
        action["value"] = value
    if url is not None:
        action["url"] = url
    if selected_option is not None:
        action["selected_option"] = copy.deepcopy(selected_option)
    payload = {
        "type": "block_actions",
        "user": _user(user_id),
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": dict(TEAM),
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["view"] = copy.deepcopy(view)
    else:
        if response_url is None:
            raise ValueError("message block_actions need a response_url")
        ts = message_ts or (message or {}).get("ts") or "1700000000.000100"
        payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel_id,
                                "is_ephemeral": False}
        payload["channel"] = {"id": channel_id, "name": _channel_name(channel_id)}
        if message is not None:
            payload["message"] = {**copy.deepcopy(message), "ts": message.get("ts") or ts}
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url
    payload["actions"] = [action]
    return payload


def view_submission_payload(*, view: dict, values: dict, user_id: str = "U0USER",
                            trigger_id: str = "T.trigger.3") -> dict:
    return {
        "type": "view_submission",
        "team": dict(TEAM),
        "user": _user(user_id),
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": {**copy.deepcopy(view), "state": {"values": copy.deepcopy(values)}},
        "response_urls": [],
        "enterprise": None,
        "is_enterprise_install": False,
    }


def block_suggestion_payload(*, action_id: str, value: str, view: dict | None = None, block_id: str = "",
                             user_id: str = "U0USER") -> dict:
    """The options load request of an external select: what the person has typed so far (`value`)."""
    payload = {"type": "block_suggestion", "user": _user(user_id), "api_app_id": API_APP_ID,
               "token": VERIFICATION_TOKEN, "team": dict(TEAM), "enterprise": None, "is_enterprise_install": False,
               "action_id": action_id, "block_id": block_id, "value": value,
               "action_ts": f"{time.time():.6f}"}
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["view"] = copy.deepcopy(view)
    return payload


def home_action_payload(*, action_id: str, value: str | None, user_id: str = "U0USER", view: dict | None = None,
                        trigger_id: str = "T.trigger.home", block_id: str = "home") -> dict:
    """A button clicked in the App Home tab: a view container of type home, no channel, no response_url."""
    view = view or {"id": "VHOME", "type": "home", "blocks": [], "hash": "1700000000.00000001"}
    action = {"action_id": action_id, "block_id": block_id, "type": "button", "action_ts": f"{time.time():.6f}"}
    if value is not None:
        action["value"] = value
    return {"type": "block_actions", "user": _user(user_id), "api_app_id": API_APP_ID, "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id, "team": dict(TEAM), "enterprise": None, "is_enterprise_install": False,
            "container": {"type": "view", "view_id": view["id"]}, "view": copy.deepcopy(view),
            "actions": [action]}


def event_body(event: dict, *, event_id: str | None = None) -> str:
    """An Events API callback (JSON), as Slack posts it."""
    return json.dumps({"token": VERIFICATION_TOKEN, "team_id": TEAM["id"], "api_app_id": API_APP_ID,
                       "event": event, "type": "event_callback",
                       "event_id": event_id or f"Ev{int(time.time() * 1e6)}", "event_time": int(time.time())},
                      separators=(",", ":"))


def app_home_opened_body(user_id: str, *, tab: str = "home") -> str:
    return event_body({"type": "app_home_opened", "user": user_id, "channel": "D0HOME", "tab": tab,
                       "event_ts": f"{time.time():.6f}"})


# element type -> (state field, initial_* field in the element, value when nothing is preset)
_STATE_FIELDS = {
    "plain_text_input": ("value", "initial_value", None),
    "number_input": ("value", "initial_value", None),
    "email_text_input": ("value", "initial_value", None),
    "url_text_input": ("value", "initial_value", None),
    "datepicker": ("selected_date", "initial_date", None),
    "timepicker": ("selected_time", "initial_time", None),
    "checkboxes": ("selected_options", "initial_options", []),
    "static_select": ("selected_option", "initial_option", None),
    "external_select": ("selected_option", "initial_option", None),
    "multi_static_select": ("selected_options", "initial_options", []),
    "multi_external_select": ("selected_options", "initial_options", []),
    "multi_conversations_select": ("selected_conversations", "initial_conversations", []),
    "radio_buttons": ("selected_option", "initial_option", None),
    "users_select": ("selected_user", "initial_user", None),
    "multi_users_select": ("selected_users", "initial_users", []),
    "conversations_select": ("selected_conversation", "initial_conversation", None),
    "channels_select": ("selected_channel", "initial_channel", None),
}


def state_values(view: dict, overrides: dict | None = None) -> dict:
    """state.values as Slack submits them when the person changes nothing but `overrides`.

    Only "input" blocks carry state in a view_submission; overrides naming a block that
    is not an input raise KeyError so a typo cannot silently submit the defaults.
    """
    values: dict = {}
    for index, block in enumerate(view.get("blocks", [])):
        if block.get("type") != "input":
            continue
        element = block["element"]
        # Slack invents ids when the view sets none; the bot then cannot read them anyway.
        block_id = block.get("block_id") or f"block{index}"
        action_id = element.get("action_id") or f"action{index}"
        kind = element["type"]
        entry = {"type": kind}
        if kind in _STATE_FIELDS:
            field, initial, empty = _STATE_FIELDS[kind]
            entry[field] = copy.deepcopy(element.get(initial) or empty)
        values[block_id] = {action_id: entry}
    for block_id, fields in (overrides or {}).items():
        if block_id not in values:
            raise KeyError(f"no input block {block_id!r} in view; inputs: {sorted(values)}")
        (entry,) = values[block_id].values()
        entry.update(fields)
    return values


def form_payload_body(payload: dict) -> str:
    return "payload=" + quote_plus(json.dumps(payload, separators=(",", ":")))


def post_signed(url: str, body: str, signing_secret: str, timestamp: int | None = None,
                timeout: float = 10) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body.encode("utf-8"), method="POST",
                                     headers=sign(signing_secret, body, timestamp))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
