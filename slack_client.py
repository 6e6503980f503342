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


def make_client(token: str | None, base_url: str) -> WebClient:
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=1),  # sleeps for Retry-After
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )
