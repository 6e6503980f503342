"""The interface every connector type implements, built-in (webhook, command) or from a plugin.

A plugin package registers a `ConnectorType` under the `renewbot.connectors` entry-point group; renewbot
finds it by its `name` (the `type:` an import file gives). The same interface serves the built-in types.

A type does three things, none of which touches the database:
- `check(config)`: the problems with one `connectors:` entry's own fields (pure; import names them with the
  entry and line). `config` holds every field of the entry except `id` and `type`.
- `secret_env(config)`: the environment variable holding the entry's signing secret, if it has one:
  `serve` and `scan` refuse to start while it is unset.
- `sender(config, environ)`: a callable that makes one delivery attempt and says how it went. It never
  raises for the receiver's failures (those are an `Attempt`); `environ` is where secrets are read from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

EVENT_RENEWED = "token.renewed"
EVENT_PING = "ping"


class Outcome(StrEnum):
    DELIVERED = "delivered"  # the receiver took it (2xx, exit 0): never sent again
    RETRY = "retry"  # worth another attempt later (5xx, 408, 429, timeout, connection error, exit 75)
    FAILED = "failed"  # refused for good (other 4xx, other exits): a person must act


@dataclass(frozen=True)
class AccountResult:
    """What the receiver said about one account: `ok` False carries its `error` (plain text, bounded)."""
    id: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class DeliveryRequest:
    event: str  # EVENT_RENEWED or EVENT_PING
    delivery_id: str  # the same on every attempt: receivers drop repeats by it
    # The JSON body, built at send time: it holds the new secret (never log or store it, nor show it in repr).
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    detail: str  # what happened, for people: "HTTP 200", "exit 75", "timed out after 10 s" (never the body sent)
    accounts: tuple[AccountResult, ...] = ()
    retry_after: float | None = None  # seconds the receiver asked us to wait (429 Retry-After)
    response: Mapping[str, Any] | None = field(default=None, compare=False)  # the parsed reply, for `connectors test`


Sender = Callable[[DeliveryRequest], Attempt]


class ConnectorType(Protocol):
    name: str

    def check(self, config: Mapping[str, Any]) -> list[str]: ...

    def secret_env(self, config: Mapping[str, Any]) -> str | None: ...

    def sender(self, config: Mapping[str, Any], environ: Mapping[str, str]) -> Sender: ...
