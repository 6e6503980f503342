"""A modal's form, as the page sends it, turned into the `view.state.values` Slack submits."""

from __future__ import annotations

from renewbot.sandbox.slack_requests import state_values as initial_state

# element type -> the state field holding what was chosen (see render.py for what the page sends)
_TEXT = {"plain_text_input": "value", "number_input": "value", "email_text_input": "value",
         "url_text_input": "value", "datepicker": "selected_date", "timepicker": "selected_time",
         "users_select": "selected_user", "conversations_select": "selected_conversation",
         "channels_select": "selected_channel"}
_IDS = {"users_select", "conversations_select", "channels_select"}  # typed as ids on the page
_ID_LISTS = {"multi_users_select": "selected_users", "multi_conversations_select": "selected_conversations"}
_ONE_OPTION = {"static_select", "external_select", "radio_buttons"}
_OPTIONS = {"checkboxes", "multi_static_select", "multi_external_select"}


def _entry(kind: str, raw) -> dict:
    if kind in _TEXT:
        text = raw if isinstance(raw, str) else ""
        return {_TEXT[kind]: (text.strip() if kind in _IDS else text) or None}
    if kind in _ID_LISTS:
        items = raw if isinstance(raw, list) else str(raw or "").split(",")
        return {_ID_LISTS[kind]: [str(i).strip() for i in items if str(i).strip()]}
    if kind in _ONE_OPTION:
        return {"selected_option": raw if isinstance(raw, dict) else None}
    if kind in _OPTIONS:
        return {"selected_options": [o for o in raw if isinstance(o, dict)] if isinstance(raw, list) else []}
    return {}


def state_values(view: dict, fields: list) -> dict:
    """Each input block's initial values, then what the page sent: [{block_id, action_id, type, value}]."""
    values = initial_state(view)
    for item in fields if isinstance(fields, list) else []:
        if not isinstance(item, dict):
            continue
        block_id, action_id = str(item.get("block_id") or ""), str(item.get("action_id") or "")
        entry = values.get(block_id, {}).get(action_id)
        if entry is None:  # not an input block of this view: Slack would not send it either
            continue
        entry.update(_entry(entry["type"], item.get("value")))
    return values
