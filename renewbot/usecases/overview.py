"""Which tokens a person sees on the Home tab and in `/renew-token list`, grouped Expired / Due / Fine.

Who sees what:
  - everyone sees the tokens that name them in `owners`, or name a user group they are in;
  - a full member of the workspace also sees every token whose channel they are a member of, whatever its
    owners (owners ["*"] included: "*" says who may renew, not that a token belongs on everyone's Home, so a
    "*" token shows for the members of its channel like any other);
  - a guest, a Slack Connect user or a deactivated account sees only the tokens naming them (or their group).
Retired tokens never show. When Slack cannot say something (users.info, users.conversations or a group's
members), only what is certain is shown and `complete` is False, so the view can say so.

Slack calls, each cached by handlers.access.Access: one users.info, one paged users.conversations, one
usergroups.users.list per user group named in some token's owners. None is made while a transaction is open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from renewbot.domain.kinds import resolve
from renewbot.domain.patterns import OWNER_WILDCARD
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


class People(Protocol):
    """What the overview asks Slack (handlers.access.Access answers it, cached)."""

    def decide(self, user_id: str, owners: Sequence[str], channel: str | None) -> Any: ...
    def channels_of(self, user_id: str) -> frozenset[str] | None: ...
    def group_members(self, group: str) -> frozenset[str] | None: ...


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
    for group in sorted(set(groups)):
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

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def arrange(lines: Sequence[TokenLine], now: datetime, *, labels: Mapping[str, str] | None = None,
            accounts: Mapping[str, Sequence[Account]] | None = None,
            links: Mapping[str, store.OpenNotice] | None = None,
            scope: str = SCOPE_CHANNELS, complete: bool = True, limit: int | None = None) -> Overview:
    """The visible lines, ordered and counted; the first `limit` become entries (pure: tests build with it)."""
    ordered = by_urgency(lines, now)
    counts = {g: 0 for g in GROUPS}
    for line in ordered:
        counts[group_of(line, now)] += 1
    labels, accounts, links = labels or {}, accounts or {}, links or {}
    entries = tuple(Entry(line=t, group=group_of(t, now), kind_label=labels.get(t.kind) or resolve(t.kind).label,
                          accounts=tuple(accounts.get(t.id) or ()),
                          permalink=links[t.id].permalink if t.id in links else None,
                          attention=_attention(t, links.get(t.id), now))
                    for t in ordered[:limit])
    return Overview(entries=entries, counts=counts, scope=scope, complete=complete)


def _attention(line: TokenLine, notice: store.OpenNotice | None, now: datetime) -> Attention | None:
    attention = Attention.at(now, acked_by=notice.acked_by if notice else None,
                             acked_at=notice.acked_at if notice else None,
                             snoozed_until=notice.snoozed_until if notice else None,
                             snoozed_by=notice.snoozed_by if notice else None,
                             muted_by=line.muted_by, mute_reason=line.mute_reason)
    return attention if attention != Attention() else None


def overview_for(*, engine: Engine, people: People, user_id: str, now: datetime, limit: int) -> Overview:
    """The person's overview; accounts and notice links are read only for the `limit` most urgent tokens.

    Statements: one for every token, then (for the shown ones) accounts, notices and the team's kinds.
    """
    with session_scope(engine) as session:
        lines = store.token_lines(session=session)
    groups = {o for t in lines for o in t.owners if o.startswith("S") and o != OWNER_WILDCARD}
    sight = look(people, user_id, groups)
    visible = by_urgency([t for t in lines if sees(sight, t)], now)
    head = [t.id for t in visible[:limit]]
    with session_scope(engine) as session:
        accounts = store.accounts_of(session=session, token_ids=head)
        links = store.open_notices(session=session, token_ids=head)
        kinds = team_kinds(session=session)
    labels = {t.kind: resolve(t.kind, kinds).label for t in visible[:limit]}
    return arrange(visible, now, labels=labels, accounts=accounts, links=links, scope=sight.scope,
                   complete=sight.complete, limit=limit)
