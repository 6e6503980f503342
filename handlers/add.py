"""`/renew-token add`: opening the modal that registers a new token, its submission, and its user-group picker.

Who may add: the users and user groups in RENEWBOT_ADMINS when set, else any full member of the workspace
(who then becomes an owner). Checked when the modal opens and again when it is submitted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from handlers.access import Access
from handlers.lookups import FormLookups
from handlers.payload import dig, read_add_form, read_suggestion
from renewbot.blocks import ids
from renewbot.blocks.add import (
    add_modal,
    added_view,
    channel_problem_text,
    group_options,
    not_allowed_to_add_text,
)
from renewbot.domain.patterns import is_channel_id
from renewbot.runtime.deps import Deps
from renewbot.usecases import add_token as usecase
from storage.db import session_scope

logger = logging.getLogger(__name__)

GROUPS_TTL_SECONDS = 180.0  # usergroups.list changes rarely; the picker asks on every keystroke
GROUPS_FAILURE_TTL_SECONDS = 15.0

# Where each field's problem is shown.
_BLOCK = {usecase.NAME: ids.ADD_NAME_BLOCK, usecase.ID: ids.ADD_ID_BLOCK, usecase.KIND: ids.ADD_KIND_BLOCK,
          usecase.MARKETPLACE: ids.ADD_MARKETPLACE_BLOCK, usecase.EXPIRY: ids.ADD_EXPIRY_BLOCK,
          usecase.CHANNEL: ids.ADD_CHANNEL_BLOCK, usecase.OWNERS: ids.ADD_OWNER_USERS_BLOCK,
          usecase.GROUPS: ids.ADD_OWNER_GROUPS_BLOCK, usecase.ACCOUNTS: ids.ADD_ACCOUNTS_BLOCK}


class UserGroups:
    """usergroups.list, kept a few minutes: (id, handle, name) of the workspace's enabled groups."""

    def __init__(self, client, *, ttl: float = GROUPS_TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._client, self._ttl, self._clock = client, ttl, clock
        self._lock = threading.Lock()
        self._value: tuple[float, list[tuple[str, str, str]] | None] | None = None

    def get(self) -> list[tuple[str, str, str]] | None:
        with self._lock:  # one call at a time: a burst of keystrokes waits for the first answer
            if self._value is not None and self._value[0] > self._clock():
                return self._value[1]
            try:
                groups = self._client.usergroups_list(include_disabled=False).get("usergroups") or []
                found = [(g["id"], str(g.get("handle") or g["id"]), str(g.get("name") or ""))
                         for g in groups if isinstance(g, dict) and isinstance(g.get("id"), str)
                         and not g.get("date_delete")]
                self._value = (self._clock() + self._ttl, found)
            except Exception as exc:
                why = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
                logger.warning("cannot read the user groups (usergroups.list): %s", why)
                self._value = (self._clock() + GROUPS_FAILURE_TTL_SECONDS, None)
            return self._value[1]


def register(app: App, *, deps: Deps, lookups: FormLookups, access: Access, admins: tuple[str, ...]) -> None:
    groups = UserGroups(app.client)

    @app.view(ids.ADD_MODAL)
    def _submitted(ack, body, client):
        on_add_submit(ack=ack, body=body, client=client, deps=deps, access=access, admins=admins)
        lookups.invalidate()  # the pickers list the new token at once

    @app.options(ids.OWNER_GROUP_SEARCH)
    def _groups(ack, body):
        ack(options=group_options(groups.get() or [], read_suggestion(body).query))


def open_add_modal(*, deps: Deps, access: Access, admins: tuple[str, ...], client, user_id: str, trigger_id: str,
                   channel: str | None, name: str | None, tell: Callable[[str], None]) -> bool:
    """Opens the add modal, or tells the person why they may not add tokens. Returns whether it opened."""
    decision = access.may_add(user_id, admins)
    if not decision.allowed:
        tell(not_allowed_to_add_text(decision.why, admins))
        return False
    with session_scope(deps.engine) as session:
        kinds = usecase.kind_choices(session=session)
    client.views_open(trigger_id=trigger_id, view=add_modal(kinds=kinds, adder_becomes_owner=not admins,
                                                            channel=channel, name=name))
    return True


def channel_problem(client, channel: str) -> str | None:
    """What stops notices reaching `channel`, as the inline error; None when the bot is in it."""
    try:
        info = client.conversations_info(channel=channel).get("channel") or {}
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error == "channel_not_found":  # a private channel the bot is not in is invisible to it
            return channel_problem_text("not_member", channel)
        logger.warning("cannot read channel %s: %s", channel, error)
        return channel_problem_text("unverified", channel)
    except Exception as exc:
        logger.warning("cannot read channel %s: %s", channel, type(exc).__name__)
        return channel_problem_text("unverified", channel)
    if info.get("is_archived"):
        return channel_problem_text("archived", channel)
    if not info.get("is_member"):
        return channel_problem_text("not_member", channel)
    return None


def on_add_submit(*, ack, body: dict, client, deps: Deps, access: Access, admins: tuple[str, ...]) -> None:
    """Checks who and what (Slack first, then one transaction) inside Slack's 3 s, so every problem is inline."""
    user_id = dig(body, "user", "id")
    form = read_add_form(dig(body, "view", "state", "values"))
    decision = access.may_add(user_id, admins) if isinstance(user_id, str) else None
    if decision is None or not decision.allowed:
        why = decision.why if decision is not None else "unverified"
        return ack(response_action="errors", errors={ids.ADD_NAME_BLOCK: not_allowed_to_add_text(why, admins)})
    problem = channel_problem(client, form.channel) if is_channel_id(form.channel) else None
    try:
        outcome = usecase.add_token(engine=deps.engine, form=form, now=deps.clock(),
                                    adder=None if admins else user_id, channel_problem=problem)
    except usecase.AddRejected as exc:
        return ack(response_action="errors", errors={_BLOCK[f]: m for f, m in exc.errors.items()})
    except Exception:
        logger.exception("adding a token failed; nothing was saved")
        return ack(response_action="errors",
                   errors={ids.ADD_NAME_BLOCK: "renewbot could not save this (nothing was saved). Try again."})
    ack(response_action="update", view=added_view(outcome, now_date=deps.clock().date()))
    logger.info("token %s added by %s: kind %s, expires %s, channel %s, %d owner(s), %d account(s)",
                outcome.token_id, user_id, form.kind, outcome.expires_at.date(), outcome.channel,
                len(outcome.owners), len(outcome.accounts))
