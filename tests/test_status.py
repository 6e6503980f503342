"""`status`: stages, open notices and failed deliveries, as a person and a script read them."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import event

from jobs.pacing import ChannelPacer
from jobs.scan import scan
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.status import Status, collect, render_text
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
        status = collect(session=s, now=NOW)
    data = status.to_json()
    by_id = {t["id"]: t for t in data["tokens"]}
    (failed,) = by_id["gone"]["failed_notices"]
    assert {k: failed[k] for k in ("id", "stage", "error")} == {"id": 1, "stage": "3d", "error": "channel_not_found"}
    assert "invite @renewbot" in failed["fix"].lower() or "channel id" in failed["fix"].lower()
    assert by_id["gone"]["open_notice"] is None
    assert by_id["fine"]["stage"] == "30d" and by_id["fine"]["open_notice"]["state"] == "sent"
    assert by_id["later"]["stage"] == "ok" and by_id["later"]["open_notice"] is None
    assert data["accounts"] == [{"id": "amazon-uk", "name": "Amazon Uk", "enabled": True, "fetch_orders": False,
                                 "settings_url": None}]
    text = render_text(status)
    assert "failed: channel_not_found" in text and "no (don't fetch)" in text


def test_json_has_the_contract_shape_and_the_text_its_columns(engine, slack):
    seed(engine, now=NOW, accounts=[account("amazon-de", settings_url="https://example.com/settings")],
         tokens=[token("t1", NOW + timedelta(days=10), accounts=["amazon-de"], owners=["U0OWNER"])])
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    with session_scope(engine) as s:
        status = collect(session=s, now=NOW)
    (ts,) = [m["ts"] for m in slack.messages["C0ALERTS"]]
    assert json.loads(json.dumps(status.to_json())) == {
        "tokens": [{
            "id": "t1", "name": "Token t1", "kind": "amazon-mws", "expires_at": "2026-12-06T12:00:00+00:00",
            "days_left": 10, "stage": "14d",
            "open_notice": {"id": 1, "stage": "14d", "state": "sent", "channel": "C0ALERTS", "ts": ts},
            "failed_notices": [], "channel": "C0ALERTS", "owners": ["U0OWNER"], "accounts": ["amazon-de"],
            "app_id": None, "has_secret": False,
        }],
        "accounts": [{"id": "amazon-de", "name": "Amazon De", "enabled": True, "fetch_orders": True,
                      "settings_url": "https://example.com/settings"}],
    }
    assert list(status.to_json()["tokens"][0]) == [
        "id", "name", "kind", "expires_at", "days_left", "stage", "open_notice", "failed_notices", "channel",
        "owners", "accounts", "app_id", "has_secret"]
    assert render_text(status).splitlines() == [
        "TOKEN                          KIND           EXPIRES     STAGE     NOTICE",
        "t1                             amazon-mws     2026-12-06  14d       14d sent",
        "",
        "ACCOUNT                        ENABLED  FETCH ORDERS",
        "amazon-de                      yes      yes",
    ]


def _count_status_queries(engine) -> tuple[Status, int]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with session_scope(engine) as s:
            status = collect(session=s, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return status, len(statements)


def test_status_makes_the_same_number_of_queries_for_1_and_50_tokens(engine, slack):
    # Every token with an account and an open notice, some with a failed one: all that status reads.
    accounts = [account(f"acc-{i}") for i in range(3)]
    tokens = [token(f"t{i:02}", NOW + timedelta(days=2 + i % 20), accounts=[f"acc-{i % 3}"],
                    channel="C0GONE" if i % 5 == 0 else "C0ALERTS") for i in range(50)]
    slack.missing_channels.add("C0GONE")
    client = make_client("xoxb-test", slack.url)
    unpaced = ChannelPacer(interval=0)  # this test is about queries, not Slack's pace
    seed(engine, now=NOW, accounts=accounts, tokens=tokens[:1])
    scan(engine=engine, client=client, now=NOW, pacer=unpaced)
    status, one = _count_status_queries(engine)
    assert len(status.tokens) == 1
    seed(engine, now=NOW, accounts=accounts, tokens=tokens)
    scan(engine=engine, client=client, now=NOW, pacer=unpaced)
    status, fifty = _count_status_queries(engine)
    assert len(status.tokens) == 50
    assert sum(bool(t.failed_notices) for t in status.tokens) == 10
    assert sum(t.open_notice is not None for t in status.tokens) == 40
    # tokens, their accounts, open and failed notices, accounts, kinds, connector deliveries
    assert one == fifty == 7, (one, fifty)
