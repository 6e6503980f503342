"""`renewbot digest`, and what `scan --dry-run [--now]` prints about follow-ups and digests."""

from __future__ import annotations

import sys
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from jobs.digest import HORIZON, MANUAL, deliver_digests, digest_content, due_slot, manual_week, plan_manual
from jobs.followups import due_followups, followup_text
from jobs.plan import due_notices
from renewbot.domain.attention import PostedNotice
from renewbot.errors import ConfigError
from renewbot.runtime.config import AttentionSettings, Settings
from renewbot.runtime.deps import Deps
from renewbot.runtime.slack_client import make_client
from storage import followups as reads
from storage import notices
from storage.db import session_scope
from storage.models import Digest, Followup


def parse_now(text: str) -> datetime:
    """--now: ISO 8601 with Z or an offset ("2027-01-15T09:00Z"); a time without a zone would be a guess."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--now {text[:40]!r} is not an ISO 8601 time (e.g. 2027-01-15T09:00Z)") from None
    if moment.tzinfo is None:
        raise ConfigError(f"--now {text[:40]!r} has no time zone: end it with Z or an offset like +01:00")
    return moment


def check_now_allowed(dry_run: bool, settings: AttentionSettings) -> None:
    if not dry_run and not settings.allow_now:
        raise ConfigError("--now only goes with --dry-run: a real scan at another time would post the wrong "
                          "things (RENEWBOT_ALLOW_NOW=1 allows it, for tests)")


def followup_dry_run_lines(engine: Engine, now: datetime, settings: AttentionSettings) -> list[str]:
    """The follow-ups and digests a scan at `now` would post: after the notices it would post (taken as posted
    at `now`), as the real pass does."""
    lines = []
    with session_scope(engine, commit=False) as session:
        extra: dict = {}
        for item in due_notices(session=session, now=now):
            root = notices.root_ts(session=session, token_id=item.token.id, expires_at=item.token.expires_at)
            extra.setdefault(item.token.id, (item.token, []))[1].append(
                PostedNotice(stage=item.stage, sent_at=now, thread_ts=root))
        for item in due_followups(session=session, now=now, settings=settings, extra=extra):
            row = Followup(kind=item.due.kind, key=item.due.key, channel=item.channel)
            text, _ = followup_text(row, item.token, settings, now)
            where = f"thread {item.due.thread_ts}" if item.due.thread_ts else "the thread of the notice above"
            lines += [f"[dry-run] would reply in {item.channel} ({where}), {item.due.kind} {item.due.key}:",
                      f"  {text}"]
        slot = due_slot(now, settings)
        done = set(session.exec(select(Digest.channel).where(Digest.week == slot.week)).all())
        for channel in reads.digest_channels(session=session, until=now + HORIZON):
            content = None if channel in done else digest_content(session=session, channel=channel,
                                                                  week=slot.week, now=now)
            if content is not None:
                lines += [f"[dry-run] would post the weekly digest {slot.week} to {channel}:",
                          *_digest_lines(content)]
    return lines


def _digest_lines(content: tuple[str, list[dict]]) -> list[str]:
    text, blocks = content
    return [f"  {text}", *(f"    {b['text']['text']}" if b["type"] == "section" else
                           f"    {b['elements'][0]['text']}" for b in blocks[1:])]


def cmd_digest(*, settings: Settings, deps: Deps, channel: str | None, dry_run: bool) -> int:
    """This week's digest now (each channel with something to say, or `channel`). Once the week's slot has
    passed it shares the weekly run's (channel, week) key, so between them it is posted once; before the slot
    it posts under the week + "m", so an early run does not use up the scheduled one. A second run says it was
    already posted."""
    now = deps.clock()
    week = manual_week(now, settings.attention)
    shown = week.removesuffix(MANUAL)
    if dry_run:
        with session_scope(deps.engine, commit=False) as session:
            channels = [channel] if channel else reads.digest_channels(session=session, until=now + HORIZON)
            for name in channels:
                content = digest_content(session=session, channel=name, week=week, now=now)
                if content is None:
                    print(f"[dry-run] {name}: nothing to say this week ({shown})")
                else:
                    print(f"[dry-run] would post the weekly digest {shown} to {name}:")
                    print("\n".join(_digest_lines(content)))
        return 0
    if not settings.slack_bot_token:
        print("digest: SLACK_BOT_TOKEN is not set (use --dry-run to see the digest)", file=sys.stderr)
        return 2
    planned = plan_manual(engine=deps.engine, now=now, settings=settings.attention, channel=channel)
    report = deliver_digests(engine=deps.engine, client=make_client(settings.slack_bot_token, settings.slack_api_url),
                             now=now, channel=channel)
    with session_scope(deps.engine) as session:
        for item in planned:
            row = session.exec(select(Digest).where(Digest.channel == item.channel, Digest.week == week)).one()
            if not item.new and item.state in ("sent", "skipped"):
                said = "already posted" if item.state == "sent" else "already checked (nothing to say)"
                print(f"digest: {item.channel}: {said} this week ({shown})")
            elif row.id in report.sent:
                print(f"digest: {item.channel}: posted ({shown})")
            elif row.id in report.closed:
                print(f"digest: {item.channel}: nothing to say this week ({shown})")
            else:
                why = f": {row.last_error}" if row.last_error else ""
                print(f"digest: {item.channel}: not posted ({row.state}{why})" + (
                    "; the scheduler retries it" if row.state in ("pending", "sending") else
                    "; not retried: Slack refused it for good, fix the channel (see `renewbot status`)"))
    return 0
