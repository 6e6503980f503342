"""examples/receiver.py, the README's receiver, run as a platform would run it, fed by renewbot's own sender."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from renewbot.connectors.base import EVENT_PING, AccountResult, Attempt, DeliveryRequest, Outcome
from renewbot.connectors.payload import ping_body
from renewbot.connectors.webhook import WebhookSender
from tests.connectors.conftest import PLANTED, WEBHOOK_SECRET, renewal_request

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "receiver.py"


def test_it_needs_nothing_but_the_standard_library():
    tree = ast.parse(EXAMPLE.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


@pytest.fixture
def receiver(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "COMMERCE_EU_WEBHOOK_SECRET": WEBHOOK_SECRET}
    proc = subprocess.Popen([sys.executable, "-I", str(EXAMPLE), "--port", "0", "--state", str(tmp_path / "s.db")],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("receiver: listening on http://127.0.0.1:"), proc.stderr.read()
        yield proc, first.split(" on ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_renewal_is_applied_once_and_a_repeat_gets_the_same_answer(receiver):
    proc, url = receiver
    sender = WebhookSender(url, WEBHOOK_SECRET)
    request = renewal_request("dlv-example")
    ok = (AccountResult("amazon-uk", True), AccountResult("amazon-de", True))
    assert sender(request) == Attempt(Outcome.DELIVERED, "HTTP 200", accounts=ok)
    assert sender(request) == Attempt(Outcome.DELIVERED, "HTTP 200", accounts=ok)
    ping = DeliveryRequest(EVENT_PING, "ping-1", ping_body(delivery_id="ping-1", occurred_at=datetime.now(UTC),
                                                           connector="commerce-eu"))
    assert sender(ping) == Attempt(Outcome.DELIVERED, "HTTP 200")
    assert WebhookSender(url, "whsec-wrong")(request) == Attempt(Outcome.FAILED, "HTTP 401: bad signature")
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    assert out.count("renewal 12 of amazon-eu-mws") == 1
    assert "delivery dlv-example: a repeat, answered as before" in out and "ping ping-1: ok" in out
    assert PLANTED not in out + err  # it says it got the secret, never what it is
