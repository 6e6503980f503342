"""Reading the attention controls' payloads ("I'm on it", Snooze, Mute, Unmute, the mute form): the values
renewbot/blocks/attention.py put in them, read defensively like everything in handlers/payload.py.

With handlers/payload.py, the only place that digs in a payload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handlers.payload import dig, token_ref
from renewbot.blocks import ids
from renewbot.usecases.attention import NoticeRef

MAX_VALUE = 3000  # Slack's private_metadata limit: anything longer is not ours


def _json_object(value: Any) -> dict:
    if not isinstance(value, str) or len(value) > MAX_VALUE:
        return {}
    try:
        loaded = json.loads(value)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _notice_ref(token_id: Any, fields: dict) -> NoticeRef | None:
    token_id, expires_at, stage = token_ref(token_id), _moment(fields.get("e")), fields.get("s")
    if token_id is None or expires_at is None or not isinstance(stage, str) or not 0 < len(stage) <= 20:
        return None
    return NoticeRef(token_id=token_id, expires_at=expires_at, stage=stage)


@dataclass(frozen=True)
class AttentionClick:
    """A click on a notice's attention control: which notice (None when unreadable), who, and where."""
    ref: NoticeRef | None
    user_id: str
    channel: str | None
    trigger_id: str | None
    days: int | None = None  # the snooze length picked


def _message_token(body: Any) -> Any:
    """The token id of the clicked message, from its Renew button (a snooze option has no room for it)."""
    blocks = dig(body, "message", "blocks")
    for block in blocks if isinstance(blocks, list) else ():
        elements = dig(block, "elements")
        for element in elements if isinstance(elements, list) else ():
            if isinstance(element, dict) and element.get("action_id") == ids.RENEW_BUTTON:
                return element.get("value")
    return None


def read_attention_click(body: Any) -> AttentionClick:
    channel = dig(body, "channel", "id") or dig(body, "container", "channel_id")
    action = dig(body, "actions", 0)
    days = None
    if dig(action, "action_id") == ids.SNOOZE_SELECT:
        fields = _json_object(dig(action, "selected_option", "value"))
        ref = _notice_ref(_message_token(body), fields)
        days = fields.get("d") if type(fields.get("d")) is int else None
    else:
        fields = _json_object(dig(action, "value"))
        ref = _notice_ref(fields.get("t"), fields)
    return AttentionClick(ref=ref, user_id=str(dig(body, "user", "id")), channel=_string(channel),
                          trigger_id=_string(dig(body, "trigger_id")), days=days)


@dataclass(frozen=True)
class MuteSubmission:
    """The mute form, submitted: the notice it was opened from (None when unreadable), who, and what they chose."""
    ref: NoticeRef | None
    user_id: str
    reason: str | None
    text: str | None


def read_mute_submission(body: Any) -> MuteSubmission:
    meta = _json_object(dig(body, "view", "private_metadata"))
    values = dig(body, "view", "state", "values")
    values = values if isinstance(values, dict) else {}
    return MuteSubmission(ref=_notice_ref(meta.get("t"), meta), user_id=str(dig(body, "user", "id")),
                          reason=_string(dig(values, ids.MUTE_REASON_BLOCK, ids.MUTE_REASON_INPUT,
                                             "selected_option", "value")),
                          text=_string(dig(values, ids.MUTE_TEXT_BLOCK, ids.MUTE_TEXT_INPUT, "value")))
