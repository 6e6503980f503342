"""The `command` connector type: runs a program (argv, no shell) with the delivery's JSON on stdin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from renewbot.connectors.base import Sender
from renewbot.connectors.fields import unknown_fields
from renewbot.domain.patterns import CONTROL_RE

FIELDS = {"command"}
MAX_ARGS = 64
MAX_ARG = 1000


class CommandType:
    name = "command"

    def check(self, config: Mapping[str, Any]) -> list[str]:
        problems = unknown_fields(config, FIELDS)
        argv = config.get("command")
        if argv is None:
            problems.append("command is missing (a list: the program, then its arguments)")
        elif not (isinstance(argv, list) and 0 < len(argv) <= MAX_ARGS and all(
                isinstance(a, str) and a and len(a) <= MAX_ARG and not CONTROL_RE.search(a) for a in argv)):
            problems.append(f"command must be a list of 1 to {MAX_ARGS} texts (argv, run without a shell), "
                            'e.g. ["/usr/local/bin/apply-renewal", "--region", "eu"]')
        return problems

    def secret_env(self, config: Mapping[str, Any]) -> str | None:
        return None

    def sender(self, config: Mapping[str, Any], environ: Mapping[str, str]) -> Sender:
        raise NotImplementedError  # built in the connectors work (issue 10)


COMMAND = CommandType()
