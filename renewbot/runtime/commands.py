"""What each command does, once the CLI has built settings and dependencies. Each returns an exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from sqlalchemy.engine import Engine

from jobs.plan import due_notices
from jobs.scan import scan
from renewbot.blocks.notice import notice_button_labels, notice_text
from renewbot.connectors.ping import send_ping
from renewbot.connectors.registry import connector_types
from renewbot.errors import ConfigError, ImportFileError
from renewbot.runtime import followup_commands
from renewbot.runtime.config import Settings
from renewbot.runtime.deps import Deps
from renewbot.runtime.slack_client import make_client
from renewbot.usecases import apikeys, audit, demo
from renewbot.usecases.failures import requeue_failed
from renewbot.usecases.importing import import_file
from renewbot.usecases.keys import check_keys, rotate_keys
from renewbot.usecases.retire import retire
from renewbot.usecases.status import collect, render_text
from storage import notices, queries
from storage.db import session_scope
from storage.migrate import Upgrade
from storage.models import Connector


def cmd_serve(*, settings: Settings, deps: Deps, connectors: ConnectorSetup) -> int:
    from renewbot.runtime.serve import serve  # bolt and waitress load only for the server

    connectors.refuse_if_broken()
    return serve(settings, deps, environ=connectors.environ)


def cmd_sandbox(*, port: int, check: bool) -> int:
    from renewbot.sandbox.command import run  # the page, the stand-in and the demo platform load only here

    return run(port=port, check=check)


def sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    from renewbot.sandbox.command import arguments

    arguments(parser)


def connector_environ() -> dict[str, str]:
    """Where connectors read their signing secrets: the environment, and ./.env as Settings reads it."""
    env_file = Path(".env")
    found = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if env_file.is_file() else {}
    return {**found, **os.environ}


@dataclass(frozen=True)
class ConnectorSetup:
    """The stored connectors as this process can use them, read once per command: the signing secrets the log
    formatter redacts by value, and what stops serve and scan from starting."""
    environ: Mapping[str, str]
    secret_values: tuple[str, ...]
    problems: tuple[str, ...]

    def refuse_if_broken(self) -> None:
        """serve and scan refuse to start, in one line, while a stored connector could not sign what it sends."""
        if self.problems:
            raise ConfigError(f"connector signing secrets missing: {'; '.join(self.problems)}. "
                              "Set them, then start again")


def read_connector_setup(deps: Deps, environ: Mapping[str, str] | None = None) -> ConnectorSetup:
    environ = connector_environ() if environ is None else environ
    types = connector_types()
    with session_scope(deps.engine) as session:
        stored = queries.list_connectors(session=session)
    secrets, problems = [], []
    for connector in stored:
        kind = types.get(connector.type)
        if kind is None:
            problems.append(f"{connector.id} (type {connector.type!r} is not installed)")
            continue
        name = kind.secret_env(connector.config)
        value = (environ.get(name) or "").strip() if name else ""
        if value:
            secrets.append(value)
        elif name:
            problems.append(f"{connector.id} ({name} is not set)")
    return ConnectorSetup(environ, tuple(sorted(set(secrets))), tuple(problems))


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
            buttons = notice_button_labels(token, accounts, item.stage, now)
            lines += [
                f"[dry-run] would post to {token.channel} ({where}), stage {item.stage}:",
                f"  {notice_text(token, item.stage, now)}",
                f"  accounts: {', '.join(a.name for a in accounts) or 'none'}",
                f"  buttons: {' · '.join(buttons)}",
            ]
    return lines


def cmd_scan(*, settings: Settings, deps: Deps, dry_run: bool, connectors: ConnectorSetup | None = None,
             now_text: str | None = None) -> int:
    now = deps.clock()
    if now_text is not None:  # time travel: what would be posted then (posting only where tests allow it)
        now = followup_commands.parse_now(now_text)
        followup_commands.check_now_allowed(dry_run, settings.attention)
    if not dry_run and not settings.slack_bot_token:
        print("scan: SLACK_BOT_TOKEN is not set, so this is a dry run: nothing is posted or recorded.",
              file=sys.stderr)
        dry_run = True
    if dry_run:
        lines = dry_run_lines(deps.engine, now) + followup_commands.followup_dry_run_lines(deps.engine, now,
                                                                                          settings.attention)
        print("\n".join(lines) if lines else "[dry-run] nothing is due")
        return 0
    # demo imports a file first: its connectors are read after that
    connectors = connectors or read_connector_setup(deps)
    connectors.refuse_if_broken()
    report = scan(engine=deps.engine, client=make_client(settings.slack_bot_token, settings.slack_api_url), now=now,
                  box=deps.box, environ=connectors.environ, attention=settings.attention)
    d, c = report.delivery, report.connectors
    sent = (f"; connectors: {len(c.delivered)} delivered, {len(c.retrying)} to retry, {len(c.failed)} failed"
            if c and (c.delivered or c.retrying or c.failed) else "")
    f, g = report.followups, report.digests
    followups = (f"; follow-ups: {report.followups_planned} planned, {len(f.sent)} sent, {len(f.retrying)} to retry"
                 if f and (report.followups_planned or f.sent or f.retrying) else "")
    followups += f"; digests: {len(g.sent)} sent" if g and g.sent else ""
    print(f"scan: {report.planned} planned, {len(d.sent)} sent, {len(d.retrying)} to retry, {len(d.failed)} failed"
          f"{followups}{sent}")
    return 0


def cmd_digest(*, settings: Settings, deps: Deps, channel: str | None, dry_run: bool) -> int:
    return followup_commands.cmd_digest(settings=settings, deps=deps, channel=channel, dry_run=dry_run)


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
        events = audit.collect_attention(session=session, token_id=token_id)
    if as_json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
    elif as_csv:
        sys.stdout.write(audit.render_csv(entries))
    else:
        print(audit.render_text(entries))
        if events:
            print("\n" + audit.render_attention(events))
    return 0


def cmd_retry_failed(*, channel: str | None, deps: Deps) -> int:
    """Failed notices back in the queue, in their token's current channel: for after the cause was fixed."""
    with session_scope(deps.engine) as session:
        retried = requeue_failed(session=session, now=deps.clock(), channel=channel)
    where = f" for {channel}" if channel else ""
    print(f"retry-failed: re-queued {len(retried)} failed notice(s){where}; "
          "`renewbot serve` posts them within a minute, or run `renewbot scan`")
    return 0


