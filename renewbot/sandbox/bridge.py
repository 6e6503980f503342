"""Slack's side of each interaction: what a person does on the page becomes the request Slack would send,
signed as Slack signs it and posted at the bot's real /slack/events; what the bot asks of Slack (open a modal,
answer ephemerally) is read back from the stand-in's record of calls.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field

from renewbot.sandbox import forms
from renewbot.sandbox.slack_requests import (
    app_home_opened_body,
    block_actions_payload,
    block_suggestion_payload,
    form_payload_body,
    post_signed,
    slash_command_body,
    view_submission_payload,
)

SETTLE_QUIET = 0.25  # the bot's listeners run after the ack: wait until the stand-in has been quiet this long
SETTLE_MAX = 4.0


class Refused(ValueError):
    """What the page asked cannot be done (no such view or message); answered as a 400 with this text."""


@dataclass
class Ephemeral:
    user: str
    channel: str
    after_ts: str  # shown below this message of the channel ("" at the top)
    message: dict


@dataclass
class Seen:
    """What the people on the page see besides the stand-in's messages: their modal stacks, ephemerals, and
    the errors of the modal they last submitted."""
    stacks: dict[str, list[str]] = field(default_factory=dict)
    ephemerals: list[Ephemeral] = field(default_factory=list)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)  # view id -> block id -> text
    local_changes: int = 0


class Bridge:
    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.standin = sandbox.standin
        self.seen = Seen()
        self._serial = itertools.count(1)
        self.lock = threading.RLock()
        self._read = 0  # stand-in calls read so far
        self._triggers: dict[str, str] = {}  # trigger id -> who
        self._responses: dict[str, tuple[str, str]] = {}  # response_url name -> (who, channel)

    # --- reading what the bot did ---------------------------------------------------------------------
    def version(self) -> str:
        self.sync()
        return f"{len(self.standin.calls)}.{self.seen.local_changes}"

    def sync(self) -> None:
        with self.lock:
            calls = self.standin.calls
            for call in calls[self._read:]:
                if not call.failed:
                    self._apply(call)
            self._read = len(calls)

    def _apply(self, call) -> None:
        p, reply = call.params, call.reply or {}
        if call.method in ("views.open", "views.push"):
            user = self._triggers.get(str(p.get("trigger_id")))
            view_id = (reply.get("view") or {}).get("id")
            if user and view_id:
                stack = self.seen.stacks.setdefault(user, [])
                self.seen.stacks[user] = [*stack, view_id] if call.method == "views.push" else [view_id]
        elif call.method == "chat.postEphemeral":
            self._ephemeral(str(p.get("user")), str(p.get("channel")), p)
        elif call.method.startswith("response_url:"):
            who = self._responses.get(call.method.split(":", 1)[1])
            if who is not None:  # the bot answers commands only ephemerally ("in_channel" is not used)
                self._ephemeral(*who, p)

    def _ephemeral(self, user: str, channel: str, params: dict) -> None:
        shown = [m for m in self.standin.messages.get(channel, []) if m.get("thread_ts") in (None, m["ts"])]
        message = {"type": "message", "ts": f"e{next(self._serial)}", "text": params.get("text", ""),
                   "blocks": params.get("blocks"), "bot_id": "BBOT", "ephemeral": True}
        self.seen.ephemerals.append(Ephemeral(user, channel, shown[-1]["ts"] if shown else "", message))

    def top_view(self, user: str, views: dict) -> dict | None:
        self.sync()
        stack = self.seen.stacks.get(user) or []
        return views.get(stack[-1]) if stack else None

    # --- what a person does ---------------------------------------------------------------------------
    def _post(self, body: str) -> bytes:
        status, _headers, answer = post_signed(self.sandbox.events_url, body, self.sandbox.signing_secret)
        if status != 200:
            raise Refused(f"the bot answered HTTP {status}")
        return answer

    def _trigger(self, user: str) -> str:
        trigger = f"{next(self._serial)}.{int(time.time())}.sandbox"
        self._triggers[trigger] = user
        return trigger

    def _response_url(self, user: str, channel: str) -> str:
        name = f"r{next(self._serial)}"
        self._responses[name] = (user, channel)
        return self.standin.response_url(name)

    def settle(self) -> None:
        """Returns once the bot's listeners are done with Slack (no call for a moment), or after SETTLE_MAX."""
        deadline, count, quiet_since = time.monotonic() + SETTLE_MAX, len(self.standin.calls), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now_count = len(self.standin.calls)
            if now_count != count:
                count, quiet_since = now_count, time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE_QUIET:
                break
        self.sync()

    def _message(self, channel: str, ts: str) -> dict:
        found = next((m for m in self.standin.messages.get(channel, []) if m["ts"] == ts), None)
        if found is None:
            raise Refused("no such message")
        return {k: v for k, v in found.items() if v is not None and k != "reply_broadcast"}

    def _view(self, user: str, view_id: str) -> dict:
        home = self.standin.home_views.get(user)
        view = home if home is not None and home.get("id") == view_id else self.standin.views.get(view_id)
        if view is None:
            raise Refused("no such view")
        return view

    def click(self, user: str, action: dict, *, channel: str = "", ts: str = "", view_id: str = "",
              values: list | None = None) -> None:
        """A button, select, overflow or date picked in a message (`channel`, `ts`) or in a view (`view_id`)."""
        common = dict(action_id=str(action.get("action_id") or ""), block_id=str(action.get("block_id") or ""),
                      value=action.get("value"), user_id=user, trigger_id=self._trigger(user),
                      action_type=str(action.get("type") or "button"), url=action.get("url") or None,
                      selected_option=action.get("selected_option"))
        if view_id:
            view = self._view(user, view_id)
            if view.get("type") == "modal":
                view = {**view, "state": {"values": forms.state_values(view, values or [])}}
            payload = block_actions_payload(view=view, **common)
        else:
            payload = block_actions_payload(channel_id=channel, message=self._message(channel, ts), message_ts=ts,
                                            response_url=self._response_url(user, channel), **common)
        for key in ("selected_date", "selected_options", "selected_time"):
            if key in action:
                payload["actions"][0][key] = action[key]
        self._post(form_payload_body(payload))
        self.settle()

    def submit(self, user: str, view_id: str, values: list) -> None:
        view = self._view(user, view_id)
        payload = view_submission_payload(view=view, values=forms.state_values(view, values), user_id=user,
                                          trigger_id=self._trigger(user))
        answer = self._post(form_payload_body(payload))
        reply = json.loads(answer) if answer.strip() else {}
        with self.lock:
            self.seen.local_changes += 1
            self.seen.errors.pop(view_id, None)
            stack = self.seen.stacks.get(user) or []
            action = reply.get("response_action")
            if action == "errors":
                self.seen.errors[view_id] = {str(k): str(v) for k, v in (reply.get("errors") or {}).items()}
            elif action == "update" and isinstance(reply.get("view"), dict):
                self.standin.put_view(view_id, reply["view"])
            elif action == "push" and isinstance(reply.get("view"), dict):
                stack.append(self.standin.put_view(None, reply["view"])["id"])
            elif action == "clear":
                stack.clear()
            elif view_id in stack:
                stack.remove(view_id)
            self.seen.stacks[user] = stack
        self.settle()

    def close(self, user: str, view_id: str) -> None:
        with self.lock:
            stack = self.seen.stacks.get(user) or []
            self.seen.stacks[user] = [v for v in stack if v != view_id]
            self.seen.errors.pop(view_id, None)
            self.seen.local_changes += 1

    def suggest(self, user: str, view_id: str, action_id: str, block_id: str, value: str) -> list[dict]:
        """The options of an external select for what was typed: the bot's options load answer."""
        view = self._view(user, view_id)
        payload = block_suggestion_payload(action_id=action_id, block_id=block_id, value=value, view=view,
                                           user_id=user)
        answer = json.loads(self._post(form_payload_body(payload)) or b"{}")
        options = list(answer.get("options") or [])
        for group in answer.get("option_groups") or []:
            options += group.get("options") or []
        return options

    def command(self, user: str, channel: str, text: str) -> None:
        body = slash_command_body(text=text, user_id=user, channel_id=channel, trigger_id=self._trigger(user),
                                  response_url=self._response_url(user, channel), user_name=user.lower())
        answer = self._post(body)
        if answer.strip():  # an ack with a message: Slack shows it to the person only
            reply = json.loads(answer)
            if reply.get("text") or reply.get("blocks"):
                with self.lock:
                    self._ephemeral(user, channel, reply)
                    self.seen.local_changes += 1
        self.settle()

    def open_home(self, user: str) -> None:
        self._post(app_home_opened_body(user))
        self.settle()
