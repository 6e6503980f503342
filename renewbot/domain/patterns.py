"""What identifiers and text from outside (an import file, a Slack payload) may look like. One definition each.

All are matched with fullmatch: "$" would also accept a trailing newline.
"""

from __future__ import annotations

import re

# Our own ids for tokens, accounts (and later kinds and connectors).
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,149}")
# Slack conversation ids: public (C), private (G) channels and DMs (D).
CHANNEL_RE = re.compile(r"[CGD][A-Z0-9]{2,38}")
# Slack users (U, W for Enterprise Grid) and user groups (S).
OWNER_RE = re.compile(r"[UWS][A-Z0-9]{2,38}")
# In `owners`: every full member of the workspace (guests and other organisations still only when named).
OWNER_WILDCARD = "*"
URL_RE = re.compile(r"https?://[^\s<>|\"]{1,2000}")
# Control characters: never part of a name, an id or a reference typed by a person.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def is_channel_id(value: object) -> bool:
    return isinstance(value, str) and CHANNEL_RE.fullmatch(value) is not None


def is_person_or_group(value: object) -> bool:
    """A Slack user (U…, W…) or user group (S…) id."""
    return isinstance(value, str) and OWNER_RE.fullmatch(value) is not None


def is_group(value: object) -> bool:
    """A Slack user group (S…) id, as named in owners or admins."""
    return is_person_or_group(value) and value.startswith("S")
