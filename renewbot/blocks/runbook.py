"""The provider-side steps a person still does by hand, as the token's kind lists them.

A kind's texts hold placeholders filled here from the token: `{app}` (its app), `{manage_apps}` (Seller Central's
Manage Your Apps, linked to the token's marketplace when it names one). `paired` are the tokens renewed together
with this one (renewbot.usecases.amazon.paired_tokens): each gets the kind table's PAIR_NOTE.
"""

from __future__ import annotations

from collections.abc import Sequence

from renewbot.blocks.common import clip, context, escape, link_target, section
from renewbot.domain.kinds import APP, MANAGE_APPS, PAIR_NOTE, Kind, resolve
from renewbot.domain.marketplaces import marketplace
from storage.models import Token

MANAGE_APPS_LABEL = "Manage Your Apps"
MAX_PAIRED_SHOWN = 5  # a seller with more is an import mistake; the steps stay readable


def _app(token: Token) -> str:
    return f"app ID *{escape(token.app_id)}*" if token.app_id else "the app your team uses for this integration"


def _manage_apps(token: Token) -> str:
    place = marketplace(token.marketplace)
    return f"<{link_target(place.manage_apps_url)}|{MANAGE_APPS_LABEL}>" if place else MANAGE_APPS_LABEL


def _filled(text: str, token: Token) -> str:
    # {app} last: an app id is escaped but could still spell "{manage_apps}", and must stay the app id.
    return text.replace(MANAGE_APPS, _manage_apps(token)).replace(APP, _app(token))


def _pair_notes(token: Token, paired: Sequence[Token]) -> list[str]:
    # The names go in last, so a name that spells a placeholder stays as it is.
    notes = [_filled(PAIR_NOTE, token).replace("{other_label}", escape(resolve(other.kind).label))
             .replace("{other}", f"*{clip(escape(other.name), 100)}*") for other in paired[:MAX_PAIRED_SHOWN]]
    if len(paired) > MAX_PAIRED_SHOWN:
        notes.append(f"…and {len(paired) - MAX_PAIRED_SHOWN} more tokens of this seller.")
    return notes


def runbook_steps(token: Token, kind: Kind | None = None) -> list[str]:
    kind = kind or resolve(token.kind)
    return [_filled(step, token) for step in kind.steps]


def provider_reminder(token: Token, kind: Kind | None = None, *, paired: Sequence[Token] = ()) -> str:
    return " ".join([_filled((kind or resolve(token.kind)).reminder, token), *_pair_notes(token, paired)])


def runbook_blocks(token: Token, kind: Kind | None = None, *, paired: Sequence[Token] = ()) -> list[dict]:
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(runbook_steps(token, kind), 1))
    notes = "".join(f"\n\n:link: {note}" for note in _pair_notes(token, paired))
    return [
        section(f"*How to renew {clip(escape(token.name), 200)}*\n{steps}{notes}"),
        context("renewbot · renewal steps"),
    ]


def runbook_text(token: Token) -> str:
    return f"Renewal steps for {escape(token.name)} (expires {token.expires_at:%Y-%m-%d})"
