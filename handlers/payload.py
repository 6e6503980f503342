"""Reading Slack payloads, in one place and defensively: anything can arrive, nothing may crash a handler.

Handlers read what they need here and pass plain values on; nothing else digs in a payload. The attention
controls' payloads are read in handlers/attention_payload.py, on the same terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from renewbot.blocks import ids
from renewbot.blocks.modal import ModalState
from renewbot.domain.patterns import CONTROL_RE
from renewbot.domain.validation import REENABLE_ALL_VALUE, RenewalForm, Submission, validate_renewal
from renewbot.usecases.add_token import MAX_PICKED, AddForm
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


def clicked_in_home(body: Any) -> bool:
    """A click from the App Home tab: it has no channel, so answers go to a DM or a modal."""
    return dig(body, "container", "type") == "view" and dig(body, "view", "type") == "home"


def read_home_opened(event: Any) -> str | None:
    """The user of an app_home_opened event on the Home tab; None for the Messages tab or an unreadable event."""
    user = dig(event, "user")
    if dig(event, "tab") != "home" or not isinstance(user, str) or not user or len(user) > 40:
        return None
    return user


def _field(values: dict, block_id: str, action_id: str, key: str) -> Any:
    return dig(values, block_id, action_id, key)


def _checkbox_groups(values: dict, prefix: str) -> dict[int, frozenset[str] | None]:
    """Ticked values per group "<prefix><n>"; None for a group whose shape we cannot read."""
    groups: dict[int, frozenset[str] | None] = {}
    for block_id, actions in values.items():
        number = block_id[len(prefix):] if isinstance(block_id, str) and block_id.startswith(prefix) else ""
        if not (number.isdigit() and len(number) <= 4):
            continue
        groups[int(number)] = _ticked(actions)
    return groups


def _ticked(actions: Any) -> frozenset[str] | None:
    """The values ticked or picked in one block (checkboxes or a multi-select); None when unreadable."""
    if isinstance(actions, dict) and all(isinstance(a, dict) for a in actions.values()):
        options = [a.get("selected_options") or [] for a in actions.values()]
        if all(isinstance(o, list) for o in options):
            flat = [o for group in options for o in group]
            if all(isinstance(o, dict) and isinstance(o.get("value"), str) for o in flat):
                return frozenset(o["value"] for o in flat)
    return None


def _large_form(values: dict) -> dict:
    """The searchable account choices (renewbot/blocks/modal.py), when the form had them; a block the form had
    but that is missing reads as nothing picked (Slack leaves out nothing, so only a crafted body lacks one)."""
    blocks = (ids.REENABLE_ALL_BLOCK, ids.REENABLE_SELECT_BLOCK, ids.NOFETCH_SELECT_BLOCK)
    if not any(b in values for b in blocks):
        return {}
    everything, only, no_fetch = (_ticked(values[b]) if b in values else frozenset() for b in blocks)
    return dict(large=True, reenable_all=None if everything is None else REENABLE_ALL_VALUE in everything,
                reenable_picked=only, no_fetch_picked=no_fetch)


def _initial_values(view: Any, block_id: str) -> frozenset[str]:
    """The values a block of the view started with (Slack sends the view back with the submission)."""
    blocks = dig(view, "blocks")
    for block in blocks if isinstance(blocks, list) else ():
        if dig(block, "block_id") == block_id:
            options = dig(block, "element", "initial_options")
            return frozenset(v for o in options if isinstance(v := dig(o, "value"), str)) \
                if isinstance(options, list) else frozenset()
    return frozenset()


def read_renewal_form(values: Any) -> RenewalForm:
    """The renewal modal's view.state.values, read once, as plain values."""
    values = values if isinstance(values, dict) else {}
    return RenewalForm(
        secret=_field(values, ids.SECRET_BLOCK, ids.SECRET_INPUT, "value"),
        expiry=_field(values, ids.EXPIRY_BLOCK, ids.EXPIRY_INPUT, "selected_date"),
        reenable=_checkbox_groups(values, ids.REENABLE_BLOCK_PREFIX),
        no_fetch=_checkbox_groups(values, ids.NOFETCH_BLOCK_PREFIX),
        **_large_form(values),
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
    form = read_renewal_form(values)
    if form.large:
        form = replace(form, no_fetch_shown=_initial_values(dig(body, "view"), ids.NOFETCH_SELECT_BLOCK))
    return SubmittedRenewal(user_id=user_id, state=state, form=form)


def _strings(value: Any) -> tuple[str, ...]:
    """A multi-select's picks: strings only, and no more than a form can hold (validation reports the excess)."""
    return tuple(v for v in value[:MAX_PICKED + 1] if isinstance(v, str)) if isinstance(value, list) else ()


def _option_values(value: Any) -> tuple[str, ...]:
    return _strings([dig(o, "value") for o in value] if isinstance(value, list) else None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_add_form(values: Any) -> AddForm:
    """The add modal's view.state.values as plain values; anything malformed reads as not given."""
    values = values if isinstance(values, dict) else {}
    return AddForm(
        name=_text(_field(values, ids.ADD_NAME_BLOCK, ids.ADD_NAME_INPUT, "value")),
        token_id=_text(_field(values, ids.ADD_ID_BLOCK, ids.ADD_ID_INPUT, "value")),
        kind=_text(dig(values, ids.ADD_KIND_BLOCK, ids.ADD_KIND_INPUT, "selected_option", "value")),
        marketplace=_text(dig(values, ids.ADD_MARKETPLACE_BLOCK, ids.ADD_MARKETPLACE_INPUT, "selected_option",
                              "value")),
        expiry=_text(_field(values, ids.ADD_EXPIRY_BLOCK, ids.ADD_EXPIRY_INPUT, "selected_date")),
        channel=_text(_field(values, ids.ADD_CHANNEL_BLOCK, ids.ADD_CHANNEL_INPUT, "selected_conversation")),
        owner_users=_strings(_field(values, ids.ADD_OWNER_USERS_BLOCK, ids.ADD_OWNER_USERS_INPUT,
                                    "selected_users")),
        owner_groups=_option_values(_field(values, ids.ADD_OWNER_GROUPS_BLOCK, ids.ADD_OWNER_GROUPS_INPUT,
                                           "selected_options")),
        accounts=_option_values(_field(values, ids.ADD_ACCOUNTS_BLOCK, ids.ADD_ACCOUNTS_INPUT, "selected_options")),
    )


@dataclass(frozen=True)
class Suggestion:
    """An options load request (block_suggestion): who is typing what, in which form."""
    user_id: str | None
    query: str
    block_id: str | None
    callback_id: str | None  # the form it comes from (the renewal form, the add form)
    state: ModalState  # the renewal form's memory: which token it is for


def read_suggestion(body: Any) -> Suggestion:
    user_id, query = dig(body, "user", "id"), dig(body, "value")
    block_id, callback_id = dig(body, "block_id"), dig(body, "view", "callback_id")
    return Suggestion(user_id=user_id if isinstance(user_id, str) and user_id else None,
                      query=query if isinstance(query, str) else "",
                      block_id=block_id if isinstance(block_id, str) else None,
                      callback_id=callback_id if isinstance(callback_id, str) else None,
                      state=ModalState.load(dig(body, "view", "private_metadata")))
