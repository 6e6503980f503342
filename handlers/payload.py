"""Reading Slack payloads defensively: anything can arrive, nothing may crash a handler."""

from __future__ import annotations

import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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
    if not value or len(value) > MAX_REF or _CONTROL.search(value):
        return None
    return value
