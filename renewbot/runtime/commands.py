"""What each command does, once the CLI has built settings and dependencies. Each returns an exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy.engine import Engine

from jobs.plan import due_notices
from jobs.scan import scan
from renewbot.blocks.notice import notice_buttons, notice_text
from renewbot.errors import ImportFileError
from renewbot.runtime.config import Settings
from renewbot.runtime.deps import Deps
from renewbot.runtime.slack_client import make_client
from renewbot.usecases import audit, demo
from renewbot.usecases.failures import requeue_failed
from renewbot.usecases.importing import import_file
from renewbot.usecases.keys import check_keys, rotate_keys
from renewbot.usecases.retire import retire
from renewbot.usecases.status import collect, render_text
from storage import notices, queries
from storage.db import session_scope
from storage.migrate import Upgrade


def cmd_serve(*, settings: Settings, deps: Deps) -> int:
    from renewbot.runtime.serve import serve  # bolt and waitress load only for the server

    return serve(settings, deps)


def cmd_migrate(migration: Upgrade) -> int:
    print("migrate: applied pending migrations" if migration.applied else "migrate: the database is up to date")
    return 0


def cmd_rotate_keys(*, deps: Deps) -> int:
    print(f"rotate-keys: re-encrypted {rotate_keys(deps.engine, deps.box)} secret(s) under the newest key")
    return 0


def check_stored_keys(deps: Deps) -> None:
    check_keys(deps.engine, deps.box)


def cmd_demo(path: str, *, settings: Settings, deps: Deps) -> int:
    """A demo inventory dated from today, so every run shows notices at several stages."""
    written = demo.write_inventory(Path(path), today=deps.clock().date())
    print(f"demo: wrote {written} (tokens at 30 days, 3 days and expired, dated from today)")
    return cmd_import(str(written), deps=deps) or cmd_scan(settings=settings, deps=deps, dry_run=False)


def cmd_import(path: str, *, deps: Deps, dry_run: bool = False, force_expiry: bool = False) -> int:
    try:
        with session_scope(deps.engine, commit=not dry_run) as session:
            report = import_file(Path(path), session=session, now=deps.clock(), force_expiry=force_expiry)
    except ImportFileError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    if dry_run:
        print("\n".join(f"  {line}" for line in report.changes) or "  nothing would change")
        print(f"{path}: dry run, nothing was written (would be: {report.summary()})")
        return 0
    kept = [line for line in report.changes if "kept the stored date" in line]
    print("\n".join(f"  {line}" for line in kept), end="\n" if kept else "")
    print(f"{path}: imported ({report.summary()})")
    return 0


def cmd_status(*, deps: Deps, as_json: bool) -> int:
    with session_scope(deps.engine) as session:
        status = collect(session=session, now=deps.clock())
    print(json.dumps(status.to_json(), indent=2) if as_json else render_text(status))
    return 0


def dry_run_lines(engine: Engine, now) -> list[str]:
    lines = []
    with session_scope(engine) as session:
        for item in due_notices(session=session, now=now):
            token = item.token
            accounts = queries.token_accounts(session=session, token_id=token.id)
            root = notices.root_ts(session=session, token_id=token.id, expires_at=token.expires_at)
            where = f"reply in thread {root}, and edit that notice" if root else "new message"
            buttons = [b["text"]["text"] for b in notice_buttons(token, accounts)]
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


def cmd_retire(row_id: str, *, account: bool, undo: bool, deps: Deps) -> int:
    with session_scope(deps.engine) as session:
        result = retire(session=session, row_id=row_id, account=account, undo=undo, now=deps.clock())
    if result is None:
        print(f"retire: no {'account' if account else 'token'} with id {row_id!r}", file=sys.stderr)
        return 2
    print(f"retire: {result.summary()}")
    return 0


def cmd_audit(*, token_id: str | None, as_json: bool, as_csv: bool, deps: Deps) -> int:
    with session_scope(deps.engine) as session:
        entries = audit.collect(session=session, token_id=token_id)
    if as_json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
    elif as_csv:
        sys.stdout.write(audit.render_csv(entries))
    else:
        print(audit.render_text(entries))
    return 0


def cmd_retry_failed(*, channel: str | None, deps: Deps) -> int:
    """Failed notices back in the queue, in their token's current channel: for after the cause was fixed."""
    with session_scope(deps.engine) as session:
        retried = requeue_failed(session=session, now=deps.clock(), channel=channel)
    where = f" for {channel}" if channel else ""
    print(f"retry-failed: re-queued {len(retried)} failed notice(s){where}; "
          "`renewbot serve` posts them within a minute, or run `renewbot scan`")
    return 0
