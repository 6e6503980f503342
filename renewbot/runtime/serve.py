"""`bot.py serve`: Slack listeners and the scheduler in one process, until SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from handlers import register_all
from jobs.connect import deliver_connectors, run_when_woken
from jobs.deliver import SlackHealth, deliver_due
from jobs.digest import deliver_digests
from jobs.followups import deliver_followups
from jobs.pacing import ChannelPacer
from jobs.scan import scan
from jobs.scheduler import build_scheduler, guarded
from renewbot.errors import ConfigError
from renewbot.runtime.config import Settings
from renewbot.runtime.deps import Deps
from renewbot.runtime.log_context import ContextExecutor
from renewbot.runtime.slack_client import make_client
from renewbot.runtime.web import make_wsgi_app

logger = logging.getLogger(__name__)
LISTENER_THREADS = 5  # bolt's own default pool size


def build_app(settings: Settings, deps: Deps) -> App:
    if not settings.slack_bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set: serve needs the bot token (xoxb-...)")
    if not settings.socket_mode and not settings.slack_signing_secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify Slack's requests")
    client = make_client(settings.slack_bot_token, settings.slack_api_url, metrics=deps.metrics)
    # Token verification at construction would block start-up on a slow Slack; check it ourselves below.
    # bolt runs listeners in its own pool; this one hands them the request's log ids (LOG_FORMAT=json).
    app = App(client=client, signing_secret=settings.slack_signing_secret or "", token_verification_enabled=False,
              listener_executor=ContextExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener"))
    register_all(app, deps=deps, admins=settings.admins)
    return app


def check_slack(app: App) -> None:
    try:
        app.client.auth_test()
    except SlackApiError as exc:
        if exc.response.get("error") in ("invalid_auth", "not_authed", "account_inactive", "token_revoked"):
            raise ConfigError(f"Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')})") from None
        logger.warning("auth.test failed (%s); carrying on", exc.response.get("error"))
    except Exception as exc:
        logger.warning("Slack unreachable at start-up (%s); carrying on, notices will wait", type(exc).__name__)


def serve(settings: Settings, deps: Deps, *, host: str = "0.0.0.0", environ: Mapping[str, str] | None = None) -> int:
    """`environ`: where connectors read their signing secrets (the process environment by default)."""
    app = build_app(settings, deps)
    check_slack(app)
    pacer = ChannelPacer()  # one per process: both jobs post into the same channels
    health = SlackHealth()  # one per process: a refused bot token pauses both jobs and turns /healthz 503
    deps.metrics.watch_tokens(deps.engine, deps.clock)  # renewbot_tokens{stage}, counted at most once a minute

    def deliver() -> None:
        # Retries between scans: notices, then the follow-ups and digests that answer in their threads.
        common = dict(engine=deps.engine, client=app.client, pacer=pacer, health=health, metrics=deps.metrics)
        deliver_due(**common, now=deps.clock())
        # A clock, not one `now`: each claim's lease starts when it is made, after the notices' pacing.
        deliver_followups(**common, clock=deps.clock, settings=settings.attention)
        deliver_digests(**common, clock=deps.clock)

    scheduler = build_scheduler(
        scan=lambda: scan(engine=deps.engine, client=app.client, now=deps.clock(), pacer=pacer, health=health,
                          metrics=deps.metrics, attention=settings.attention),
        deliver=deliver,
        interval_minutes=settings.scan_interval_minutes, clock=deps.clock,
    )
    stop = threading.Event()
    # Renewals to their platforms: every 30 s, and at once when a renewal commits (deps.wake_connectors).
    connect = guarded(lambda: deliver_connectors(engine=deps.engine, client=app.client, box=deps.box, now=deps.clock(),
                                                 environ=environ, metrics=deps.metrics), "connect")
    connector_loop = threading.Thread(target=run_when_woken, args=(connect,), name="connect", daemon=True,
                                      kwargs=dict(wake=deps.wake_connectors, stop=stop))
    scheduler.start()
    connector_loop.start()
    try:
        if settings.socket_mode:
            _serve_socket_mode(app, settings, deps, host, stop, health, pacer)
        else:
            _serve_http(app, settings, deps, host, stop, health, pacer)
    finally:
        logger.info("shutting down: stopping the scheduler")
        stop.set()
        deps.wake_connectors.set()
        scheduler.shutdown(wait=True)
        connector_loop.join(timeout=30)  # a delivery in flight finishes (its lease would cover it anyway)
        deps.engine.dispose()
    logger.info("stopped")
    return 0


def _on_sigterm(callback) -> None:
    def handler(signum, _frame):
        logger.info("received %s", signal.Signals(signum).name)
        callback()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def waitress_options(settings: Settings) -> dict:
    """Set deliberately, not left to waitress's defaults (100 connections, 120 s idle, 1 GiB bodies), which let
    a few slow or huge requests starve everyone. Production still runs behind a buffering proxy (README)."""
    return dict(
        threads=8, ident="renewbot", clear_untrusted_proxy_headers=True,
        max_request_body_size=settings.max_body_bytes,  # 413 from the Content-Length, before buffering
        connection_limit=1000,  # idle connections cost a socket each, not a thread
        channel_timeout=30,  # a connection idle this long (half-sent request included) is closed
        cleanup_interval=5,
        asyncore_use_poll=True,  # select() cannot watch more than 1024 sockets
    )


def _serve_http(app: App, settings: Settings, deps: Deps, host: str, stop: threading.Event,
                health: SlackHealth, pacer: ChannelPacer, *, slack_events: bool = True) -> None:
    """Serves PORT until SIGTERM; `slack_events=False` (Socket Mode) leaves out POST /slack/events."""
    from waitress.server import create_server

    wsgi = make_wsgi_app(app, deps.engine, settings.slack_signing_secret or "", max_body_bytes=settings.max_body_bytes,
                         slack_health=health, slack_events=slack_events, pacer=pacer, metrics=deps.metrics,
                         clock=deps.clock, deps=deps)
    server = create_server(wsgi, host=host, port=settings.port, **waitress_options(settings))

    def shutdown() -> None:
        stop.set()
        # The handler runs on the main thread, inside server.run()'s loop: waitress answers SystemExit by
        # letting its worker threads finish what they are doing and returning. Closing the server from here
        # instead raced those workers, which then wrote to a closed wake-up pipe (a traceback at exit).
        raise SystemExit(0)

    _on_sigterm(shutdown)
    if slack_events:
        logger.info("serving HTTP on %s:%s (POST /slack/events, GET /healthz)", host, settings.port)
    else:
        logger.info("listening on %s:%s for GET /healthz and /api/v1 (Slack comes over Socket Mode)", host,
                    settings.port)
    try:
        server.run()
    except SystemExit:
        pass  # a signal that arrived outside the loop
    finally:
        server.close()


def _serve_socket_mode(app: App, settings: Settings, deps: Deps, host: str, stop: threading.Event,
                       health: SlackHealth, pacer: ChannelPacer) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, app_token=settings.slack_app_token)
    _on_sigterm(stop.set)
    try:
        handler.connect()
    except SlackApiError as exc:
        raise ConfigError(f"Socket Mode: Slack refused SLACK_APP_TOKEN ({exc.response.get('error')})") from None
    logger.info("connected in Socket Mode")
    try:
        # The platform's routes are on PORT in Socket Mode too; only Slack's own URL is not needed.
        _serve_http(app, settings, deps, host, stop, health, pacer, slack_events=False)
    finally:
        handler.close()
