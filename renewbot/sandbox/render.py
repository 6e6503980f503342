"""Block Kit as HTML for the sandbox page: messages, modals (as <dialog>) and the Home tab. Pure, server-side.

Everything from a payload is escaped (mrkdwn.py), only http(s) URLs link, no inline script or style, classes are
`bk-…`. An unknown block or element type shows a visible "Unsupported …" placeholder instead of vanishing.

Every control is a real <button>, <a> (url buttons), <select> or <input>, carrying what the page's script needs:
`data-type` (the element's type), `data-action-id`, `data-block-id`, `data-value` (a button's value), `data-url`
(a url button), `data-option` (an option object as JSON, on each <option> and checkbox/radio <input>: Slack sends
it back whole), `data-external="1"` on external selects (the page fills them by an options load, with
`data-min-query-length`), `data-dispatch-action="1"` when an input block dispatches its changes.

In a view, each control of an input block is named `<block_id>/<action_id>` (a missing block id becomes
`block<N>`, a missing action id `action<N>`, N being the block's index, as slack_requests.state_values does). The
page rebuilds `view.state.values[block_id][action_id] = {"type": data-type, FIELD: …}` with FIELD by type:
plain_text_input, number_input, email_text_input, url_text_input -> "value" (the text, or null when empty);
datepicker -> "selected_date" ("YYYY-MM-DD" or null); timepicker -> "selected_time";
checkboxes, multi_static_select, multi_external_select -> "selected_options" (the data-option objects, maybe []);
static_select, external_select, radio_buttons -> "selected_option" (a data-option object, or null);
users_select -> "selected_user", multi_users_select -> "selected_users" (ids typed, comma-separated);
conversations_select -> "selected_conversation", multi_conversations_select -> "selected_conversations";
channels_select -> "selected_channel". People and conversations are typed as ids into a text input (the stand-in
has no directory to pick from), or picked from a <select> when the element lists `options`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from renewbot.sandbox.mrkdwn import decode, esc, render_mrkdwn, render_plain, safe_url

__all__ = ["render_blocks", "render_home", "render_message", "render_mrkdwn", "render_text", "render_view"]

_GROUPS = {"checkboxes": "checkbox", "radio_buttons": "radio"}
_TEXT_INPUTS = {"plain_text_input": "text", "number_input": "number", "email_text_input": "email",
                "url_text_input": "url", "datepicker": "date", "timepicker": "time"}
_INITIAL = {"datepicker": "initial_date", "timepicker": "initial_time"}
_IDS = {"users_select": ("initial_user", "user id, e.g. U0123ABCD"),
        "multi_users_select": ("initial_users", "user ids, comma-separated"),
        "conversations_select": ("initial_conversation", "channel id, e.g. C0123ABCD"),
        "multi_conversations_select": ("initial_conversations", "channel ids, comma-separated"),
        "channels_select": ("initial_channel", "channel id, e.g. C0123ABCD")}
_SELECTS = {"static_select", "multi_static_select", "external_select", "multi_external_select", "overflow"}
_CONTROLS = _SELECTS | set(_TEXT_INPUTS) | set(_IDS) | set(_GROUPS)
_STYLES = {"primary": "bk-primary", "danger": "bk-danger"}


def _attrs(attrs: dict) -> str:
    """ key="value" pairs, escaped; True is a bare attribute, None and False are left out."""
    return "".join(f" {k}" if v is True else f' {k}="{esc(v)}"' for k, v in attrs.items()
                   if v is not None and v is not False)


def _raw(obj: object) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def render_text(obj: dict | None) -> str:
    """A text object: mrkdwn rendered, plain_text escaped (shortcodes as Unicode unless `emoji` is false)."""
    if not isinstance(obj, dict):
        return ""
    if obj.get("type") == "mrkdwn":
        return render_mrkdwn(_raw(obj))
    return render_plain(_raw(obj), with_emoji=obj.get("emoji", True) is not False)


def _label(obj: object) -> str:
    """A text object as markup-free text, for <option>s and attributes (already escaped)."""
    raw = _raw(obj)
    return render_plain(decode(raw) if isinstance(obj, dict) and obj.get("type") == "mrkdwn" else raw, breaks=False)


def _unknown(what: str, kind: object) -> str:
    return f'<div class="bk-unknown">Unsupported {what}: {esc(kind)}</div>'


@dataclass
class _Slot:
    """How a control sits in an input block: its id (for the label), name, and what describes it."""
    id: str
    name: str | None
    described: str | None = None
    required: bool = False
    invalid: bool = False
    dispatch: bool = False


class _Renderer:
    def __init__(self, *, interactive: bool = True, surface: str = "message", prefix: str = "bk",
                 errors: dict[str, str] | None = None) -> None:
        self.interactive, self.surface, self.prefix = interactive, surface, prefix
        self.errors = dict(errors or {})
        self._serial = 0

    def uid(self, *parts: object) -> str:
        """An id unique in this render, readable in the page's DOM."""
        self._serial += 1
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(map(str, parts)))[:60].strip("-")
        return f"{self.prefix}-{self._serial}-{slug}"

    # --- elements -------------------------------------------------------------------------
    def _data(self, el: dict, block_id: str, slot: _Slot | None, aria_label: str | None = None) -> dict:
        attrs = {"data-type": el.get("type"), "data-action-id": el.get("action_id", ""), "data-block-id": block_id,
                 "disabled": not self.interactive}
        if slot is None:
            attrs["aria-label"] = aria_label
        else:
            attrs.update({"id": slot.id, "name": slot.name, "aria-describedby": slot.described,
                          "aria-invalid": "true" if slot.invalid else None,
                          "data-dispatch-action": "1" if slot.dispatch else None})
        return attrs

    def element(self, el: object, block_id: str, slot: _Slot | None = None) -> str:
        if not isinstance(el, dict):
            return _unknown("element", type(el).__name__)
        kind = el.get("type")
        if kind == "button":
            return self._button(el, block_id)
        if kind in _SELECTS:
            return self._select(el, block_id, slot)
        if kind in _TEXT_INPUTS:
            return self._text_input(el, block_id, slot)
        if kind in _GROUPS:
            return self._choices(el, block_id, slot)
        if kind in _IDS:
            return self._select(el, block_id, slot) if el.get("options") else self._id_input(el, block_id, slot)
        if kind == "image":
            return f'<span class="bk-image" role="img" aria-label="{esc(el.get("alt_text", ""))}">[image]</span>'
        if kind in ("mrkdwn", "plain_text"):
            return f'<span class="bk-context-text">{render_text(el)}</span>'
        return _unknown("element", kind)

    def _button(self, el: dict, block_id: str) -> str:
        text = render_text(el.get("text"))
        cls = " ".join(filter(None, ("bk-button", _STYLES.get(el.get("style")))))
        data = self._data(el, block_id, None) | {"data-value": el.get("value")}
        url = safe_url(str(el["url"])) if el.get("url") else None
        if url is None:
            return f"<button{_attrs({'type': 'button', 'class': cls, **data})}>{text}</button>"
        data.update({"disabled": None, "data-url": url})
        if not self.interactive:
            return f"<a{_attrs({'class': cls + ' bk-disabled', 'aria-disabled': 'true', **data})}>{text}</a>"
        link = {"class": cls, "href": url, "target": "_blank", "rel": "noopener noreferrer"}
        return f"<a{_attrs(link | data)}>{text}</a>"

    def _select(self, el: dict, block_id: str, slot: _Slot | None) -> str:
        kind = str(el.get("type"))
        multiple = kind.startswith("multi_")
        external = kind.endswith("external_select")
        initial = el.get("initial_options") or ([el["initial_option"]] if el.get("initial_option") else [])
        chosen = {o.get("value") for o in initial if isinstance(o, dict)}
        placeholder = _label(el.get("placeholder")) or ("⋯" if kind == "overflow" else "Choose…")
        attrs = self._data(el, block_id, slot, "More actions" if kind == "overflow" else placeholder) | {
            "class": "bk-select bk-overflow" if kind == "overflow" else "bk-select", "multiple": multiple,
            "required": bool(slot and slot.required), "data-external": "1" if external else None,
            "data-min-query-length": el.get("min_query_length") if external else None,
            "data-placeholder": placeholder if multiple else None}
        options = initial if external else el.get("options") or []
        inner = "" if multiple else f'<option value=""{"" if chosen else " selected"}>{placeholder}</option>'
        inner += self._options(options, chosen)
        for group in [] if external else el.get("option_groups") or []:
            options_html = self._options(group.get("options"), chosen)
            inner += f'<optgroup label="{_label(group.get("label"))}">{options_html}</optgroup>'
        return f"<select{_attrs(attrs)}>{inner}</select>"

    @staticmethod
    def _options(options: object, chosen: set) -> str:
        out = []
        for opt in options if isinstance(options, list) else []:
            if isinstance(opt, dict):
                attrs = {"value": opt.get("value", ""), "data-option": json.dumps(opt, separators=(",", ":")),
                         "selected": opt.get("value") in chosen}
                out.append(f"<option{_attrs(attrs)}>{_label(opt.get('text'))}</option>")
        return "".join(out)

    def _text_input(self, el: dict, block_id: str, slot: _Slot | None) -> str:
        kind = str(el.get("type"))
        placeholder = _label(el.get("placeholder")) or None
        attrs = self._data(el, block_id, slot, placeholder or kind.replace("_", " ")) | {
            "class": "bk-input", "placeholder": placeholder, "required": bool(slot and slot.required),
            "maxlength": el.get("max_length"), "minlength": el.get("min_length"),
            "min": el.get("min_value"), "max": el.get("max_value"), "autocomplete": "off"}
        value = el.get(_INITIAL.get(kind, "initial_value"))
        if el.get("multiline"):
            return f"<textarea{_attrs(attrs | {'rows': 4, 'spellcheck': 'false'})}>{esc(value or '')}</textarea>"
        return f"<input{_attrs({'type': _TEXT_INPUTS[kind], **attrs, 'value': value})}>"

    def _id_input(self, el: dict, block_id: str, slot: _Slot | None) -> str:
        kind = str(el.get("type"))
        field, hint = _IDS[kind]
        initial = el.get(field)
        value = ",".join(map(str, initial)) if isinstance(initial, list) else initial
        shown = _label(el.get("placeholder"))
        placeholder = f"{shown} ({hint})" if shown else hint.capitalize()
        attrs = self._data(el, block_id, slot, placeholder) | {
            "type": "text", "class": "bk-input bk-id-input", "placeholder": placeholder, "value": value,
            "required": bool(slot and slot.required), "autocomplete": "off",
            "data-multiple": "1" if kind.startswith("multi_") else None,
            "data-default-to-current": "1" if el.get("default_to_current_conversation") else None}
        return f"<input{_attrs(attrs)}>"

    def _choices(self, el: dict, block_id: str, slot: _Slot | None) -> str:
        kind = str(el.get("type"))
        initial = el.get("initial_options") or ([el["initial_option"]] if el.get("initial_option") else [])
        chosen = {o.get("value") for o in initial if isinstance(o, dict)}
        name = slot.name if slot and slot.name else self.uid(block_id, el.get("action_id", ""))
        items = []
        for opt in [o for o in el.get("options") or [] if isinstance(o, dict)]:
            oid = self.uid(block_id, opt.get("value", ""))
            attrs = self._data(el, block_id, None) | {
                "type": _GROUPS[kind], "id": oid, "name": name, "value": opt.get("value", ""),
                "data-option": json.dumps(opt, separators=(",", ":")), "checked": opt.get("value") in chosen,
                "data-dispatch-action": "1" if slot and slot.dispatch else None}
            desc = f'<div class="bk-description">{render_text(opt["description"])}</div>' if opt.get(
                "description") else ""
            items.append(f'<div class="bk-choice"><input{_attrs(attrs)}>'
                         f'<label for="{esc(oid)}">{render_text(opt.get("text"))}</label>{desc}</div>')
        group = {"class": f"bk-{kind.replace('_', '-')}", "role": None if slot else "group", "data-type": kind,
                 "data-action-id": el.get("action_id", ""), "data-block-id": block_id}
        return f"<div{_attrs(group)}>{''.join(items)}</div>"

    # --- blocks ---------------------------------------------------------------------------
    def blocks(self, blocks: object) -> str:
        if not isinstance(blocks, list):
            return ""
        return "".join(self.block(b, n) for n, b in enumerate(blocks))

    def block(self, block: object, index: int) -> str:
        if not isinstance(block, dict):
            return _unknown("block", type(block).__name__)
        kind = block.get("type")
        block_id = str(block.get("block_id") or f"block{index}")
        wrap = {"class": f"bk-block bk-{kind}", "data-block-id": block_id}
        if kind == "header":
            return f'<h3{_attrs(wrap)}>{render_text(block.get("text"))}</h3>'
        if kind == "divider":
            return f"<hr{_attrs(wrap)}>"
        if kind == "section":
            inner = f'<div class="bk-text">{render_text(block["text"])}</div>' if block.get("text") else ""
            if block.get("fields"):
                inner += '<div class="bk-fields">' + "".join(
                    f'<div class="bk-field">{render_text(f)}</div>' for f in block["fields"]) + "</div>"
            if block.get("accessory"):
                inner += f'<div class="bk-accessory">{self.element(block["accessory"], block_id)}</div>'
            return f"<div{_attrs(wrap)}>{inner}</div>"
        if kind == "context":
            return f"<div{_attrs(wrap)}>{''.join(self.element(e, block_id) for e in block.get('elements') or [])}</div>"
        if kind == "actions":
            inner = "".join(self.element(e, block_id) for e in block.get("elements") or [])
            return f'<div{_attrs(wrap | {"role": "group"})}>{inner}</div>'
        if kind == "input":
            return self._input(block, block_id, index)
        return _unknown("block", kind)

    def _input(self, block: dict, block_id: str, index: int) -> str:
        el = dict(block.get("element") or {})
        el.setdefault("action_id", f"action{index}")
        error = self.errors.pop(block_id, None)
        hint_id = self.uid(block_id, "hint") if block.get("hint") else None
        error_id = self.uid(block_id, "error") if error else None
        name = f"{block_id}/{el['action_id']}" if self.surface == "modal" else None
        slot = _Slot(self.uid(block_id, el["action_id"]), name,
                     " ".join(filter(None, (hint_id, error_id))) or None, required=not block.get("optional"),
                     invalid=bool(error), dispatch=bool(block.get("dispatch_action")))
        optional = ' <span class="bk-optional">(optional)</span>' if block.get("optional") else ""
        label = f"{render_text(block.get('label'))}{optional}"
        control = self.element(el, block_id, slot)
        if el.get("type") in _GROUPS:
            head = (f'<fieldset class="bk-fieldset"{_attrs({"aria-describedby": slot.described})}>'
                    f'<legend class="bk-label">{label}</legend>{control}</fieldset>')
        elif el.get("type") not in _CONTROLS:
            head = f'<div class="bk-label">{label}</div>{control}'
        else:
            head = f'<label class="bk-label" for="{esc(slot.id)}">{label}</label>{control}'
        hint = f'<div class="bk-hint" id="{hint_id}">{render_text(block["hint"])}</div>' if hint_id else ""
        alert = f'<div class="bk-error" id="{error_id}" role="alert">{esc(error)}</div>' if error_id else ""
        cls = "bk-block bk-input" + (" bk-invalid" if error else "")
        return f'<div class="{cls}" data-block-id="{esc(block_id)}">{head}{hint}{alert}</div>'


