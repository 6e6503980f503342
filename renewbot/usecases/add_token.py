"""`/renew-token add`: registering one new token from Slack. No Slack in here.

What the form gave is checked as data first, then, in one transaction, against what is stored (the kind, the
accounts, the id, the name), and the token is inserted. An existing token is never touched: its id is refused, even when
a concurrent add inserted it between our check and our insert (the insert's conflict is reported the same way).
Ids and names share one namespace: `/renew-token <ref>` (storage.queries.find_token) tries the ref as an id before
as a name, so a new id equal to a token's name, or a new name equal to a token's id, would hide that token.
Neither is accepted, ignoring case. Names are checked in the transaction, not by a unique index: two adds of
the same name at the same moment can both succeed (the import file tolerates it too).
The secret is not asked for: the token's first renewal stores it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from renewbot.domain.inventory import MAX_TEXT, parse_expiry
from renewbot.domain.kinds import BUILTIN_KINDS, Kind, resolve
from renewbot.domain.marketplaces import MARKETPLACES
from renewbot.domain.patterns import CONTROL_RE, ID_RE, OWNER_RE, is_channel_id
from renewbot.domain.thresholds import ladder_for, notify_from
from renewbot.errors import RenewbotError
from renewbot.usecases.kinds import ladders, team_kinds
from storage import queries
from storage.db import bounded_lock_waits, session_scope
from storage.models import Account, Token

# The fields errors are reported on; the handler puts each under its block.
NAME, ID, KIND, MARKETPLACE, EXPIRY, CHANNEL, OWNERS, GROUPS, ACCOUNTS = (
    "name", "id", "kind", "marketplace", "expiry", "channel", "owners", "groups", "accounts")
MAX_PICKED = 100  # owners or accounts in one form: more is not a form a person filled in
LOCK_WAIT_SECONDS = 1.5  # inside Slack's 3 s: a locked row fails the submission, with nothing written


class AddRejected(RenewbotError):
    """The form is refused; `errors` maps a field above to its message. Nothing was written."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class AddForm:
    """The add modal's values as submitted, not yet checked (handlers.payload reads them)."""
    name: str | None = None
    token_id: str | None = None  # empty: made from the name
    kind: str | None = None
    marketplace: str | None = None
    expiry: str | None = None  # YYYY-MM-DD from the datepicker
    channel: str | None = None
    owner_users: tuple[str, ...] = ()
    owner_groups: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddOutcome:
    token_id: str
    name: str
    kind_label: str
    channel: str
    expires_at: datetime
    notify_from: datetime  # its first notice can come from then (the furthest threshold before expiry)
    first_threshold_days: int
    owners: tuple[str, ...]
    accounts: tuple[str, ...] = field(default=())


def suggest_id(name: str | None) -> str:
    """The id made from a name: lowercase, every run of other characters a dash; "" when nothing is left."""
    slug = re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")[:150].rstrip("-")
    return slug if ID_RE.fullmatch(slug) else ""


def kind_choices(*, session: Session) -> list[Kind]:
    """Every kind a new token may have: the built-in ones, then the team's, in id order."""
    team = team_kinds(session=session)
    return [*BUILTIN_KINDS.values(), *(k for kid, k in sorted(team.items()) if kid not in BUILTIN_KINDS)]


@dataclass(frozen=True)
class _Checked:
    token_id: str
    name: str
    kind: str
    marketplace: str | None
    expires_at: datetime
    channel: str
    owners: tuple[str, ...]
    accounts: tuple[str, ...]


def check_form(form: AddForm, *, today: date, adder: str | None = None) -> tuple[_Checked | None, dict[str, str]]:
    """The form checked as data (no database): the values to store, or the problems by field.

    `adder`: a user id added to the owners (the person adding, when no admins are configured).
    """
    errors: dict[str, str] = {}
    name = " ".join((form.name or "").split())
    if not name:
        errors[NAME] = "Give the token a name, e.g. Amazon EU SP-API authorization."
    elif len(name) > MAX_TEXT or CONTROL_RE.search(name):
        errors[NAME] = f"A name is at most {MAX_TEXT} characters of plain text."
    typed_id = (form.token_id or "").strip()
    token_id = typed_id or suggest_id(name)
    if typed_id and not ID_RE.fullmatch(typed_id):
        errors[ID] = ("An id is letters, digits, dots, dashes, underscores or colons (at most 150), "
                      "starting with a letter or digit.")
    elif not token_id and NAME not in errors:
        errors[ID] = "No id can be made from this name: type one (e.g. amazon-eu-sp-api)."
    if not form.kind:
        errors[KIND] = "Pick the kind of credential."
    market = (form.marketplace or "").strip().lower() or None
    if market is not None and market not in MARKETPLACES:
        errors[MARKETPLACE] = "Pick a marketplace from the list, or none."
    expires_at = None
    if not form.expiry:
        errors[EXPIRY] = "Pick the date the current credential expires."
    else:
        try:
            picked = date.fromisoformat(form.expiry)
            expires_at = parse_expiry(picked)
        except (ValueError, TypeError):
            errors[EXPIRY] = "Pick a date from the calendar."
        else:
            if picked <= today:
                errors[EXPIRY] = (f"The expiry must be in the future (after {today:%Y-%m-%d}). "
                                  "For a credential that already expired, renew it first, then add it.")
    if not is_channel_id(form.channel) or str(form.channel).startswith("D"):
        errors[CHANNEL] = "Pick the channel its notices go to."
    users, groups = list(dict.fromkeys(form.owner_users)), list(dict.fromkeys(form.owner_groups))
    if len(users) > MAX_PICKED or any(not (OWNER_RE.fullmatch(u) and u[0] in "UW") for u in users):
        errors[OWNERS] = f"Pick at most {MAX_PICKED} people from the list."
    if len(groups) > MAX_PICKED or any(not (OWNER_RE.fullmatch(g) and g[0] == "S") for g in groups):
        errors[GROUPS] = f"Pick at most {MAX_PICKED} user groups from the list."
    accounts = list(dict.fromkeys(form.accounts))
    if len(accounts) > MAX_PICKED or any(not ID_RE.fullmatch(a) for a in accounts):
        errors[ACCOUNTS] = f"Pick at most {MAX_PICKED} accounts from the list."
    if errors:
        return None, errors
    owners = tuple(dict.fromkeys([*users, *([adder] if adder else []), *groups]))
    return _Checked(token_id=token_id, name=name, kind=form.kind, marketplace=market, expires_at=expires_at,
                    channel=form.channel, owners=owners, accounts=tuple(accounts)), {}


