"""Planning: decide which notices are due and record them, before anything is posted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from renewbot.domain.thresholds import OK
from renewbot.runtime.metrics import NO_METRICS, Metrics
from renewbot.usecases.kinds import ladders, token_stage
from storage import notices, queries
from storage.db import session_scope
from storage.models import Token


@dataclass(frozen=True)
class DueNotice:
    token: Token
    stage: str


def due_notices(*, session, now: datetime) -> list[DueNotice]:
    """Tokens whose current stage has no notice yet for their current expiry."""
    due = []
    kind_ladders = ladders(session=session)
    for token in queries.tokens_due(session=session, now=now):
        stage = token_stage(token, now, kind_ladders)
        if stage == OK:
            continue
        if stage not in notices.notice_stages(session=session, token_id=token.id, expires_at=token.expires_at):
            due.append(DueNotice(token, stage))
    return due


def plan_notices(*, engine: Engine, now: datetime, metrics: Metrics | None = None) -> int:
    """Records due notices as pending. Safe to run twice or concurrently: the unique key decides."""
    planned: list[str] = []  # their stages
    with session_scope(engine) as session:
        for item in due_notices(session=session, now=now):
            if notices.insert_notice_if_absent(session=session, token=item.token, stage=item.stage, now=now):
                planned.append(item.stage)
                notices.supersede_pending(session=session, token_id=item.token.id,
                                          expires_at=item.token.expires_at, keep_stage=item.stage, now=now)
    # Counted once committed (session_scope left without an exception): a rolled-back plan planned nothing.
    for stage in planned:
        (metrics or NO_METRICS).notice(stage, "planned")
    return len(planned)
