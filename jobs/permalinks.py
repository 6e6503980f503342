"""Notice permalinks: asked from Slack once per notice and stored, so Home and lists link to notices without a
chat.getPermalink per row per view; and a bounded backfill each scan for the open notices still without one."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from storage import home
from storage.db import session_scope

logger = logging.getLogger("jobs.deliver")  # as before the split: operators' filters keep matching

# Notices whose permalink is asked again per scan (open ones without one: see backfill_permalinks).
PERMALINKS_PER_PASS = 50


def _why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        answered = isinstance(exc.response.data, dict)
        return str(exc.response.get("error") if answered and exc.response.get("error")
                   else f"http {exc.response.status_code}")
    return type(exc).__name__


def store_permalink(engine: Engine, client: WebClient, notice_id: int, channel: str, ts: str, *,
                    quiet: bool = False) -> str:
    """Asked when the notice is posted (or adopted). Best effort: without it a row simply has no link, and
    backfill_permalinks asks again later. Returns "stored", "failed" or "ratelimited"."""
    try:
        permalink = client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
        with session_scope(engine) as session:
            home.set_permalink(session=session, notice_id=notice_id, permalink=permalink)
        return "stored"
    except Exception as exc:
        (logger.debug if quiet else logger.warning)("notice %s: could not store its permalink (%s)", notice_id,
                                                    _why(exc))
        limited = isinstance(exc, SlackApiError) and exc.response.status_code == 429
        return "ratelimited" if limited else "failed"


def backfill_permalinks(*, engine: Engine, client: WebClient, limit: int = PERMALINKS_PER_PASS) -> int:
    """Stores the links of open notices that have none: posted before links were stored (migration 0006), a
    getPermalink that failed, or a crash between recording the post and storing its link. At most `limit`
    calls a pass, each outside any transaction; stops at a rate limit. Returns how many links it stored."""
    with session_scope(engine) as session:
        unlinked = home.unlinked_notices(session=session, limit=limit)
    stored = 0
    for notice in unlinked:
        outcome = store_permalink(engine, client, notice.notice_id, notice.channel, notice.ts, quiet=True)
        if outcome == "ratelimited":
            logger.info("permalinks: Slack asks to slow down; %d stored this pass, the rest next pass", stored)
            break
        stored += outcome == "stored"
    if stored or len(unlinked) > stored:
        logger.info("permalinks: %d stored, %d without one still (asked again next pass)", stored,
                    len(unlinked) - stored)
    return stored
