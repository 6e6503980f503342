"""The kinds a database knows: the built-in table plus those a team defined in its import file."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session

from renewbot.domain.kinds import BUILTIN_KINDS, Kind, resolve
from renewbot.domain.thresholds import ladder_for, stage_for
from storage import queries
from storage.models import Token


def team_kinds(*, session: Session) -> dict[str, Kind]:
    """Team-defined kinds by id, as domain objects; resolve a token's kind with kinds.resolve(id, these)."""
    return {row.id: Kind(id=row.id, label=row.label, pattern=row.pattern, pattern_message=row.pattern_message,
                         lifetime_days=row.lifetime_days, steps=tuple(row.steps),
                         notify_days=tuple(row.notify_days) if row.notify_days else None,
                         reminder=row.reminder or Kind.reminder)
            for row in queries.list_kinds(session=session)}


def ladders(*, session: Session) -> dict[str, tuple[int, ...]]:
    """Each kind's own reminder ladder (built-in or the team's), for tokens that set none (one small read per scan)."""
    kinds = {**BUILTIN_KINDS, **team_kinds(session=session)}
    return {kind_id: kind.notify_days for kind_id, kind in kinds.items() if kind.notify_days}


def token_stage(token: Token, now: datetime, kind_ladders: Mapping[str, tuple[int, ...]]) -> str:
    """The token's stage now, on its own ladder, else its kind's, else renewbot's default."""
    return stage_for(token.expires_at, now, ladder_for(token.notify_days or kind_ladders.get(token.kind)))


def kind_of(token: Token, *, session: Session) -> Kind:
    """The token's kind; reads the team's kinds only when it is not a built-in one."""
    return resolve(token.kind) if token.kind in BUILTIN_KINDS else resolve(token.kind, team_kinds(session=session))
