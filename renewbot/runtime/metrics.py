"""What `GET /metrics` serves: counters the jobs and handlers increment, and a gauge read at scrape time.

One Metrics per process (built with Deps, passed down), each with its own CollectorRegistry: nothing is
registered in prometheus_client's global one, so two apps (or two tests) never share a count. The server is
one process with threads; prometheus_client's metrics are thread-safe, so its multi-process mode (for
forking servers) is not needed.

Every label takes values from a bounded set (stages, outcomes, Slack method names, kind and connector ids):
never a token id, a channel or an error text, so the number of series stays small.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import String, case, cast, func, select
from sqlalchemy.engine import Engine

from renewbot.domain.thresholds import DEFAULT_LADDER, EXPIRED, OK, ladder_for, stage_name
from renewbot.usecases.kinds import ladders
from storage.db import session_scope
from storage.models import Token

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNKNOWN = "unknown"  # a token whose expiry is not read from its source yet
# Slack calls take tens of milliseconds to a few seconds (retries included, see slack_client.py).
SLACK_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SCAN_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# The tokens gauge reads the token table (two grouped queries): at most once a minute, whatever the scrape rate.
TOKENS_MAX_AGE = 60.0


class Metrics:
    """`registry=None` keeps every metric unregistered (nobody can scrape them); a caller given no Metrics uses
    NO_METRICS, which keeps nothing."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry
        self._notices = Counter("renewbot_notices", "Notices by stage and outcome (planned, sent, failed)",
                                ("stage", "outcome"), registry=registry)
        self._followups = Counter("renewbot_followups", "Reminders and escalations by kind and outcome",
                                  ("kind", "outcome"), registry=registry)
        self._renewals = Counter("renewbot_renewals", "Renewals saved, by token kind", ("kind",), registry=registry)
        self._deliveries = Counter("renewbot_connector_deliveries",
                                   "Connector delivery attempts by result (delivered, failed, retrying, ...)",
                                   ("result",), registry=registry)
        self._slack_calls = Counter("renewbot_slack_api_calls", "Slack Web API calls by method and outcome",
                                    ("method", "outcome"), registry=registry)
        self._slack_seconds = Histogram("renewbot_slack_api_call_seconds",
                                        "Slack Web API call latency, retries included", ("method",),
                                        buckets=SLACK_BUCKETS, registry=registry)
        self._scan_seconds = Histogram("renewbot_scan_duration_seconds", "How long one scan (plan + deliver) took",
                                       buckets=SCAN_BUCKETS, registry=registry)
        self._tokens_watched = False

    @classmethod
    def for_app(cls) -> Metrics:
        return cls(CollectorRegistry(auto_describe=True))

    def notice(self, stage: str, outcome: str) -> None:
        self._notices.labels(stage, outcome).inc()

    def followup(self, kind: str, outcome: str) -> None:
        """A reminder or escalation ("reminder", "escalation") planned, sent or failed."""
        self._followups.labels(kind, outcome).inc()

    def renewal(self, kind: str) -> None:
        self._renewals.labels(kind).inc()

    def connector_delivery(self, result: str) -> None:
        self._deliveries.labels(result).inc()

    def slack_call(self, method: str, outcome: str, seconds: float) -> None:
        self._slack_calls.labels(method, outcome).inc()
        self._slack_seconds.labels(method).observe(seconds)

    @contextmanager
    def scan_timer(self) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self._scan_seconds.observe(time.monotonic() - started)

    def watch_tokens(self, engine: Engine, clock: Callable[[], datetime], *, max_age: float = TOKENS_MAX_AGE,
                     timer: Callable[[], float] = time.monotonic) -> None:
        """Adds renewbot_tokens{stage}, counted from the database at a scrape when the last count is older than
        `max_age` seconds (by `timer`). Once per Metrics."""
        if self.registry is not None and not self._tokens_watched:
            self.registry.register(_TokenStages(engine, clock, max_age=max_age, timer=timer))
            self._tokens_watched = True

    def render(self) -> bytes:
        return generate_latest(self.registry) if self.registry is not None else b""


