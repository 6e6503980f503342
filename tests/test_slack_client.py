"""The Slack client retries what is worth retrying, against the stand-in over HTTP."""

from __future__ import annotations

import time

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from renewbot.runtime.slack_client import BoundedRateLimitRetryHandler, make_client, retry_after_seconds


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
    slack.fail_next("chat.postMessage", status=429, retry_after=60)
    started = time.monotonic()
    with pytest.raises(SlackApiError) as err:
        make_client("xoxb-test", slack.url).chat_postMessage(channel="C0ALERTS", text="hello")
    assert err.value.response.status_code == 429 and time.monotonic() - started < 2
    assert len(slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "30"}, 30),
    ({"retry-after": ["7"]}, 7),  # slack_sdk's HttpResponse holds every value as a list
    ({"RETRY-AFTER": "0"}, 0),
    ({"Content-Type": "application/json", "rEtRy-AfTeR": ["12", "99"]}, 12),  # the first value counts
    ({"Retry-After": " 5 "}, 5),
    ({}, None),
    (None, None),
    ({"Content-Type": "application/json"}, None),
    ({"Retry-After": "soon"}, None),
    ({"Retry-After": "1.5"}, None),
    ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),  # the HTTP-date form: not a whole number
    ({"Retry-After": ""}, None),
    ({"Retry-After": []}, None),
])
def test_retry_after_seconds(headers, seconds):
    assert retry_after_seconds(headers) == seconds


@pytest.mark.parametrize(("status", "headers", "retries"), [
    (429, {"Retry-After": "5"}, True),  # short enough to sleep through
    (429, {"retry-after": "6"}, False),  # longer: delivery reschedules instead
    (429, {}, True),  # no wait given: the base handler pauses about a second
    (429, {"Retry-After": "later"}, False),  # unreadable: not slept on
    (503, {"Retry-After": "1"}, False),  # not a rate limit: another handler's business
])
def test_the_rate_limit_handler_retries_only_a_short_or_absent_retry_after(status, headers, retries):
    handler = BoundedRateLimitRetryHandler(max_wait=5, max_retry_count=1)
    request = HttpRequest(method="POST", url="https://slack.test/api/chat.postMessage", headers={})
    response = HttpResponse(status_code=status, headers=headers)
    assert handler.can_retry(state=RetryState(), request=request, response=response) is retries
