"""Which tokens a person sees on the Home tab and in `/renew-token list`, grouped Expired / Due / Fine.

Who sees what:
  - everyone sees the tokens that name them in `owners`, or name a user group they are in;
  - a full member of the workspace also sees every token whose channel they are a member of, whatever its
    owners (owners ["*"] included: "*" says who may renew, not that a token belongs on everyone's Home, so a
    "*" token shows for the members of its channel like any other);
  - a guest, a Slack Connect user or a deactivated account sees only the tokens naming them (or their group).
Retired tokens never show. When Slack cannot say something (users.info, users.conversations or a group's
members), only what is certain is shown and `complete` is False, so the view can say so.

Slack calls, each cached by handlers.access.Access: one users.info, one paged users.conversations, and the user
groups named in some token's owners (one usergroups.users.list each, or one usergroups.list for all when more
than a few are unknown). None is made while a transaction is open.

`/renew-token list` pages through the same overview (LIST_ROWS tokens a page), optionally one group only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from renewbot.domain.kinds import resolve
from renewbot.domain.patterns import OWNER_WILDCARD, is_group
from renewbot.usecases.attention import Attention
from renewbot.usecases.kinds import team_kinds
from storage import home as store
from storage.db import session_scope
from storage.home import TokenLine
from storage.models import Account

EXPIRED, DUE, FINE = "expired", "due", "fine"
GROUPS = (EXPIRED, DUE, FINE)  # most urgent first
# What the person is shown: tokens naming them and their channels' tokens, or only the tokens naming them.
SCOPE_CHANNELS, SCOPE_NAMED = "channels", "named"
UNVERIFIED = "unverified"  # handlers.access's reason when Slack could not say
MAX_PAGE_DIGITS = 6  # a longer number is no page of anyone's list


class People(Protocol):
    """What the overview asks Slack (handlers.access.Access answers it, cached)."""

    def decide(self, user_id: str, owners: Sequence[str], channel: str | None) -> Any: ...
    def channels_of(self, user_id: str) -> frozenset[str] | None: ...
    def group_members(self, group: str) -> frozenset[str] | None: ...
    def load_groups(self, groups: Iterable[str]) -> None: ...


def group_of(line: TokenLine, now: datetime) -> str:
    """Expired; Due once a notice threshold is reached (now >= notify_from); else Fine (so is an unknown expiry)."""
    if not line.expiry_known:
        return FINE
    if line.expires_at <= now:
        return EXPIRED
    return DUE if now >= line.notify_from else FINE


def by_urgency(lines: Iterable[TokenLine], now: datetime) -> list[TokenLine]:
    """Expired, then Due, then Fine; by expiry within each group (then name and id, so the order is stable)."""
    return sorted(lines, key=lambda t: (GROUPS.index(group_of(t, now)), t.expires_at, t.name.lower(), t.id))


@dataclass(frozen=True)
class Sight:
    """What Slack said about one person: the groups they are in, the channels whose tokens they see."""
    user_id: str
    groups: frozenset[str]
    channels: frozenset[str]
    scope: str
    complete: bool  # False when some answer was missing: only what is certain counts


def look(people: People, user_id: str, groups: Iterable[str]) -> Sight:
    complete = True
    mine: set[str] = set()
    groups = sorted(set(groups))
    people.load_groups(groups)  # many unknown groups: one call for all, not one each
    for group in groups:
        members = people.group_members(group)
        if members is None:
            complete = False
        elif user_id in members:
            mine.add(group)
    # Access's rule for owners ["*"] is exactly "an active full member of this workspace".
    member = people.decide(user_id, [OWNER_WILDCARD], None)
    if member.allowed:
        channels = people.channels_of(user_id)
        if channels is None:
            return Sight(user_id, frozenset(mine), frozenset(), SCOPE_CHANNELS, False)
        return Sight(user_id, frozenset(mine), channels, SCOPE_CHANNELS, complete)
    # "unverified": Slack could not say whether this is a full member; guests and others are named-only for sure.
    return Sight(user_id, frozenset(mine), frozenset(), SCOPE_NAMED, complete and member.why != UNVERIFIED)


def sees(sight: Sight, line: TokenLine) -> bool:
    if sight.user_id in line.owners or any(o in sight.groups for o in line.owners):
        return True
    return sight.scope == SCOPE_CHANNELS and line.channel in sight.channels


@dataclass(frozen=True)
class Entry:
    line: TokenLine
    group: str
    kind_label: str
    accounts: tuple[Account, ...] = ()
    permalink: str | None = None  # the token's open notice
    attention: Attention | None = None  # muted, or who acknowledged or snoozed its open notice


@dataclass(frozen=True)
class Overview:
    entries: tuple[Entry, ...]  # most urgent first; may be fewer than the visible tokens (see counts)
    counts: Mapping[str, int] = field(default_factory=dict)  # every visible token, per group
    scope: str = SCOPE_CHANNELS
    complete: bool = True
    group: str | None = None  # entries only from this group (a filtered list), or from all
    offset: int = 0  # how many matching tokens come before the first entry (a later page of the list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def matching(self) -> int:
        """The visible tokens in `group` (all of them without one): what entries are a window of."""
        return self.counts.get(self.group, 0) if self.group else self.total


def parse_list_words(words: str) -> tuple[str | None, int] | None:
    """What follows `/renew-token list`: `[expired|due|fine] [[page] N]` -> (group or None, page from 1);
    None when the words are something else (a token's name, say)."""
    parts = words.lower().split()
    group = parts.pop(0) if parts and parts[0] in GROUPS else None
    if parts and parts[0] == "page":
        parts.pop(0)
        if not parts:
            return None
    if not parts:
        return group, 1
    if len(parts) == 1 and parts[0].isascii() and parts[0].isdigit() and len(parts[0]) <= MAX_PAGE_DIGITS:
        return (group, int(parts[0])) if int(parts[0]) >= 1 else None
    return None


def arrange(lines: Sequence[TokenLine], now: datetime, *, labels: Mapping[str, str] | None = None,
            accounts: Mapping[str, Sequence[Account]] | None = None,
            links: Mapping[str, store.OpenNotice] | None = None,
            scope: str = SCOPE_CHANNELS, complete: bool = True, limit: int | None = None,
            group: str | None = None, offset: int = 0) -> Overview:
    """The visible lines, ordered and counted; `limit` of those in `group` (all without one) from `offset` on
    become entries (pure: tests build with it)."""
    ordered = by_urgency(lines, now)
    counts = {g: 0 for g in GROUPS}
    for line in ordered:
        counts[group_of(line, now)] += 1
    labels, accounts, links = labels or {}, accounts or {}, links or {}
    entries = tuple(Entry(line=t, group=group_of(t, now), kind_label=labels.get(t.kind) or resolve(t.kind).label,
                          accounts=tuple(accounts.get(t.id) or ()),
                          permalink=links[t.id].permalink if t.id in links else None,
                          attention=_attention(t, links.get(t.id), now))
                    for t in window(ordered, now, group=group, offset=offset, limit=limit))
    return Overview(entries=entries, counts=counts, scope=scope, complete=complete, group=group, offset=offset)


def window(ordered: Sequence[TokenLine], now: datetime, *, group: str | None, offset: int,
           limit: int | None) -> Sequence[TokenLine]:
    """The lines a page shows: those of `group` (all without one), `limit` of them from `offset` on."""
    matching = ordered if group is None else [t for t in ordered if group_of(t, now) == group]
    return matching[offset:None if limit is None else offset + limit]


def _attention(line: TokenLine, notice: store.OpenNotice | None, now: datetime) -> Attention | None:
    attention = Attention.at(now, acked_by=notice.acked_by if notice else None,
                             acked_at=notice.acked_at if notice else None,
                             snoozed_until=notice.snoozed_until if notice else None,
                             snoozed_by=notice.snoozed_by if notice else None,
                             muted_by=line.muted_by, mute_reason=line.mute_reason)
    return attention if attention != Attention() else None


def overview_for(*, engine: Engine, people: People, user_id: str, now: datetime, limit: int,
                 group: str | None = None, offset: int = 0) -> Overview:
    """The person's overview; accounts and notice links are read only for the `limit` tokens shown (the most
    urgent ones of `group`, or of all, from `offset` on).

    Statements: one for every token, then (for the shown ones) accounts, notices and the team's kinds.
    """
    with session_scope(engine) as session:
        lines = store.token_lines(session=session)
    groups = {o for t in lines for o in t.owners if is_group(o)}
    sight = look(people, user_id, groups)
    visible = by_urgency([t for t in lines if sees(sight, t)], now)
    shown = window(visible, now, group=group, offset=offset, limit=limit)
    head = [t.id for t in shown]
    with session_scope(engine) as session:
        accounts = store.accounts_of(session=session, token_ids=head)
        links = store.open_notices(session=session, token_ids=head)
        kinds = team_kinds(session=session)
    labels = {t.kind: resolve(t.kind, kinds).label for t in shown}
    return arrange(visible, now, labels=labels, accounts=accounts, links=links, scope=sight.scope,
                   complete=sight.complete, limit=limit, group=group, offset=offset)
