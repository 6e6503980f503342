"""The Slack Web API client, with retries for connection errors, rate limits and 5xx."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

# Short: the scheduler retries again later, and a handler must not outlive Slack's 3 s window for long.
TIMEOUT_SECONDS = 10
# A longer Retry-After is not slept through: delivery reschedules the notice instead of holding a worker.
MAX_RETRY_AFTER_SECONDS = 5


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Retries a 429 after its Retry-After, but only when that wait is short."""

    def __init__(self, max_wait: float = MAX_RETRY_AFTER_SECONDS, **kw) -> None:
        super().__init__(**kw)
        self.max_wait = max_wait

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if response is None or response.status_code != 429:
            return False
        for key, value in response.headers.items():
            if key.lower() == "retry-after":
                try:
                    return int(value[0] if isinstance(value, list) else value) <= self.max_wait
                except (TypeError, ValueError):
                    return False
        return True


def make_client(token: str | None, base_url: str) -> WebClient:
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            BoundedRateLimitRetryHandler(max_retry_count=1),  # sleeps for a short Retry-After
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )
