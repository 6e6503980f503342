"""A notice: the message the scheduler posts when a token crosses a threshold."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from renewbot.blocks import ids
from renewbot.blocks.attention import attention_block, attention_controls, element_label
from renewbot.blocks.common import (
    MAX_FIELD_TEXT,
    MAX_HEADER_TEXT,
    button,
    clip,
    context,
    escape,
    link_target,
    mrkdwn,
    plain,
    section,
    slack_date,
    ymd,
)
from renewbot.domain.kinds import Kind, resolve
from renewbot.domain.thresholds import EXPIRED, days_left, describe_days_left
from renewbot.usecases.attention import Attention
from storage.models import Account, Token


def kind_label(kind: str) -> str:
    return resolve(kind).label


def notice_text(token: Token, stage: str, now: datetime) -> str:
    """The top-level fallback: names the token and the date for notifications and screen readers."""
    when, name = ymd(token.expires_at), escape(token.name)
    if stage == EXPIRED:
        return f"{name} ({token.kind}) expired on {when}: renew it now"
    return f"{name} ({token.kind}) expires on {when}: {describe_days_left(token.expires_at, now)}"


def accounts_text(accounts: Sequence[Account]) -> str:
    if not accounts:
        return "none listed"
    parts = []
    for a in accounts:
        name = escape(a.name)
        label = f"<{link_target(a.settings_url)}|{name}>" if a.settings_url else name
        flags = "on" if a.enabled else "off"
        if not a.enabled and a.state_reason:  # switched off by the platform, which said why (plain text)
            flags += f": {escape(clip(a.state_reason, 100))}"
        parts.append(f"{label} ({flags})")
    return clip(", ".join(parts), MAX_FIELD_TEXT - 20)


def settings_url(accounts: Sequence[Account]) -> str | None:
    return next((a.settings_url for a in accounts if a.settings_url), None)


def notice_buttons(token: Token, accounts: Sequence[Account], stage: str | None = None, now: datetime | None = None,
                   attention: Attention | None = None) -> list[dict]:
    """The notice's buttons; the dry run lists the same ones by their labels (notice_button_labels).
    With `stage` and `now`, the attention controls follow (blocks/attention.py); a muted token's notice keeps
    only Renew and Unmute."""
    renew = button("Renew", ids.RENEW_BUTTON, value=token.id, style="primary")
    if stage is not None and now is not None and attention is not None and attention.muted:
        return [renew, *attention_controls(token, stage, now, attention)]
    actions = [renew, button("Renewal steps", ids.STEPS_BUTTON, value=token.id)]
    url = settings_url(accounts)
    if url:
        actions.append(button("Open settings", ids.SETTINGS_BUTTON, value=token.id, url=url))
    if stage is not None and now is not None:
        actions += attention_controls(token, stage, now, attention)
    return actions


def notice_button_labels(token: Token, accounts: Sequence[Account], stage: str | None = None,
                         now: datetime | None = None) -> list[str]:
    return [element_label(b) for b in notice_buttons(token, accounts, stage, now)]


def notice_blocks(token: Token, accounts: Sequence[Account], stage: str, now: datetime,
                  kind: Kind | None = None, attention: Attention | None = None) -> list[dict]:
    """`attention`: who acknowledged or snoozed this notice, or muted its token, shown above the buttons."""
    icon = ":rotating_light:" if stage == EXPIRED else ":hourglass_flowing_sand:"
    if stage == EXPIRED:
        headline = f"{token.name} has expired"
    else:
        headline = f"{token.name}: {describe_days_left(token.expires_at, now)}"
    actions = notice_buttons(token, accounts, stage, now, attention)
    line = attention_block(attention)
    return [
        {"type": "header", "text": plain(f"{headline}", MAX_HEADER_TEXT)},
        {
            "type": "section",
            "text": mrkdwn(f"{icon} *{clip(escape(token.name), 500)}* ({escape((kind or resolve(token.kind)).label)}) "
                           f"{'expired' if stage == EXPIRED else 'expires'} {slack_date(token.expires_at)}."),
            "fields": [
                mrkdwn(f"*Token id*\n`{clip(token.id, 200)}`"),
                mrkdwn(f"*Days left*\n{max(0, days_left(token.expires_at, now))}"),
                mrkdwn(f"*Accounts*\n{accounts_text(accounts)}"),
                mrkdwn(f"*Expiry date*\n{ymd(token.expires_at)}"),
            ],
        },
        *([line] if line else []),
        {"type": "actions", "block_id": ids.NOTICE_ACTIONS_BLOCK, "elements": actions},
        context(f"renewbot · {stage} notice · renewing also re-enables the accounts above"),
    ]


def notice_metadata(notice_id: int, token: Token, stage: str, seal: str | None = None) -> dict:
    """`seal` proves the message is ours when a retry finds it in the channel's history (see jobs/deliver)."""
    payload: dict = {"notice_id": notice_id, "token_id": token.id, "stage": stage}
    if seal is not None:
        payload["seal"] = seal
    return {"event_type": ids.NOTICE_EVENT_TYPE, "event_payload": payload}


def resolved_blocks(token_name: str, renewed_by: str | None, old_expiry: datetime, new_expiry: datetime, *,
                    how: str | None = None, after: str = "") -> list[dict]:
    """The notice, edited in place once renewed: no buttons left to press.

    `how` (mrkdwn, escaped by the caller) replaces "by <@renewed_by>" when no person did it; `after` follows
    the dates (", seen on ...").
    """
    how = f"by <@{renewed_by}>" if how is None else how
    return [
        section(f":white_check_mark: *{clip(escape(token_name), 500)}* was renewed {how}: "
                f"expiry {ymd(old_expiry)} → {ymd(new_expiry)} ({slack_date(new_expiry)}){after}."),
        context("renewbot · resolved · details in the thread"),
    ]


def resolved_text(token_name: str, old_expiry: datetime, new_expiry: datetime, *, how: str = "") -> str:
    """The edited notice's fallback; `how` ("outside renewbot") follows "renewed" when given."""
    return f"{escape(token_name)} renewed{f' {how}' if how else ''}: expiry {ymd(old_expiry)} → {ymd(new_expiry)}"
