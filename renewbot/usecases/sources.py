"""Expiry read from the live credential (`source: tls://host:port`): what a reading changes. No network, no Slack.

The job (jobs/sources.py) reads every source with no transaction open, then hands each reading to
`apply_reading`, one short transaction per token. The rules:
- the first good read of a token whose expiry is unknown sets it (nothing to tell: no notice existed);
- a later notAfter is a renewal done outside renewbot: the expiry moves (version bumped, so an open form
  refuses), open notices close, an audit row records it, and the job answers in the notices' threads;
- an equal or earlier notAfter changes nothing (an earlier one is kept as a warning for status);
- a failed read keeps the last known expiry, so notices continue from it, and records why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col, select

from renewbot.domain.thresholds import notify_from
from renewbot.domain.urls import tls_source
from storage import notices, queries
from storage.models import Renewal, Token

# Who the audit row names for a renewal seen at its source; Renewal.via says where.
RENEWED_OUTSIDE = "renewbot"


@dataclass(frozen=True)
class SourceToRead:
    token_id: str
    source: str  # as stored: tls://host:port
    host: str | None  # None when the stored value is not a tls:// source (it cannot be read)
    port: int | None


@dataclass(frozen=True)
class Reading:
    """What one read of a source gave: a certificate's notAfter and names, or why there was none."""
    not_after: datetime | None = None
    subject: str | None = None
    issuer: str | None = None
    error: str | None = None


class Change(StrEnum):
    FIRST = "first"  # the expiry was unknown and is now known
    RENEWED = "renewed"  # renewed outside renewbot: the expiry moved later
    UNCHANGED = "unchanged"
    EARLIER = "earlier"  # the served certificate ends before the stored expiry: kept, with a warning
    FAILED = "failed"  # not read: the last known expiry stands
    SKIPPED = "skipped"  # the token went, was retired, changed source, or another process applied this meanwhile


@dataclass(frozen=True)
class Applied:
    token_id: str
    change: Change
    source: str = ""
    token_name: str = ""
    old_expiry: datetime | None = None
    new_expiry: datetime | None = None
    # (channel, root ts) of each open notice thread about the old expiry: answered once each, then edited.
    threads: tuple[tuple[str, str], ...] = ()
    # FAILED, EARLIER: whether the last read said the same (the job then logs quietly, not every scan).
    same_error: bool = False


@dataclass
class SourcesReport:
    applied: list[Applied] = field(default_factory=list)

    def of(self, change: Change) -> list[Applied]:
        return [a for a in self.applied if a.change is change]


def sources_to_read(*, session: Session) -> list[SourceToRead]:
    """Every token in service that names a source, in id order."""
    stmt = (select(Token.id, Token.source).where(col(Token.source).is_not(None), col(Token.retired).is_(False))
            .order_by(Token.id))
    out = []
    for token_id, source in session.exec(stmt).all():
        where = tls_source(source)
        out.append(SourceToRead(token_id, source, *(where or (None, None))))
    return out


def earlier_warning(seen: datetime, stored: datetime) -> str:
    """Status shows this: a certificate older than what renewbot holds may mean the new one is not deployed."""
    return (f"warning: serves a certificate expiring {seen:%Y-%m-%d}, earlier than the stored expiry "
            f"{stored:%Y-%m-%d} (kept; is the renewed certificate deployed?)")


def apply_reading(*, session: Session, token_id: str, source: str, reading: Reading, now: datetime,
                  kind_ladders: Mapping[str, tuple[int, ...]]) -> Applied:
    """Records one reading of `token_id`'s `source` and moves its expiry when the rules say so. The caller commits.

    The expiry moves by compare-and-set on the token's version: two replicas that read the same renewal
    record it once; the one that loses reports SKIPPED.
    """
    token = queries.get_token(session=session, token_id=token_id)
    if token is None or token.retired or token.source != source:
        return Applied(token_id, Change.SKIPPED)
    # Read before any UPDATE below: the ORM refreshes the loaded row with what was written.
    previous_error, old = token.source_error, token.expires_at
    seen = dict(source_checked_at=now)
    if reading.error is not None or reading.not_after is None:
        error = reading.error or "no certificate read"
        _record(session, token_id, **seen, source_error=error)
        return Applied(token_id, Change.FAILED, source, token.name, same_error=previous_error == error)
    seen |= dict(source_subject=reading.subject, source_issuer=reading.issuer, source_error=None)
    new = reading.not_after
    moved = dict(expires_at=new, notify_from=notify_from(new, token.notify_days or kind_ladders.get(token.kind)),
                 expiry_known=True)
    if not token.expiry_known:
        if not queries.bump_token_version(session=session, token_id=token_id, expected_version=token.version,
                                          **moved, **seen):
            return Applied(token_id, Change.SKIPPED)
        return Applied(token_id, Change.FIRST, source, token.name, None, new)
    if new < old:
        warning = earlier_warning(new, old)
        _record(session, token_id, **(seen | dict(source_error=warning)))
        return Applied(token_id, Change.EARLIER, source, token.name, old, new, same_error=previous_error == warning)
    if new == old:
        _record(session, token_id, **seen)
        return Applied(token_id, Change.UNCHANGED, source, token.name, old, new)
    threads = list(dict.fromkeys((n.channel, n.root_ts) for n in notices.open_notices(session=session,
                                                                                       token_id=token_id)
                                 if n.expires_at == old and n.root_ts))
    if not queries.bump_token_version(session=session, token_id=token_id, expected_version=token.version,
                                      **moved, **seen):
        return Applied(token_id, Change.SKIPPED)
    notices.close_notices(session=session, token_id=token_id, now=now)
    session.add(Renewal(token_id=token_id, renewed_by=RENEWED_OUTSIDE, renewed_at=now, old_expires_at=old,
                        new_expires_at=new, accounts=[], via=source))
    session.flush()
    return Applied(token_id, Change.RENEWED, source, token.name, old, new, tuple(threads))


def _record(session: Session, token_id: str, **values) -> None:
    # An UPDATE, not the loaded row: the version check above may have moved it under us.
    session.execute(update(Token).where(Token.id == token_id).values(**values))
