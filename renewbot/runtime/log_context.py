"""The ids in play (request, notice, renewal, token) for JSON log lines, carried by contextvars.

Set with `log_ids(...)` around a unit of work; every line logged inside it, on that thread, carries them.
A nested `log_ids` adds to the outer ones and restores them on exit. Threads started inside do not inherit
them (contextvars are per thread unless copied), so a worker sets its own, or is fed by a ContextExecutor,
which runs each task in a copy of the submitter's context (bolt's listener pool is one: see serve.build_app).
"""

from __future__ import annotations

import contextvars
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar

FIELDS = ("request", "notice", "renewal", "token")
_ids: ContextVar[dict[str, str]] = ContextVar("renewbot_log_ids", default={})  # noqa: B039 (never mutated)
# A caller's own X-Request-Id is kept only when it is short and plain; anything else gets ours.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def current_ids() -> dict[str, str]:
    return _ids.get()


@contextmanager
def log_ids(**ids: object) -> Iterator[None]:
    unknown = set(ids) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown log id {sorted(unknown)[0]!r} (ids: {', '.join(FIELDS)})")
    token = _ids.set({**_ids.get(), **{k: str(v) for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _ids.reset(token)


def request_id(offered: str | None) -> str:
    """The request's id: the caller's X-Request-Id when it is plain and short, else a new random one."""
    return offered if offered and REQUEST_ID_RE.fullmatch(offered) else secrets.token_hex(8)


class ContextExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks see the contextvars (the log ids) of the thread that submitted them, as they
    were at submission. Each task gets its own copy: one Context cannot be entered by two threads at once."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
