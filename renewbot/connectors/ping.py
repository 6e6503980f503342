"""`renewbot connectors test ID`: one signed `ping` to a stored connector, and what came back, for people.

No database here: the command reads the connector and hands over its type and config.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from renewbot.connectors.base import EVENT_PING, Attempt, ConnectorType, DeliveryRequest, Outcome
from renewbot.connectors.payload import ping_body, redact
from renewbot.errors import ConfigError

logger = logging.getLogger(__name__)
MAX_SHOWN_REPLY = 2000
MEANING = {Outcome.DELIVERED: "delivered", Outcome.RETRY: "not delivered, would be retried",
           Outcome.FAILED: "not delivered, would fail for good"}


@dataclass(frozen=True)
class PingResult:
    exit_code: int  # 0 delivered, 1 not delivered, 2 the setup is wrong (nothing was sent)
    lines: tuple[str, ...]


def setup_problem(connector_id: str, type_name: str, config: Mapping[str, Any], environ: Mapping[str, str],
                  types: Mapping[str, ConnectorType]) -> str | None:
    """Why nothing can be sent to this connector from here (one line), or None."""
    kind = types.get(type_name)
    if kind is None:
        return (f"connector {connector_id!r} has type {type_name!r}, which is not installed "
                f"(installed: {', '.join(sorted(types))})")
    name = kind.secret_env(config)
    if name and not (environ.get(name) or "").strip():
        return f"{name} is not set (the signing secret of connector {connector_id!r})"
    return None


def send_ping(connector_id: str, type_name: str, config: Mapping[str, Any], *, environ: Mapping[str, str],
              types: Mapping[str, ConnectorType], now: datetime) -> PingResult:
    problem = setup_problem(connector_id, type_name, config, environ, types)
    if problem:
        return PingResult(2, (problem,))
    kind = types[type_name]
    try:
        sender = kind.sender(config, environ)
    except ConfigError as exc:
        return PingResult(2, (str(exc),))
    delivery_id = f"ping-{uuid.uuid4().hex}"
    request = DeliveryRequest(EVENT_PING, delivery_id, ping_body(delivery_id=delivery_id, occurred_at=now,
                                                                 connector=connector_id))
    try:
        attempt = sender(request)
    except Exception as exc:  # a plugin's bug: say so, and keep its traceback for the operator
        logger.exception("connector %s: its sender raised", connector_id)
        return PingResult(1, (f"{connector_id} ({type_name}): the sender raised {type(exc).__name__}",))
    secret_name = kind.secret_env(config)
    return PingResult(0 if attempt.outcome is Outcome.DELIVERED else 1,
                      describe(connector_id, type_name, delivery_id, attempt,
                               secrets=(environ.get(secret_name),) if secret_name else ()))


def describe(connector_id: str, type_name: str, delivery_id: str, attempt: Attempt,
             secrets: tuple[str | None, ...] = ()) -> tuple[str, ...]:
    lines = [f"{connector_id} ({type_name}): {MEANING[attempt.outcome]}: {attempt.detail}",
             f"  delivery id: {delivery_id}"]
    if attempt.retry_after is not None:
        lines.append(f"  asked to wait {attempt.retry_after:g} s before the next attempt")
    lines += [f"  account {a.id}: {'ok' if a.ok else a.error}" for a in attempt.accounts]
    if attempt.response:
        shown = redact(json.dumps(attempt.response, default=str, ensure_ascii=True), secrets)
        lines.append(f"  reply: {shown if len(shown) <= MAX_SHOWN_REPLY else shown[:MAX_SHOWN_REPLY] + ' …'}")
    return tuple(lines)
