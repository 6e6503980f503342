"""renew() with verification and with kinds that read their expiry from the value: what is stored, what is refused
with nothing changed, and that the network check runs with no database connection held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from renewbot.crypto import SecretBox
from renewbot.domain.credentials import PRIVATE_KEY
from renewbot.domain.validation import EXPIRY_FIELD, SECRET_FIELD, RenewalForm
from renewbot.errors import RenewalRejected, StaleRenewal
from renewbot.usecases.renewal import RenewalRequest, renew
from renewbot.usecases.verify import LWA_SETTINGS_REFUSED, HttpVerifier
from storage import queries
from storage.db import session_scope
from storage.models import Account, Renewal, Token
from tests.conftest import NOW
from tests.support.credentials import make_certificate, make_jwt, private_key_pem
from tests.support.lwa import CLIENT_ID, CLIENT_SECRET, IssuerStandin, down_url
from tests.support.seed import account, seed, token

REFRESH = "Atzr|IwEBINewRefreshToken-0123456789"
BEARER = "pat_live_new_0123456789abcdef"
NEW_DAY = "2027-11-26"
VALUE_EXPIRY = datetime(2027, 6, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def issuer():
    with IssuerStandin(refresh_tokens={REFRESH}, bearers={BEARER}) as standin:
        yield standin


@pytest.fixture
def box(fernet_key) -> SecretBox:
    return SecretBox((fernet_key,))


@pytest.fixture
def world(engine, issuer):
    seed(engine, now=NOW, accounts=[account("uk", enabled=False)], tokens=[
        token("sp", NOW + timedelta(days=3), kind="amazon-sp-api", accounts=["uk"], owners=["U0OWNER"]),
        token("api", NOW + timedelta(days=3), kind="generic", owners=["U0OWNER"], verify_url=f"{issuer.url}/me"),
        token("api-500", NOW + timedelta(days=3), kind="generic", owners=["U0OWNER"],
              verify_url=f"{issuer.url}/status/500"),
        token("jwt", NOW + timedelta(days=3), kind="jwt", owners=["U0OWNER"]),
        token("cert", NOW + timedelta(days=3), kind="x509", owners=["U0OWNER"]),
    ])
    return engine


def verifier(issuer: IssuerStandin, **kw) -> HttpVerifier:
    values = dict(lwa_url=issuer.url, lwa_client_id=CLIENT_ID, lwa_client_secret=CLIENT_SECRET, deadline=0.5)
    values.update(kw)
    return HttpVerifier(**values)


def submit(engine, box, token_id: str, secret: str, *, expiry: str | None = NEW_DAY, check=None, may_act=True):
    request = RenewalRequest(token_id=token_id, version=1, user_id="U0OWNER",
                             form=RenewalForm(secret=secret, expiry=expiry, reenable={0: frozenset({"uk"})}))
    return renew(engine=engine, box=box, request=request, may_act=lambda owners: may_act, now=NOW, verifier=check)


def snapshot(engine) -> tuple:
    with session_scope(engine) as s:
        tokens = tuple((t.id, t.version, t.expires_at, t.secret_encrypted) for t in s.exec(select(Token)))
        accounts = tuple((a.id, a.enabled) for a in s.exec(select(Account)))
        return tokens, accounts, len(s.exec(select(Renewal)).all())


def renewal_of(engine, token_id: str) -> Renewal:
    with session_scope(engine) as s:
        (row,) = s.exec(select(Renewal).where(Renewal.token_id == token_id)).all()
        s.expunge(row)
        return row


def test_a_refresh_token_amazon_accepts_is_saved_as_verified(world, box, issuer):
    outcome = submit(world, box, "sp", REFRESH, check=verifier(issuer))
    assert (outcome.verification, outcome.verified_by) == ("verified", "Amazon")
    assert renewal_of(world, "sp").verification == "verified"
    with session_scope(world) as s:
        assert box.decrypt(s.get(Token, "sp").secret_encrypted) == REFRESH
        assert s.get(Account, "uk").enabled


def test_invalid_grant_is_refused_on_the_token_field_and_nothing_is_saved(world, box, issuer):
    before = snapshot(world)
    with pytest.raises(RenewalRejected) as caught:
        submit(world, box, "sp", "Atzr|IwEBIRevoked-000", check=verifier(issuer))
    assert set(caught.value.errors) == {SECRET_FIELD} and "invalid_grant" in caught.value.errors[SECRET_FIELD]
    assert snapshot(world) == before


def test_renewbots_own_lwa_settings_refused_saves_as_not_verified(world, box, issuer):
    outcome = submit(world, box, "sp", REFRESH, check=verifier(issuer, lwa_client_id="amzn1.application-oa2-client.x"))
    assert outcome.verification == f"unverified: {LWA_SETTINGS_REFUSED}"
    assert renewal_of(world, "sp").verification == f"unverified: {LWA_SETTINGS_REFUSED}"


def test_lwa_unreachable_saves_and_says_it_could_not_be_verified(world, box):
    check = HttpVerifier(lwa_url=down_url(), lwa_client_id=CLIENT_ID, lwa_client_secret=CLIENT_SECRET)
    outcome = submit(world, box, "sp", REFRESH, check=check)
    assert outcome.verification == "unverified: Amazon could not be reached"
    assert renewal_of(world, "sp").verification == "unverified: Amazon could not be reached"


def test_without_a_verifier_nothing_is_checked_and_nothing_recorded(world, box, issuer):
    outcome = submit(world, box, "sp", REFRESH)
    assert (outcome.verification, outcome.verified_by) == (None, None)
    assert renewal_of(world, "sp").verification is None
    assert issuer.requests == []


def test_a_value_the_form_refuses_or_a_stranger_submits_is_never_sent_anywhere(world, box, issuer):
    with pytest.raises(RenewalRejected):
        submit(world, box, "sp", "Atza|an-access-token", check=verifier(issuer))
    with pytest.raises(RenewalRejected):
        submit(world, box, "sp", REFRESH, check=verifier(issuer), may_act=False)
    with pytest.raises(RenewalRejected):
        submit(world, box, "sp", REFRESH, expiry="2020-01-01", check=verifier(issuer))
    assert issuer.requests == []


def test_the_check_runs_with_no_database_connection_held(world, box, issuer):
    real = verifier(issuer)
    held: list[int] = []

    class Watching:
        def verify(self, **kw):
            held.append(world.pool.checkedout())
            return real.verify(**kw)

    assert submit(world, box, "sp", REFRESH, check=Watching()).verification == "verified"
    assert held == [0]


@pytest.mark.parametrize("token_id, secret, stored", [
    ("api", BEARER, "verified"),
    ("api-500", BEARER, "unverified: 127.0.0.1 answered HTTP 500"),
])
def test_a_verify_url_token_is_saved_with_what_its_check_said(world, box, issuer, token_id, secret, stored):
    outcome = submit(world, box, token_id, secret, check=verifier(issuer))
    assert renewal_of(world, token_id).verification == stored == outcome.verification
    (seen,) = [r for r in issuer.requests if r.method == "GET"]
    assert seen.headers["Authorization"] == f"Bearer {secret}"


def _set(token_id: str, **values):
    def change(s) -> None:
        row = s.get(Token, token_id)
        for name, value in values.items():
            setattr(row, name, value)
    return change


@pytest.mark.parametrize("token_id, secret, what, change", [
    ("sp", REFRESH, "kind", _set("sp", kind="generic")),
    ("api", BEARER, "verify_url", lambda s: _set("api", verify_url=s.get(Token, "api").verify_url + "?v=2")(s)),
    ("sp", REFRESH, "expiry", _set("sp", expires_at=NOW + timedelta(days=40))),
    ("sp", REFRESH, "accounts", lambda s: queries.set_token_accounts(session=s, token_id="sp", account_ids=[])),
], ids=["kind", "verify_url", "expiry", "accounts"])
def test_a_token_changed_while_its_value_was_checked_is_stale_and_nothing_is_saved(world, box, issuer, token_id,
                                                                                   secret, what, change):
    # What was validated and checked must still be what the token is when the write transaction opens: an import
    # landing during the issuer's check (the hook here) changes these without bumping the version.
    real = verifier(issuer)

    class ChangingMeanwhile:
        def verify(self, **kw):
            with session_scope(world) as s:
                change(s)
            return real.verify(**kw)

    with pytest.raises(StaleRenewal) as caught:
        submit(world, box, token_id, secret, check=ChangingMeanwhile())
    assert str(caught.value) == f"token {token_id}'s {what} changed since the form was submitted"
    with session_scope(world) as s:
        row = s.get(Token, token_id)
        assert (row.version, row.secret_encrypted) == (1, None)  # as imported: never renewed
        assert s.exec(select(Renewal)).all() == [] and not s.get(Account, "uk").enabled


def test_a_verify_url_that_refuses_the_value_saves_nothing(world, box, issuer):
    before = snapshot(world)
    with pytest.raises(RenewalRejected) as caught:
        submit(world, box, "api", "pat_live_revoked", check=verifier(issuer))
    assert "(HTTP 401)" in caught.value.errors[SECRET_FIELD]
    assert snapshot(world) == before


def test_a_jwt_is_stored_with_the_expiry_it_carries_when_no_date_is_picked(world, box):
    value = make_jwt({"sub": "svc", "exp": int(VALUE_EXPIRY.timestamp())})
    outcome = submit(world, box, "jwt", value, expiry=None)
    assert outcome.new_expiry == VALUE_EXPIRY
    with session_scope(world) as s:
        assert s.get(Token, "jwt").expires_at == VALUE_EXPIRY
    assert renewal_of(world, "jwt").new_expires_at == VALUE_EXPIRY


def test_a_certificate_whose_date_disagrees_is_refused_and_nothing_is_saved(world, box):
    before = snapshot(world)
    with pytest.raises(RenewalRejected) as caught:
        submit(world, box, "cert", make_certificate(VALUE_EXPIRY), expiry="2027-07-01")
    assert caught.value.errors == {EXPIRY_FIELD: "The certificate says it expires on 2027-06-30 (UTC): pick that "
                                                 "date, or leave the date empty."}
    assert snapshot(world) == before
    assert submit(world, box, "cert", make_certificate(VALUE_EXPIRY), expiry="2027-06-30").new_expiry == VALUE_EXPIRY


def test_a_pasted_private_key_is_refused_and_never_stored(world, box, db_url):
    key = private_key_pem()
    before = snapshot(world)
    with pytest.raises(RenewalRejected) as caught:
        submit(world, box, "cert", f"{make_certificate(VALUE_EXPIRY)}{key}", expiry=None)
    assert caught.value.errors == {SECRET_FIELD: PRIVATE_KEY}
    assert snapshot(world) == before
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        world.dispose()
        raw = b"".join(p.read_bytes() for p in (Path(url.database), Path(url.database + "-wal")) if p.exists())
        body = "".join(key.splitlines()[1:-1]).encode()
        assert raw and body[:40] not in raw
