"""The README's "Connecting your platform" section against the code: the snippet verifies, the shapes match."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from renewbot.connectors.payload import ping_body
from renewbot.connectors.registry import ENTRY_POINT_GROUP
from renewbot.connectors.signing import sign
from tests.connectors.conftest import renewal_request

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SECTION = README.split("## Connecting your platform", 1)[1].split("\n## ", 1)[0]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", SECTION, re.S)


def test_the_verification_snippet_accepts_our_signature_and_nothing_else():
    (snippet,) = blocks("python")
    scope: dict = {}
    exec(snippet, scope)  # our own README: the snippet people will copy
    verify = scope["verify"]
    body = renewal_request().body
    now = int(time.time())
    assert verify("whsec-r", body, sign("whsec-r", body, now))
    assert not verify("whsec-r", body + b" ", sign("whsec-r", body, now))
    assert not verify("whsec-other", body, sign("whsec-r", body, now))
    assert not verify("whsec-r", body, sign("whsec-r", body, now - 301))


def test_the_documented_bodies_have_the_keys_we_send():
    documented = [json.loads(block) for block in blocks("json")]
    renewed = next(d for d in documented if d.get("type") == "token.renewed")
    sent = json.loads(renewal_request().body)
    assert list(renewed) == list(sent) and list(renewed["token"]) == list(sent["token"])
    assert list(renewed["accounts"][0]) == list(sent["accounts"][0])
    reply = next(d for d in documented if "type" not in d)
    assert set(reply["accounts"][1]) == {"id", "ok", "error"}
    ping = next(d for d in documented if d.get("type") == "ping")
    sent_ping = json.loads(ping_body(delivery_id="p", occurred_at=datetime.now(UTC), connector="c"))
    assert list(ping) == list(sent_ping)


def test_the_section_names_the_contract():
    for needed in ("Renewbot-Delivery", "Renewbot-Signature", "Renewbot-Event", "EX_TEMPFAIL", "Retry-After",
                   "renewbot connectors test", f'"{ENTRY_POINT_GROUP}"', "examples/receiver.py",
                   "RENEWBOT_DELIVERY", "RENEWBOT_EVENT", "drop repeats"):
        assert needed in SECTION, needed
