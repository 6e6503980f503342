"""`status`: stages, open notices and failed deliveries, as a person and a script read them."""

from __future__ import annotations

from datetime import timedelta

from jobs.scan import scan
from slack_client import make_client
from status import collect, render_text
from storage.db import session_scope
from tests.conftest import NOW
from tests.support.seed import account, seed, token


def test_failed_notices_show_with_their_reason(engine, slack):
    seed(engine, now=NOW, accounts=[account("amazon-uk", fetch_orders=False)],
         tokens=[token("gone", NOW + timedelta(days=2), channel="C0GONE", accounts=["amazon-uk"]),
                 token("fine", NOW + timedelta(days=20)),
                 token("later", NOW + timedelta(days=200))])
    slack.missing_channels.add("C0GONE")
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    with session_scope(engine) as s:
        data = collect(session=s, now=NOW)
    by_id = {t["id"]: t for t in data["tokens"]}
    assert by_id["gone"]["failed_notices"] == [{"id": 1, "stage": "3d", "error": "channel_not_found"}]
    assert by_id["gone"]["open_notice"] is None
    assert by_id["fine"]["stage"] == "30d" and by_id["fine"]["open_notice"]["state"] == "sent"
    assert by_id["later"]["stage"] == "ok" and by_id["later"]["open_notice"] is None
    assert data["accounts"] == [{"id": "amazon-uk", "name": "Amazon Uk", "enabled": True, "fetch_orders": False,
                                 "settings_url": None}]
    text = render_text(data)
    assert "failed: channel_not_found" in text and "no (don't fetch)" in text
