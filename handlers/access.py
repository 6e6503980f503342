"""Who may act on a token (open its form, pick it, submit it), decided from its owners and Slack's answers.

The rule, in order:
  1. a user named in `owners` may act;
  2. so may a member of a user group named in `owners` (a group is explicit naming too);
  3. otherwise guests (`is_restricted` / `is_ultra_restricted`) and people of another team (Slack Connect)
     may not, nor may deactivated accounts and bots;
  4. a token with no owners is for the members of its channel;
  5. `owners` containing "*" is for every full member of the workspace.
Anything Slack does not answer refuses (fail closed), with a warning in the log.

Slack's answers are kept for a few minutes (TTL_SECONDS), failures for a few seconds, so a burst of clicks
costs one users.info per person, one conversations.members per channel (or one users.conversations per
person when a picker spans many channels) and one usergroups.users.list per group (or one usergroups.list for
all of them when many are unknown), never one call per click. Concurrent lookups of the same key share one call.
A group Slack says does not exist (no_such_subteam) or lists as disabled names no one: that is an answer, kept
like any other, so such a group in one token's owners does not make every decision about it "unverified".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from handlers.slack_cache import PAGE_SIZE, TTLCache, Unavailable, answer, paged
from renewbot.domain.patterns import OWNER_WILDCARD, is_group

logger = logging.getLogger(__name__)

WILDCARD = OWNER_WILDCARD
TTL_SECONDS = 180.0
FAILURE_TTL_SECONDS = 15.0  # a failed lookup refuses for this long instead of calling Slack on every click
# A picker needing more unknown channels than this asks for the person's channels in one paged call instead.
PER_CHANNEL_LIMIT = 3
# More unknown user groups than this are read with one usergroups.list (include_users) instead of one each:
# cold, 30 groups one by one would outlast Slack's 3 seconds for an options load.
PER_GROUP_LIMIT = 3
# usergroups.users.list's answers for a group that is gone for good (or a workspace without user groups):
# it names no one, which is an answer, not a failure to get one.
GROUP_GONE = frozenset({"no_such_subteam", "plan_upgrade_required"})

# Why a decision went the way it did; the refusal text is chosen from it.
NAMED, GROUP, CHANNEL_MEMBER, WORKSPACE_MEMBER = "named", "group", "channel", "workspace"
NOT_OWNER, NOT_IN_CHANNEL, GUEST, OTHER_TEAM, NOT_FULL_MEMBER, UNVERIFIED = (
    "not_owner", "not_in_channel", "guest", "other_team", "not_full_member", "unverified")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    why: str
    channel: str | None = None  # the channel whose members the token is for, when that rule applied


@dataclass(frozen=True)
class Person:
    teams: frozenset[str]  # the user's team, and the workspaces of an Enterprise Grid member
    guest: bool
    active: bool  # not deactivated, not a bot


class Access:
    """One per app: decides with cached Slack lookups. `client` is the bot's WebClient."""

    def __init__(self, client, *, team_id: str | None = None, ttl: float = TTL_SECONDS,
                 failure_ttl: float = FAILURE_TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._team = team_id
        kw = dict(ttl=ttl, failure_ttl=failure_ttl, clock=clock)
        self._people = TTLCache(max_entries=20_000, **kw)
        self._channels = TTLCache(max_entries=2_000, **kw)
        self._user_channels = TTLCache(max_entries=5_000, **kw)
        self._groups = TTLCache(max_entries=2_000, **kw)
        self._all_groups = TTLCache(max_entries=1, **kw)
        self._auth = TTLCache(max_entries=1, **kw)

    # --- what Slack says, cached ---------------------------------------------------------------

    def learn_team(self, team_id: object) -> None:
        """The installation's team, as bolt's authorization found it (auth.test); saves our own auth.test."""
        if self._team is None and isinstance(team_id, str) and team_id:
            self._team = team_id

    def team_id(self) -> str | None:
        if self._team is None:
            def load():
                team = answer("auth.test", self._client.auth_test).get("team_id")
                if not isinstance(team, str) or not team:
                    raise Unavailable("auth.test")
                return team
            team = self._auth.get("team", load)
            if team is not None:
                self._team = team
        return self._team

    def person(self, user_id: str) -> Person | None:
        def load() -> Person:
            user = answer(f"user {user_id}", lambda: self._client.users_info(user=user_id)).get("user")
            if not isinstance(user, dict) or user.get("id") != user_id:
                raise Unavailable(user_id)
            grid = user.get("enterprise_user")
            teams = {user.get("team_id")}
            if isinstance(grid, dict) and isinstance(grid.get("teams"), list):
                teams.update(grid["teams"])
            if user.get("is_stranger"):
                teams = set()
            return Person(teams=frozenset(t for t in teams if isinstance(t, str) and t),
                          guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
                          active=not user.get("deleted") and not user.get("is_bot"))
        return self._people.get(user_id, load)

    def channel_members(self, channel: str) -> frozenset[str] | None:
        what = f"the members of {channel}"
        return self._channels.get(channel, lambda: paged(what, lambda cursor: self._client.conversations_members(
            channel=channel, limit=PAGE_SIZE, **({"cursor": cursor} if cursor else {})), "members"))

    def channels_of(self, user_id: str) -> frozenset[str] | None:
        what = f"the channels of {user_id}"

        def page(cursor):
            response = self._client.users_conversations(
                user=user_id, types="public_channel,private_channel", limit=PAGE_SIZE,
                **({"cursor": cursor} if cursor else {}))
            return {"ids": [c.get("id") for c in response.get("channels") or [] if isinstance(c, dict)],
                    "response_metadata": response.get("response_metadata")}
        return self._user_channels.get(user_id, lambda: paged(what, page, "ids"))

    def group_members(self, group: str) -> frozenset[str] | None:
        def ask() -> Any:
            try:
                return self._client.usergroups_users_list(usergroup=group)
            except SlackApiError as exc:
                if exc.response.get("error") not in GROUP_GONE:
                    raise
                logger.warning("user group %s: %s; it names no one", group, exc.response.get("error"))
                return {"users": []}
        return self._groups.get(group, lambda: frozenset(
            u for u in answer(f"user group {group}", ask).get("users") or [] if isinstance(u, str)))

    def load_groups(self, groups: Iterable[str]) -> None:
        """When more than PER_GROUP_LIMIT of these groups are not cached, reads every group's members with one
        usergroups.list and keeps them per group. A disabled group names no one; a group missing from the answer
        is left to group_members (one call each: such groups are rare). A failure is kept for the unknown
        groups, so the call is not repeated per group right after."""
        unknown = [g for g in dict.fromkeys(groups) if is_group(g) and not self._groups.peek(g)[0]]
        if len(unknown) <= PER_GROUP_LIMIT:
            return

        def load() -> dict[str, frozenset[str]]:
            listed = answer("the user groups", lambda: self._client.usergroups_list(include_users=True,
                                                                                    include_disabled=True))
            found = {}
            for group in listed.get("usergroups") or []:
                if isinstance(group, dict) and isinstance(group.get("id"), str):
                    disabled = bool(group.get("date_delete"))
                    found[group["id"]] = frozenset(() if disabled else (
                        u for u in group.get("users") or [] if isinstance(u, str)))
            return found
        everyone = self._all_groups.get("all", load)
        for group in unknown:
            if everyone is None:
                self._groups.put(group, None)
            elif group in everyone:
                self._groups.put(group, everyone[group])

    # --- the rule ------------------------------------------------------------------------------

    def _full_member(self, user_id: str) -> str | None:
        """None for a full member of the installation's workspace, else why not."""
        person = self.person(user_id)
        if person is None:
            return UNVERIFIED
        if person.guest:
            return GUEST
        team = self.team_id()
        if team is None:
            return UNVERIFIED
        if team not in person.teams:
            return OTHER_TEAM
        return None if person.active else NOT_FULL_MEMBER

    def _in_channel(self, user_id: str, channel: str, *, may_fetch: bool = True) -> bool | None:
        found, members = self._channels.peek(channel)
        if found and members is not None:
            return user_id in members
        found, channels = self._user_channels.peek(user_id)
        if found and channels is not None:
            return channel in channels
        if not may_fetch:
            return None
        members = self.channel_members(channel)
        return None if members is None else user_id in members

    def decide(self, user_id: str, owners: Sequence[str], channel: str | None, *,
               _may_fetch_channel: bool = True) -> Decision:
        owners = list(owners or [])
        if not isinstance(user_id, str) or not user_id:
            return Decision(False, UNVERIFIED)
        if user_id in owners:
            return Decision(True, NAMED)
        unread_group = False
        for group in (o for o in owners if is_group(o)):
            members = self.group_members(group)
            unread_group = unread_group or members is None
            if members is not None and user_id in members:
                return Decision(True, GROUP)
        everyone = WILDCARD in owners
        if owners and not everyone:
            return Decision(False, UNVERIFIED if unread_group else NOT_OWNER)
        why_not = self._full_member(user_id)
        if why_not is not None:
            return Decision(False, why_not, None if everyone else channel)
        if everyone:
            return Decision(True, WORKSPACE_MEMBER)
        if not channel:
            return Decision(False, NOT_IN_CHANNEL)
        member = self._in_channel(user_id, channel, may_fetch=_may_fetch_channel)
        if member is None:
            return Decision(False, UNVERIFIED, channel)
        return Decision(member, CHANNEL_MEMBER if member else NOT_IN_CHANNEL, channel)

    def may_act(self, user_id: str, owners: Sequence[str], channel: str | None) -> bool:
        return self.decide(user_id, owners, channel).allowed

    def may_add(self, user_id: str, admins: Sequence[str]) -> Decision:
        """Who may register tokens: a user named in `admins` or a member of a group named there; with no
        admins, every full member (the same rule as owners, with `admins` in place of a token's owners)."""
        return self.decide(user_id, [a for a in admins if a != WILDCARD] or [WILDCARD], None)

    def allowed_choices(self, user_id: str,
                        rows: Iterable[tuple[str, str, Sequence[str], str]]) -> list[tuple[str, str]]:
        """(id, name) of the rows (id, name, owners, channel) this person may act on, in order.

        Cold, this costs one users.info (only if some row needs it), one call per distinct user group (one
        usergroups.list for all when more than PER_GROUP_LIMIT are unknown), and either one
        conversations.members per channel (up to PER_CHANNEL_LIMIT of them) or one paged users.conversations;
        warm, nothing.
        """
        rows = list(rows)
        self.load_groups(o for _, _, owners, _ in rows for o in owners)
        may_fetch = True
        channels = {ch for _, _, owners, ch in rows if not owners and ch and user_id not in owners}
        if channels and self._full_member(user_id) is None:
            unknown = [ch for ch in channels if not self._channels.peek(ch)[0]]
            if len(unknown) > PER_CHANNEL_LIMIT and not self._user_channels.peek(user_id)[0]:
                self.channels_of(user_id)
            found, mine = self._user_channels.peek(user_id)
            if found and mine is None:
                may_fetch = False  # the person's channels could not be read: don't try each channel instead
        return [(tid, name) for tid, name, owners, ch in rows
                if self.decide(user_id, owners, ch, _may_fetch_channel=may_fetch).allowed]
