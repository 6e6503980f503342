"""Checks on a renewal submission. Pure: values in, per-field messages out.

Errors are keyed by field name. The renewal form uses these names as its
block ids, so each message lands under its own input in Slack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from renewbot.domain.credentials import PRIVATE_KEY, CredentialProblem, ReadCredential, has_private_key
from renewbot.domain.kinds import MAX_SECRET, Kind, resolve
from renewbot.errors import RenewalRejected

# Field names, which are also the form's block ids.
TOKEN_FIELD = "token"
SECRET_FIELD = "secret"
EXPIRY_FIELD = "expiry"
# Accounts come in groups of CHECKBOX_GROUP (Slack's checkbox limit): "reenable:0", "reenable:1", ...
REENABLE_FIELD_PREFIX = "reenable:"
NOFETCH_FIELD_PREFIX = "nofetch:"
CHECKBOX_GROUP = 10  # Slack's checkbox limit: the modal puts accounts in groups of this many
# A form for many accounts (see renewbot/blocks/modal.py): one "re-enable all" box, then searchable multi-selects.
REENABLE_ALL_FIELD = "reenable_all"
REENABLE_PICK_FIELD = "reenable_select"
NOFETCH_PICK_FIELD = "nofetch_select"
REENABLE_ALL_VALUE = "all"  # the value of the "re-enable all" box

def read_secret(kind: str | Kind, value: str | None) -> tuple[str | None, ReadCredential | None]:
    """(what is wrong with a new secret for this kind, what its value says about itself when the kind reads it).

    The message never repeats the value."""
    kind = kind if isinstance(kind, Kind) else resolve(kind)
    # Surrounding whitespace is a pasting accident, not part of the token: it is stripped on save.
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        return f"Paste the new {kind.value_label}.", None
    # Whatever the kind, a private key is never a thing to store: refused before anything else reads it.
    if has_private_key(value):
        return PRIVATE_KEY, None
    # Measured first: a team-defined pattern then never runs on more than MAX_SECRET characters.
    if len(value) > MAX_SECRET:
        return f"That is longer than {MAX_SECRET} characters: paste only the {kind.value_label}.", None
    if problem := kind.mismatch(value):
        return problem, None
    if not kind.multiline and any(ch.isspace() for ch in value):
        return f"The {kind.value_label} must not contain spaces or line breaks.", None
    if kind.expiry_from_value is None:
        return None, None
    try:
        return None, kind.expiry_from_value(value)
    except CredentialProblem as exc:
        return str(exc), None


def secret_problem(kind: str | Kind, value: str | None) -> str | None:
    """What is wrong with a new secret for this kind; the message never repeats the value."""
    return read_secret(kind, value)[0]


def value_expiry_problem(kind: Kind, read: ReadCredential, *, current: datetime, now: datetime) -> str | None:
    """An expiry read from the value is held to the same rules as a date picked in the form."""
    if read.expires_at <= now:
        return f"This {kind.value_label} expired on {read.expires_at:%Y-%m-%d %H:%M} UTC: paste the new one."
    if read.expires_at <= current:
        return (f"This {kind.value_label} expires on {read.expires_at:%Y-%m-%d}, not later than the current expiry "
                f"({current:%Y-%m-%d}): is it the old one?")
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
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class RenewalForm:
    """What a person entered, read from wherever it came from; nothing judged yet.

    Account choices are kept per checkbox group; a group that could not be
    read is None, so it becomes an error on that group, never "unticked".
    A form for many accounts has the searchable shape instead (`large`: see renewbot/blocks/modal.py).
    """
    secret: Any = None
    expiry: Any = None
    reenable: dict[int, frozenset[str] | None] = field(default_factory=dict)
    no_fetch: dict[int, frozenset[str] | None] = field(default_factory=dict)
    # The searchable form for many accounts (`large`); None again marks a field that could not be read.
    large: bool = False
    reenable_all: bool | None = False
    reenable_picked: frozenset[str] | None = frozenset()
    no_fetch_picked: frozenset[str] | None = frozenset()
    no_fetch_shown: frozenset[str] = frozenset()  # what its no-fetch list started with (at most 100)
    # The token's no-fetch accounts as the submission is handled: those the list did not show keep their flag.
    no_fetch_now: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Submission:
    token_id: str
    version: int
    secret: str
    new_expiry: datetime
    reenable: frozenset[str]
    no_fetch: frozenset[str]


def _chosen(groups: dict[int, frozenset[str] | None], prefix: str, count: int, errors: dict[str, str]) -> set[str]:
    chosen: set[str] = set()
    for n in range(count):  # groups the form did not have are ignored
        if n not in groups:
            continue
        if groups[n] is None:
            errors[f"{prefix}{n}"] = "These boxes could not be read: tick them again."
            continue
        chosen.update(groups[n])
    return chosen


def _named(ids: set[str]) -> str:
    shown = [i if len(i) <= 40 else i[:39] + "…" for i in sorted(ids)[:3]]
    return ", ".join(shown) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def _large_choices(form: RenewalForm, served: set[str], errors: dict[str, str]) -> tuple[set[str], set[str]]:
    """(re-enable, no-fetch) from the searchable form. Picks must be this token's accounts: unlike the checkbox
    groups, whose options we listed, a search-backed list is where a wrong id would come from."""
    if form.reenable_all is None:
        errors[REENABLE_ALL_FIELD] = "This box could not be read: tick it again."
    for name, picked in ((REENABLE_PICK_FIELD, form.reenable_picked), (NOFETCH_PICK_FIELD, form.no_fetch_picked)):
        if picked is None:
            errors[name] = "This list could not be read: pick the accounts again."
        elif stray := set(picked) - served:
            errors[name] = f"Not an account of this token: {_named(stray)}. Remove it."
    if form.reenable_all and form.reenable_picked and REENABLE_PICK_FIELD not in errors:
        errors[REENABLE_PICK_FIELD] = ("Untick “Re-enable all” to re-enable only these accounts, "
                                       "or empty this list to re-enable them all.")
    reenable = set(served) if form.reenable_all else set(form.reenable_picked or ())
    no_fetch = set(form.no_fetch_picked or ()) | (set(form.no_fetch_now) - set(form.no_fetch_shown))
    return reenable, no_fetch


def _new_day(raw: Any, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        if not isinstance(raw, str):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        errors[EXPIRY_FIELD] = "That is not a date."
        return None


def validate_renewal(form: RenewalForm, *, token_id: str, version: int, kind: str | Kind, current_expiry: datetime,
                     account_ids: Sequence[str], now: datetime) -> Submission:
    """The submission to apply, or RenewalRejected with a message per field.

    For a kind that reads its expiry from the value, the date is optional; given, it must be the value's own day.
    """
    kind = kind if isinstance(kind, Kind) else resolve(kind)
    errors: dict[str, str] = {}
    problem, read = read_secret(kind, form.secret)
    if problem:
        errors[SECRET_FIELD] = problem
    new_day = _new_day(form.expiry, errors)
    new_expiry = None
    if read is not None:
        if problem := value_expiry_problem(kind, read, current=current_expiry, now=now):
            errors[SECRET_FIELD] = problem
        elif new_day is not None and new_day != read.expires_at.astimezone(UTC).date():
            errors[EXPIRY_FIELD] = (f"The {kind.value_label} says it expires on {read.expires_at:%Y-%m-%d} (UTC): "
                                    "pick that date, or leave the date empty.")
        new_expiry = read.expires_at
    elif EXPIRY_FIELD not in errors and not (kind.expiry_from_value and new_day is None) and (
            problem := expiry_problem(new_day, current=current_expiry, now=now)):
        errors[EXPIRY_FIELD] = problem
    served = set(account_ids)
    reenable, no_fetch = _account_choices(form, account_ids, errors)
    if errors:
        raise RenewalRejected(errors)
    return Submission(
        token_id=token_id, version=version, secret=form.secret.strip(),
        new_expiry=new_expiry if new_expiry is not None else as_expiry(new_day),
        reenable=frozenset(reenable & served), no_fetch=frozenset(no_fetch & served),
    )


def _account_choices(form: RenewalForm, account_ids: Sequence[str], errors: dict[str, str]) -> tuple[set, set]:
    if form.large:
        return _large_choices(form, set(account_ids), errors)
    groups = -(-len(account_ids) // CHECKBOX_GROUP)
    return (_chosen(form.reenable, REENABLE_FIELD_PREFIX, groups, errors),
            _chosen(form.no_fetch, NOFETCH_FIELD_PREFIX, groups, errors))


def validate_choices(form: RenewalForm, *, kind: str | Kind, current_expiry: datetime, account_ids: Sequence[str],
                     now: datetime) -> tuple[date | None, frozenset[str], frozenset[str]]:
    """(new expiry day, re-enable, no-fetch): everything validate_renewal checks but the secret, for a form whose
    secret comes later from outside Slack (validate_renewal then checks it all again with the secret).
    Raises RenewalRejected. A date is optional only for a kind that reads the expiry from the value."""
    kind = kind if isinstance(kind, Kind) else resolve(kind)
    errors: dict[str, str] = {}
    new_day = _new_day(form.expiry, errors)
    if EXPIRY_FIELD not in errors and not (kind.expiry_from_value and new_day is None) and (
            problem := expiry_problem(new_day, current=current_expiry, now=now)):
        errors[EXPIRY_FIELD] = problem
    reenable, no_fetch = _account_choices(form, account_ids, errors)
    if errors:
        raise RenewalRejected(errors)
    served = set(account_ids)
    return new_day, frozenset(reenable & served), frozenset(no_fetch & served)
