"""Stand-ins for the issuers renewbot verifies new credentials with: Login with Amazon, and a token's verify_url.

A real HTTP server on a random local port, answering like the real thing:
- `POST /auth/o2/token` (form-encoded refresh-token exchange): 200 with an access token for a known refresh token
  and the right client, 400 `invalid_grant` for an unknown refresh token, 401 `invalid_client` for a wrong client.
  `mode` makes it answer otherwise: "slow" (holds the answer until the test ends), "error" (500).
- `POST /auth/o2/token` with grant_type=authorization_code (Amazon's website authorization workflow): a code
  handed out by `issue_code()` (or put in `codes`) is exchanged once for its refresh token, when redirect_uri is
  `redirect_uri` (if set); any other code, or the same one again, is `invalid_grant` (and its answer echoes the
  code, so a test sees if a body ever leaks). `refuse_codes = True` refuses every code.
- `GET /me` (a verify_url): 200 for a known Bearer, 401 otherwise; `/status/<n>` answers n; `/slow` holds;
  `/redirect` answers 302 to `/elsewhere`, which records anyone who followed it.
Every request is recorded (method, path, headers, form) for assertions. `down_url()` is an address nobody serves.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

CLIENT_ID = "amzn1.application-oa2-client.standin"
CLIENT_SECRET = "amzn1.oa2-cs.v1.standin-client-secret-7f3a"
HOLD_SECONDS = 10
STANDIN_SELLER = "A1STANDINSELLER"  # a held answer is released when the stand-in stops, or after this at the latest


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)


class IssuerStandin:
    def __init__(self, *, refresh_tokens: set[str] = frozenset(), bearers: set[str] = frozenset()) -> None:
        self.refresh_tokens = set(refresh_tokens)
        self.bearers = set(bearers)
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.mode = "normal"
        self.requests: list[Seen] = []
        self.issued: list[str] = []  # access tokens handed out
        self.codes: dict[str, str] = {}  # authorization code -> the refresh token it is exchanged for
        self.spent: set[str] = set()
        self.redirect_uri: str | None = None
        self.refuse_codes = False
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> IssuerStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def issue_code(self, refresh_token: str) -> str:
        """A fresh authorization code, exchanged (once) for `refresh_token`."""
        with self._lock:
            code = f"ANStandinCode{len(self.codes):04d}x{threading.get_ident() % 9973}"
            self.codes[code] = refresh_token
        return code

    def code_exchanges(self) -> list[Seen]:
        return [r for r in self.seen("/auth/o2/token") if r.form.get("grant_type") == "authorization_code"]

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet test output
                pass

            def _answer(self, status: int, body: dict | None = None, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def _record(self, form: dict[str, str] | None = None) -> None:
                with standin._lock:
                    standin.requests.append(Seen(self.command, self.path, dict(self.headers.items()), form or {}))

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                self._record(form)
                if self.path != "/auth/o2/token":
                    return self._answer(404, {"error": "not_found"})
                if standin.mode == "slow":
                    standin.release.wait(HOLD_SECONDS)
                    return self._answer(200, {"access_token": "Atza|late", "token_type": "bearer"})
                if standin.mode == "error":
                    return self._answer(500, {"error": "server_error", "echo": form.get("refresh_token")})
                if (form.get("client_id"), form.get("client_secret")) != (standin.client_id, standin.client_secret):
                    return self._answer(401, {"error": "invalid_client",
                                              "error_description": "Client authentication failed"})
                if form.get("grant_type") == "authorization_code":
                    return self._authorization_code(form)
                if form.get("grant_type") != "refresh_token":
                    return self._answer(400, {"error": "unsupported_grant_type"})
                if form.get("refresh_token") not in standin.refresh_tokens:
                    # Amazon's own answer echoes nothing; this one does, so a test sees if a body ever leaks.
                    return self._answer(400, {"error": "invalid_grant", "error_description": "The request has an "
                                              f"invalid grant parameter : {form.get('refresh_token')}"})
                access = f"Atza|standin-access-{len(standin.issued)}"
                standin.issued.append(access)
                return self._answer(200, {"access_token": access, "refresh_token": form["refresh_token"],
                                          "token_type": "bearer", "expires_in": 3600})

            def _authorization_code(self, form: dict[str, str]) -> None:
                code = form.get("code")
                if standin.redirect_uri is not None and form.get("redirect_uri") != standin.redirect_uri:
                    return self._answer(400, {"error": "invalid_request",
                                              "error_description": "redirect_uri mismatch"})
                with standin._lock:
                    refresh = standin.codes.get(code) if code not in standin.spent else None
                    if refresh is not None and not standin.refuse_codes:
                        standin.spent.add(code)
                if refresh is None or standin.refuse_codes:
                    return self._answer(400, {"error": "invalid_grant", "error_description": "The request has an "
                                              f"invalid grant parameter : code {code}"})
                access = f"Atza|standin-access-{len(standin.issued)}"
                standin.issued.append(access)
                return self._answer(200, {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
                                          "expires_in": 3600})

            def do_GET(self) -> None:
                self._record()
                auth = self.headers.get("Authorization") or ""
                if self.path == "/me":
                    known = auth.startswith("Bearer ") and auth[7:] in standin.bearers
                    return self._answer(200 if known else 401, {"ok": known})
                if self.path.startswith("/status/") and self.path[8:].isdigit():
                    return self._answer(int(self.path[8:]), {"echo": auth})
                if self.path == "/slow":
                    standin.release.wait(HOLD_SECONDS)
                    return self._answer(200, {"ok": True})
                if self.path == "/redirect":
                    return self._answer(302, None, {"Location": f"{standin.url}/elsewhere"})
                return self._answer(404, {"error": "not_found"})

        return Handler


def down_url() -> str:
    """A local address with nothing listening: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class Consent:
    """One visit to the consent stand-in: the query as Amazon would read it."""
    query: dict[str, list[str]]


class ConsentStandin:
    """Seller Central's consent page (`GET /apps/authorize/consent`), as a browser meets it once the seller clicks
    Confirm: a 302 back to `redirect_uri` with the state, the seller's id and a fresh code from `issuer`
    (exchanged there for `refresh_token`). Another application_id gets a 400 page and no redirect; so does a
    draft app's consent without version=beta when `draft` is set. Every visit is recorded."""

    def __init__(self, issuer: IssuerStandin, *, application_id: str, redirect_uri: str,
                 refresh_token: str, seller: str = STANDIN_SELLER, draft: bool = False) -> None:
        self.issuer, self.application_id, self.redirect_uri = issuer, application_id, redirect_uri
        self.refresh_token, self.seller, self.draft = refresh_token, seller, draft
        self.visits: list[Consent] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> ConsentStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _page(self, status: int, text: str, location: str | None = None) -> None:
                raw = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                if location:
                    self.send_header("Location", location)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                path, _, raw = self.path.partition("?")
                query = parse_qs(raw, keep_blank_values=True)
                standin.visits.append(Consent(query))
                if path != "/apps/authorize/consent":
                    return self._page(404, "not found")
                if query.get("application_id") != [standin.application_id]:
                    return self._page(400, "unknown application")
                if standin.draft and query.get("version") != ["beta"]:
                    return self._page(400, "this app is a draft: its consent needs version=beta")
                code = standin.issuer.issue_code(standin.refresh_token)
                back = urlencode({"state": (query.get("state") or [""])[0], "selling_partner_id": standin.seller,
                                  "spapi_oauth_code": code})
                return self._page(302, "redirecting", f"{standin.redirect_uri}?{back}")

        return Handler
