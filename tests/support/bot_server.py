"""The bot's real HTTP stack (waitress + bolt's WSGI adapter) on a random local port, for tests."""

from __future__ import annotations

import json
import socket
import threading
import time

from waitress.server import create_server

from renewbot.runtime.config import Settings
from renewbot.runtime.deps import Deps
from renewbot.runtime.serve import build_app, waitress_options
from renewbot.runtime.web import make_wsgi_app
from tests.support.slack_requests import (
    block_actions_payload,
    form_payload_body,
    post_signed,
    slash_command_body,
    view_submission_payload,
)

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"


def standin_settings(api_url: str, **overrides) -> Settings:
    values = dict(slack_bot_token="xoxb-test-token", slack_signing_secret=SIGNING_SECRET, slack_app_token=None,
                  slack_api_url=api_url, database_url="sqlite://", token_encryption_keys=(), port=0,
                  scan_interval_minutes=15)
    values.update(overrides)
    return Settings(**values)


class BotServer:
    def __init__(self, settings: Settings, deps: Deps, slack, *, port: int = 0) -> None:
        """`port`: 0 for any free one; a reserved one (free_port()) when deps.entry.public_url must name it."""
        self.slack = slack
        self.app = build_app(settings, deps)
        wsgi = make_wsgi_app(self.app, deps.engine, settings.slack_signing_secret,
                             max_body_bytes=settings.max_body_bytes, deps=deps)
        # The production server's options, with fewer threads for a test.
        self.server = create_server(wsgi, host="127.0.0.1", port=port,
                                    **{**waitress_options(settings), "threads": 4})
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.events = self.url + "/slack/events"
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> BotServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()
        self._thread.join(5)

    def post(self, body: str, **kw) -> tuple[int, dict, bytes]:
        return post_signed(self.events, body, SIGNING_SECRET, **kw)

    def command(self, text: str = "", *, user: str = "U0OWNER", channel: str = "C0ALERTS") -> tuple[int, bytes]:
        status, _, body = self.post(slash_command_body(
            text=text, user_id=user, channel_id=channel, response_url=self.slack.response_url("cmd")))
        return status, body

    def click(self, action_id: str, value: str, *, message: dict, user: str = "U0OWNER",
              channel: str = "C0ALERTS") -> int:
        payload = block_actions_payload(action_id=action_id, value=value, user_id=user, channel_id=channel,
                                        message=message, response_url=self.slack.response_url("click"))
        return self.post(form_payload_body(payload))[0]

    def pick(self, view: dict, option: dict, *, user: str = "U0OWNER") -> int:
        from renewbot.blocks import ids
        payload = block_actions_payload(action_id=ids.TOKEN_SELECT, block_id=ids.TOKEN_BLOCK, view=view,
                                        user_id=user, action_type="static_select", selected_option=option)
        return self.post(form_payload_body(payload))[0]

    def submit(self, view: dict, values: dict, *, user: str = "U0OWNER") -> tuple[int, dict | None]:
        payload = view_submission_payload(view=view, values=values, user_id=user)
        status, _, body = self.post(form_payload_body(payload))
        return status, (json.loads(body) if body.strip() else None)


def free_port() -> int:
    """A local port nothing listens on now, for a server whose public URL must be known before it starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settle(seconds: float = 0.3) -> None:
    """Listeners run after the ack; give them a moment before asserting that nothing happened."""
    time.sleep(seconds)
