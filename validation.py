"""Checks on a renewal submission. Pure: values in, per-field messages out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone

import ids
from errors import RenewalRejected
from storage.models import Account

MWS_RE = re.compile(r"^amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
MAX_SECRET = 3000

SECRET_HINTS = {
    "amazon-mws": "amzn.mws.xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "amazon-sp-api": "Atzr|…",
    "generic": "the new secret, no spaces",
}


def secret_problem(kind: str, value: str | None) -> str | None:
    """What is wrong with a new secret for this kind; the message never repeats the value."""
    # Surrounding whitespace is a pasting accident, not part of the token: it is stripped on save.
    value = (value or "").strip()
    if not value:
        return "Paste the new token."
    if len(value) > MAX_SECRET:
        return f"That is longer than {MAX_SECRET} characters: paste only the token."
    if kind == "amazon-mws" and not MWS_RE.match(value):
        return "An MWS auth token looks like amzn.mws.<uuid>, e.g. amzn.mws.1a2b3c4d-…; check you copied all of it."
    if kind == "amazon-sp-api" and not value.startswith("Atzr|"):
        return "An SP-API refresh token starts with Atzr| — check you copied the refresh token, not the access token."
    if any(ch.isspace() for ch in value):
        return "The token must not contain spaces or line breaks."
    return None


def expiry_problem(new: date | None, *, current: datetime, now: datetime) -> str | None:
    if new is None:
        return "Pick the new expiry date."
    moment = as_expiry(new)
    if moment <= now:
        return "The new expiry must be in the future."
    if moment <= current:
        return f"The new expiry must be later than the current one ({current:%Y-%m-%d})."
    return None


def as_expiry(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Submission:
    token_id: str
    version: int
    secret: str
    new_expiry: datetime
    reenable: frozenset[str]
    no_fetch: frozenset[str]


def _selected(values: dict, prefix: str) -> set[str]:
    chosen: set[str] = set()
    for block_id, actions in values.items():
        if block_id.startswith(prefix):
            for action in actions.values():
                chosen.update(o.get("value") for o in (action.get("selected_options") or []) if isinstance(o, dict))
    return chosen


def parse_submission(values: dict, *, token_id: str, version: int, kind: str, current_expiry: datetime,
                     accounts: Sequence[Account], now: datetime) -> Submission:
    """Reads the modal's state.values; raises RenewalRejected keyed by block id."""
    errors: dict[str, str] = {}
    secret = (values.get(ids.SECRET_BLOCK, {}).get(ids.SECRET_INPUT, {}) or {}).get("value")
    if problem := secret_problem(kind, secret):
        errors[ids.SECRET_BLOCK] = problem
    raw_date = (values.get(ids.EXPIRY_BLOCK, {}).get(ids.EXPIRY_INPUT, {}) or {}).get("selected_date")
    new_day = None
    if raw_date:
        try:
            new_day = date.fromisoformat(str(raw_date))
        except ValueError:
            errors[ids.EXPIRY_BLOCK] = "That is not a date."
    if ids.EXPIRY_BLOCK not in errors and (problem := expiry_problem(new_day, current=current_expiry, now=now)):
        errors[ids.EXPIRY_BLOCK] = problem
    if errors:
        raise RenewalRejected(errors)
    served = {a.id for a in accounts}
    return Submission(
        token_id=token_id, version=version, secret=(secret or "").strip(), new_expiry=as_expiry(new_day),
        reenable=frozenset(_selected(values, ids.REENABLE_BLOCK_PREFIX) & served),
        no_fetch=frozenset(_selected(values, ids.NOFETCH_BLOCK_PREFIX) & served),
    )
