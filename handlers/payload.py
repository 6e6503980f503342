"""Reading Slack payloads, in one place and defensively: anything can arrive, nothing may crash a handler.

Handlers read what they need here and pass plain values on; nothing else digs in a payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from renewbot.blocks import ids
from renewbot.blocks.modal import ModalState
from renewbot.domain.patterns import CONTROL_RE
from renewbot.domain.validation import RenewalForm, Submission, validate_renewal
from storage.models import Account

MAX_REF = 200


def dig(obj: Any, *keys: str | int) -> Any:
    """obj[k1][k2]..., or None as soon as a level is missing or of the wrong type."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(obj, list) or not -len(obj) <= key < len(obj):
                return None
        elif not isinstance(obj, dict):
            return None
        obj = obj[key] if isinstance(key, int) else obj.get(key)
    return obj


def token_ref(value: Any, *, typed: bool = False) -> str | None:
    """A token id or name, or None when it cannot be one. Typed text has its spacing tidied;
    values we put in buttons and options ourselves are taken exactly."""
    if not isinstance(value, str):
        return None
    if typed:
        value = " ".join(value.split())
    if not value or len(value) > MAX_REF or CONTROL_RE.search(value):
        return None
    return value


def read_click(body: Any) -> tuple[str | None, str, str, str | None]:
    """A notice button's click: (token id from the button, user, channel, the thread to answer in)."""
    channel = dig(body, "channel", "id") or dig(body, "container", "channel_id")
    thread = (dig(body, "message", "thread_ts") or dig(body, "message", "ts")
              or dig(body, "container", "message_ts"))
    return (token_ref(dig(body, "actions", 0, "value")), str(dig(body, "user", "id")), str(channel),
            thread if isinstance(thread, str) else None)


def _field(values: dict, block_id: str, action_id: str, key: str) -> Any:
    return dig(values, block_id, action_id, key)


def _checkbox_groups(values: dict, prefix: str) -> dict[int, frozenset[str] | None]:
    """Ticked values per group "<prefix><n>"; None for a group whose shape we cannot read."""
    groups: dict[int, frozenset[str] | None] = {}
    for block_id, actions in values.items():
        number = block_id[len(prefix):] if isinstance(block_id, str) and block_id.startswith(prefix) else ""
        if not (number.isdigit() and len(number) <= 4):
            continue
        ticked = None
        if isinstance(actions, dict) and all(isinstance(a, dict) for a in actions.values()):
            options = [a.get("selected_options") or [] for a in actions.values()]
            if all(isinstance(o, list) for o in options):
                flat = [o for group in options for o in group]
                if all(isinstance(o, dict) and isinstance(o.get("value"), str) for o in flat):
                    ticked = frozenset(o["value"] for o in flat)
        groups[int(number)] = ticked
    return groups


def read_renewal_form(values: Any) -> RenewalForm:
    """The renewal modal's view.state.values, read once, as plain values."""
    values = values if isinstance(values, dict) else {}
    return RenewalForm(
        secret=_field(values, ids.SECRET_BLOCK, ids.SECRET_INPUT, "value"),
        expiry=_field(values, ids.EXPIRY_BLOCK, ids.EXPIRY_INPUT, "selected_date"),
        reenable=_checkbox_groups(values, ids.REENABLE_BLOCK_PREFIX),
        no_fetch=_checkbox_groups(values, ids.NOFETCH_BLOCK_PREFIX),
    )


def parse_submission(values: Any, *, token_id: str, version: int, kind: str, current_expiry: datetime,
                     accounts: Sequence[Account], now: datetime) -> Submission:
    """Reads the modal's state.values and checks them; raises RenewalRejected keyed by block id."""
    return validate_renewal(read_renewal_form(values), token_id=token_id, version=version, kind=kind,
                            current_expiry=current_expiry, account_ids=[a.id for a in accounts], now=now)


@dataclass(frozen=True)
class SubmittedRenewal:
    """A view submission of the renewal modal, read: who, which token at which version, what they entered."""
    user_id: str
    state: ModalState
    form: RenewalForm


def read_submission(body: Any) -> SubmittedRenewal | None:
    """None when the submission names no token we can trust (nothing chosen, or a tampered picker)."""
    values = dig(body, "view", "state", "values")
    values = values if isinstance(values, dict) else {}
    user_id = dig(body, "user", "id")
    state = ModalState.load(dig(body, "view", "private_metadata"))
    block = values.get(ids.TOKEN_BLOCK)
    action = block.get(ids.TOKEN_SELECT) if isinstance(block, dict) else None
    malformed = (block is not None and not isinstance(block, dict)) or (
        isinstance(block, dict) and ids.TOKEN_SELECT in block and not isinstance(action, dict))
    picked = action.get("selected_option") if isinstance(action, dict) else None
    if (state.token_id is None or not isinstance(user_id, str) or malformed
            or (picked and dig(picked, "value") != state.token_id)):
        return None
    return SubmittedRenewal(user_id=user_id, state=state, form=read_renewal_form(values))
