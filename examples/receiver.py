#!/usr/bin/env python3
"""A webhook receiver for renewbot's connector deliveries: a starting point for your platform.

Standard library only, on purpose: copy it, or the ten lines of `verify()`, into whatever your platform
runs. It checks the signature, drops repeats by Renewbot-Delivery, applies the renewal (here: prints what
it would do, never the secret) and answers per account.

    COMMERCE_EU_WEBHOOK_SECRET=... python3 examples/receiver.py --port 8080
    # import file:  url: http://127.0.0.1:8080/hooks/renewbot   secret_env: COMMERCE_EU_WEBHOOK_SECRET
    renewbot connectors test commerce-eu

The contract is in README.md, "Connecting your platform".
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1024 * 1024
TOLERANCE = 300  # seconds: older signatures are refused, so a captured request cannot be replayed later
SIGNATURE = re.compile(r"t=([0-9]{1,12})((?:,v1=[0-9a-f]{64}){1,4})")


def verify(secret: str, body: bytes, header: str, now: float) -> bool:
    """Renewbot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the secret>."""
    match = SIGNATURE.fullmatch(header or "") if len(header or "") <= 512 else None
    if match is None or abs(now - int(match[1])) > TOLERANCE:
        return False
    expected = hmac.new(secret.encode(), match[1].encode() + b"." + body, hashlib.sha256).hexdigest()
    return any([hmac.compare_digest(expected, sig) for sig in match[2].split(",v1=")[1:]])


class Seen:
    """Deliveries already applied, with the answer given: a repeat gets the same answer and changes nothing.
    Kept in SQLite so a restart of the receiver does not apply a renewal twice."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS seen (delivery_id TEXT PRIMARY KEY, answer TEXT NOT NULL)")
        self.lock = threading.Lock()
        self.applying = threading.Lock()

    def answer_for(self, delivery_id: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT answer FROM seen WHERE delivery_id = ?", (delivery_id,)).fetchone()
        return row[0] if row else None

    def remember(self, delivery_id: str, answer: str) -> None:
        with self.lock, self.db:
            self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (delivery_id, answer))


def apply_renewal(event: dict) -> dict:
    """Your platform's part: store event["token"]["secret"] where the token is used and switch the accounts
    as listed. Return {"accounts": [{"id", "ok", "error"}]}; raise to answer 503 (renewbot retries)."""
    token = event["token"]
    print(f"renewal {event['renewal_id']} of {token['id']} ({token['kind']}) by {event['renewed_by']}, "
          f"expires {token['expires_at']}: would store the new secret ({len(token['secret'])} characters)",
          flush=True)
    results = []
    for account in event["accounts"]:
        print(f"  account {account['id']}: enabled={account['enabled']} fetch_orders={account['fetch_orders']}",
              flush=True)
        results.append({"id": account["id"], "ok": True})
    return {"accounts": results}


def make_handler(secret: str, seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def answer(self, status: int, payload: dict | str) -> None:
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > MAX_BODY:
                return self.answer(413, {"error": "body missing or too large"})
            body = self.rfile.read(int(length))
            if not verify(secret, body, self.headers.get("Renewbot-Signature", ""), time.time()):
                return self.answer(401, {"error": "bad signature"})
            delivery_id = self.headers.get("Renewbot-Delivery", "")
            with seen.applying:  # one delivery at a time: two copies arriving together still apply once
                status, answer = self.handle_delivery(delivery_id, body)
            return self.answer(status, answer)

        def handle_delivery(self, delivery_id: str, body: bytes) -> tuple[int, str]:
            earlier = seen.answer_for(delivery_id)
            if earlier is not None:  # renewbot delivers at least once: a repeat is normal, apply it once
                print(f"delivery {delivery_id}: a repeat, answered as before", flush=True)
                return 200, earlier
            try:
                event = json.loads(body)
            except ValueError:
                return 400, json.dumps({"error": "not JSON"})
            if event.get("type") == "token.renewed":
                try:
                    result = apply_renewal(event)
                except Exception as exc:  # a passing problem on our side: renewbot will try again
                    print(f"delivery {delivery_id}: not applied ({type(exc).__name__})", file=sys.stderr, flush=True)
                    return 503, json.dumps({"error": "not applied, try again"})
            else:  # "ping", and event types added later: take them, change nothing
                print(f"{event.get('type')} {delivery_id}: ok", flush=True)
                result = {"accounts": []}
            answer = json.dumps(result)
            seen.remember(delivery_id, answer)
            return 200, answer

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--secret-env", default="COMMERCE_EU_WEBHOOK_SECRET")
    parser.add_argument("--state", default="receiver-seen.db", help="SQLite file remembering deliveries")
    args = parser.parse_args()
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        print(f"receiver: {args.secret_env} is not set (the same signing secret renewbot uses)", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(secret, Seen(args.state)))
    print(f"receiver: listening on http://127.0.0.1:{server.server_address[1]}/hooks/renewbot", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
