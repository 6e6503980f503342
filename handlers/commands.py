"""/renew-token [token id or name | list [expired|due|fine] [page N] | help | add [name]]."""

from __future__ import annotations

import logging

from slack_bolt import App

from handlers import home
from handlers.access import Access
from handlers.add import open_add_modal
from handlers.lookups import FormLookups
from handlers.opening import close_matches, nearby_choices, open_renew_modal
from handlers.payload import token_ref
from renewbot.blocks import ids
from renewbot.blocks.help import usage_text
from renewbot.blocks.messages import failure_text, unknown_token_text
from renewbot.runtime.deps import Deps
from renewbot.usecases.overview import parse_list_words

logger = logging.getLogger(__name__)


def register(app: App, *, deps: Deps, lookups: FormLookups, access: Access, admins: tuple[str, ...] = ()) -> None:
    @app.command(ids.RENEW_COMMAND)
    def _renew(ack, command, client, respond):
        on_renew_command(ack=ack, command=command, client=client, respond=respond, deps=deps, lookups=lookups,
                         access=access, admins=admins)


def on_renew_command(*, ack, command: dict, client, respond, deps: Deps, lookups: FormLookups,
                     access: Access, admins: tuple[str, ...] = ()) -> None:
    """A subcommand word wins over a token of that name (`list`, `help`, `add`); such a token is still in the
    picker. `add <words>` opens the renewal form when the whole text names a token, else the add form.
    `list` takes `[expired|due|fine] [[page] N]`; other words after it are read as a token's name."""
    ack()
    raw = command.get("text") if isinstance(command.get("text"), str) else ""
    ref = token_ref(raw, typed=True)
    user_id, channel = command["user_id"], command.get("channel_id")

    def tell(text: str, blocks: list[dict] | None = None) -> None:
        respond(text=text, response_type="ephemeral", **({"blocks": blocks} if blocks else {}))

    def unknown(word: str, matches: list[str]) -> None:
        tell(unknown_token_text(word, matches) + "\n\n" + usage_text(admins_configured=bool(admins)))

    try:
        if raw.strip() and ref is None:  # too long, or control characters: it names no token
            return unknown(raw.strip()[:100], [])
        word, _, rest = (ref or "").partition(" ")
        word = word.lower()
        if word == ids.SUBCOMMAND_HELP and not rest:
            return tell(usage_text(admins_configured=bool(admins)))
        if word == ids.SUBCOMMAND_LIST and (page := parse_list_words(rest)) is not None:
            return home.answer_list(deps=deps, access=access, user_id=user_id, tell=tell, group=page[0],
                                    page=page[1])
        if word == ids.SUBCOMMAND_ADD and (not rest or lookups.token(ref) is None):
            open_add_modal(deps=deps, access=access, admins=admins, client=client, user_id=user_id,
                           trigger_id=command["trigger_id"], channel=channel, name=rest or None, tell=tell)
            return
        if ref is not None and lookups.token(ref) is None:
            return unknown(ref, close_matches(ref, nearby_choices(lookups, access, user_id, ref)))
        open_renew_modal(deps=deps, lookups=lookups, access=access, client=client, user_id=user_id,
                         trigger_id=command["trigger_id"], token_ref=ref, channel=channel, tell=tell)
    except Exception:
        logger.exception("/renew-token failed")
        tell(failure_text())
