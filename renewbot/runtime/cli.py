"""The command line: one table of commands, one dispatcher. `renewbot` and `python bot.py` both land here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from renewbot.crypto import SecretBox
from renewbot.errors import ConfigError
from renewbot.runtime import commands
from renewbot.runtime.config import Settings
from renewbot.runtime.deps import Deps
from renewbot.runtime.logs import configure_logging
from renewbot.runtime.metrics import Metrics
from renewbot.usecases.amazon import lwa_secret_source
from renewbot.usecases.verify import HttpVerifier
from storage.db import describe_database, make_engine
from storage.migrate import Upgrade, upgrade


@dataclass(frozen=True)
class Invocation:
    """What every command gets: its arguments, the settings, the injected dependencies."""
    args: argparse.Namespace
    settings: Settings
    deps: Deps
    migration: Upgrade
    connectors: commands.ConnectorSetup


@dataclass(frozen=True)
class Command:
    help: str
    run: Callable[[Invocation], int]
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    # Commands that read stored secrets refuse to start when the keys can't read them.
    checks_keys: bool = False
    # The long-running server logs what it does; one-shot commands print one line per thing asked.
    verbose_log: bool = False
    # Builds its own settings and database (the sandbox): the shared set-up, which opens DATABASE_URL, is skipped.
    own_setup: bool = False


def _import_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.yml")
    parser.add_argument("--dry-run", action="store_true", help="print what would change, field by field; write nothing")
    parser.add_argument("--force-expiry", action="store_true",
                        help="let the file's expiry replace a later stored one (normally kept: it was renewed since)")


def _scan_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print what would be posted; change nothing")
    parser.add_argument("--now", metavar="WHEN", help="pretend it is WHEN (ISO 8601 with Z or an offset, e.g. "
                        "2027-01-15T09:00Z); only with --dry-run, unless RENEWBOT_ALLOW_NOW=1")


def _digest_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channel", metavar="C", help="only channel C's digest")
    parser.add_argument("--dry-run", action="store_true", help="print the digest; post nothing")


def _status_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", default="data/demo-tokens.yml", metavar="PATH",
                        help="where to write the demo inventory (default: data/demo-tokens.yml)")


def _retire_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", help="the token's id (or the account's, with --account)")
    parser.add_argument("--account", action="store_true", help="retire an account, not a token")
    parser.add_argument("--undo", action="store_true", help="bring it back into service")


def _audit_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", metavar="ID", help="only this token's renewals")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="a JSON array, one object a renewal")
    output.add_argument("--csv", action="store_true", help="CSV with a header row, one row a renewal")


def _retry_failed_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channel", metavar="C", help="only the notices of tokens whose channel is C")


COMMANDS: dict[str, Command] = {
    "serve": Command("run the Slack app and the scheduler (the default)",
                     lambda i: commands.cmd_serve(settings=i.settings, deps=i.deps, connectors=i.connectors),
                     checks_keys=True, verbose_log=True),
    "import": Command("create or update accounts and tokens from a YAML file (idempotent)",
                      lambda i: commands.cmd_import(i.args.file, deps=i.deps, dry_run=i.args.dry_run,
                                                      force_expiry=i.args.force_expiry), _import_args),
    "scan": Command("one pass of the scheduler's work (plan and deliver notices), then exit",
                    lambda i: commands.cmd_scan(settings=i.settings, deps=i.deps, dry_run=i.args.dry_run,
                                                connectors=i.connectors, now_text=i.args.now), _scan_args,
                    checks_keys=True),
    "digest": Command("post this week's digest now (each channel, or --channel C; once a week), or --dry-run it",
                      lambda i: commands.cmd_digest(settings=i.settings, deps=i.deps, channel=i.args.channel,
                                                    dry_run=i.args.dry_run), _digest_args),
    "status": Command("tokens with expiry, stage and open notice; accounts with their flags",
                      lambda i: commands.cmd_status(deps=i.deps, as_json=i.args.json), _status_args),
    "migrate": Command("apply pending database migrations, then exit",
                       lambda i: commands.cmd_migrate(i.migration)),
    "rotate-keys": Command("re-encrypt every stored secret under the newest TOKEN_ENCRYPTION_KEYS key",
                           lambda i: commands.cmd_rotate_keys(deps=i.deps)),
    "demo": Command("write a demo inventory dated from today, import it and run one scan",
                    lambda i: commands.cmd_demo(i.args.file, settings=i.settings, deps=i.deps), _demo_args),
    "retire": Command("retire a token (or --account) by id: no notices, out of the lists, history kept; --undo",
                      lambda i: commands.cmd_retire(i.args.id, account=i.args.account, undo=i.args.undo,
                                                    deps=i.deps), _retire_args),
    "audit": Command("every renewal: who, when, old -> new expiry, account changes (text, --json or --csv)",
                     lambda i: commands.cmd_audit(token_id=i.args.token, as_json=i.args.json, as_csv=i.args.csv,
                                                  deps=i.deps), _audit_args),
    "retry-failed": Command("re-queue failed notices, in their token's current channel, once the cause is fixed",
                            lambda i: commands.cmd_retry_failed(channel=i.args.channel, deps=i.deps),
                            _retry_failed_args),
    "api-key": Command("keys for the inbound API: create NAME [--scope state|calendar|metrics ...], list, revoke NAME",
                       lambda i: commands.cmd_api_key(i.args, deps=i.deps), commands.api_key_arguments),
    "sandbox": Command("try the bot without Slack: the real bot, a stand-in Slack and a web page on 127.0.0.1",
                       lambda i: commands.cmd_sandbox(port=i.args.port, check=i.args.check),
                       commands.sandbox_arguments, own_setup=True),
    "connectors": Command("test ID: send a signed ping to a connector and print its answer",
                          lambda i: commands.cmd_connectors_test(i.args.id, deps=i.deps),
                          commands.connectors_arguments),
}
DEFAULT_COMMAND = "serve"


def parse_args(argv: list[str], prog: str = "renewbot") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description="renewbot: keeps a team ahead of expiring credentials")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.arguments(sub.add_parser(name, help=command.help))
    args = parser.parse_args(argv)
    args.command = args.command or DEFAULT_COMMAND
    return args


def main(argv: list[str] | None = None, *, prog: str = "renewbot") -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv, prog)
    command = COMMANDS[args.command]
    configure_logging(verbose=command.verbose_log)
    try:
        if command.own_setup:
            return command.run(Invocation(args, None, None, None, None))
        settings = Settings.from_env()
        configure_logging(verbose=command.verbose_log, secrets=settings.secret_values(), log_format=settings.log_format)
        engine = make_engine(settings.database_url)
        # Every command starts from the current schema; two processes starting together are safe.
        migrated = upgrade(engine)
        if migrated.created:
            # A cron job started in the wrong folder would otherwise scan an empty database in silence.
            print(f"{args.command}: created a new database at {describe_database(engine)}", file=sys.stderr)
        box = SecretBox(settings.token_encryption_keys)
        stored_lwa_secret = lwa_secret_source(engine=engine, box=box, client_id=settings.amazon_lwa_client_id)
        deps = Deps(engine=engine, box=box, metrics=Metrics.for_app(), entry=settings.entry,
                    verifier=HttpVerifier.from_settings(settings, stored_lwa_secret=stored_lwa_secret))
        # Connector signing secrets have no telling shape: redact them by value too (they are never logged
        # on purpose; this catches a library's slip).
        connectors = commands.read_connector_setup(deps)
        configure_logging(verbose=command.verbose_log, secrets=(*settings.secret_values(), *connectors.secret_values),
                          log_format=settings.log_format)
        if command.checks_keys:
            commands.check_stored_keys(deps)
        return command.run(Invocation(args, settings, deps, migrated, connectors))
    except ConfigError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"{args.command}: database error ({type(exc).__name__}); check DATABASE_URL", file=sys.stderr)
        return 1
