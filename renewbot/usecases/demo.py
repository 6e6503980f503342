"""The demo inventory, dated from the day it is made, so a demo shows several stages on any day.

Fixed dates in an example file drift: a few weeks after it was written every
token shows as expired. The demo writes the same kind of file a team keeps in
git, with dates counted from today, then imports it like any other.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

# (token id, days from today) — what the demo shows, one line each.
DEMO_OFFSETS = {"amazon-eu-sp-api": 3, "amazon-lwa-secret": 30, "shipping-api-key": -2, "payments-webhook-key": 200}

TEMPLATE = """\
# renewbot demo inventory, written on {today} with dates counted from that day.
# `renewbot demo` writes it again on every run, so it always shows a 30-day
# notice, a 3-day notice and an expired one (and one token that is fine).
# It has the same form as a team's own import file: see examples/tokens.yml.
accounts:
  - id: amazon-uk
    name: Amazon UK
    enabled: false             # a renewal switched it off: the form re-enables it
    fetch_orders: true
    settings_url: https://commerce.example/configuration/selling/amazon/accounts/amazon-uk
  - id: amazon-de
    name: Amazon DE
    enabled: false
    fetch_orders: false        # "Don't fetch orders"
    settings_url: https://commerce.example/configuration/selling/amazon/accounts/amazon-de
tokens:
  - id: amazon-eu-sp-api
    kind: amazon-sp-api
    name: Amazon EU SP-API authorization
    expires_at: {amazon-eu-sp-api}     # in 3 days
    channel: C0123ALERTS
    owners: [U0123OWNER, S0123GROUP]
    accounts: [amazon-uk, amazon-de]
    app_id: "amzn1.sp.solution.demo"
  - id: amazon-lwa-secret
    kind: amazon-lwa-client-secret
    name: Seller app LWA client secret
    expires_at: {amazon-lwa-secret}     # in 30 days
    channel: C0123ALERTS
    owners: [U0123OWNER]
    app_id: "amzn1.sp.solution.demo"
  - id: shipping-api-key
    kind: generic
    name: Shipping carrier API key
    expires_at: {shipping-api-key}     # expired 2 days ago
    channel: C0456OPS
    owners: [U0123OWNER]
  - id: payments-webhook-key
    kind: generic
    name: Payments webhook signing key
    expires_at: {payments-webhook-key}     # fine: 200 days left, no notice
    channel: C0456OPS
    owners: [U0123OWNER]
"""


def inventory_text(today: date) -> str:
    dates = {token: (today + timedelta(days=offset)).isoformat() for token, offset in DEMO_OFFSETS.items()}
    return TEMPLATE.format(today=today.isoformat(), **dates)


def write_inventory(path: Path, *, today: date) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(inventory_text(today), encoding="utf-8")
    return path
