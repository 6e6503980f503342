"""Options loads (block_suggestion) for the external selects: the token picker and the account pickers.

Slack shows the options only if the answer (the ack itself) comes within 3 seconds, so the work here is bounded:
a few LIMIT-ed queries (storage/search.py) and the access rule on at most SCAN_LIMIT candidates.
"""

from __future__ import annotations

import logging

from slack_bolt import App

from handlers.access import Access
from handlers.lookups import FormLookups
from handlers.payload import Suggestion, read_suggestion
from renewbot.blocks import ids
from renewbot.blocks.common import MAX_OPTIONS_SELECT
from renewbot.blocks.modal import account_option, token_option
from renewbot.runtime.deps import Deps

logger = logging.getLogger(__name__)

# Candidates read first: a full answer when the person may renew what matches, and the substring phase is
# skipped whenever the prefix phases already found this many.
FIRST_PAGE = MAX_OPTIONS_SELECT
# At most this many candidates are judged per keystroke. Someone who may renew only a few of many matching
# tokens may not see all of theirs for a short query; typing more of the name narrows the candidates to them.
SCAN_LIMIT = 2000
MAX_VALUE = 150  # Slack's limit on an option's value; longer ids cannot be offered


def register(app: App, *, deps: Deps, lookups: FormLookups, access: Access) -> None:
    @app.options(ids.TOKEN_SEARCH)
    def _tokens(ack, body):
        ack(options=_answer("token", lambda: token_options(lookups, access, read_suggestion(body))))

    @app.options(ids.ACCOUNT_SEARCH)
    def _accounts(ack, body):
        ack(options=_answer("account", lambda: account_options(lookups, read_suggestion(body))))


def _answer(what: str, options) -> list[dict]:
    try:
        return options()
    except Exception:
        logger.exception("could not load %s options", what)
        return []


def token_options(lookups: FormLookups, access: Access, asked: Suggestion) -> list[dict]:
    """The tokens this person may renew that match what they typed, in the search's order, at most 100."""
    if asked.user_id is None:
        return []
    rows = lookups.search_tokens(asked.query, FIRST_PAGE)
    allowed = access.allowed_choices(asked.user_id, rows)
    if len(allowed) < MAX_OPTIONS_SELECT and len(rows) == FIRST_PAGE:
        # Few of the first candidates are theirs: judge more (the first ones' decisions are cached by now).
        allowed = access.allowed_choices(asked.user_id, lookups.search_tokens(asked.query, SCAN_LIMIT))
    return [token_option(tid, name) for tid, name in allowed if len(tid) <= MAX_VALUE][:MAX_OPTIONS_SELECT]


def account_options(lookups: FormLookups, asked: Suggestion) -> list[dict]:
    """In the renewal form, the accounts of its token; in the add form, every account in service."""
    if asked.callback_id == ids.RENEW_MODAL:
        if asked.state.token_id is None:
            return []
        rows = lookups.search_accounts(asked.query, MAX_OPTIONS_SELECT, token_id=asked.state.token_id)
    elif asked.callback_id == ids.ADD_MODAL:
        rows = lookups.search_accounts(asked.query, MAX_OPTIONS_SELECT)
    else:
        return []
    return [account_option(r.id, r.name) for r in rows if len(r.id) <= MAX_VALUE]
