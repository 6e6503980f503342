"""The private entry page's HTML: one small form and a few plain answer pages. No script, no external asset.

The only style is inline, allowed by its hash in the Content-Security-Policy (HEADERS); everything shown that
came from outside (a token's name, a posted date, a message) is escaped. A posted secret is never written back.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

STYLE = ("body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1d1c1d}"
         "label{display:block;font-weight:600;margin-top:1rem}input,textarea{width:100%;box-sizing:border-box;"
         "font:inherit;padding:.4rem;margin-top:.25rem}textarea{min-height:10rem;font-family:monospace}"
         ".error{color:#b00020;margin:.25rem 0}.note{color:#616061;font-size:.9rem}"
         "button{margin-top:1.25rem;padding:.5rem 1.25rem;font:inherit;font-weight:600}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
# On every answer of the page's routes, errors included.
HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Robots-Tag", "noindex, nofollow"),
)
SECRET_NAME, EXPIRY_NAME, CSRF_NAME = "secret", "expiry", "csrf"


def _document(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex,nofollow">'
            f"<title>{escape(title)} · renewbot</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>").encode()


def message_page(title: str, text: str) -> bytes:
    """A plain answer: renewed, or why not."""
    return _document(title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>")


def _error(errors: dict[str, str], name: str) -> str:
    message = errors.get(name)
    return f'<p class="error" id="{name}-error" role="alert">{escape(message)}</p>' if message else ""


def form_page(*, token_name: str, kind_label: str, value_label: str, multiline: bool, date_value: str,
              date_optional: bool, csrf: str, expires_at: str, errors: dict[str, str] | None = None) -> bytes:
    """The entry form. `errors`: messages by field (SECRET_NAME, EXPIRY_NAME); any other key is shown on top."""
    errors = errors or {}
    general = [m for name, m in errors.items() if name not in (SECRET_NAME, EXPIRY_NAME)]
    common = (f'name="{SECRET_NAME}" id="{SECRET_NAME}" required autocomplete="off" autocapitalize="off" '
              f'spellcheck="false" maxlength="3000"')
    described = f' aria-describedby="{SECRET_NAME}-error"' if SECRET_NAME in errors else ""
    secret = (f"<textarea {common}{described}></textarea>" if multiline
              else f'<input type="password" {common}{described}>')
    date_hint = (f'<p class="note">Optional: read from the {escape(value_label)}. A date you pick must be the same '
                 "day (UTC).</p>" if date_optional else "")
    body = (
        f"<h1>Renew {escape(token_name)}</h1>"
        f'<p class="note">Kind: {escape(kind_label)}. This page is for you only and works until {escape(expires_at)}'
        " UTC. Nothing is saved until you submit it.</p>"
        + "".join(f'<p class="error" role="alert">{escape(m)}</p>' for m in general)
        + '<form method="post">'
        f'<input type="hidden" name="{CSRF_NAME}" value="{escape(csrf)}">'
        f'<label for="{SECRET_NAME}">New {escape(value_label)}</label>{secret}{_error(errors, SECRET_NAME)}'
        f'<label for="{EXPIRY_NAME}">New expiry date</label>'
        f'<input type="date" name="{EXPIRY_NAME}" id="{EXPIRY_NAME}" value="{escape(date_value)}"'
        f'{"" if date_optional else " required"}>{date_hint}{_error(errors, EXPIRY_NAME)}'
        '<button type="submit">Renew</button></form>'
        '<p class="note">The value goes from this page to renewbot directly, is stored encrypted, and is never '
        "shown again. Slack never sees it.</p>"
    )
    return _document(f"Renew {token_name}", body)
