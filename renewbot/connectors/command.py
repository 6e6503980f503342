"""The `command` connector type: runs a program (argv, no shell) with the delivery's JSON on stdin.

The program gets a minimal environment: none of renewbot's own secrets (Slack tokens, encryption keys,
the database URL, other connectors' secrets) reach it. Exit 0 is delivered (stdout may carry the same reply
as a webhook's), 75 (EX_TEMPFAIL) is "try again later", anything else failed, with the last stderr line
as the reason, redacted: the program was handed the secret and might print it.
"""

from __future__ import annotations

import os
import select
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

from renewbot.connectors.base import Attempt, DeliveryRequest, Outcome, Sender
from renewbot.connectors.fields import unknown_fields
from renewbot.connectors.payload import MAX_REPLY_BYTES, body_secrets, clean_text, parse_reply, redact
from renewbot.domain.patterns import CONTROL_RE

FIELDS = {"command"}
MAX_ARGS = 64
MAX_ARG = 1000
DEFAULT_TIMEOUT = 60.0
MAX_STDERR = 64 * 1024
EX_TEMPFAIL = 75
BASE_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
POLL_SECONDS = 0.2  # how soon we notice the program exited while something it started holds its output open


class _Output:
    """One of the program's output pipes, read bounded: stdout keeps its start (the reply), stderr its end."""

    def __init__(self, limit: int, keep_end: bool) -> None:
        self.data = bytearray()
        self.limit = limit
        self.keep_end = keep_end
        self.overflowed = False

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.limit:
            self.overflowed = True
            if self.keep_end:
                del self.data[:len(self.data) - self.limit]
            else:
                del self.data[self.limit:]


def _exchange(proc: subprocess.Popen, body: bytes, deadline: float, stdout: _Output, stderr: _Output) -> bool:
    """Writes the body, reads both outputs until the program is done; False when the deadline passed first."""
    pending = memoryview(body)
    outputs = {proc.stdout: stdout, proc.stderr: stderr}
    with selectors.DefaultSelector() as selector:
        for pipe in outputs:
            selector.register(pipe, selectors.EVENT_READ)
        if pending:
            selector.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready = selector.select(min(remaining, POLL_SECONDS))
            if not ready and proc.poll() is not None:
                break  # it exited; whatever it left running may keep the pipes open, but does not count
            for key, _ in ready:
                pipe = key.fileobj
                if pipe is proc.stdin:
                    try:
                        written = os.write(pipe.fileno(), pending[:select.PIPE_BUF])
                    except BrokenPipeError:  # it did not read its input: its exit code tells the rest
                        written = len(pending)
                    pending = pending[written:]
                    if not pending:
                        selector.unregister(pipe)
                        pipe.close()
                    continue
                chunk = os.read(pipe.fileno(), 32 * 1024)
                if chunk:
                    outputs[pipe].add(chunk)
                else:
                    selector.unregister(pipe)
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        return False
    return True


def _last_line(stderr: _Output, secrets: tuple[str, ...]) -> str | None:
    text = redact(stderr.data.decode("utf-8", "replace"), secrets)
    lines = text.splitlines()
    if stderr.overflowed and lines:
        lines = lines[1:]  # the first line was cut: part of a secret would not be recognised
    line = next((line for line in reversed(lines) if line.strip()), None)
    return clean_text(line, secrets) if line else None


class CommandSender:
    def __init__(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, max_stderr: int = MAX_STDERR) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.max_stderr = max_stderr

    def __repr__(self) -> str:
        return f"CommandSender({self.argv!r})"

    @staticmethod
    def environment(request: DeliveryRequest) -> dict[str, str]:
        return {**BASE_ENVIRONMENT, "RENEWBOT_DELIVERY": request.delivery_id, "RENEWBOT_EVENT": request.event}

    def __call__(self, request: DeliveryRequest) -> Attempt:
        program = clean_text(self.argv[0], limit=120)
        try:
            proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=self.environment(request), close_fds=True, start_new_session=True)
        except FileNotFoundError:
            return Attempt(Outcome.FAILED, f"program not found: {program}")
        except PermissionError:
            return Attempt(Outcome.FAILED, f"program not executable: {program}")
        except OSError as exc:
            return Attempt(Outcome.FAILED, f"could not start {program} ({exc.strerror or type(exc).__name__})")
        stdout, stderr = _Output(MAX_REPLY_BYTES + 1, keep_end=False), _Output(self.max_stderr, keep_end=True)
        try:
            finished = _exchange(proc, request.body, time.monotonic() + self.timeout, stdout, stderr)
        finally:
            if proc.poll() is None:  # timed out (or we were interrupted): stop it and whatever it started
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                with suppress(OSError):
                    pipe.close()
        secrets = body_secrets(request.body)
        if not finished:
            return Attempt(Outcome.RETRY, f"timed out after {self.timeout:g} s (stopped)")
        code = proc.returncode
        if code == 0:
            reply = parse_reply(bytes(stdout.data), secrets=secrets)
            return Attempt(Outcome.DELIVERED, f"exit 0 ({reply.problem})" if reply.problem else "exit 0",
                           accounts=reply.accounts, response=reply.data)
        said = _last_line(stderr, secrets)
        if code == EX_TEMPFAIL:
            return Attempt(Outcome.RETRY, f"exit 75 (try again later): {said}" if said else "exit 75 (try again later)")
        what = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        return Attempt(Outcome.FAILED, f"{what}: {said}" if said else f"{what} (nothing on stderr)")


class CommandType:
    name = "command"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout

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
        return CommandSender(config["command"], timeout=self.timeout)


COMMAND = CommandType()
