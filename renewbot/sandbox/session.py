"""One sandbox run: the real bot (HTTP app, signing, scheduler's work) against the in-process Slack stand-in.

Everything it makes is its own: a fresh SQLite file (`data/sandbox.db`, started over on each run because its
Slack lives in memory), a signing secret, a bot token, an encryption key and the demo platform's secret, all
made per run and never shown. It never reads DATABASE_URL and never talks to the real Slack.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from dotenv import dotenv_values
from waitress.server import create_server

from jobs.connect import deliver_connectors, run_when_woken
from jobs.deliver import SlackHealth, deliver_due
from jobs.pacing import ChannelPacer
from jobs.scan import ScanReport, scan
from jobs.scheduler import build_scheduler, guarded
from renewbot.crypto import SecretBox
from renewbot.errors import ConfigError
from renewbot.runtime.config import AttentionSettings, Settings
from renewbot.runtime.deps import Deps, utc_now
from renewbot.runtime.metrics import Metrics
from renewbot.runtime.serve import build_app, waitress_options
from renewbot.runtime.web import make_wsgi_app
from renewbot.sandbox import demo
from renewbot.sandbox.standin import SlackStandin
from storage.db import make_engine
from storage.migrate import upgrade

logger = logging.getLogger(__name__)
DATABASE = Path("data") / "sandbox.db"
INVENTORY = Path("data") / "sandbox-tokens.yml"


def configured_api_url(environ: Mapping[str, str], env_file: Path | None) -> str | None:
    """SLACK_API_URL as `serve` would read it: the environment first, then ./.env."""
    value = (environ.get("SLACK_API_URL") or "").strip()
    if not value and env_file is not None and env_file.is_file():
        value = (dotenv_values(env_file).get("SLACK_API_URL") or "").strip()
    return value or None


def refuse_foreign_api_url(configured: str | None, own: str) -> None:
    if configured and configured.rstrip("/") != own.rstrip("/"):
        raise ConfigError(f"SLACK_API_URL is set ({configured[:80]}), but the sandbox talks only to its own Slack "
                          "stand-in and never to a real workspace. Unset it for this command, e.g. "
                          "`env -u SLACK_API_URL renewbot sandbox`")


def fresh_database(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        leftover.unlink(missing_ok=True)
    return f"sqlite:///{path}"


class Sandbox:
    """start() brings everything up on 127.0.0.1:`port` (0: any free port); stop() takes it all down."""

    def __init__(self, *, port: int = 8080, root: Path | None = None, environ: Mapping[str, str] | None = None,
                 env_file: Path | None = Path(".env")) -> None:
        self.root = Path.cwd() if root is None else root
        self.database = self.root / DATABASE
        self._port = port
        self._environ = os.environ if environ is None else environ
        self._env_file = env_file
        self._offset = timedelta(0)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.standin = SlackStandin(clock=lambda: self.now().timestamp())
        self.platform: demo.DemoPlatform | None = None
        self.server = self.scheduler = self.engine = None
        self.secret_values: tuple[str, ...] = ()

    # --- the sandbox's clock: the bot's Deps.clock, moved on by the page's "advance one day" ---------------
    def now(self) -> datetime:
        return utc_now() + self._offset

    def advance(self, days: int = 1) -> ScanReport:
        self._offset += timedelta(days=days)
        return self.run_scan()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}/"

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}/slack/events"

    def start(self) -> Sandbox:
        self.standin.start()
        try:
            refuse_foreign_api_url(configured_api_url(self._environ, self._env_file), self.standin.url)
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from renewbot.sandbox.server import make_page_app  # the page needs the session; the session, its app

        demo.configure_workspace(self.standin)
        self.signing_secret = secrets.token_hex(32)
        platform_secret = secrets.token_urlsafe(32)
        # The connector reads its secret from the process environment, as in production.
        os.environ[demo.PLATFORM_SECRET_ENV] = platform_secret
        self.settings = Settings(
            slack_bot_token="xoxb-sandbox-" + secrets.token_urlsafe(24), slack_signing_secret=self.signing_secret,
            slack_app_token=None, slack_api_url=self.standin.url, database_url=fresh_database(self.database),
            token_encryption_keys=(Fernet.generate_key().decode(),), port=self._port, scan_interval_minutes=15,
            attention=AttentionSettings())
        self.secret_values = (*self.settings.secret_values(), platform_secret)
        self.engine = make_engine(self.settings.database_url)
        upgrade(self.engine)
        self.deps = Deps(engine=self.engine, box=SecretBox(self.settings.token_encryption_keys), clock=self.now,
                         metrics=Metrics.for_app())
        self.platform = demo.DemoPlatform(platform_secret).start()
        demo.load_inventory(self.engine, self.root / INVENTORY, now=self.now(), platform_url=self.platform.url)
        self.app = build_app(self.settings, self.deps)
        self._pacer, self._health = ChannelPacer(), SlackHealth()
        bot = make_wsgi_app(self.app, self.engine, self.signing_secret, max_body_bytes=self.settings.max_body_bytes,
                            slack_health=self._health, pacer=self._pacer, metrics=self.deps.metrics, clock=self.now)
        page = make_page_app(self, bot)
        try:
            self.server = create_server(page, host="127.0.0.1", port=self._port,
                                        **{**waitress_options(self.settings), "threads": 12})
        except OSError as exc:
            raise ConfigError(f"cannot listen on 127.0.0.1:{self._port} ({exc.strerror or exc}); "
                              "pick another port with --port") from None
        self._spawn(self.server.run, "sandbox-http")
        self.run_scan()  # the notices are there when the page first loads
        self._start_jobs()

    def _spawn(self, target, name: str, **kwargs) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True, kwargs=kwargs)
        thread.start()
        self._threads.append(thread)

    def _connector_environ(self) -> dict[str, str]:
        return dict(os.environ)

    def run_scan(self) -> ScanReport:
        """The scheduler's work, once, at the sandbox's now: notices, follow-ups, digests, connector deliveries."""
        return scan(engine=self.engine, client=self.app.client, now=self.now(), pacer=self._pacer, health=self._health,
                    box=self.deps.box, environ=self._connector_environ(), metrics=self.deps.metrics,
                    attention=self.settings.attention)

    def _start_jobs(self) -> None:
        # As `serve` runs them: the periodic scan, retries between scans, and connector deliveries when woken.
        def deliver() -> None:
            common = dict(engine=self.engine, client=self.app.client, now=self.now(), pacer=self._pacer,
                          health=self._health, metrics=self.deps.metrics)
            deliver_due(**common)

        self.scheduler = build_scheduler(scan=self.run_scan, deliver=deliver,
                                         interval_minutes=self.settings.scan_interval_minutes,
                                         clock=lambda: self.now() + timedelta(minutes=15))
        self.scheduler.start()
        connect = guarded(lambda: deliver_connectors(engine=self.engine, client=self.app.client, box=self.deps.box,
                                                     now=self.now(), environ=self._connector_environ(),
                                                     metrics=self.deps.metrics), "connect")
        self._spawn(run_when_woken, "sandbox-connect", job=connect, wake=self.deps.wake_connectors, stop=self._stop)

    def stop(self) -> None:
        self._stop.set()
        if self.engine is not None:
            self.deps.wake_connectors.set()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        if self.server is not None:
            # Workers first: one still finishing a request would otherwise wake a loop already closed.
            self.server.task_dispatcher.shutdown(timeout=5)
            self.server.close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        self.standin.stop()
        if self.platform is not None:
            self.platform.stop()
        if self.engine is not None:
            self.engine.dispose()
        os.environ.pop(demo.PLATFORM_SECRET_ENV, None)
