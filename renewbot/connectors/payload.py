"""The JSON that crosses to the platform: the bodies renewbot sends and the replies it reads back.

The bodies are a contract (README "Connecting your platform"): keys and their order stay as documented.
A reply comes from outside, so it is read strictly and bounded; a reply we cannot read is ignored, not
an error: the status (or exit code) alone says whether the delivery was taken.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from renewbot.connectors.base import EVENT_PING, EVENT_RENEWED, AccountResult

MAX_REPLY_BYTES = 64 * 1024
MAX_REPLY_ACCOUNTS = 500
MAX_REPLY_DEPTH = 20
MAX_ERROR_TEXT = 200
REDACTED = "[redacted]"
ACCOUNT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,149}")
CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def utc_text(moment: datetime) -> str:
    """`2026-11-27T10:00:00Z`: whole seconds, UTC. A naive value is UTC already (SQLite drops the zone)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


def renewed_body(*, delivery_id: str, renewal_id: int, occurred_at: datetime, renewed_by: str | None,
                 token_id: str, kind: str, name: str, app_id: str | None, secret: str,
                 expires_at: datetime, accounts: Iterable[Any]) -> bytes:
    """The `token.renewed` body. `accounts`: mappings or objects (e.g. storage Account rows) with id, name,
    enabled and fetch_orders, as they stand after the renewal. The result holds the secret: send it, never
    log or store it."""
    return _encode({
        "type": EVENT_RENEWED, "delivery_id": delivery_id, "renewal_id": renewal_id,
        "occurred_at": utc_text(occurred_at), "renewed_by": renewed_by,
        "token": {"id": token_id, "kind": kind, "name": name, "app_id": app_id, "secret": secret,
                  "expires_at": utc_text(expires_at)},
        "accounts": [{"id": _field(a, "id"), "name": _field(a, "name"), "enabled": bool(_field(a, "enabled")),
                      "fetch_orders": bool(_field(a, "fetch_orders"))} for a in accounts],
    })


def ping_body(*, delivery_id: str, occurred_at: datetime, connector: str) -> bytes:
    """The `ping` body of `renewbot connectors test`: no secret, nothing to apply."""
    return _encode({"type": EVENT_PING, "delivery_id": delivery_id, "occurred_at": utc_text(occurred_at),
                    "connector": connector})


def body_secrets(body: bytes) -> tuple[str, ...]:
    """The token secret a body carries, as sent and as it reads inside JSON, to redact it from what comes back."""
    try:
        token = json.loads(body).get("token")
        secret = token.get("secret") if isinstance(token, dict) else None
    except (ValueError, AttributeError, RecursionError):
        return ()
    if not isinstance(secret, str) or not secret:
        return ()
    return tuple(dict.fromkeys((secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1])))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def clean_text(text: str, secrets: Iterable[str | None] = (), limit: int = MAX_ERROR_TEXT) -> str:
    """Text from the receiver made fit to show people: secrets out, control characters out, clipped."""
    text = CONTROL_CHARS_RE.sub(" ", redact(text, secrets)).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class Reply:
    accounts: tuple[AccountResult, ...] = ()
    data: Mapping[str, Any] | None = None  # the reply object, secrets redacted, for `connectors test`
    problem: str | None = None  # why the reply was ignored, for the attempt's detail


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_REPLY_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {redact(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    return value


def _account(entry: Any, secrets: tuple[str, ...]) -> AccountResult | None:
    if not isinstance(entry, dict):  # other keys are allowed: a receiver may say more than we read
        return None
    ident, ok, error = entry.get("id"), entry.get("ok"), entry.get("error")
    if not (isinstance(ident, str) and ACCOUNT_ID_RE.fullmatch(ident) and isinstance(ok, bool)):
        return None
    if error is not None and not isinstance(error, str):
        return None
    if ok:
        return AccountResult(ident, True)
    return AccountResult(ident, False, clean_text(error or "", secrets) or "refused (no reason given)")


def parse_reply(raw: bytes, *, secrets: Iterable[str | None] = ()) -> Reply:
    """A receiver's reply body: `{"accounts": [{"id": ..., "ok": true|false, "error": "..."}]}`, every key
    optional. An empty body is a fine reply; anything else malformed is ignored whole, with the reason."""
    secrets = tuple(s for s in secrets if s)
    if not raw.strip():
        return Reply()
    if len(raw) > MAX_REPLY_BYTES:
        return Reply(problem=f"reply ignored: larger than {MAX_REPLY_BYTES // 1024} KiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Reply(problem="reply ignored: not JSON")
    if not isinstance(data, dict):
        return Reply(problem="reply ignored: not a JSON object")
    if _depth(data) > MAX_REPLY_DEPTH:
        return Reply(problem="reply ignored: nested too deeply")
    data = _scrub(data, secrets)
    entries = data.get("accounts", [])
    if not isinstance(entries, list):
        return Reply(data=data, problem="reply's accounts ignored: not a list")
    if len(entries) > MAX_REPLY_ACCOUNTS:
        return Reply(data=data, problem=f"reply's accounts ignored: more than {MAX_REPLY_ACCOUNTS}")
    results: dict[str, AccountResult] = {}
    for entry in entries:
        result = _account(entry, secrets)
        if result is None:
            return Reply(data=data, problem="reply's accounts ignored: each must be {id, ok, error}")
        results.setdefault(result.id, result)  # the first answer for an account counts
    return Reply(accounts=tuple(results.values()), data=data)
