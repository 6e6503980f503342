"""What renewbot knows about each kind of credential: one entry per kind, no if-chains elsewhere.

A kind says how to recognise a pasted secret, how long a new one usually
lives, when to start reminding, and the steps on the provider's side. Teams add
their own kinds in the import file (`kinds:`); those are stored and resolved
the same way as the built-in ones below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from renewbot.domain.credentials import ReadCredential, read_certificate, read_jwt

# A pasted secret is measured before any pattern runs on it, so a team's pattern never sees more than this.
MAX_SECRET = 3000
# `{app}` in a step or reminder becomes "app ID *…*" (or a phrase when the token names no app).
APP = "{app}"
# `{manage_apps}` becomes "Manage Your Apps", linked to the token's marketplace's Seller Central page when it names
# one (renewbot.domain.marketplaces): only kinds renewed there say it, so the link appears nowhere else.
MANAGE_APPS = "{manage_apps}"
# Said in the steps and the form of a token whose kind `pairs_with` another, for each token of that other kind that
# serves one of its accounts: Amazon renews a seller's MWS token and SP-API authorization together.
PAIR_NOTE = (f"This seller also has {{other}} ({{other_label}}): renewing in {MANAGE_APPS} touches both tokens; "
             "renew it too.")
# A client secret lives 180 days and every system signing in with the app needs the new one: the first reminder comes
# at 90 days so the rotation can be planned, not rushed.
LWA_SECRET_LADDER = (90, 60, 30, 14, 7, 3, 1)


@dataclass(frozen=True)
class Kind:
    id: str
    label: str
    pattern: str | None = None  # the whole pasted value must match (Python regex)
    pattern_message: str | None = None
    lifetime_days: int | None = None  # the form suggests today + this; None: no suggestion
    notify_days: tuple[int, ...] | None = None  # this kind's reminder ladder; None: renewbot's default
    steps: tuple[str, ...] = ()
    reminder: str = "Create the new credential with its provider first, then paste it here."
    placeholder: str = "the new secret, no spaces"
    legacy: bool = False
    # How a new value is checked with its issuer before it is saved (renewbot.usecases.verify): "lwa" or None.
    verifier: str | None = None
    # Reads the expiry out of the value itself (raises CredentialProblem): the form's date is then optional.
    expiry_from_value: Callable[[str], ReadCredential] | None = field(default=None, compare=False, repr=False)
    value_label: str = "token"  # what the form asks for: "Paste the new <value_label>."
    secret_hint: str | None = None  # shown under the form's field, before "Stored encrypted; ..."
    multiline: bool = False  # the value spans lines (PEM): line breaks and spaces inside it are part of it
    # Kinds renewed in the same place for the same seller: their tokens sharing an account remind of each other.
    pairs_with: tuple[str, ...] = ()
    # Where a new value can come straight from its provider, never through a person (renewbot.usecases.amazon_oauth):
    # "amazon" (Amazon's website authorization workflow) or None.
    authorization: str | None = None
    _compiled: re.Pattern | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.pattern is not None and self._compiled is None:
            object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def mismatch(self, secret: str) -> str | None:
        """The inline message when `secret` (already bounded to MAX_SECRET) is not of this kind."""
        if self._compiled is None or self._compiled.fullmatch(secret):
            return None
        return self.pattern_message or f"That does not look like a {self.label}: check you copied all of it."

    def suggested_expiry(self, today: date) -> date | None:
        return None if self.lifetime_days is None else today + timedelta(days=self.lifetime_days)


_SP_API_STEPS = (
    "*Log out of every Amazon seller account first*, so you authorise the right one.",
    f"In Seller Central, open *Apps and Services → {MANAGE_APPS}* and choose *Authorize* on {APP}.",
    "Confirm the consent page; Amazon issues a new refresh token (it starts with `Atzr|`). Copy it.",
    "Press *Renew* on this notice, paste it, and keep the suggested expiry (authorisations last 365 days).",
    "Keep the accounts ticked to re-enable them, set *Don't fetch orders* as your team wants, and submit.",
    "renewbot replies here with the old and new expiry once it is stored.",
)
_LWA_SECRET_STEPS = (
    f"In Solution Provider Portal (or Developer Central), open {APP} and choose *Rotate secret* under its "
    "Login with Amazon credentials.",
    "Copy the new client secret (it starts with `amzn1.oa2-cs.v1.`). The old one keeps working for a short "
    "grace period, so do the next steps straight away.",
    "Press *Renew* on this notice, paste the new secret, and keep the suggested expiry (180 days).",
    "Update every system that signs in with this app's client secret, then check an API call succeeds.",
)
_MWS_STEPS = (
    "*Log out of every Amazon seller account first* (all of them, in every browser tab): Amazon renews "
    "the token for whichever account is signed in.",
    "Open the marketplace account's settings (the *Open settings* button) and choose *Get MWS Token*, "
    "then *Get Token*: this takes you to Amazon.",
    "Sign in to Amazon Seller Central with *the seller account this token belongs to*; "
    "check it is the right one.",
    f"Go to *{MANAGE_APPS}*. Several apps are listed; press *Renew* on {APP}.",
    "Copy the new auth token it shows (if it doesn't show, press *View* and copy it there). "
    "It looks like `amzn.mws.` followed by a long ID.",
    "Press *Renew* on this notice and paste the token into the form, with the new expiry date "
    "(Amazon gives a year; the form suggests it).",
    "In the same form, keep *Re-enable these accounts* ticked: a renewal can switch every Amazon account "
    "off. Tick *Don't fetch orders* only for accounts that should not pull orders.",
    "Submit. renewbot stores the token encrypted, re-enables the accounts, and replies here with the old "
    "and new expiry so you can see the date moved.",
)
_JWT_STEPS = (
    f"Issue a new JWT with its issuer ({APP}).",
    "Press *Renew* on this notice and paste the whole JWT: renewbot reads its expiry (`exp`) from it, "
    "so the date field can stay empty.",
    "Replace the old JWT wherever it is used, then check a request with it succeeds.",
)
_X509_STEPS = (
    f"Have the certificate issued again ({APP}): a new CSR to your CA, or your ACME client's renewal.",
    "Press *Renew* on this notice and paste the new certificate in PEM form (-----BEGIN CERTIFICATE-----). "
    "For a chain, the first (leaf) certificate is enough. Never paste the private key.",
    "renewbot reads the expiry (notAfter) from the certificate, so the date field can stay empty.",
    "Install the certificate (with its key and chain) where it is served, then check the served expiry moved.",
)
_GENERIC_STEPS = (
    f"Create a new credential with the provider ({APP}).",
    "Press *Renew* on this notice, paste the new value and its expiry date, and submit.",
    "Revoke the old credential at the provider once the new one works.",
)

BUILTIN_KINDS: dict[str, Kind] = {k.id: k for k in (
    Kind(id="amazon-sp-api", label="Amazon SP-API authorization", pattern=r"(?s)Atzr\|.*",
         pattern_message="An SP-API refresh token starts with Atzr| — check you copied the refresh token, "
                         "not the access token.",
         lifetime_days=365, steps=_SP_API_STEPS, placeholder="Atzr|…", verifier="lwa", pairs_with=("amazon-mws",),
         authorization="amazon",
         reminder=f"Re-authorise {APP} in Seller Central → {MANAGE_APPS}, then paste the new refresh token."),
    Kind(id="amazon-lwa-client-secret", label="Amazon LWA client secret", pattern=r"(?s)amzn1\.oa2-cs\.v1\..+",
         pattern_message="An LWA client secret starts with amzn1.oa2-cs.v1. — check you copied the secret, "
                         "not the client id.",
         lifetime_days=180, notify_days=LWA_SECRET_LADDER, steps=_LWA_SECRET_STEPS, placeholder="amzn1.oa2-cs.v1.…",
         reminder=f"Rotate the client secret of {APP} first, then paste the new secret."),
    Kind(id="amazon-mws", label="Amazon MWS auth token (legacy)",
         pattern=r"(?i)amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
         pattern_message="An MWS auth token looks like amzn.mws.<uuid>, e.g. amzn.mws.1a2b3c4d-…; "
                         "check you copied all of it.",
         lifetime_days=365, steps=_MWS_STEPS, placeholder="amzn.mws.xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
         reminder=f"Before you start: log out of all Amazon seller accounts, then renew {APP} in {MANAGE_APPS}.",
         legacy=True, pairs_with=("amazon-sp-api",)),
    Kind(id="generic", label="credential", steps=_GENERIC_STEPS),
    Kind(id="jwt", label="JWT", steps=_JWT_STEPS, placeholder="eyJhbGciOi….eyJleHAiOi….…",
         reminder=f"Issue the new JWT first ({APP}), then paste it here; its expiry is read from it.",
         expiry_from_value=read_jwt, value_label="JWT",
         secret_hint=f"The whole JWT, at most {MAX_SECRET:,} characters; its expiry (exp) is read from it."),
    Kind(id="x509", label="X.509 certificate", steps=_X509_STEPS, placeholder="-----BEGIN CERTIFICATE-----…",
         reminder=f"Have the new certificate issued first ({APP}), then paste it here; never its private key.",
         expiry_from_value=read_certificate, value_label="certificate", multiline=True,
         secret_hint=f"PEM, at most {MAX_SECRET:,} characters (Slack's limit): for a longer chain paste only its "
                     "first (leaf) certificate, or use the private entry page. Never the private key."),
)}


def resolve(kind_id: str, custom: Mapping[str, Kind] | None = None) -> Kind:
    """The built-in or team-defined kind; a kind no longer known reads as a plain credential of that name."""
    if kind_id in BUILTIN_KINDS:
        return BUILTIN_KINDS[kind_id]
    if custom and kind_id in custom:
        return custom[kind_id]
    return Kind(id=kind_id, label=kind_id, steps=_GENERIC_STEPS)
