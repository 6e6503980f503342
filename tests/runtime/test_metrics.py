"""GET /metrics over real HTTP, parsed with prometheus_client's own parser, after real work: a scan posting
notices to the Slack stand-in, a renewal, a connector delivery and Slack calls that succeed and fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError

from jobs.connect import deliver_connectors
from jobs.scan import scan
from renewbot.domain.validation import RenewalForm
from renewbot.runtime.metrics import Metrics, tokens_by_stage
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.renewal import RenewalRequest, renew
from tests.conftest import NOW
from tests.jobs.test_connect import FakeSender, inventory
from tests.runtime.test_calendar import FeedServer
from tests.support.seed import token


@pytest.fixture
def served(deps, slack):
    deps.metrics.watch_tokens(deps.engine, deps.clock)
    server = FeedServer(deps, slack, metrics=deps.metrics)
    yield server
    server.close()


def scrape(server, key) -> dict[tuple[str, tuple], float]:
    status, headers, body = server.get("/metrics", key=key)
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_metrics_count_notices_renewals_deliveries_slack_calls_and_tokens_by_stage(served, deps, slack):
    inventory(deps.engine, extra_tokens=[token("gone", NOW - timedelta(days=1), owners=["U0OWNER"]),
                                         token("far", NOW + timedelta(days=200))])
    client = make_client("xoxb-test-token", slack.url, metrics=deps.metrics)
    report = scan(engine=deps.engine, client=client, now=NOW, metrics=deps.metrics)
    assert len(report.delivery.sent) == 2
    slack.fail_next("conversations.info", error="channel_not_found")
    with pytest.raises(SlackApiError):
        client.conversations_info(channel="C0NOPE")
    form = RenewalForm(secret="amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d", expiry="2027-11-26",
                       reenable={0: frozenset({"amazon-uk"})}, no_fetch={0: frozenset()})
    renew(engine=deps.engine, box=deps.box, now=NOW, may_act=lambda owners: True, metrics=deps.metrics,
          request=RenewalRequest(token_id="amazon-eu-mws", version=1, user_id="U0OWNER", form=form))
    connect = deliver_connectors(engine=deps.engine, client=client, box=deps.box, now=NOW, metrics=deps.metrics,
                                 sender_for=lambda connector: FakeSender())
    assert len(connect.delivered) == 1

    got = scrape(served, served.key("prom", ["metrics"]))
    for stage in ("7d", "expired"):
        assert got[("renewbot_notices_total", (("outcome", "planned"), ("stage", stage)))] == 1
        assert got[("renewbot_notices_total", (("outcome", "sent"), ("stage", stage)))] == 1
    assert got[("renewbot_renewals_total", (("kind", "amazon-mws"),))] == 1
    assert got[("renewbot_connector_deliveries_total", (("result", "delivered"),))] == 1
    posts = len(slack.calls_to("chat.postMessage"))
    assert posts >= 2  # two notices (the delivery's answer in a thread too, if it found one)
    assert got[("renewbot_slack_api_calls_total", (("method", "chat.postMessage"), ("outcome", "ok")))] == posts
    assert got[("renewbot_slack_api_calls_total", (("method", "conversations.info"), ("outcome", "error")))] == 1
    assert got[("renewbot_slack_api_call_seconds_count", (("method", "chat.postMessage"),))] == posts
    assert got[("renewbot_slack_api_call_seconds_sum", (("method", "chat.postMessage"),))] > 0
    assert got[("renewbot_scan_duration_seconds_count", ())] == 1
    # After the renewal: amazon-eu-mws is far off; "gone" is expired, "far" is fine.
    assert got[("renewbot_tokens", (("stage", "expired"),))] == 1
    assert got[("renewbot_tokens", (("stage", "ok"),))] == 2
    assert got[("renewbot_tokens", (("stage", "unknown"),))] == 0


def test_tokens_by_stage_agrees_with_each_tokens_own_ladder(engine):
    inventory(engine, extra_tokens=[
        token("own-ladder", NOW + timedelta(days=20), notify_days=[21, 2]),  # its own 21 days: in "21d"
        token("default", NOW + timedelta(days=20)),  # default ladder: 30d
        token("edge", NOW + timedelta(days=7)),  # exactly 7 days: "7d"
        token("soon", NOW + timedelta(hours=5)),
    ])
    assert tokens_by_stage(engine, NOW) == {"21d": 1, "30d": 1, "7d": 2, "1d": 1, "ok": 0, "expired": 0,
                                            "unknown": 0}


def test_metrics_need_a_metrics_key_and_each_app_has_its_own_registry(served, deps):
    assert served.get("/metrics")[0] == 401
    assert served.get("/metrics", key="rbk_" + "B" * 43)[0] == 401
    assert served.get("/metrics", key=served.key("cal", ["calendar"]))[0] == 401
    assert served.get("/metrics", key=served.key("default"))[0] == 401  # no --scope: state and calendar only
    assert served.get(f"/metrics?key={served.key('prom', ['metrics'])}")[0] == 401  # the header only
    deps.metrics.followup("reminder", "sent")
    sample = 'renewbot_followups_total{kind="reminder",outcome="sent"} 1.0'
    assert sample not in Metrics.for_app().render().decode()
    assert sample in deps.metrics.render().decode()
