"""renewbot/domain/kinds.py: the built-in kinds word for word, and how a kind judges a pasted secret.

The steps and reminders are what a person follows at the provider, so they are pinned exactly: a
changed or emptied step is noticed (see docs/mutation.md).
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from renewbot.domain import kinds
from renewbot.domain.credentials import read_certificate, read_jwt
from renewbot.domain.kinds import APP, BUILTIN_KINDS, MANAGE_APPS, MAX_SECRET, PAIR_NOTE, Kind, resolve

TODAY = date(2026, 11, 26)
UUID = "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"

SP_API_STEPS = (
    "*Log out of every Amazon seller account first*, so you authorise the right one.",
    "In Seller Central, open *Apps and Services → {manage_apps}* and choose *Authorize* on {app}.",
    "Confirm the consent page; Amazon issues a new refresh token (it starts with `Atzr|`). Copy it.",
    "Press *Renew* on this notice, paste it, and keep the suggested expiry (authorisations last 365 days).",
    "Keep the accounts ticked to re-enable them, set *Don't fetch orders* as your team wants, and submit.",
    "renewbot replies here with the old and new expiry once it is stored.",
)
LWA_STEPS = (
    "In Solution Provider Portal (or Developer Central), open {app} and choose *Rotate secret* under its "
    "Login with Amazon credentials.",
    "Copy the new client secret (it starts with `amzn1.oa2-cs.v1.`). The old one keeps working for a short "
    "grace period, so do the next steps straight away.",
    "Press *Renew* on this notice, paste the new secret, and keep the suggested expiry (180 days).",
    "Update every system that signs in with this app's client secret, then check an API call succeeds.",
)
MWS_STEPS = (
    "*Log out of every Amazon seller account first* (all of them, in every browser tab): Amazon renews "
    "the token for whichever account is signed in.",
    "Open the marketplace account's settings (the *Open settings* button) and choose *Get MWS Token*, "
    "then *Get Token*: this takes you to Amazon.",
    "Sign in to Amazon Seller Central with *the seller account this token belongs to*; check it is the right one.",
    "Go to *{manage_apps}*. Several apps are listed; press *Renew* on {app}.",
    "Copy the new auth token it shows (if it doesn't show, press *View* and copy it there). "
    "It looks like `amzn.mws.` followed by a long ID.",
    "Press *Renew* on this notice and paste the token into the form, with the new expiry date "
    "(Amazon gives a year; the form suggests it).",
    "In the same form, keep *Re-enable these accounts* ticked: a renewal can switch every Amazon account "
    "off. Tick *Don't fetch orders* only for accounts that should not pull orders.",
    "Submit. renewbot stores the token encrypted, re-enables the accounts, and replies here with the old "
    "and new expiry so you can see the date moved.",
)
JWT_STEPS = (
    "Issue a new JWT with its issuer ({app}).",
    "Press *Renew* on this notice and paste the whole JWT: renewbot reads its expiry (`exp`) from it, "
    "so the date field can stay empty.",
    "Replace the old JWT wherever it is used, then check a request with it succeeds.",
)
X509_STEPS = (
    "Have the certificate issued again ({app}): a new CSR to your CA, or your ACME client's renewal.",
    "Press *Renew* on this notice and paste the new certificate in PEM form (-----BEGIN CERTIFICATE-----). "
    "For a chain, the first (leaf) certificate is enough. Never paste the private key.",
    "renewbot reads the expiry (notAfter) from the certificate, so the date field can stay empty.",
    "Install the certificate (with its key and chain) where it is served, then check the served expiry moved.",
)
GENERIC_STEPS = (
    "Create a new credential with the provider ({app}).",
    "Press *Renew* on this notice, paste the new value and its expiry date, and submit.",
    "Revoke the old credential at the provider once the new one works.",
)


# A kind that checks nothing with an issuer and reads nothing from the value: one line, single-value token.
PLAIN_VALUE = {"verifier": None, "expiry_from_value": None, "value_label": "token", "secret_hint": None,
               "multiline": False, "pairs_with": (), "authorization": None}


def fields(kind: Kind) -> dict:
    return {f.name: getattr(kind, f.name) for f in dataclasses.fields(kind) if f.name != "_compiled"}


def test_constants():
    assert MAX_SECRET == 3000
    assert APP == "{app}"
    assert MANAGE_APPS == "{manage_apps}"
    assert PAIR_NOTE == ("This seller also has {other} ({other_label}): renewing in {manage_apps} touches both "
                         "tokens; renew it too.")


def test_the_builtin_kinds_in_order():
    assert list(BUILTIN_KINDS) == ["amazon-sp-api", "amazon-lwa-client-secret", "amazon-mws", "generic", "jwt",
                                   "x509"]
    assert all(k.id == key for key, k in BUILTIN_KINDS.items())


def test_sp_api_exactly():
    assert fields(BUILTIN_KINDS["amazon-sp-api"]) == {
        "id": "amazon-sp-api", "label": "Amazon SP-API authorization", "pattern": r"(?s)Atzr\|.*",
        "pattern_message": "An SP-API refresh token starts with Atzr| — check you copied the refresh token, "
                           "not the access token.",
        "lifetime_days": 365, "notify_days": None, "steps": SP_API_STEPS,
        "reminder": "Re-authorise {app} in Seller Central → {manage_apps}, then paste the new refresh token.",
        "placeholder": "Atzr|…", "legacy": False, "verifier": "lwa", "expiry_from_value": None, "value_label": "token",
        "secret_hint": None, "multiline": False, "pairs_with": ("amazon-mws",), "authorization": "amazon"}


def test_lwa_client_secret_exactly():
    assert fields(BUILTIN_KINDS["amazon-lwa-client-secret"]) == {
        "id": "amazon-lwa-client-secret", "label": "Amazon LWA client secret",
        "pattern": r"(?s)amzn1\.oa2-cs\.v1\..+",
        "pattern_message": "An LWA client secret starts with amzn1.oa2-cs.v1. — check you copied the secret, "
                           "not the client id.",
        "lifetime_days": 180, "notify_days": (90, 60, 30, 14, 7, 3, 1), "steps": LWA_STEPS,
        "reminder": "Rotate the client secret of {app} first, then paste the new secret.",
        "placeholder": "amzn1.oa2-cs.v1.…", "legacy": False, **PLAIN_VALUE}


def test_mws_exactly():
    assert fields(BUILTIN_KINDS["amazon-mws"]) == {
        "id": "amazon-mws", "label": "Amazon MWS auth token (legacy)",
        "pattern": r"(?i)amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "pattern_message": "An MWS auth token looks like amzn.mws.<uuid>, e.g. amzn.mws.1a2b3c4d-…; "
                           "check you copied all of it.",
        "lifetime_days": 365, "notify_days": None, "steps": MWS_STEPS,
        "reminder": "Before you start: log out of all Amazon seller accounts, then renew {app} in {manage_apps}.",
        "placeholder": "amzn.mws.xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", "legacy": True,
        **PLAIN_VALUE, "pairs_with": ("amazon-sp-api",)}


def test_generic_exactly_and_the_defaults_of_a_kind():
    assert fields(BUILTIN_KINDS["generic"]) == {
        "id": "generic", "label": "credential", "pattern": None, "pattern_message": None,
        "lifetime_days": None, "notify_days": None, "steps": GENERIC_STEPS,
        "reminder": "Create the new credential with its provider first, then paste it here.",
        "placeholder": "the new secret, no spaces", "legacy": False, **PLAIN_VALUE}
    assert fields(Kind(id="k", label="K")) == {
        "id": "k", "label": "K", "pattern": None, "pattern_message": None, "lifetime_days": None,
        "notify_days": None, "steps": (),
        "reminder": "Create the new credential with its provider first, then paste it here.",
        "placeholder": "the new secret, no spaces", "legacy": False, **PLAIN_VALUE}


def test_jwt_exactly():
    assert fields(BUILTIN_KINDS["jwt"]) == {
        "id": "jwt", "label": "JWT", "pattern": None, "pattern_message": None,
        "lifetime_days": None, "notify_days": None, "steps": JWT_STEPS,
        "reminder": "Issue the new JWT first ({app}), then paste it here; its expiry is read from it.",
        "placeholder": "eyJhbGciOi….eyJleHAiOi….…", "legacy": False, "verifier": None,
        "expiry_from_value": read_jwt, "value_label": "JWT",
        "secret_hint": "The whole JWT, at most 3,000 characters; its expiry (exp) is read from it.",
        "multiline": False, "pairs_with": (), "authorization": None}


def test_x509_exactly():
    assert fields(BUILTIN_KINDS["x509"]) == {
        "id": "x509", "label": "X.509 certificate", "pattern": None, "pattern_message": None,
        "lifetime_days": None, "notify_days": None, "steps": X509_STEPS,
        "reminder": "Have the new certificate issued first ({app}), then paste it here; never its private key.",
        "placeholder": "-----BEGIN CERTIFICATE-----…", "legacy": False, "verifier": None,
        "expiry_from_value": read_certificate, "value_label": "certificate",
        "secret_hint": "PEM, at most 3,000 characters (Slack's limit): for a longer chain paste only its first "
                       "(leaf) certificate, or use the private entry page. Never the private key.",
        "multiline": True, "pairs_with": (), "authorization": None}


# --- judging a pasted secret ---------------------------------------------------------------------

@pytest.mark.parametrize("kind_id, secret", [
    ("amazon-sp-api", "Atzr|IwEBIabc"),
    ("amazon-sp-api", "Atzr|"),
    ("amazon-sp-api", "Atzr|line one\nline two"),
    ("amazon-lwa-client-secret", "amzn1.oa2-cs.v1.abc123"),
    ("amazon-lwa-client-secret", "amzn1.oa2-cs.v1.a\nb"),
    ("amazon-mws", f"amzn.mws.{UUID}"),
    ("amazon-mws", f"AMZN.MWS.{UUID.upper()}"),
    ("generic", "anything at all"),
    ("generic", ""),
])
def test_a_secret_of_the_kind_has_no_mismatch(kind_id, secret):
    assert BUILTIN_KINDS[kind_id].mismatch(secret) is None


@pytest.mark.parametrize("kind_id, secret", [
    ("amazon-sp-api", "Atza|IwEBIabc"),  # an access token
    ("amazon-sp-api", " Atzr|IwEBIabc"),
    ("amazon-lwa-client-secret", "amzn1.oa2-cs.v1."),  # nothing after the prefix
    ("amazon-lwa-client-secret", "amzn1.application-oa2-client.abc"),  # the client id
    ("amazon-lwa-client-secret", "amzn1xoa2-cs.v1.abc"),
    ("amazon-mws", f"amzn.mws.{UUID}x"),
    ("amazon-mws", f"amzn.mws.{UUID[:-1]}"),
    ("amazon-mws", f"amznxmws.{UUID}"),
])
def test_a_secret_of_another_shape_gets_the_kinds_message(kind_id, secret):
    kind = BUILTIN_KINDS[kind_id]
    assert kind.mismatch(secret) == kind.pattern_message


def test_a_kind_without_its_own_message_names_its_label():
    kind = Kind(id="ship", label="carrier API key", pattern=r"sk_[a-z]+")
    assert kind.mismatch("sk_abc") is None
    assert kind.mismatch("sk_abc1") == "That does not look like a carrier API key: check you copied all of it."
    assert Kind(id="x", label="X", pattern=r"a+", pattern_message="Only a's.").mismatch("b") == "Only a's."


def test_the_pattern_is_compiled_once_and_not_compared():
    kind = Kind(id="ship", label="carrier API key", pattern=r"sk_[a-z]+")
    assert kind._compiled is not None and kind._compiled.pattern == r"sk_[a-z]+"
    assert Kind(id="x", label="X")._compiled is None
    assert kind == Kind(id="ship", label="carrier API key", pattern=r"sk_[a-z]+")
    assert "_compiled" not in repr(kind)


def test_suggested_expiry():
    assert BUILTIN_KINDS["amazon-mws"].suggested_expiry(TODAY) == date(2027, 11, 26)
    assert BUILTIN_KINDS["amazon-lwa-client-secret"].suggested_expiry(TODAY) == date(2027, 5, 25)
    assert BUILTIN_KINDS["generic"].suggested_expiry(TODAY) is None
    assert Kind(id="k", label="K", lifetime_days=0).suggested_expiry(TODAY) == TODAY


def test_a_kind_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        BUILTIN_KINDS["generic"].label = "changed"  # type: ignore[misc]


# --- resolving a kind id ---------------------------------------------------------------------------

def test_resolve_prefers_the_builtin_kind():
    team = {"amazon-mws": Kind(id="amazon-mws", label="ours"), "ship": Kind(id="ship", label="Ship key")}
    assert resolve("amazon-mws", team) is BUILTIN_KINDS["amazon-mws"]
    assert resolve("amazon-mws") is BUILTIN_KINDS["amazon-mws"]
    assert resolve("ship", team) is team["ship"]


def test_an_unknown_kind_reads_as_a_plain_credential_of_that_name():
    for custom in (None, {}, {"other": Kind(id="other", label="Other")}):
        assert resolve("ship", custom) == Kind(id="ship", label="ship", steps=GENERIC_STEPS)
    assert resolve("ship").steps is kinds._GENERIC_STEPS


# --- Amazon: the LWA secret's ladder, and the kinds that pair -----------------------------------------

def test_the_lwa_secret_is_first_reminded_at_90_days_then_down_its_ladder():
    from datetime import UTC, datetime, timedelta

    from renewbot.domain.thresholds import DEFAULT_LADDER, OK, ladder_for, notify_from, stage_for

    ladder = ladder_for(BUILTIN_KINDS["amazon-lwa-client-secret"].notify_days)
    assert ladder == (90, 60, 30, 14, 7, 3, 1)
    expires = datetime(2027, 5, 25, tzinfo=UTC)
    assert notify_from(expires, ladder) == expires - timedelta(days=90)
    assert stage_for(expires, expires - timedelta(days=91), ladder) == OK
    assert stage_for(expires, expires - timedelta(days=90), ladder) == "90d"
    assert stage_for(expires, expires - timedelta(days=45), ladder) == "60d"
    assert stage_for(expires, expires - timedelta(days=29), ladder) == "30d"
    # The others keep renewbot's default: a year-long SP-API authorization is first reminded at 30 days.
    assert ladder_for(BUILTIN_KINDS["amazon-sp-api"].notify_days) == DEFAULT_LADDER


def test_pairs_name_each_other_and_only_builtin_kinds():
    for kind in BUILTIN_KINDS.values():
        for other in kind.pairs_with:
            assert kind.id in BUILTIN_KINDS[other].pairs_with
    assert [k.id for k in BUILTIN_KINDS.values() if k.pairs_with] == ["amazon-sp-api", "amazon-mws"]


def test_manage_your_apps_is_named_only_by_the_kinds_renewed_there():
    said = [k.id for k in BUILTIN_KINDS.values() if MANAGE_APPS in " ".join((*k.steps, k.reminder))]
    assert said == ["amazon-sp-api", "amazon-mws"]