def _exists_text(token_id: str, typed: bool) -> str:
    where = "" if typed else " (made from the name)"
    return f"A token with the id `{token_id}`{where} already exists; add never changes it. Type another id."


def add_token(*, engine: Engine, form: AddForm, now: datetime, adder: str | None = None,
              channel_problem: str | None = None) -> AddOutcome:
    """Checks the form, then creates the token in one transaction; raises AddRejected with every problem.

    `channel_problem`: what Slack said about the channel (the bot is not in it, archived), asked by the caller
    before this (no Slack call while a transaction is open); reported with the other problems.
    """
    checked, errors = check_form(form, today=now.date(), adder=adder)
    if channel_problem:
        errors[CHANNEL] = channel_problem
    typed = bool((form.token_id or "").strip())
    conflict: IntegrityError | None = None
    with session_scope(engine) as session, bounded_lock_waits(session, LOCK_WAIT_SECONDS):
        known = {k.id: k for k in kind_choices(session=session)}
        if form.kind and form.kind not in known:
            errors[KIND] = "This kind no longer exists: pick another."
        errors.update({k: v for k, v in _stored_problems(session, form, typed).items() if k not in errors})
        if errors:
            raise AddRejected(errors)
        kind = resolve(checked.kind, known)
        ladder = ladders(session=session).get(checked.kind)  # the scan's and the import's rule: the team's wins
        starts = notify_from(checked.expires_at, ladder)
        try:
            session.add(Token(id=checked.token_id, kind=checked.kind, name=checked.name,
                              expires_at=checked.expires_at, notify_from=starts, channel=checked.channel,
                              owners=list(checked.owners), marketplace=checked.marketplace))
            session.flush()  # the primary key's conflict, if another add won the race, surfaces here
            queries.link_accounts(session=session, links={checked.token_id: checked.accounts})
        except IntegrityError as exc:
            session.rollback()  # before the lock-wait setting is restored on this connection
            conflict = exc
    if conflict is not None:
        with session_scope(engine) as session:
            if queries.get_token(session=session, token_id=checked.token_id) is None:
                raise conflict
        raise AddRejected({ID: _exists_text(checked.token_id, typed)})
    return AddOutcome(token_id=checked.token_id, name=checked.name, kind_label=kind.label, channel=checked.channel,
                      expires_at=checked.expires_at, notify_from=starts,
                      first_threshold_days=max(ladder_for(ladder)), owners=checked.owners,
                      accounts=checked.accounts)


def _stored_problems(session: Session, form: AddForm, typed: bool) -> dict[str, str]:
    """What the stored rows say against the form (its id, name and accounts, where they are well formed)."""
    errors: dict[str, str] = {}
    name = " ".join((form.name or "").split())
    token_id = (form.token_id or "").strip() or suggest_id(name)
    active = col(Token.retired).is_(False)
    if ID_RE.fullmatch(token_id):
        if queries.get_token(session=session, token_id=token_id) is not None:
            errors[ID] = _exists_text(token_id, typed)
        elif (named := session.exec(select(Token.id).where(func.lower(Token.name) == token_id.lower(),
                                                            active).limit(1)).first()) is not None:
            errors[ID] = (f"`{token_id}` is the name of the token `{named}`: as an id it would hide that token "
                          f"from `/renew-token {token_id}`. Type another id.")
    same_name = session.exec(select(Token.id).where(func.lower(Token.name) == name.lower(),
                                                    active).limit(1)).first() if name else None
    if same_name is not None:
        errors[NAME] = (f"The token `{same_name}` already has this name: names find tokens in `/renew-token`, "
                        "so pick another.")
    # No index on lower(id): a scan, once per add (rare), against find_token's exact id match in any case typed.
    elif name and (other := session.exec(
            select(Token.id).where(func.lower(Token.id) == name.lower(), active).limit(1)).first()) is not None:
        errors[NAME] = (f"`{other}` is another token's id, so `/renew-token {other}` would open that token, "
                        "not this one. Pick another name.")
    accounts = [a for a in dict.fromkeys(form.accounts) if ID_RE.fullmatch(a)][:MAX_PICKED]
    if accounts:
        rows = session.exec(select(Account.id, Account.retired).where(col(Account.id).in_(accounts))).all()
        usable = {r[0] for r in rows if not r[1]}
        missing = [a for a in accounts if a not in usable]
        if missing:
            shown = ", ".join(f"`{a}`" for a in missing[:5])
            errors[ACCOUNTS] = f"Unknown or retired: {shown}. Pick accounts from the list."
    return errors
