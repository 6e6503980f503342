"""The Slack client retries what is worth retrying, against the stand-in over HTTP."""

from __future__ import annotations

import time

from slack_client import make_client


def test_one_server_error_is_retried_transparently(slack):
    slack.fail_next("chat.postMessage", status=503)
    resp = make_client("xoxb-test", slack.url).chat_postMessage(channel="C0ALERTS", text="hello")
    assert resp["ok"] and len(slack.calls_to("chat.postMessage")) == 2


def test_a_dropped_connection_is_retried(slack):
    slack.drop_connection_next("chat.postMessage")
    resp = make_client("xoxb-test", slack.url).chat_postMessage(channel="C0ALERTS", text="hello")
    assert resp["ok"] and len(slack.messages["C0ALERTS"]) == 1


def test_a_429_waits_for_retry_after_then_succeeds(slack):
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    resp = make_client("xoxb-test", slack.url).chat_postMessage(channel="C0ALERTS", text="hello")
    assert resp["ok"] and time.monotonic() - started >= 1


def test_a_long_retry_after_is_not_slept_through(slack):
    from slack_sdk.errors import SlackApiError
    import pytest
    slack.fail_next("chat.postMessage", status=429, retry_after=60)
    started = time.monotonic()
    with pytest.raises(SlackApiError) as err:
        make_client("xoxb-test", slack.url).chat_postMessage(channel="C0ALERTS", text="hello")
    assert err.value.response.status_code == 429 and time.monotonic() - started < 2
    assert len(slack.calls_to("chat.postMessage")) == 1
