"""Events: the bot added to a channel (member_joined_channel) posts the notices that failed there.

A private channel the bot is not in answers channel_not_found; once someone invites the bot, that
channel's failed notices go back in the queue and are posted, with no command to run.
"""

from __future__ import annotations

import logging
import threading

from slack_bolt import App
from slack_sdk import WebClient

from jobs.deliver import deliver_due
from renewbot.runtime.deps import Deps
from renewbot.usecases.failures import requeue_failed
from storage.db import session_scope

logger = logging.getLogger(__name__)


def register(app: App, *, deps: Deps) -> None:
    @app.event("member_joined_channel")
    def _member_joined(event, context, client):
        # bolt acknowledges events itself; this listener runs after the ack.
        on_member_joined(event=event, bot_user_id=context.bot_user_id, client=client, deps=deps)


def on_member_joined(*, event: dict, bot_user_id: str | None, client: WebClient, deps: Deps) -> threading.Thread | None:
    """When the member is the bot itself: re-queues the channel's failed notices and posts them in a thread of
    their own (returned, for tests). Anyone else joining is none of the bot's business."""
    channel = event.get("channel")
    if not bot_user_id or event.get("user") != bot_user_id or not isinstance(channel, str):
        return None
    with session_scope(deps.engine) as session:
        retried = requeue_failed(session=session, now=deps.clock(), channel=channel)
    if not retried:
        return None
    logger.info("added to %s: posting its %d failed notice(s)", channel, len(retried))
    thread = threading.Thread(target=_deliver, args=(client, deps, channel), name="deliver-joined", daemon=True)
    thread.start()
    return thread


def _deliver(client: WebClient, deps: Deps, channel: str) -> None:
    try:
        deliver_due(engine=deps.engine, client=client, now=deps.clock(), channel=channel)
    except Exception:
        # The notices are pending again: the scheduler's next delivery pass posts them.
        logger.exception("posting %s's re-queued notices failed; the scheduler will retry", channel)
