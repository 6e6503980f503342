"""`/renew-token add`: opening the modal that registers a new token, its submission, and its user-group picker.

Who may add: the users and user groups in RENEWBOT_ADMINS when set, else any full member of the workspace
(who then becomes an owner). Checked when the modal opens and again when it is submitted. Without admins, the
adder must also be a member of the token's channel: its notices (and, later, its reminders) mention the owners
there, and nobody should be able to aim a daily ping at a channel they are not part of.
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
GROUPS_FIRST_WAIT_SECONDS = 2.0  # with nothing known yet, a keystroke waits this long for the first answer

# Where each field's problem is shown.
_BLOCK = {usecase.NAME: ids.ADD_NAME_BLOCK, usecase.ID: ids.ADD_ID_BLOCK, usecase.KIND: ids.ADD_KIND_BLOCK,
          usecase.MARKETPLACE: ids.ADD_MARKETPLACE_BLOCK, usecase.EXPIRY: ids.ADD_EXPIRY_BLOCK,
          usecase.CHANNEL: ids.ADD_CHANNEL_BLOCK, usecase.OWNERS: ids.ADD_OWNER_USERS_BLOCK,
          usecase.GROUPS: ids.ADD_OWNER_GROUPS_BLOCK, usecase.ACCOUNTS: ids.ADD_ACCOUNTS_BLOCK}


class UserGroups:
    """usergroups.list, kept a few minutes: (id, handle, name) of the workspace's enabled groups.

    One caller at a time asks Slack, outside the lock: the others get the last list (stale, until the answer),
    or, before any list is known, wait a bounded time for the first answer. A slow usergroups.list never
    queues every keystroke behind it.
    """

    def __init__(self, client, *, ttl: float = GROUPS_TTL_SECONDS, clock: Callable[[], float] = time.monotonic,
                 first_wait: float = GROUPS_FIRST_WAIT_SECONDS):
        self._client, self._ttl, self._clock, self._first_wait = client, ttl, clock, first_wait
        self._lock = threading.Lock()
        self._value: tuple[float, list[tuple[str, str, str]] | None] | None = None  # (fresh until, groups)
        self._refreshing: threading.Event | None = None

    def get(self) -> list[tuple[str, str, str]] | None:
        with self._lock:
            value = self._value
            if value is not None and value[0] > self._clock():
                return value[1]
            flight, mine = self._refreshing, self._refreshing is None
            if mine:
                flight = self._refreshing = threading.Event()
        if not mine:
            if value is not None:
                return value[1]
            flight.wait(self._first_wait)
            with self._lock:
                return self._value[1] if self._value is not None else None
        found, ttl = None, GROUPS_FAILURE_TTL_SECONDS
        try:
            found, ttl = self._load(), self._ttl
        except Exception as exc:
            why = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            logger.warning("cannot read the user groups (usergroups.list): %s", why)
            found = value[1] if value is not None else None  # a failed refresh keeps the list it had
        finally:
            with self._lock:
                self._value = (self._clock() + ttl, found)
                self._refreshing = None
            flight.set()
        return found

    def _load(self) -> list[tuple[str, str, str]]:
        groups = self._client.usergroups_list(include_disabled=False).get("usergroups") or []
        return [(g["id"], str(g.get("handle") or g["id"]), str(g.get("name") or ""))
                for g in groups if isinstance(g, dict) and isinstance(g.get("id"), str) and not g.get("date_delete")]


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


def adder_channel_problem(access: Access, user_id: str, channel: str) -> str | None:
    """Without admins: the inline error when the person adding is not a member of `channel` (or Slack can't say).

    Asked as the person's channels (users.conversations, one page for nearly everyone, often cached by Home)
    rather than the channel's members, which take a page per 1,000 members inside Slack's 3 s.
    """
    mine = access.channels_of(user_id)
    if mine is None:
        return channel_problem_text("unverified", channel)
    return None if channel in mine else channel_problem_text("adder_not_member", channel)


def on_add_submit(*, ack, body: dict, client, deps: Deps, access: Access, admins: tuple[str, ...]) -> None:
    """Checks who and what (Slack first, then one transaction) inside Slack's 3 s, so every problem is inline."""
    user_id = dig(body, "user", "id")
    form = read_add_form(dig(body, "view", "state", "values"))
    decision = access.may_add(user_id, admins) if isinstance(user_id, str) else None
    if decision is None or not decision.allowed:
        why = decision.why if decision is not None else "unverified"
        return ack(response_action="errors", errors={ids.ADD_NAME_BLOCK: not_allowed_to_add_text(why, admins)})
    problem = channel_problem(client, form.channel) if is_channel_id(form.channel) else None
    if problem is None and not admins and is_channel_id(form.channel) and not form.channel.startswith("D"):
        problem = adder_channel_problem(access, user_id, form.channel)
    try:
        outcome = usecase.add_token(engine=deps.engine, form=form, now=deps.clock(),
                                    adder=None if admins else user_id, channel_problem=problem)
    except usecase.AddRejected as exc:
        return ack(response_action="errors", errors={_BLOCK[f]: m for f, m in exc.errors.items()})
    except Exception:
        logger.exception("adding a token failed; nothing was saved")
        return ack(response_action="errors",
                   errors={ids.ADD_NAME_BLOCK: "renewbot could not save this (nothing was saved). Try again."})
    # Logged before the ack: once acknowledged, the answer may reach Slack (and a test) before this line would.
    logger.info("token %s added by %s: kind %s, expires %s, channel %s, %d owner(s), %d account(s)",
                outcome.token_id, user_id, form.kind, outcome.expires_at.date(), outcome.channel,
                len(outcome.owners), len(outcome.accounts))
    ack(response_action="update", view=added_view(outcome, now_date=deps.clock().date()))
