"""The command connector with real programs: small scripts written for each test."""

from __future__ import annotations

import json
import stat
import sys
import time
from pathlib import Path

from renewbot.connectors.base import AccountResult, Attempt, Outcome
from renewbot.connectors.command import COMMAND, CommandSender, CommandType
from tests.connectors.conftest import PLANTED, renewal_request


def script(tmp_path: Path, body: str, name: str = "apply") -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\nimport json, os, sys, time\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def run(argv: list[str], request=None, **kwargs) -> Attempt:
    attempt = CommandSender(argv, **kwargs)(request or renewal_request())
    assert PLANTED not in repr(attempt)
    return attempt


def test_exit_0_is_delivered_with_the_reply_on_stdout(tmp_path):
    program = script(tmp_path, """
body = json.load(sys.stdin)
out = {"accounts": [{"id": a["id"], "ok": a["id"] != "amazon-de", "error": "seller account suspended"}
                    for a in body["accounts"]]}
open(sys.argv[1], "w").write(json.dumps({"args": sys.argv[2:], "body": body}))
print(json.dumps(out))
""")
    seen = tmp_path / "seen.json"
    request = renewal_request("dlv-cmd")
    attempt = run([program, str(seen), "--region", "eu"], request)
    assert attempt.outcome is Outcome.DELIVERED and attempt.detail == "exit 0"
    assert attempt.accounts == (AccountResult("amazon-uk", True),
                                AccountResult("amazon-de", False, "seller account suspended"))
    got = json.loads(seen.read_text())
    assert got["args"] == ["--region", "eu"]  # argv as given, no shell
    assert got["body"] == json.loads(request.body) and got["body"]["token"]["secret"] == PLANTED


def test_exit_0_without_output_is_delivered(tmp_path):
    assert run([script(tmp_path, "sys.stdin.read()")]) == Attempt(Outcome.DELIVERED, "exit 0")


def test_exit_0_with_stdout_that_is_not_a_reply(tmp_path):
    attempt = run([script(tmp_path, "print('applied, thanks')")])
    assert attempt == Attempt(Outcome.DELIVERED, "exit 0 (reply ignored: not JSON)")


def test_exit_75_is_retried(tmp_path):
    attempt = run([script(tmp_path, "print('platform is down', file=sys.stderr); sys.exit(75)")])
    assert attempt == Attempt(Outcome.RETRY, "exit 75 (try again later): platform is down")


def test_another_exit_fails_with_the_last_stderr_line_redacted(tmp_path):
    program = script(tmp_path, """
secret = json.load(sys.stdin)["token"]["secret"]
print("starting", file=sys.stderr)
print(f"Traceback: token {secret} refused by the platform\\x1b[0m", file=sys.stderr)
print("   ", file=sys.stderr)
sys.exit(3)
""")
    attempt = run([program])
    assert attempt == Attempt(Outcome.FAILED, "exit 3: Traceback: token [redacted] refused by the platform [0m")


def test_a_long_stderr_keeps_its_last_line_and_never_a_cut_secret(tmp_path):
    program = script(tmp_path, """
secret = json.load(sys.stdin)["token"]["secret"]
sys.stderr.write("x" * 100 + secret + "y" * 70_000 + "\\n")
sys.stderr.write("z" * 1000 + "\\n")
sys.exit(4)
""")
    attempt = run([program])
    assert attempt.outcome is Outcome.FAILED and attempt.detail.startswith("exit 4: zzz")
    assert len(attempt.detail) < 220
    # kept is the last 64 KiB, which here starts inside the secret: that cut line must not come back at all
    cut = script(tmp_path, """
secret = json.load(sys.stdin)["token"]["secret"]
sys.stderr.write("x" * 1000 + secret + "y" * (64 * 1024 - 10))
sys.exit(5)
""", name="cut")
    attempt = run([cut])
    assert attempt == Attempt(Outcome.FAILED, "exit 5 (nothing on stderr)")
    assert PLANTED[-10:] not in attempt.detail


