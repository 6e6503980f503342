"""Per-channel pacing: Slack allows about one chat.postMessage per second per channel.

One pacer per process, shared by every delivery, so the bot slows itself down
instead of collecting 429s; a channel that was rate-limited anyway waits for
its Retry-After without holding up the others.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=15)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """When to try again after `attempts` failures: exponential up to BACKOFF_CAP, with jitter (half to all of the
    step) so replicas that failed together don't retry together. The exponent stops growing once the cap is
    reached: a day-long outage is ~100 attempts, and 2**100 steps would overflow a timedelta."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** min(max(0, attempts - 1), 10)))
    return timedelta(seconds=(rng or random).uniform(ceiling.total_seconds() / 2, ceiling.total_seconds()))


# 5% over Slack's one second, so network jitter doesn't land two posts inside one second.
DEFAULT_INTERVAL = 1.05


class ChannelPacer:
    def __init__(self, interval: float = DEFAULT_INTERVAL, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = interval
        self._clock, self._sleep = clock, sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, channel: str) -> None:
        """Blocks until this channel may take another post, and books the slot."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(channel, now))
            self._next[channel] = slot + self.interval
        if slot > now:
            self._sleep(slot - now)

    def ready_in(self, channel: str) -> float:
        """Seconds until this channel may take another post (0 when it may now)."""
        with self._lock:
            return max(0.0, self._next.get(channel, 0.0) - self._clock())

    def back_off(self, channel: str, seconds: float) -> None:
        with self._lock:
            self._next[channel] = max(self._next.get(channel, 0.0), self._clock() + seconds)