class _TokenStages:
    """The tokens-by-stage gauge, counted by tokens_by_stage at most once per `max_age` seconds: each count
    reads the whole token table, and Prometheus (or several) may scrape every few seconds. When the count fails
    (the database is down), the last one is served and a warning logged: the scrape itself never fails for it,
    so the other metrics still arrive. Before any count succeeded the gauge has no samples. A failed count is
    not retried before `max_age` either, and while one runs other scrapes serve the last count, so a database
    that hangs holds one scrape a minute, not all of them."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], *, max_age: float,
                 timer: Callable[[], float]) -> None:
        self._engine, self._clock, self._max_age, self._timer = engine, clock, max_age, timer
        self._lock = threading.Lock()  # one count at a time; a scrape meanwhile serves the last one
        self._counted: dict[str, int] = {}
        self._at: float | None = None

    def describe(self):  # no database read at registration
        return [GaugeMetricFamily("renewbot_tokens", "Live tokens by stage now", labels=("stage",))]

    def _current(self) -> dict[str, int]:
        if not self._lock.acquire(blocking=False):
            return self._counted
        try:
            now = self._timer()
            if self._at is None or now - self._at >= self._max_age:
                self._at = now
                try:
                    self._counted = tokens_by_stage(self._engine, self._clock())
                except Exception as exc:
                    logger.warning("renewbot_tokens: counting tokens failed (%s); serving the last count",
                                   type(exc).__name__)
            return self._counted
        finally:
            self._lock.release()

    def collect(self):
        family = GaugeMetricFamily("renewbot_tokens", "Live tokens by stage now", labels=("stage",))
        for stage, count in sorted(self._current().items()):
            family.add_metric((stage,), count)
        yield family


def tokens_by_stage(engine: Engine, now: datetime) -> dict[str, int]:
    own_ladder = cast(Token.notify_days, String)
    live = (Token.retired.is_(False),)
    with session_scope(engine) as session:
        kind_ladders = ladders(session=session)
        own = [json.loads(raw) for raw in session.scalars(select(own_ladder).where(*live).distinct()) if raw]
        days = sorted({*DEFAULT_LADDER, *(d for lad in kind_ladders.values() for d in lad),
                       *(d for lad in own if lad for d in ladder_for(lad))})
        bucket = case(
            (Token.expiry_known.is_(False), -1),
            (Token.expires_at <= now, 0),
            *((Token.expires_at <= now + timedelta(days=d), d) for d in days),
            else_=days[-1] + 1,
        )
        rows = session.execute(select(Token.kind, own_ladder, bucket, func.count())
                               .where(*live).group_by(Token.kind, own_ladder, bucket)).all()
    tally: Tally[str] = Tally({OK: 0, EXPIRED: 0, UNKNOWN: 0})
    for kind, raw_ladder, b, count in rows:
        ladder = ladder_for((json.loads(raw_ladder) if raw_ladder else None) or kind_ladders.get(kind))
        if b == -1:
            stage = UNKNOWN
        elif b == 0:
            stage = EXPIRED
        else:
            crossed = [d for d in ladder if d >= b]
            stage = stage_name(min(crossed)) if crossed else OK
        tally[stage] += count
    return dict(tally)


class NullMetrics(Metrics):
    """Counts nothing and keeps nothing: for callers given no Metrics (one-shot commands, tests of other
    things). Every method of Metrics is overridden (tests/runtime/test_metrics.py checks)."""

    def __init__(self) -> None:
        self.registry = None

    def notice(self, stage: str, outcome: str) -> None:
        pass

    def followup(self, kind: str, outcome: str) -> None:
        pass

    def renewal(self, kind: str) -> None:
        pass

    def connector_delivery(self, result: str) -> None:
        pass

    def slack_call(self, method: str, outcome: str, seconds: float) -> None:
        pass

    @contextmanager
    def scan_timer(self) -> Iterator[None]:
        yield

    def watch_tokens(self, engine: Engine, clock: Callable[[], datetime], **_) -> None:
        pass

    def render(self) -> bytes:
        return b""


NO_METRICS = NullMetrics()
