"""The provider-side steps a person still does by hand, as the token's kind lists them."""

from __future__ import annotations

from renewbot.blocks.common import clip, context, escape, section
from renewbot.domain.kinds import APP, Kind, resolve
from storage.models import Token


def _app(token: Token) -> str:
    return f"app ID *{escape(token.app_id)}*" if token.app_id else "the app your team uses for this integration"


def _with_app(text: str, token: Token) -> str:
    return text.replace(APP, _app(token))


def runbook_steps(token: Token, kind: Kind | None = None) -> list[str]:
    kind = kind or resolve(token.kind)
    return [_with_app(step, token) for step in kind.steps]


def provider_reminder(token: Token, kind: Kind | None = None) -> str:
    return _with_app((kind or resolve(token.kind)).reminder, token)


def runbook_blocks(token: Token, kind: Kind | None = None) -> list[dict]:
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(runbook_steps(token, kind), 1))
    return [
        section(f"*How to renew {clip(escape(token.name), 200)}*\n{steps}"),
        context("renewbot · renewal steps"),
    ]


def runbook_text(token: Token) -> str:
    return f"Renewal steps for {escape(token.name)} (expires {token.expires_at:%Y-%m-%d})"