def api_key_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="api_key_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a key and print it, once (only its hash is kept)")
    create.add_argument("name", metavar="NAME", help="what the key is for, e.g. the platform's name")
    create.add_argument("--scope", dest="scopes", action="extend", nargs="+", choices=apikeys.SCOPES,
                        metavar="SCOPE", help=f"what the key may do ({', '.join(apikeys.SCOPES)}); default: all")
    actions.add_parser("list", help="names, scopes and creation times (never the keys)")
    revoke = actions.add_parser("revoke", help="refuse the key of that name from now on")
    revoke.add_argument("name", metavar="NAME")


def cmd_api_key(args: argparse.Namespace, *, deps: Deps) -> int:
    """The key alone goes to stdout (`KEY=$(renewbot api-key create x)`); what to do with it, to stderr."""
    action, now = args.api_key_action, deps.clock()
    try:
        with session_scope(deps.engine) as session:
            if action == "create":
                created = apikeys.create_key(session=session, name=args.name, scopes=args.scopes, now=now)
            elif action == "revoke":
                revoked = apikeys.revoke_key(session=session, name=args.name, now=now)
            else:
                keys = apikeys.list_keys(session=session)
    except apikeys.ApiKeyError as exc:
        print(f"api-key: {exc}; nothing was changed", file=sys.stderr)
        return 2
    if action == "create":
        print(f"api-key: created {created.info.name!r} (scopes: {', '.join(created.info.scopes)}). This is the only "
              "time the key is shown: renewbot keeps only its hash. Send it as `Authorization: Bearer <key>`.",
              file=sys.stderr)
        print(created.key)
    elif action == "revoke":
        if not revoked:
            print(f"api-key: no key named {args.name!r} (or it is revoked already)", file=sys.stderr)
            return 2
        print(f"api-key: revoked {args.name!r}; requests with it now get 401")
    else:
        print("\n".join(_key_lines(keys)))
    return 0


def _key_lines(keys: list[apikeys.KeyInfo]) -> list[str]:
    if not keys:
        return ["no API keys yet: `renewbot api-key create NAME` makes one"]
    lines = [f"{'NAME':<30} {'SCOPES':<16} CREATED"]
    for k in keys:
        revoked = f"  (revoked {k.revoked_at:%Y-%m-%d %H:%M} UTC)" if k.revoked_at else ""
        lines.append(f"{k.name:<30} {', '.join(k.scopes):<16} {k.created_at:%Y-%m-%d %H:%M} UTC{revoked}")
    return lines


def connectors_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="connectors_action", metavar="ACTION", required=True)
    test = actions.add_parser("test", help="send a signed ping event to a connector and print its answer")
    test.add_argument("id", metavar="ID", help="the connector's id, as in the import file")


def cmd_connectors_test(connector_id: str, *, deps: Deps, environ: Mapping[str, str] | None = None) -> int:
    """0 when the connector took the ping, 1 when it did not, 2 when nothing could be sent."""
    with session_scope(deps.engine) as session:
        stored = session.get(Connector, connector_id)
        found = (stored.type, dict(stored.config)) if stored else None
        known = sorted(queries.connector_ids(session=session)) if stored is None else []
    if found is None:
        print(f"connectors test: no connector with id {connector_id!r} (stored: {', '.join(known) or 'none'}; "
              "define it under connectors: in the import file)", file=sys.stderr)
        return 2
    result = send_ping(connector_id, *found, environ=connector_environ() if environ is None else environ,
                       types=connector_types(), now=deps.clock())
    print("\n".join(f"connectors test: {line}" if i == 0 else line for i, line in enumerate(result.lines)),
          file=sys.stderr if result.exit_code == 2 else sys.stdout)
    return result.exit_code
