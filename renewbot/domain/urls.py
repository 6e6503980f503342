"""Addresses renewbot sends secrets to or reads expiry from, checked as data. Pure."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from renewbot.domain.patterns import CONTROL_RE

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_URL = 2000
# tls://host:port, the port required: a bare host would guess 443 for a service on another port.
TLS_SOURCE_RE = re.compile(r"tls://(?P<host>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:]{2,45}\]):(?P<port>[0-9]{1,5})")


def secure_url_problem(value: Any, field: str) -> str | None:
    """A URL a secret may be sent to: https anywhere, plain http only to this machine (a local receiver, a test).
    None when it is fine."""
    if value is None:
        return f"{field} is missing"
    if not isinstance(value, str) or not value:
        return f"{field} must be text (an https:// URL)"
    if len(value) > MAX_URL or CONTROL_RE.search(value) or any(c.isspace() for c in value):
        return f"{field} is not a valid URL"
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return f"{field} {value[:80]!r} is not a valid URL"
    if not host or parts.scheme not in ("https", "http"):
        return f"{field} {value[:80]!r} must be an https:// URL"
    if parts.username or parts.password:
        return f"{field} must not carry a user name or password"
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        return f"{field} {value[:80]!r} must be https (plain http only for localhost or 127.0.0.1)"
    return None


def tls_source(value: str) -> tuple[str, int] | None:
    """(host, port) of a `tls://host:port` source, or None when it is not one."""
    match = TLS_SOURCE_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None or not 0 < int(match["port"]) < 65536:
        return None
    return match["host"].strip("[]"), int(match["port"])
