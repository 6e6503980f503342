"""The notice's attention controls ("I'm on it", Snooze, Mute, Unmute), its attention line, and the mute form.

A control's value names the notice by its unique key (token id, expiry, stage), so a click on an older
notice finds that notice, closed or not, and never today's. A snooze option's value has no room for a token
id (Slack allows 150 characters): the token comes from the message's Renew button (handlers/payload.py).
"""

from __future__ import annotations

import json
from datetime import datetime

from renewbot.blocks import ids
from renewbot.blocks.common import MAX_CONTEXT_TEXT, button, clip, escape, mrkdwn, plain, section, slack_date, ymd
from renewbot.usecases.attention import MAX_MUTE_TEXT, MUTE_REASONS, SNOOZE_DAYS, Attention, snooze_choices
from storage.models import Token

MUTE_REASON_LABELS = {value: shown.capitalize() for value, shown in MUTE_REASONS.items()}


def notice_ref_value(token: Token, stage: str) -> str:
    return json.dumps({"t": token.id, "e": token.expires_at.isoformat(), "s": stage}, separators=(",", ":"))


def snooze_option_value(days: int, token: Token, stage: str) -> str:
    return json.dumps({"d": days, "e": token.expires_at.isoformat(), "s": stage}, separators=(",", ":"))


def snooze_select(token: Token, stage: str, now: datetime) -> dict | None:
    """The snooze choices that end before the expiry; None (no control at all) when none does."""
    options = [{"text": plain(SNOOZE_DAYS[days], 75), "value": snooze_option_value(days, token, stage)}
               for days in snooze_choices(now, token.expires_at)]
    if not options:
        return None
    return {"type": "static_select", "action_id": ids.SNOOZE_SELECT, "placeholder": plain("Snooze", 150),
            "options": options}


def attention_controls(token: Token, stage: str, now: datetime, attention: Attention | None) -> list[dict]:
    """What a notice offers besides Renew and the steps: Unmute alone when muted, else "I'm on it" (until someone
    is), Snooze (while a snooze fits before the expiry) and Mute."""
    value = notice_ref_value(token, stage)
    attention = attention or Attention()
    if attention.muted:
        return [button("Unmute", ids.UNMUTE_BUTTON, value=value)]
    controls = [] if attention.acked_by else [button("I'm on it", ids.ACK_BUTTON, value=value)]
    if (snooze := snooze_select(token, stage, now)) is not None:
        controls.append(snooze)
    controls.append(button("Mute", ids.MUTE_BUTTON, value=value))
    return controls


def element_label(element: dict) -> str:
    """A control's label as a person reads it (a select shows its placeholder)."""
    return (element.get("text") or element.get("placeholder") or {}).get("text", "")


def attention_lines(attention: Attention | None) -> list[str]:
    if attention is None:
        return []
    lines = []
    if attention.muted:
        since = f" since {slack_date(attention.muted_at)}" if attention.muted_at else ""
        why = f": {escape(clip(attention.mute_reason, 300))}" if attention.mute_reason else ""
        lines.append(f":no_bell: muted by <@{attention.muted_by}>{since}{why}. No notices until its expiry "
                     "changes.")
    if attention.acked_by and attention.acked_at:
        lines.append(f":raised_hand: <@{attention.acked_by}> is on it since {slack_date(attention.acked_at)}")
    if attention.snoozed_until and attention.snoozed_by:
        lines.append(f":zzz: snoozed until {slack_date(attention.snoozed_until)} by <@{attention.snoozed_by}>")
    return lines


def attention_block(attention: Attention | None) -> dict | None:
    """The notice's attention line (a context block), or None when nobody acted on it."""
    lines = attention_lines(attention)
    if not lines:
        return None
    return {"type": "context", "elements": [mrkdwn(clip(line, MAX_CONTEXT_TEXT)) for line in lines]}


def mute_modal(token: Token, stage: str) -> dict:
    """The form remembers only the notice it was opened from (as its Mute button's value): the messages to edit
    after the submission are read from storage then."""
    options = [{"text": plain(label, 75), "value": value} for value, label in MUTE_REASON_LABELS.items()]
    return {
        "type": "modal",
        "callback_id": ids.MUTE_MODAL,
        "private_metadata": notice_ref_value(token, stage),
        "title": plain("Mute notices", 24),
        "submit": plain("Mute", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            section(f"No notices, reminders or escalations about *{clip(escape(token.name), 500)}* while its "
                    f"expiry stays {ymd(token.expires_at)}: a renewal or an import that moves it ends the mute. "
                    "Anyone who may renew it can unmute it from the notice."),
            {"type": "input", "block_id": ids.MUTE_REASON_BLOCK, "label": plain("Why", 2000),
             "element": {"type": "radio_buttons", "action_id": ids.MUTE_REASON_INPUT, "options": options}},
            {"type": "input", "block_id": ids.MUTE_TEXT_BLOCK, "optional": True, "label": plain("Details", 2000),
             "hint": plain("Required when the reason is Other.", 2000),
             "element": {"type": "plain_text_input", "action_id": ids.MUTE_TEXT_INPUT,
                         "max_length": MAX_MUTE_TEXT}},
        ],
    }
