"""The Slack Web API client, with retries for connection errors, rate limits and 5xx."""

from __future__ import annotations

import time
from collections.abc import Mapping

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

# Short: the scheduler retries again later, and a handler must not outlive Slack's 3 s window for long.
TIMEOUT_SECONDS = 10
# A longer Retry-After is not slept through: delivery reschedules the notice instead of holding a worker.
MAX_RETRY_AFTER_SECONDS = 5

Headers = Mapping[str, str | list[str]]


def _first_header(headers: Headers | None, name: str) -> str | None:
    """A header's first value, its key matched in any case; None when it is absent."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            if isinstance(value, list):
                return value[0] if value else ""
            return value
    return None


def retry_after_seconds(headers: Headers | None) -> int | None:
    """Retry-After in whole seconds; None when it is missing or not a whole number.

    Headers as slack_sdk gives them: keys in any case, each value a string or a list of strings.
    """
    value = _first_header(headers, "retry-after")
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Retries a 429 after its Retry-After, but only when that wait is short."""

    def __init__(self, max_wait: float = MAX_RETRY_AFTER_SECONDS, **kw) -> None:
        super().__init__(**kw)
        self.max_wait = max_wait

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if response is None or response.status_code != 429:
            return False
        if _first_header(response.headers, "retry-after") is None:
            return True  # no wait asked for: the base handler pauses about a second
        wait = retry_after_seconds(response.headers)
        return wait is not None and wait <= self.max_wait


class TimedWebClient(WebClient):
    """A WebClient that counts and times each call by method and outcome into `metrics` (renewbot.runtime.metrics).
    Every method (chat_postMessage, views_open, ...) goes through api_call, retries inside it: one observation
    per call, its time including the retries. Outcomes: ok, ratelimited, error (Slack said no), unreachable."""

    def __init__(self, *args, metrics, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    def api_call(self, api_method: str, *args, **kwargs):
        started, outcome = time.monotonic(), "unreachable"
        try:
            response = super().api_call(api_method, *args, **kwargs)
            outcome = "ok"
            return response
        except SlackApiError as exc:
            outcome = "ratelimited" if exc.response.status_code == 429 else "error"
            raise
        finally:
            self.metrics.slack_call(api_method, outcome, time.monotonic() - started)


def make_client(token: str | None, base_url: str, *, metrics=None) -> WebClient:
    """`metrics` (a renewbot.runtime.metrics.Metrics): every call is counted and timed there."""
    options = dict(
        token=token,
        base_url=base_url,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            BoundedRateLimitRetryHandler(max_retry_count=1),  # sleeps for a short Retry-After
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )
    return WebClient(**options) if metrics is None else TimedWebClient(**options, metrics=metrics)
