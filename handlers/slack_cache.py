"""Slack's answers kept for a while, shared by handlers.access: values for a few minutes, failures for a few
seconds, one call per key at a time (concurrent lookups of the same key wait for that call)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

logger = logging.getLogger("handlers.access")  # its warnings read as the access rule's, as they always did

PAGE_SIZE = 1000
MAX_PAGES = 100  # 100,000 members or channels; beyond that the list is cut short (and refuses the rest)
LOAD_WAIT_SECONDS = 15.0


class Unavailable(Exception):
    pass


class TTLCache:
    """Values for `ttl` seconds, failures (None) for `failure_ttl`; one load per key at a time."""

    def __init__(self, *, ttl: float, failure_ttl: float, clock: Callable[[], float], max_entries: int) -> None:
        self._ttl, self._failure_ttl, self._clock, self._max = ttl, failure_ttl, clock, max_entries
        self._lock = threading.Lock()
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._loading: dict[Any, threading.Event] = {}

    def peek(self, key: Any) -> tuple[bool, Any]:
        """(True, value or None for a failure) when fresh, else (False, None). Never calls Slack."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > self._clock():
                return True, hit[1]
            return False, None

    def put(self, key: Any, value: Any) -> None:
        """Keeps what another call found (None: a failure), unless a load of this key is under way."""
        with self._lock:
            if key in self._loading:
                return
            now = self._clock()
            if len(self._entries) >= self._max:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            self._entries[key] = (now + (self._ttl if value is not None else self._failure_ttl), value)

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        """The value, or None when it could not be loaded."""
        while True:
            with self._lock:
                hit = self._entries.get(key)
                if hit is not None and hit[0] > self._clock():
                    return hit[1]
                flight = self._loading.get(key)
                if flight is None:
                    flight = self._loading[key] = threading.Event()
                    break
            if not flight.wait(LOAD_WAIT_SECONDS):  # another thread's call is hanging: refuse rather than pile on
                return None
            with self._lock:
                hit = self._entries.get(key)
                if hit is not None:
                    return hit[1]  # what that call found, even if it expired in between
        value = None
        try:
            value = load()
        except Unavailable:
            pass
        finally:
            with self._lock:
                now = self._clock()
                if len(self._entries) >= self._max:
                    self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                    if len(self._entries) >= self._max:
                        self._entries.clear()
                self._entries[key] = (now + (self._ttl if value is not None else self._failure_ttl), value)
                del self._loading[key]
                flight.set()
        return value


def answer(what: str, request: Callable[[], Any]) -> Any:
    """Slack's answer to `request`; Unavailable (after a warning) when there is none."""
    try:
        return request()
    except SlackApiError as exc:
        logger.warning("cannot read %s: %s; refusing", what, exc.response.get("error"))
    except Exception as exc:  # connection errors, timeouts: refuse as well
        logger.warning("cannot read %s: %s; refusing", what, type(exc).__name__)
    raise Unavailable(what)


def paged(what: str, request: Callable[[str | None], Any], key: str) -> frozenset[str]:
    found: set[str] = set()
    cursor = None
    for _ in range(MAX_PAGES):
        response = answer(what, lambda c=cursor: request(c))
        items = response.get(key) or []
        found.update(i for i in items if isinstance(i, str))
        meta = response.get("response_metadata")
        cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
        if not cursor:
            return frozenset(found)
    logger.warning("%s has more than %d pages; the rest is not considered", what, MAX_PAGES)
    return frozenset(found)
