"""What handlers and jobs need from the outside world, injected so tests can swap it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from renewbot.crypto import SecretBox
from renewbot.runtime.config import SecretEntrySettings
from renewbot.runtime.metrics import Metrics
from renewbot.usecases.verify import NoVerifier, Verifier


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    engine: Engine
    box: SecretBox
    clock: Callable[[], datetime] = field(default=utc_now)
    # Checks a new credential with its issuer before a renewal is saved; the default checks nothing.
    verifier: Verifier = field(default_factory=NoVerifier)
    # Set when a renewal commits with a connector delivery: serve's connector job runs at once, not at its next tick.
    wake_connectors: threading.Event = field(default_factory=threading.Event)
    # What GET /metrics serves: one per process, each with a registry of its own (tests never share counts).
    metrics: Metrics = field(default_factory=Metrics.for_app)
    # How a renewed secret reaches renewbot (Settings.entry): the Slack form, the private page, Amazon's consent.
    entry: SecretEntrySettings = field(default_factory=SecretEntrySettings)
