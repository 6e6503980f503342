"""LOG_FORMAT=json: one JSON object per line with the ids in play, redacted by pattern and by value, as the
server writes them: configure_logging's own handler, a request through the real WSGI app, a notice delivered."""

from __future__ import annotations

import http.client
import io
import json
import logging
from datetime import timedelta

import pytest

from jobs.deliver import deliver_due
from jobs.plan import plan_notices
from renewbot.errors import ConfigError
from renewbot.runtime.config import Settings
from renewbot.runtime.log_context import REQUEST_ID_RE, log_ids
from renewbot.runtime.logs import configure_logging
from renewbot.runtime.slack_client import make_client
from tests.conftest import NOW
from tests.runtime.test_calendar import FeedServer, token_pages
from tests.support.seed import seed, token

LWA = "Atzr|IwEBIA-planted-refresh-token-0123456789"
CONFIGURED = "plain-shaped-signing-secret-42"


@pytest.fixture
def json_lines(monkeypatch):
    """configure_logging(log_format="json") writing to a buffer; the root logger restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stderr", buffer)  # StreamHandler() writes to sys.stderr as it is at creation
    configure_logging(verbose=True, secrets=(CONFIGURED,), log_format="json")

    def lines() -> list[dict]:
        root.handlers[0].flush()
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    yield lines
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def test_each_line_is_one_json_object_with_ids_and_no_secret(json_lines):
    log = logging.getLogger("renewbot.test")
    with log_ids(token="amazon-eu-mws"), log_ids(renewal=7):
        log.warning("value %s then %s, url-encoded %s", LWA, CONFIGURED, LWA.replace("|", "%7C"))
    try:
        raise RuntimeError(f"boom with {LWA} and {CONFIGURED}")
    except RuntimeError:
        log.exception("failed line")
    log.info('quote " and newline\nin a message')
    first, second, third = json_lines()
    assert set(first) == {"timestamp", "level", "logger", "message", "token", "renewal"}
    assert first["level"] == "WARNING" and first["logger"] == "renewbot.test"
    assert first["token"] == "amazon-eu-mws" and first["renewal"] == "7"
    assert first["timestamp"].endswith("+00:00") and first["timestamp"][:4].isdigit()
    assert first["message"] == "value [redacted] then [redacted], url-encoded [redacted]"
    assert "token" not in second  # the ids left with their block
    assert "RuntimeError" in second["exc"] and "Traceback" in second["exc"]
    assert "[redacted]" in second["exc"] and "Atzr" not in second["exc"] and CONFIGURED not in second["exc"]
    assert third["message"] == 'quote " and newline\nin a message'


def test_a_request_through_the_wsgi_app_carries_its_request_id(json_lines, deps, slack, monkeypatch):
    seed(deps.engine, now=NOW, tokens=[token("a", NOW + timedelta(days=3)), token("b", NOW + timedelta(days=9))])
    server = FeedServer(deps, slack)
    try:
        logging.getLogger("renewbot.test").info("outside any request")
        status, _, _ = server.get(f"/calendar.ics?key={LWA}", headers={"X-Request-Id": "req-123"})
        assert status == 401
        key = server.key("cal", ["calendar"])
        with token_pages(deps.engine, fail_after=0):  # the first page's read fails: a 500
            status, _, _ = server.get("/calendar.ics", key=key, headers={"X-Request-Id": "req-456"})
        assert status == 500
        monkeypatch.setattr("renewbot.usecases.calendar.PAGE", 1)
        with token_pages(deps.engine, fail_after=1), pytest.raises(http.client.IncompleteRead):  # the second's
            server.get("/calendar.ics", key=key, headers={"X-Request-Id": "req-789"})
    finally:
        server.close()
    lines = json_lines()
    assert "request" not in lines[0]
    (failed,) = [line for line in lines if line["message"] == "/calendar.ics failed"]
    assert failed["request"] == "req-456" and failed["level"] == "ERROR" and "OperationalError" in failed["exc"]
    # Streaming runs after the handler returned (waitress iterates the body): the ids are carried over to it.
    (cut,) = [line for line in lines if line["message"].startswith("/calendar.ics failed while streaming")]
    assert cut["request"] == "req-789" and cut["level"] == "ERROR" and "OperationalError" in cut["exc"]
    assert all(LWA not in json.dumps(line) and key not in json.dumps(line) for line in lines)


def test_delivery_lines_carry_the_notice_id(json_lines, engine, slack):
    seed(engine, now=NOW, tokens=[token("mws", NOW + timedelta(days=3))])
    plan_notices(engine=engine, now=NOW)
    report = deliver_due(engine=engine, client=make_client("xoxb-test-token", slack.url), now=NOW)
    (notice_id,) = report.sent
    posted = [line for line in json_lines() if line["message"].startswith(f"notice {notice_id} posted")]
    assert len(posted) == 1 and posted[0]["notice"] == str(notice_id)


def test_log_format_setting():
    assert Settings.from_env({}, env_file=None).log_format == "text"
    assert Settings.from_env({"LOG_FORMAT": "JSON"}, env_file=None).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Settings.from_env({"LOG_FORMAT": "xml"}, env_file=None)


def test_a_request_id_is_the_callers_only_when_plain():
    from renewbot.runtime.log_context import request_id
    assert request_id("req-123") == "req-123"
    made = request_id("bad id\nwith spaces")
    assert len(made) == 16 and made.isalnum() and made != request_id(None)


def test_a_renewal_through_the_modal_logs_its_token_and_renewal_ids(json_lines, engine, slack, bot):
    from sqlmodel import select

    from renewbot.blocks import ids
    from storage.db import session_scope
    from storage.models import Renewal
    from tests.support.slack_requests import state_values

    seed(engine, now=NOW, tokens=[token("sp", NOW + timedelta(days=3), kind="amazon-sp-api", owners=["U0OWNER"])])
    bot.command("sp")
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    status, _ = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": LWA}}))
    assert status == 200
    with session_scope(engine) as session:
        (renewal,) = session.exec(select(Renewal)).all()
    (line,) = [line for line in json_lines() if line["message"].startswith("token sp renewed by")]
    assert (line["token"], line["renewal"]) == ("sp", str(renewal.id))
    # Logged in bolt's listener pool, which runs each listener in a copy of the request's context.
    assert REQUEST_ID_RE.fullmatch(line["request"])
    assert all("Atzr|" not in json.dumps(entry) for entry in json_lines())
