"""Checks on a renewal submission. Pure: values in, per-field messages out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

import ids
from errors import RenewalRejected
from storage.models import Account

MWS_RE = re.compile(r"^amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
MAX_SECRET = 3000
CHECKBOX_GROUP = 10  # Slack's checkbox limit: the modal puts accounts in groups of this many

SECRET_HINTS = {
    "amazon-mws": "amzn.mws.xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "amazon-sp-api": "Atzr|…",
    "generic": "the new secret, no spaces",
}


def secret_problem(kind: str, value: str | None) -> str | None:
    """What is wrong with a new secret for this kind; the message never repeats the value."""
    # Surrounding whitespace is a pasting accident, not part of the token: it is stripped on save.
    value = value.strip() if isinstance(value, str) else ""
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


def _selected(values: dict, prefix: str, groups: int, errors: dict[str, str]) -> set[str]:
    """Ticked account ids from the form's own checkbox groups (blocks the form lacks are ignored).

    A group we cannot read is an error on that group, never silently "unticked".
    """
    chosen: set[str] = set()
    for block_id in (f"{prefix}{n}" for n in range(groups)):
        if block_id not in values:
            continue
        actions = values[block_id]
        options = [o for a in actions.values() for o in (a.get("selected_options") or [])] if (
            isinstance(actions, dict) and all(isinstance(a, dict) and isinstance(a.get("selected_options") or [], list)
                                              for a in actions.values())) else None
        if options is None or not all(isinstance(o, dict) and isinstance(o.get("value"), str) for o in options):
            errors[block_id] = "These boxes could not be read: tick them again."
            continue
        chosen.update(o["value"] for o in options)
    return chosen


def _field(values: dict, block_id: str, action_id: str, key: str) -> Any:
    action = values.get(block_id)
    action = action.get(action_id) if isinstance(action, dict) else None
    return action.get(key) if isinstance(action, dict) else None


def parse_submission(values: dict, *, token_id: str, version: int, kind: str, current_expiry: datetime,
                     accounts: Sequence[Account], now: datetime) -> Submission:
    """Reads the modal's state.values; raises RenewalRejected keyed by block id."""
    errors: dict[str, str] = {}
    values = values if isinstance(values, dict) else {}
    secret = _field(values, ids.SECRET_BLOCK, ids.SECRET_INPUT, "value")
    if problem := secret_problem(kind, secret):
        errors[ids.SECRET_BLOCK] = problem
    raw_date = _field(values, ids.EXPIRY_BLOCK, ids.EXPIRY_INPUT, "selected_date")
    new_day = None
    if raw_date:
        try:
            new_day = date.fromisoformat(raw_date) if isinstance(raw_date, str) else None
            if new_day is None:
                raise ValueError(raw_date)
        except ValueError:
            errors[ids.EXPIRY_BLOCK] = "That is not a date."
    if ids.EXPIRY_BLOCK not in errors and (problem := expiry_problem(new_day, current=current_expiry, now=now)):
        errors[ids.EXPIRY_BLOCK] = problem
    groups = -(-len(accounts) // CHECKBOX_GROUP)
    reenable = _selected(values, ids.REENABLE_BLOCK_PREFIX, groups, errors)
    no_fetch = _selected(values, ids.NOFETCH_BLOCK_PREFIX, groups, errors)
    if errors:
        raise RenewalRejected(errors)
    served = {a.id for a in accounts}
    return Submission(
        token_id=token_id, version=version, secret=secret.strip(), new_expiry=as_expiry(new_day),
        reenable=frozenset(reenable & served), no_fetch=frozenset(no_fetch & served),
    )
