"""What handlers and jobs need from the outside world, injected so tests can swap it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from renewbot.crypto import SecretBox


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    engine: Engine
    box: SecretBox
    clock: Callable[[], datetime] = field(default=utc_now)
