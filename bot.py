"""renewbot: wiring only. settings -> engine -> deps -> command (serve, import, scan, status)."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from config import Settings
from crypto import SecretBox
from deps import Deps
from errors import ConfigError
from keys import check_keys, rotate_keys
from logs import configure_logging
from storage.db import make_engine
from storage.migrate import upgrade


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bot.py", description="renewbot: keeps a team ahead of expiring credentials")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the Slack app and the scheduler (the default)")
    sub.add_parser("migrate", help="apply pending database migrations, then exit")
    sub.add_parser("rotate-keys", help="re-encrypt every stored secret under the newest TOKEN_ENCRYPTION_KEYS key")
    imp = sub.add_parser("import", help="create or update accounts and tokens from a YAML file (idempotent)")
    imp.add_argument("file", metavar="FILE.yml")
    scan = sub.add_parser("scan", help="one pass of the scheduler's work (plan and deliver notices), then exit")
    scan.add_argument("--dry-run", action="store_true", help="print what would be posted; change nothing")
    status = sub.add_parser("status", help="tokens with expiry, stage and open notice; accounts with their flags")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    args.command = args.command or "serve"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging()
    try:
        settings = Settings.from_env()
        engine = make_engine(settings.database_url)
        # Every command starts from the current schema; two processes starting together are safe.
        migrated = upgrade(engine)
        if args.command == "migrate":
            print("migrate: applied pending migrations" if migrated else "migrate: the database is up to date")
            return 0
        deps = Deps(engine=engine, box=SecretBox(settings.token_encryption_keys))
        if args.command == "rotate-keys":
            print(f"rotate-keys: re-encrypted {rotate_keys(engine, deps.box)} secret(s) under the newest key")
            return 0
        if args.command in ("serve", "scan"):
            check_keys(engine, deps.box)
        if args.command == "serve":
            from serve import serve
            return serve(settings, deps)
        import cli
        if args.command == "import":
            return cli.cmd_import(args.file, deps=deps)
        if args.command == "scan":
            return cli.cmd_scan(settings=settings, deps=deps, dry_run=args.dry_run)
        return cli.cmd_status(deps=deps, as_json=args.json)
    except ConfigError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"{args.command}: database error ({type(exc).__name__}); check DATABASE_URL", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
