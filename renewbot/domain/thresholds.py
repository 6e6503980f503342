"""Expiry thresholds: which stage a token is in at a given moment. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

DEFAULT_LADDER: tuple[int, ...] = (30, 14, 7, 3, 1)
EXPIRED = "expired"
# The stored expiry of a token whose source (tls://...) was not read yet: far enough away that no notice is
# ever planned from it; `Token.expiry_known` is False meanwhile and every list says "unknown".
UNKNOWN_EXPIRY = datetime(8999, 12, 31, tzinfo=UTC)
OK = "ok"


def ladder_for(notify_days: Iterable[int] | None) -> tuple[int, ...]:
    """A token's thresholds in days, furthest first; the default when it has none."""
    days = sorted({int(d) for d in (notify_days or ()) if int(d) > 0}, reverse=True)
    return tuple(days) or DEFAULT_LADDER


def stage_name(days: int) -> str:
    return f"{days}d"


def stage_for(expires_at: datetime, now: datetime, ladder: tuple[int, ...] = DEFAULT_LADDER) -> str:
    """The nearest threshold crossed, "expired", or "ok" when none is crossed yet.

    Picking the nearest means a token first seen inside several thresholds
    gets a single notice, not one per threshold it skipped.
    """
    remaining = expires_at - now
    if remaining <= timedelta(0):
        return EXPIRED
    crossed = [d for d in ladder if remaining <= timedelta(days=d)]
    return stage_name(min(crossed)) if crossed else OK


def notify_from(expires_at: datetime, notify_days: Iterable[int] | None) -> datetime:
    """The first moment any notice can be due for this expiry and ladder: lets the scan use an index."""
    return expires_at - timedelta(days=max(ladder_for(notify_days)))


def days_left(expires_at: datetime, now: datetime) -> int:
    """Whole days until expiry, negative once expired; partial days are dropped."""
    return int((expires_at - now).total_seconds() / 86400)


def describe_days_left(expires_at: datetime, now: datetime) -> str:
    days = days_left(expires_at, now)
    if expires_at <= now:
        ago = -days
        return "expired less than a day ago" if ago == 0 else f"expired {ago} day{'s' if ago != 1 else ''} ago"
    if days == 0:
        return "expires in less than a day"
    return f"{days} day{'s' if days != 1 else ''} left"
