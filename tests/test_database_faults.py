"""With the database gone: /healthz says 503 and why; the scheduler carries on and catches up."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from jobs.deliver import deliver_due
from jobs.scan import scan
from jobs.scheduler import build_scheduler
from renewbot.crypto import SecretBox
from renewbot.runtime.deps import Deps, utc_now
from renewbot.runtime.slack_client import make_client
from storage.db import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import Notice
from tests.support.bot_server import BotServer, standin_settings
from tests.support.seed import seed, token
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxied(pg_db_url):
    url = make_url(pg_db_url)
    proxy = TcpProxy((url.host, url.port or 5432)).start()
    engine = make_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
    upgrade(engine)
    yield engine, proxy
    proxy.stop()
    engine.dispose()


def health(server) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(server.url + "/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_healthz_is_503_with_the_reason_while_the_database_is_down(proxied, slack):
    engine, proxy = proxied
    deps = Deps(engine=engine, box=SecretBox(()))
    with BotServer(standin_settings(slack.url), deps, slack) as server:
        assert health(server)[0] == 200
        proxy.cut()
        status, body = health(server)
        assert status == 503 and body["ok"] is False and body["database"].startswith("unreachable")
        proxy.restore()
        assert health(server)[0] == 200


def test_scheduler_survives_an_outage_and_catches_up_without_restart(proxied, slack, caplog):
    engine, proxy = proxied
    client = make_client("xoxb-test", slack.url)
    proxy.cut()
    now = utc_now()
    scheduler = build_scheduler(scan=lambda: scan(engine=engine, client=client, now=utc_now()),
                                deliver=lambda: deliver_due(engine=engine, client=client, now=utc_now()),
                                interval_minutes=0.01, clock=utc_now)  # every 0.6 s
    with caplog.at_level(logging.ERROR):
        scheduler.start()
        try:
            time.sleep(2)  # several passes fail against the dead database
            assert "scan failed; the next run will try again" in caplog.text
            assert scheduler.running
            proxy.restore()
            # the token became due during the outage; it is not lost
            seed(engine, now=now, tokens=[token("t1", now + timedelta(days=2))])
            slack.wait_for("chat.postMessage", timeout=10)
        finally:
            scheduler.shutdown(wait=True)
    with session_scope(engine) as s:
        assert [n.state for n in s.exec(select(Notice)).all()] == ["sent"]
    assert len(slack.calls_to("chat.postMessage")) == 1