def render_blocks(blocks: list[dict], *, interactive: bool = True, surface: str = "message") -> str:
    return _Renderer(interactive=interactive, surface=surface).blocks(blocks)


def _when(ts: str) -> str:
    try:
        at = datetime.fromtimestamp(float(ts), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return f'<time class="bk-ts" datetime="{at.isoformat()}">{at:%Y-%m-%d %H:%M} UTC</time>'


def render_message(message: dict, *, channel: str, thread_count: int = 0) -> str:
    """One message: its blocks (else its text), who posted it, and "N replies" when it starts a thread."""
    ts = str(message.get("ts", ""))
    blocks = message.get("blocks")
    if isinstance(blocks, str):  # the Web API accepts blocks as a JSON string too
        try:
            blocks = json.loads(blocks)
        except ValueError:
            blocks = None
    author = "renewbot" if message.get("bot_id") else f"@{message.get('user') or 'someone'}"
    body = (_Renderer(prefix=f"m{re.sub(r'[^0-9]', '', ts)}").blocks(blocks) if blocks
            else f'<div class="bk-block bk-text">{render_mrkdwn(str(message.get("text") or ""))}</div>')
    notes = ('<span class="bk-edited">(edited)</span>' if message.get("edited") else "") + (
        '<span class="bk-ephemeral">Only visible to you</span>' if message.get("ephemeral") else "")
    thread = ""
    if thread_count:
        word = "reply" if thread_count == 1 else "replies"
        thread = (f'<button type="button" class="bk-button bk-thread" data-thread-ts="{esc(ts)}" '
                  f'data-channel="{esc(channel)}">{thread_count} {word}</button>')
    attrs = {"class": "bk-message", "data-ts": ts, "data-channel": channel,
             "data-thread-ts": message.get("thread_ts") if message.get("thread_ts") not in (None, ts) else None}
    return (f'<article{_attrs(attrs)}><header class="bk-meta"><span class="bk-author">{esc(author)}</span> '
            f"{_when(ts)}{notes}</header>{body}{thread}</article>")


def render_view(view: dict, *, errors: dict[str, str] | None = None) -> str:
    """A modal as a <dialog> (the page calls showModal) holding one <form>; `errors` from response_action
    "errors" show under their input block, and any naming no input block show above the form's blocks."""
    view_id = str(view.get("id") or "view")
    renderer = _Renderer(surface="modal", prefix=f"v-{view_id}", errors=errors)
    title_id = renderer.uid("title")
    body = renderer.blocks(view.get("blocks"))
    stray = "".join(f'<div class="bk-error" role="alert">{esc(block_id)}: {esc(text)}</div>'
                    for block_id, text in renderer.errors.items())
    close = render_text(view.get("close")) or "Cancel"
    submit = (f'<button type="submit" class="bk-button bk-primary bk-submit">{render_text(view["submit"])}</button>'
              if view.get("submit") else "")
    attrs = {"class": "bk-dialog", "aria-labelledby": title_id, "data-view-id": view_id,
             "data-callback-id": view.get("callback_id", ""), "data-private-metadata": view.get("private_metadata", ""),
             "data-external-id": view.get("external_id") or None, "data-hash": view.get("hash")}
    return (f'<dialog{_attrs(attrs)}><form class="bk-form">'
            f'<h2 class="bk-title" id="{title_id}">{render_text(view.get("title")) or "Modal"}</h2>'
            f'{stray}<div class="bk-view-blocks">{body}</div><div class="bk-dialog-buttons">'
            f'<button type="button" class="bk-button bk-close" data-close="1">{close}</button>{submit}</div>'
            "</form></dialog>")


def render_home(view: dict) -> str:
    attrs = {"class": "bk-home", "aria-label": "Home", "data-view-id": view.get("id")}
    return f"<section{_attrs(attrs)}>{_Renderer(surface='home', prefix='home').blocks(view.get('blocks'))}</section>"
