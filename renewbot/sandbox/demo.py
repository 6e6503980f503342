"""The sandbox's world: who you can be, the demo inventory dated from today, and a platform that answers.

The inventory is `renewbot demo`'s (tokens at 30 days, 3 days and expired, accounts switched off), with one
token delivered to a built-in platform through a real webhook connector, signed with a secret made per run.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy.engine import Engine

from renewbot.connectors.signing import verify
from renewbot.sandbox.standin import SlackStandin
from renewbot.usecases.demo import inventory_text
from renewbot.usecases.importing import import_file
from storage.db import session_scope

logger = logging.getLogger(__name__)

OWNER, MEMBER, STRANGER = "U0123OWNER", "U0123MEMBER", "U0123STRANGER"
OWNER_GROUP, OWNER_GROUP_HANDLE = "S0123GROUP", "token-owners"
PLATFORM_SECRET_ENV = "RENEWBOT_SANDBOX_PLATFORM_SECRET"
PLATFORM_CONNECTOR = "demo-platform"
PLATFORM_TOKEN = "shipping-api-key"  # the token renewed through the demo platform


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    role: str  # what the picker says about them


PEOPLE = (
    Person(OWNER, "Olivia", "an owner of every demo token"),
    Person(MEMBER, "Gus", f"in @{OWNER_GROUP_HANDLE}, an owner group of the Amazon EU token"),
    Person(STRANGER, "Sam", "not an owner of anything"),
)
CHANNEL_NAMES = {"C0123ALERTS": "token-alerts", "C0456OPS": "ops"}


def people_by_id() -> dict[str, Person]:
    return {p.user_id: p for p in PEOPLE}


def configure_workspace(standin: SlackStandin) -> None:
    """Makes the picker's claims true in the stand-in: the group, the people and who is in which channel."""
    standin.usergroups = {OWNER_GROUP: [MEMBER]}
    standin.usergroup_handles = {OWNER_GROUP: OWNER_GROUP_HANDLE}
    standin.users = {p.user_id: {"name": p.name.lower(), "real_name": p.name} for p in PEOPLE}
    everyone = [p.user_id for p in PEOPLE]
    standin.channel_members = {channel: list(everyone) for channel in CHANNEL_NAMES}


def inventory(today: date, platform_url: str) -> str:
    """`renewbot demo`'s file, with the demo platform as one token's connector."""
    text = inventory_text(today)
    connectors = (f"connectors:\n  - id: {PLATFORM_CONNECTOR}\n    type: webhook\n    url: {platform_url}\n"
                  f"    secret_env: {PLATFORM_SECRET_ENV}\n")
    marker = f"  - id: {PLATFORM_TOKEN}\n"
    if marker not in text or "\naccounts:\n" not in text:
        raise RuntimeError("the demo inventory changed shape: update renewbot/sandbox/demo.py")
    text = text.replace("\naccounts:\n", f"\n{connectors}accounts:\n", 1)
    # Block lists in the file are indented by four under a token's "- id:" line.
    return text.replace(marker, f"{marker}    connector: {PLATFORM_CONNECTOR}\n", 1)


def load_inventory(engine: Engine, path: Path, *, now, platform_url: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(inventory(now.date(), platform_url), encoding="utf-8")
    with session_scope(engine) as session:
        import_file(path, session=session, now=now)


class DemoPlatform:
    """A platform that takes renewals: checks Renewbot-Signature and answers that every account is applied."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self.received: list[dict] = []  # what it applied: event type, token id, accounts (never the secret)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/renewbot"

    def start(self) -> DemoPlatform:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1024 * 1024))
                status, answer = platform.answer(body, self.headers.get("Renewbot-Signature", ""))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True, name="demo-platform").start()
        return self

    def answer(self, body: bytes, signature: str) -> tuple[int, dict]:
        if not verify(self._secret, body, signature, time.time()):
            return 401, {"error": "bad signature"}
        try:
            event = json.loads(body)
        except ValueError:
            return 400, {"error": "not JSON"}
        accounts = [a["id"] for a in event.get("accounts") or []]
        self.received.append({"type": event.get("type"), "token": (event.get("token") or {}).get("id"),
                              "accounts": accounts})
        return 200, {"accounts": [{"id": account, "ok": True} for account in accounts]}

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
