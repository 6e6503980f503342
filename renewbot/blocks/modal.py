"""The renewal modal: one form for the Renew button and /renew-token."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

from renewbot.blocks import ids
from renewbot.blocks.common import (
    MAX_OPTIONS_SELECT,
    context,
    option,
    plain,
    section,
    ymd,
)
from renewbot.blocks.runbook import provider_reminder
from renewbot.domain.kinds import MAX_SECRET, Kind, resolve
from renewbot.domain.patterns import is_channel_id
from renewbot.domain.validation import CHECKBOX_GROUP, REENABLE_ALL_VALUE
from storage.models import Account, Token

# Up to this many accounts the form shows checkbox groups (8 blocks at most, each account visible at a
# glance); past it, the searchable form (a constant 3-4 blocks, far from Slack's 100 per modal).
MAX_GROUPED_ACCOUNTS = 40
# Where the new secret is entered (renewbot.usecases.outside_renewal.entry_for): in this form, or after it, on
# renewbot's one-time private page or Amazon's consent page (then the form has no secret field).
IN_FORM, ON_PAGE, WITH_AMAZON = "modal", "page", "amazon"


@dataclass(frozen=True)
class ModalState:
    """What the modal remembers between opening and submit (private_metadata)."""
    token_id: str | None = None
    version: int = 0
    channel: str | None = None

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def load(cls, raw: str | None) -> ModalState:
        """Tolerates anything: corrupted metadata reads as "no token chosen"."""
        try:
            data = json.loads(raw or "{}")
            token_id = data.get("token_id")
            version = data.get("version", 0)
            channel = data.get("channel")
            if (not (token_id is None or (isinstance(token_id, str) and len(token_id) <= 200))
                    or not isinstance(version, int) or isinstance(version, bool)):
                return cls()
            channel_ok = is_channel_id(channel)
            return cls(token_id=token_id, version=version, channel=channel if channel_ok else None)
        except (ValueError, AttributeError, TypeError):
            return cls()


def default_expiry(kind: str | Kind, today: date) -> date | None:
    """Today plus the kind's usual lifetime (a year for Amazon's authorisations), or no suggestion."""
    return (kind if isinstance(kind, Kind) else resolve(kind)).suggested_expiry(today)


def token_option(token_id: str, name: str) -> dict:
    """How a token reads in the picker, in its options loads and as its initial option alike."""
    return option(f"{name} ({token_id})", token_id)


def _token_picker(selected: Token | None) -> dict:
    # Options come from the options load request (handlers/options.py), searched as the person types: a
    # static list stops at Slack's 100 options, and listing every token would read them all at each open.
    element: dict = {"type": "external_select", "action_id": ids.TOKEN_SELECT, "min_query_length": 0,
                     "placeholder": plain("Type to search the tokens", 150)}
    if selected is not None:
        element["initial_option"] = token_option(selected.id, selected.name)
    return {"type": "input", "block_id": ids.TOKEN_BLOCK, "dispatch_action": True,
            "label": plain("Token"), "element": element}


def _chunks(items: Sequence[Account]) -> list[Sequence[Account]]:
    return [items[i:i + CHECKBOX_GROUP] for i in range(0, len(items), CHECKBOX_GROUP)]


def _checkbox_groups(prefix: str, label: str, accounts: Sequence[Account], ticked) -> list[dict]:
    blocks = []
    for n, group in enumerate(_chunks(accounts)):
        options = [option(a.name, a.id) for a in group]
        initial = [o for o, a in zip(options, group, strict=False) if ticked(a)]
        element: dict = {"type": "checkboxes", "action_id": ids.ACCOUNTS_INPUT, "options": options}
        if initial:
            element["initial_options"] = initial
        blocks.append({"type": "input", "block_id": f"{prefix}{n}", "optional": True,
                       "label": plain(label if n == 0 else f"{label} (continued)"), "element": element})
    return blocks


def account_option(account_id: str, name: str) -> dict:
    """How an account reads in the searchable form, in its options loads and as an initial option alike."""
    return option(f"{name} ({account_id})", account_id)


def _large_account_blocks(accounts: Sequence[Account]) -> list[dict]:
    """Past MAX_GROUPED_ACCOUNTS: the same two choices in a constant number of blocks. Every account is
    re-enabled unless the box is unticked (then only the picked ones); the no-fetch list starts as the
    accounts set so now, and accounts it does not show keep their flag (see validation.validate_renewal)."""
    n = len(accounts)
    everything = option(f"Re-enable all {n} accounts", REENABLE_ALL_VALUE)
    search = plain(f"Type to search this token's {n} accounts", 150)
    no_fetch = [a for a in accounts if not a.fetch_orders]
    nofetch_select: dict = {"type": "multi_external_select", "action_id": ids.ACCOUNTS_SELECT,
                            "min_query_length": 0, "placeholder": search}
    if no_fetch:
        nofetch_select["initial_options"] = [account_option(a.id, a.name) for a in no_fetch[:MAX_OPTIONS_SELECT]]
    blocks = [
        {"type": "input", "block_id": ids.REENABLE_ALL_BLOCK, "optional": True, "label": plain("Re-enable accounts"),
         "element": {"type": "checkboxes", "action_id": ids.ACCOUNTS_INPUT, "options": [everything],
                     "initial_options": [everything]}},
        {"type": "input", "block_id": ids.REENABLE_SELECT_BLOCK, "optional": True,
         "label": plain("…or only these accounts"),
         "hint": plain("To re-enable only some, untick the box above and pick them here."),
         "element": {"type": "multi_external_select", "action_id": ids.ACCOUNTS_SELECT, "min_query_length": 0,
                     "placeholder": search}},
        {"type": "input", "block_id": ids.NOFETCH_SELECT_BLOCK, "optional": True,
         "label": plain("Don't fetch orders for"),
         "hint": plain("Starts as the accounts set so now. Remove one to fetch its orders again."),
         "element": nofetch_select},
    ]
    if len(no_fetch) > MAX_OPTIONS_SELECT:
        blocks.append(context(f"{len(no_fetch) - MAX_OPTIONS_SELECT} more of these accounts don't fetch orders: "
                              f"the list shows the first {MAX_OPTIONS_SELECT}, and the others keep that setting "
                              "unless you add them here."))
    return blocks


def account_blocks(accounts: Sequence[Account]) -> list[dict]:
    """The re-enable and no-fetch choices: checkbox groups for a few accounts, a searchable form past that."""
    if not accounts:
        return [context("This token serves no accounts: nothing to re-enable.")]
    if len(accounts) > MAX_GROUPED_ACCOUNTS:
        return _large_account_blocks(accounts)
    return (_checkbox_groups(ids.REENABLE_BLOCK_PREFIX, "Re-enable these accounts", accounts, lambda a: True)
            + _checkbox_groups(ids.NOFETCH_BLOCK_PREFIX, "Don't fetch orders for", accounts,
                               lambda a: not a.fetch_orders))


def renew_modal(*, token: Token | None, accounts: Sequence[Account],
                today: date, channel: str | None = None, refusal: str | None = None,
                kind: Kind | None = None, paired: Sequence[Token] = (), entry: str = IN_FORM) -> dict:
    """The form for `token`, or the bare picker when none is chosen; `refusal` says why a pick was not allowed.
    `paired`: the tokens renewed together with it (renewbot.usecases.amazon.paired_tokens), named in its reminder.
    `entry`: where the secret is entered; outside the form (ON_PAGE, WITH_AMAZON), the form has no secret field,
    and with Amazon no date either (an authorization lasts a year from the day it is given)."""
    blocks: list[dict] = [_token_picker(token)]
    if refusal is not None:
        blocks.append(section(refusal))
    elif token is None:
        blocks.append(context("Pick a token to see its renewal form."))
    else:
        kind = kind or resolve(token.kind)
        # Through Amazon nobody pastes anything: the kind's reminder ("paste the new refresh token") would mislead.
        reminder = "" if entry == WITH_AMAZON else f" {provider_reminder(token, kind, paired=paired)}"
        blocks.append(context(f"Current expiry: *{ymd(token.expires_at)}*.{reminder}"))
        if entry == IN_FORM:
            blocks.append(_secret_input(kind))
        else:
            blocks.append(context(_outside_text(kind, entry)))
        if entry != WITH_AMAZON:
            blocks.append(_expiry_input(kind, today))
        blocks += account_blocks(accounts)
    view = {
        "type": "modal",
        "callback_id": ids.RENEW_MODAL,
        "title": plain("Renew token", 24),
        "close": plain("Cancel", 24),
        "private_metadata": ModalState(token.id if token else None, token.version if token else 0, channel).dump(),
        "blocks": blocks,
    }
    if token is not None:
        view["submit"] = plain("Renew" if entry == IN_FORM else "Continue", 24)
    return view


def _outside_text(kind: Kind, entry: str) -> str:
    if entry == WITH_AMAZON:
        return ("Next: *Continue* gives you a link to Amazon's authorization page. The new authorization goes from "
                "Amazon to renewbot directly: it never passes through Slack.")
    return (f"Next: *Continue* gives you a one-time link to a private page where you enter the new "
            f"{kind.value_label}. It goes from your browser to renewbot directly: it never passes through Slack.")


def _secret_input(kind: Kind) -> dict:
    secret: dict = {"type": "plain_text_input", "action_id": ids.SECRET_INPUT, "max_length": MAX_SECRET,
                    "placeholder": plain(kind.placeholder, 150)}
    if kind.multiline:
        secret["multiline"] = True
    hint = " ".join(filter(None, (kind.secret_hint, "Stored encrypted; never shown again in Slack.")))
    return {"type": "input", "block_id": ids.SECRET_BLOCK, "label": plain(f"New {kind.value_label}", 2000),
            "hint": plain(hint, 2000), "element": secret}


def _expiry_input(kind: Kind, today: date) -> dict:
    picker: dict = {"type": "datepicker", "action_id": ids.EXPIRY_INPUT}
    if (default := kind.suggested_expiry(today)) is not None:
        picker["initial_date"] = ymd(default)
    expiry: dict = {"type": "input", "block_id": ids.EXPIRY_BLOCK, "label": plain("New expiry date"),
                    "element": picker}
    if kind.expiry_from_value is not None:
        # The value carries its own expiry: a date is only a cross-check, so it may stay empty.
        expiry.update(optional=True, hint=plain(f"Optional: read from the {kind.value_label}. "
                                                "A date you pick must be the same day (UTC)."))
    return expiry

