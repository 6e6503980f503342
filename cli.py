"""The one-shot commands: import, scan, status. Each returns an exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy.engine import Engine

from blocks.notice import notice_text, settings_url
from deps import Deps
from errors import ImportFileError
from importer import import_file
from jobs.plan import due_notices
from jobs.scan import scan
from slack_client import make_client
from storage import queries
from storage.db import session_scope
from status import collect, render_text
from config import Settings


def cmd_import(path: str, *, deps: Deps) -> int:
    try:
        with session_scope(deps.engine) as session:
            report = import_file(Path(path), session=session, now=deps.clock())
    except ImportFileError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    print(f"{path}: imported ({report.summary()})")
    return 0


def cmd_status(*, deps: Deps, as_json: bool) -> int:
    with session_scope(deps.engine) as session:
        data = collect(session=session, now=deps.clock())
    print(json.dumps(data, indent=2) if as_json else render_text(data))
    return 0


def dry_run_lines(engine: Engine, now) -> list[str]:
    lines = []
    with session_scope(engine) as session:
        for item in due_notices(session=session, now=now):
            token = item.token
            accounts = queries.token_accounts(session=session, token_id=token.id)
            root = queries.root_ts(session=session, token_id=token.id, expires_at=token.expires_at)
            where = f"reply in thread {root}, and edit that notice" if root else "new message"
            buttons = ["Renew", "Renewal steps"] + (["Open settings"] if settings_url(accounts) else [])
            lines += [
                f"[dry-run] would post to {token.channel} ({where}), stage {item.stage}:",
                f"  {notice_text(token, item.stage, now)}",
                f"  accounts: {', '.join(a.name for a in accounts) or 'none'}",
                f"  buttons: {' · '.join(buttons)}",
            ]
    return lines


def cmd_scan(*, settings: Settings, deps: Deps, dry_run: bool) -> int:
    now = deps.clock()
    if not dry_run and not settings.slack_bot_token:
        print("scan: SLACK_BOT_TOKEN is not set, so this is a dry run: nothing is posted or recorded.",
              file=sys.stderr)
        dry_run = True
    if dry_run:
        lines = dry_run_lines(deps.engine, now)
        print("\n".join(lines) if lines else "[dry-run] nothing is due")
        return 0
    report = scan(engine=deps.engine, client=make_client(settings.slack_bot_token, settings.slack_api_url), now=now)
    d = report.delivery
    print(f"scan: {report.planned} planned, {len(d.sent)} sent, {len(d.retrying)} to retry, {len(d.failed)} failed")
    return 0
