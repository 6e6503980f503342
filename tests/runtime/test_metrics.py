"""GET /metrics over real HTTP, parsed with prometheus_client's own parser, after real work: a scan posting
notices to the Slack stand-in, a renewal, a connector delivery, Slack calls that succeed and fail, and Slack
calls made by handlers for signed requests; the tokens gauge counted at most once a minute and kept when the
database fails."""

from __future__ import annotations

import inspect
import logging
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from jobs.connect import deliver_connectors
from jobs.plan import plan_notices
from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.domain.validation import RenewalForm
from renewbot.runtime.metrics import NO_METRICS, Metrics, NullMetrics, tokens_by_stage
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.renewal import RenewalRequest, renew
from tests.conftest import NOW
from tests.jobs.test_connect import FakeSender, inventory
from tests.runtime.test_calendar import FeedServer
from tests.support.seed import seed, token


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
    status, headers, _ = served.get("/metrics", key="rbk_" + "B" * 43)
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="renewbot", error="invalid_token"'
    status, headers, _ = served.get("/metrics", key=served.key("cal", ["calendar"]))
    assert status == 403 and 'error="insufficient_scope", scope="metrics"' in headers["www-authenticate"]
    assert served.get("/metrics", key=served.key("default"))[0] == 403  # no --scope: state only
    assert served.get(f"/metrics?key={served.key('prom', ['metrics'])}")[0] == 401  # the header only
    deps.metrics.followup("reminder", "sent")
    sample = 'renewbot_followups_total{kind="reminder",outcome="sent"} 1.0'
    assert sample not in Metrics.for_app().render().decode()
    assert sample in deps.metrics.render().decode()


def test_slack_calls_made_by_handlers_are_counted(deps, slack, bot):
    """bolt hands each listener a client of its own making; the middleware swaps in the app's timed one."""
    seed(deps.engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=2), owners=["U0OWNER"])])
    scan(engine=deps.engine, client=make_client("xoxb-test", slack.url), now=NOW)  # not counted: no metrics
    notice = slack.messages["C0ALERTS"][0]
    assert bot.click(ids.RENEW_BUTTON, "t1", message=notice) == 200
    slack.wait_for("views.open")
    assert bot.click(ids.RENEW_BUTTON, "t1", message=notice, user="U0OTHER") == 200
    slack.wait_for("chat.postEphemeral")
    server = FeedServer(deps, slack, metrics=deps.metrics)  # the same process's Metrics, scraped over HTTP
    try:
        got = scrape(server, server.key("prom", ["metrics"]))
    finally:
        server.close()
    assert got[("renewbot_slack_api_calls_total", (("method", "views.open"), ("outcome", "ok")))] == 1
    assert got[("renewbot_slack_api_calls_total", (("method", "chat.postEphemeral"), ("outcome", "ok")))] == 1
    assert got[("renewbot_slack_api_call_seconds_count", (("method", "views.open"),))] == 1
    assert ("renewbot_slack_api_calls_total", (("method", "chat.postMessage"), ("outcome", "ok"))) not in got


class Timer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gauge(metrics: Metrics) -> dict[str, float]:
    return {s.labels["stage"]: s.value for family in text_string_to_metric_families(metrics.render().decode())
            if family.name == "renewbot_tokens" for s in family.samples}


def test_the_tokens_gauge_is_counted_at_most_once_a_minute_and_kept_when_the_database_fails(engine, caplog):
    metrics, timer, counts = Metrics.for_app(), Timer(), []
    metrics.watch_tokens(engine, lambda: NOW, timer=timer)

    def before(conn, cursor, statement, parameters, context, executemany):
        if "FROM token" in statement and "GROUP BY" in statement:
            counts.append(statement)
            if broken:
                raise OperationalError(statement, parameters, RuntimeError("database went away"))

    broken = False
    event.listen(engine, "before_cursor_execute", before)
    try:
        assert gauge(metrics) == {"expired": 0, "ok": 0, "unknown": 0}
        seed(engine, now=NOW, tokens=[token("gone", NOW - timedelta(days=1))])
        timer.now += 30
        assert gauge(metrics)["expired"] == 0 and len(counts) == 1  # still the count of 30 s ago
        timer.now += 30
        assert gauge(metrics)["expired"] == 1 and len(counts) == 2
        gauge(metrics)
        assert len(counts) == 2  # served from the count, no read

        broken = True
        timer.now += 61
        with caplog.at_level(logging.WARNING, logger="renewbot.runtime.metrics"):
            assert gauge(metrics)["expired"] == 1  # the last count, the scrape whole
        assert len(counts) == 3 and "counting tokens failed (OperationalError)" in caplog.text
        gauge(metrics)
        assert len(counts) == 3  # a failed count is not retried at every scrape

        broken = False
        timer.now += 61
        seed(engine, now=NOW, tokens=[token("gone2", NOW - timedelta(days=2))])
        assert gauge(metrics)["expired"] == 2
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_a_scrape_succeeds_while_the_database_fails_the_gauge(served, deps):
    key = served.key("prom", ["metrics"])
    deps.metrics.followup("reminder", "sent")

    def before(conn, cursor, statement, parameters, context, executemany):
        if "FROM token" in statement:
            raise OperationalError(statement, parameters, RuntimeError("database went away"))

    event.listen(deps.engine, "before_cursor_execute", before)
    try:
        got = scrape(served, key)
    finally:
        event.remove(deps.engine, "before_cursor_execute", before)
    assert got[("renewbot_followups_total", (("kind", "reminder"), ("outcome", "sent")))] == 1
    assert not any(name == "renewbot_tokens" for name, _ in got)


def test_planned_notices_are_counted_only_once_committed(engine, monkeypatch):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=3)), token("t2", NOW - timedelta(days=1))])
    metrics = Metrics.for_app()

    def refuse(**_):
        raise OperationalError("UPDATE notice", {}, RuntimeError("database went away"))

    with monkeypatch.context() as patched:
        patched.setattr("jobs.plan.notices.supersede_pending", refuse)
        with pytest.raises(OperationalError):
            plan_notices(engine=engine, now=NOW, metrics=metrics)
    assert planned(metrics) == {}  # rolled back: nothing planned
    assert plan_notices(engine=engine, now=NOW, metrics=metrics) == 2
    assert planned(metrics) == {"3d": 1, "expired": 1}


def planned(metrics: Metrics) -> dict[str, float]:
    return {s.labels["stage"]: s.value for family in text_string_to_metric_families(metrics.render().decode())
            for s in family.samples if s.name == "renewbot_notices_total" and s.labels["outcome"] == "planned"}


def test_no_metrics_keeps_nothing_and_overrides_every_method():
    public = {name for name, _ in inspect.getmembers(Metrics, callable) if not name.startswith("_")} - {"for_app"}
    assert public <= set(vars(NullMetrics)), public - set(vars(NullMetrics))
    NO_METRICS.notice("7d", "planned")
    NO_METRICS.slack_call("chat.postMessage", "ok", 0.1)
    with NO_METRICS.scan_timer():
        pass
    assert NO_METRICS.render() == b"" and not hasattr(NO_METRICS, "_notices")
