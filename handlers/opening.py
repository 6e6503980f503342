"""Opening the renewal modal, shared by the Renew button and /renew-token."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable

from slack_sdk import WebClient

from handlers.access import Access
from handlers.lookups import FormLookups
from renewbot.blocks.messages import not_allowed_text, unknown_token_text
from renewbot.blocks.modal import IN_FORM, renew_modal
from renewbot.runtime.deps import Deps
from renewbot.usecases.amazon import paired_of
from renewbot.usecases.outside_renewal import entry_for

logger = logging.getLogger(__name__)


def close_matches(ref: str, choices: list[tuple[str, str]], limit: int = 5) -> list[str]:
    needle = ref.strip().lower()
    by_key = {}
    for tid, name in choices:
        by_key[tid.lower()] = tid
        by_key[name.lower()] = tid
    found = [by_key[k] for k in difflib.get_close_matches(needle, list(by_key), n=limit, cutoff=0.5)]
    found += [tid for key, tid in by_key.items() if needle and needle in key]
    return list(dict.fromkeys(found))[:limit]


NEARBY = 200  # candidates read per search when a reference names no token


def nearby_choices(lookups: FormLookups, access: Access, user_id: str, ref: str) -> list[tuple[str, str]]:
    """Tokens this person may renew whose name or id resembles `ref`, from two bounded searches (what was typed,
    then its first half, which catches a typo further on) instead of every token."""
    needle = " ".join(ref.split())
    rows = {}
    for query in dict.fromkeys((needle, needle[:max(3, len(needle) // 2)])):
        for row in lookups.search_tokens(query, NEARBY):
            rows.setdefault(row.id, row)
    return access.allowed_choices(user_id, rows.values())


def refusal_text(token, decision) -> str:
    return not_allowed_text(token.name, token.owners, why=decision.why, channel=decision.channel)


def open_renew_modal(*, deps: Deps, lookups: FormLookups, access: Access, client: WebClient, user_id: str,
                     trigger_id: str, token_ref: str | None, channel: str | None,
                     tell: Callable[[str], None]) -> bool:
    """Opens the modal, or tells the person why not. Returns whether a modal was opened."""
    token = lookups.token(token_ref) if token_ref else None
    if token_ref and token is None:
        tell(unknown_token_text(token_ref, close_matches(token_ref, nearby_choices(lookups, access, user_id,
                                                                                  token_ref))))
        return False
    if token is not None:
        decision = access.decide(user_id, token.owners, token.channel)
        if not decision.allowed:
            tell(refusal_text(token, decision))
            return False
    accounts = lookups.accounts(token.id) if token else []
    view = renew_modal(token=token, accounts=accounts, today=deps.clock().date(), channel=channel,
                       kind=lookups.kind(token.kind) if token else None, paired=paired_of(token, engine=deps.engine),
                       entry=entry_for(token, deps.entry) if token else IN_FORM)
    client.views_open(trigger_id=trigger_id, view=view)
    return True
