"""The provider-side steps a person still does by hand, per token kind (the guide, in our words)."""

from __future__ import annotations

from renewbot.blocks.common import clip, context, escape, section
from storage.models import Token


def _app(token: Token) -> str:
    return f"app ID *{escape(token.app_id)}*" if token.app_id else "the app your team uses for this integration"


def runbook_steps(token: Token) -> list[str]:
    if token.kind == "amazon-mws":
        return [
            "*Log out of every Amazon seller account first* (all of them, in every browser tab): Amazon renews "
            "the token for whichever account is signed in.",
            "Open the marketplace account's settings (the *Open settings* button) and choose *Get MWS Token*, "
            "then *Get Token*: this takes you to Amazon.",
            "Sign in to Amazon Seller Central with *the seller account this token belongs to*; "
            "check it is the right one.",
            f"Go to *Manage Your Apps*. Several apps are listed; press *Renew* on {_app(token)}.",
            "Copy the new auth token it shows (if it doesn't show, press *View* and copy it there). "
            "It looks like `amzn.mws.` followed by a long ID.",
            "Press *Renew* on this notice and paste the token into the form, with the new expiry date "
            "(Amazon gives a year; the form suggests it).",
            "In the same form, keep *Re-enable these accounts* ticked: a renewal can switch every Amazon account "
            "off. Tick *Don't fetch orders* only for accounts that should not pull orders.",
            "Submit. renewbot stores the token encrypted, re-enables the accounts, and replies here with the old "
            "and new expiry so you can see the date moved.",
        ]
    if token.kind == "amazon-sp-api":
        return [
            "*Log out of every Amazon seller account first*, so you authorise the right one.",
            f"In Seller Central, open *Apps and Services → Manage Your Apps* and re-authorise {_app(token)}.",
            "Copy the new refresh token (it starts with `Atzr|`).",
            "Press *Renew* on this notice, paste it, and set the new expiry (a year from today is suggested).",
            "Keep the accounts ticked to re-enable them, set *Don't fetch orders* as your team wants, and submit.",
            "renewbot replies here with the old and new expiry once it is stored.",
        ]
    return [
        f"Create a new credential with the provider ({_app(token)}).",
        "Press *Renew* on this notice, paste the new value and its expiry date, and submit.",
        "Revoke the old credential at the provider once the new one works.",
    ]


def provider_reminder(token: Token) -> str:
    if token.kind == "amazon-mws":
        return f"Before you start: log out of all Amazon seller accounts, then renew {_app(token)} in Manage Your Apps."
    if token.kind == "amazon-sp-api":
        return f"Re-authorise {_app(token)} in Seller Central, then paste the new refresh token."
    return "Create the new credential with its provider first, then paste it here."


def runbook_blocks(token: Token) -> list[dict]:
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(runbook_steps(token), 1))
    return [
        section(f"*How to renew {clip(escape(token.name), 200)}*\n{steps}"),
        context("renewbot · renewal steps"),
    ]


def runbook_text(token: Token) -> str:
    return f"Renewal steps for {escape(token.name)} (expires {token.expires_at:%Y-%m-%d})"