def test_exit_without_stderr_and_killed_by_a_signal(tmp_path):
    assert run([script(tmp_path, "sys.exit(2)")]) == Attempt(Outcome.FAILED, "exit 2 (nothing on stderr)")
    killed = run([script(tmp_path, "os.kill(os.getpid(), 9)", name="k")])
    assert killed == Attempt(Outcome.FAILED, "killed by signal 9 (nothing on stderr)")


def test_the_environment_is_minimal(tmp_path, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-planted-bot-token")
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", "planted-key")
    monkeypatch.setenv("COMMERCE_EU_WEBHOOK_SECRET", "planted-webhook-secret")
    seen = tmp_path / "env.json"
    program = script(tmp_path, f"open({str(seen)!r}, 'w').write(json.dumps(dict(os.environ)))")
    assert run([program], renewal_request("dlv-env")).outcome is Outcome.DELIVERED
    env = json.loads(seen.read_text())
    env.pop("LC_CTYPE", None)  # Python may add it for the C locale
    assert env == {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "RENEWBOT_DELIVERY": "dlv-env",
                   "RENEWBOT_EVENT": "token.renewed"}


def test_a_program_that_hangs_is_stopped_with_what_it_started(tmp_path):
    pid_file = tmp_path / "child.pid"
    program = script(tmp_path, f"""
import subprocess
child = subprocess.Popen(["sleep", "60"])
open({str(pid_file)!r}, "w").write(str(child.pid))
print("working", file=sys.stderr, flush=True)
time.sleep(60)
""")
    attempt = run([program], timeout=1.0)
    assert attempt == Attempt(Outcome.RETRY, "timed out after 1 s (stopped)")
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:  # the kill is sent before we return; reaping may lag
        time.sleep(0.01)
    assert not alive(child)  # the whole process group was stopped, not only the program


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_a_program_that_ignores_its_input_is_judged_by_its_exit(tmp_path):
    big = renewal_request()
    big = type(big)(big.event, big.delivery_id, big.body[:-1] + b', "pad": "' + b"p" * 1_000_000 + b'"}')
    assert run([script(tmp_path, "sys.exit(0)")], big) == Attempt(Outcome.DELIVERED, "exit 0")


def test_a_huge_output_is_read_bounded(tmp_path):
    program = script(tmp_path, "sys.stdout.write('x' * 5_000_000); sys.stderr.write('e' * 5_000_000 + '\\nlast')")
    attempt = run([program])
    assert attempt == Attempt(Outcome.DELIVERED, "exit 0 (reply ignored: larger than 64 KiB)")


def test_a_program_that_exits_while_its_child_holds_the_output_open(tmp_path):
    program = script(tmp_path, """
import subprocess
subprocess.Popen(["sleep", "30"])
print('{"accounts": []}', flush=True)
""")
    assert run([program], timeout=10) == Attempt(Outcome.DELIVERED, "exit 0")


def test_missing_and_not_executable_programs_fail_clearly(tmp_path):
    assert run([str(tmp_path / "nope")]) == Attempt(Outcome.FAILED, f"program not found: {tmp_path / 'nope'}")
    assert run(["no-such-program-renewbot"]) == Attempt(Outcome.FAILED, "program not found: no-such-program-renewbot")
    plain = tmp_path / "plain"
    plain.write_text("echo hi")
    assert run([str(plain)]) == Attempt(Outcome.FAILED, f"program not executable: {plain}")


def test_the_type_builds_a_sender():
    sender = COMMAND.sender({"command": ["/usr/local/bin/apply-renewal", "--region", "eu"]}, {"SECRET": "x"})
    assert sender.argv == ["/usr/local/bin/apply-renewal", "--region", "eu"] and sender.timeout == 60
    assert CommandType(timeout=2).sender({"command": ["x"]}, {}).timeout == 2
    assert COMMAND.secret_env({"command": ["x"]}) is None
