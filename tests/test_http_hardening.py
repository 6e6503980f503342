"""What an internet scanner can do to `serve`: huge bodies, idle connections, malformed signature headers.

These run the real `bot.py serve` process (waitress, as in production) against the Slack stand-in.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support.bot_server import SIGNING_SECRET
from tests.support.slack_requests import post_signed, slash_command_body

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, slack):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}", SLACK_BOT_TOKEN="xoxb-test",
               SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.url, PORT=str(port),
               TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below, after the process
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "serve"], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "serve did not become healthy"
            time.sleep(0.1)
    yield proc, port, tmp_path / "serve.log"
    proc.terminate()
    proc.wait(15)
    log.close()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def raw_post(port: int, headers: str, body_size: int, chunk: bytes) -> bytes:
    """Sends headers and then as much of the body as the server takes; returns what it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(headers.encode())
        sent = 0
        try:
            while sent < body_size:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed before taking it all: what we want
        try:
            return sock.recv(200)
        except OSError:
            return b""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak RSS from /proc")
def test_ten_parallel_unsigned_200_mib_bodies_are_refused_without_the_memory(server):
    proc, port, _ = server
    size = 200 * MIB
    headers = (f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               f"Content-Length: {size}\r\n\r\n")
    answers: list[bytes] = []
    threads = [threading.Thread(target=lambda: answers.append(raw_post(port, headers, size, b"\0" * MIB)))
               for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 10
    assert all(a.split(b" ")[1] in (b"413", b"401") for a in answers if a), answers
    assert sum(a.startswith(b"HTTP/1.1 413") for a in answers) >= 1
    assert peak_rss_mb(proc.pid) < 150
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
        assert resp.status == 200


def test_300_half_sent_requests_do_not_block_health_or_commands(server, slack):
    _, port, _ = server
    idle = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
            idle.append(s)
        started = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        status, _, _ = post_signed(f"http://127.0.0.1:{port}/slack/events",
                                   slash_command_body(text="", response_url=slack.response_url()), SIGNING_SECRET)
        assert status == 200 and time.monotonic() - started < 3.0
    finally:
        for s in idle:
            s.close()


@pytest.mark.parametrize("timestamp", ["²", "1" * 5000, "-1", " 1", "1e9", "0x10"])
def test_a_malformed_timestamp_header_gets_401_and_no_traceback(server, timestamp):
    _, port, log = server
    request = urllib.request.Request(f"http://127.0.0.1:{port}/slack/events", data=b"command=%2Frenew-token",
                                     headers={"X-Slack-Request-Timestamp": timestamp,
                                              "X-Slack-Signature": "v0=" + "0" * 64})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 401
    time.sleep(0.2)
    assert "Traceback" not in log.read_text()


def test_a_signed_but_absurdly_nested_json_body_gets_400(server):
    _, port, log = server
    body = '{"a":' * 100_000 + "1" + "}" * 100_000  # bolt reads a body starting with "{" as JSON
    status, _, _ = post_signed(f"http://127.0.0.1:{port}/slack/events", body, SIGNING_SECRET)
    assert status == 400
    assert "Traceback" not in log.read_text()
