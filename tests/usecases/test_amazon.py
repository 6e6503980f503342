"""Amazon specifics: the `marketplace` import field, the LWA secret's ladder, paired tokens, and the tracked LWA
client secret winning over AMAZON_LWA_CLIENT_SECRET (end to end through renew() and the LWA stand-in)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from jobs.plan import plan_notices
from renewbot.crypto import SecretBox
from renewbot.domain.validation import RenewalForm
from renewbot.errors import ImportFileError
from renewbot.runtime import commands
from renewbot.runtime.deps import Deps
from renewbot.usecases.amazon import lwa_secret_source, paired_of, paired_tokens, tracked_lwa_secret
from renewbot.usecases.importing import import_file
from renewbot.usecases.kinds import ladders, token_stage
from renewbot.usecases.renewal import RenewalRequest, renew
from renewbot.usecases.verify import LWA_SETTINGS_REFUSED, HttpVerifier
from storage.db import session_scope
from storage.models import Notice, Token
from tests.conftest import NOW
from tests.support.lwa import CLIENT_ID, IssuerStandin
from tests.support.seed import account, seed, token

REFRESH = "Atzr|IwEBIKnownRefreshToken-0123456789"
OLD_SECRET = "amzn1.oa2-cs.v1.old-rotated-away-1111"
NEW_SECRET = "amzn1.oa2-cs.v1.new-after-rotation-2222"
ENV_SECRET = "amzn1.oa2-cs.v1.from-the-environment-3333"


def write(tmp_path: Path, data: dict, name: str = "inventory.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sp_file(**extra) -> dict:
    return {"tokens": [{"id": "sp", "kind": "amazon-sp-api", "name": "EU SP-API", "expires_at": "2027-06-01",
                        "channel": "C0ALERTS", **extra}]}


def stored(engine, token_id: str) -> Token:
    with session_scope(engine) as s:
        return s.get(Token, token_id)


# --- the marketplace import field ----------------------------------------------------------------

def test_a_marketplace_is_imported_lowercased_and_cleared_when_the_file_drops_it(engine, tmp_path):
    with session_scope(engine) as s:
        import_file(write(tmp_path, sp_file(marketplace="UK")), session=s, now=NOW)
    assert stored(engine, "sp").marketplace == "uk"
    with session_scope(engine) as s:
        report = import_file(write(tmp_path, sp_file(), "dropped.yml"), session=s, now=NOW)
    assert stored(engine, "sp").marketplace is None and report.updated == ["token sp"]


def test_an_unknown_marketplace_is_refused_by_entry_and_line_with_the_known_codes(engine, tmp_path):
    data = sp_file(marketplace="gb")
    data["tokens"].insert(0, {"id": "ok", "kind": "amazon-mws", "name": "MWS", "expires_at": "2027-06-01",
                              "channel": "C0ALERTS", "marketplace": "de"})
    data["tokens"].append({"id": "num", "kind": "amazon-mws", "name": "MWS 2", "expires_at": "2027-06-01",
                           "channel": "C0ALERTS", "marketplace": 44})
    with session_scope(engine) as s, pytest.raises(ImportFileError) as caught:
        import_file(write(tmp_path, data), session=s, now=NOW)
    known = "us, ca, mx, br, uk, de, fr, it, es, nl, se, pl, be, ie, tr, ae, sa, eg, in, jp, au, sg"
    assert caught.value.problems == [
        f"tokens[1] (id 'sp', line 8): unknown marketplace 'gb' (known: {known})",
        f"tokens[2] (id 'num', line 14): unknown marketplace '44' (known: {known})",
    ]
    with session_scope(engine) as s:
        assert s.exec(select(Token)).all() == []  # refused whole: the good entry was not written either


def test_import_dry_run_shows_the_marketplace_change_and_writes_nothing(engine, tmp_path, capsys):
    deps = Deps(engine=engine, box=SecretBox(()), clock=lambda: NOW)
    assert commands.cmd_import(str(write(tmp_path, sp_file(marketplace="uk"))), deps=deps) == 0
    capsys.readouterr()
    assert commands.cmd_import(str(write(tmp_path, sp_file(marketplace="DE"), "de.yml")), deps=deps,
                               dry_run=True) == 0
    out = capsys.readouterr().out
    assert "  token sp: marketplace 'uk' -> 'de'" in out
    assert "dry run, nothing was written (would be: 0 created, 1 updated, 0 unchanged)" in out
    assert stored(engine, "sp").marketplace == "uk"


# --- the LWA client secret's ladder ---------------------------------------------------------------

def test_an_lwa_secret_is_first_noticed_90_days_before_it_expires(engine):
    expires = NOW + timedelta(days=120)
    seed(engine, now=NOW, tokens=[token("lwa", expires, kind="amazon-lwa-client-secret"),
                                  token("sp", expires, kind="amazon-sp-api")])
    lwa, sp = stored(engine, "lwa"), stored(engine, "sp")
    assert lwa.notify_from == expires - timedelta(days=90)  # the scan reads it from then on
    assert sp.notify_from == expires - timedelta(days=30)  # renewbot's default ladder
    with session_scope(engine) as s:
        kind_ladders = ladders(session=s)
    assert kind_ladders["amazon-lwa-client-secret"] == (90, 60, 30, 14, 7, 3, 1)
    assert token_stage(lwa, expires - timedelta(days=91), kind_ladders) == "ok"
    assert token_stage(lwa, expires - timedelta(days=89), kind_ladders) == "90d"
    assert token_stage(sp, expires - timedelta(days=89), kind_ladders) == "ok"
    assert plan_notices(engine=engine, now=expires - timedelta(days=89)) == 1
    with session_scope(engine) as s:
        assert [(n.token_id, n.stage) for n in s.exec(select(Notice))] == [("lwa", "90d")]


# --- paired tokens ---------------------------------------------------------------------------------

@pytest.fixture
def sellers(engine):
    later = NOW + timedelta(days=60)
    seed(engine, now=NOW, accounts=[account("uk"), account("de"), account("us")], tokens=[
        token("sp-eu", later, kind="amazon-sp-api", accounts=["uk", "de"], name="EU SP-API"),
        token("mws-uk", later, kind="amazon-mws", accounts=["uk"], name="UK MWS"),
        token("mws-de", later, kind="amazon-mws", accounts=["de"], name="DE MWS"),
        token("mws-us", later, kind="amazon-mws", accounts=["us"], name="US MWS"),  # another seller
        token("mws-old", later, kind="amazon-mws", accounts=["uk"], name="Old MWS", retired=True),
        token("sp-eu-2", later, kind="amazon-sp-api", accounts=["uk"], name="EU SP-API too"),  # same kind
        token("lwa", later, kind="amazon-lwa-client-secret", accounts=["uk"]),
        token("api", later, kind="generic", accounts=["uk"]),
        token("mws-alone", later, kind="amazon-mws", name="MWS without accounts"),
    ])
    return engine


def pairs(engine, token_id: str) -> list[str]:
    with session_scope(engine) as s:
        return [t.id for t in paired_tokens(s.get(Token, token_id), session=s)]


def test_an_sp_api_token_pairs_with_the_mws_tokens_of_its_accounts_by_name(sellers):
    assert pairs(sellers, "sp-eu") == ["mws-de", "mws-uk"]


def test_an_mws_token_pairs_with_the_sp_api_tokens_of_its_accounts(sellers):
    assert pairs(sellers, "mws-uk") == ["sp-eu", "sp-eu-2"]
    assert pairs(sellers, "mws-de") == ["sp-eu"]


def test_no_pair_for_another_seller_a_retired_token_another_kind_or_no_accounts(sellers):
    assert pairs(sellers, "mws-us") == []
    assert pairs(sellers, "mws-alone") == []
    assert pairs(sellers, "lwa") == [] and pairs(sellers, "api") == []
    assert pairs(sellers, "mws-old") == ["sp-eu", "sp-eu-2"]  # a retired token still sees its seller's others
    assert "mws-old" not in pairs(sellers, "sp-eu-2")


def test_paired_of_reads_only_for_kinds_that_pair(sellers):
    assert [t.name for t in paired_of(stored(sellers, "sp-eu"), engine=sellers)] == ["DE MWS", "UK MWS"]
    assert paired_of(None, engine=sellers) == []
    assert paired_of(Token(id="x", kind="generic", name="x", channel="C0", expires_at=NOW, notify_from=NOW),
                     engine=None) == []  # no engine needed: nothing is read


# --- which stored LWA client secret wins ---------------------------------------------------------

@pytest.fixture
def box(fernet_key) -> SecretBox:
    return SecretBox((fernet_key,))


def store_secret(engine, box: SecretBox, token_id: str, secret: str) -> None:
    with session_scope(engine) as s:
        s.get(Token, token_id).secret_encrypted = box.encrypt(secret)


def lookup(engine, box, client_id: str | None = CLIENT_ID) -> str | None:
    with session_scope(engine) as s:
        found = tracked_lwa_secret(session=s, box=box, client_id=client_id)
    return found.value if found else None


def lwa_token(tid: str, **kw) -> dict:
    return token(tid, NOW + timedelta(days=100), kind="amazon-lwa-client-secret", **kw)


def test_the_single_stored_lwa_secret_wins_and_none_without_a_client_id(engine, box):
    seed(engine, now=NOW, tokens=[lwa_token("lwa"), lwa_token("empty")])
    assert lookup(engine, box) is None  # imported, never renewed: nothing stored yet
    store_secret(engine, box, "lwa", OLD_SECRET)
    assert lookup(engine, box) == OLD_SECRET
    with session_scope(engine) as s:
        assert tracked_lwa_secret(session=s, box=box, client_id=CLIENT_ID).token_id == "lwa"
    assert lookup(engine, box, client_id=None) is None


def test_a_secret_whose_app_id_names_another_client_is_never_used(engine, box, caplog):
    """Signing in with another app's secret fails at LWA: without a match, only secrets naming no app count."""
    seed(engine, now=NOW, tokens=[lwa_token("theirs", app_id="amzn1.application-oa2-client.other")])
    store_secret(engine, box, "theirs", OLD_SECRET)
    with caplog.at_level(logging.DEBUG):
        assert lookup(engine, box) is None
    assert caplog.records == []  # not ambiguous: simply not ours
    seed(engine, now=NOW, tokens=[lwa_token("unnamed")])
    store_secret(engine, box, "unnamed", NEW_SECRET)
    assert lookup(engine, box) == NEW_SECRET


def test_the_one_whose_app_id_is_the_client_id_wins_over_others(engine, box, caplog):
    seed(engine, now=NOW, tokens=[lwa_token("ours", app_id=CLIENT_ID), lwa_token("theirs", app_id="other-app"),
                                  lwa_token("gone", app_id=CLIENT_ID, retired=True)])
    for tid, secret in (("ours", NEW_SECRET), ("theirs", OLD_SECRET), ("gone", ENV_SECRET)):
        store_secret(engine, box, tid, secret)
    with caplog.at_level(logging.DEBUG):
        assert lookup(engine, box) == NEW_SECRET
    assert caplog.records == []


def test_several_candidates_leave_the_environment_in_charge_with_one_warning(engine, box, caplog):
    seed(engine, now=NOW, tokens=[lwa_token("a"), lwa_token("b"), lwa_token("c", app_id="app-1")])
    for tid, secret in (("a", OLD_SECRET), ("b", NEW_SECRET), ("c", ENV_SECRET)):
        store_secret(engine, box, tid, secret)
    source = lwa_secret_source(engine=engine, box=box, client_id=CLIENT_ID)
    with caplog.at_level(logging.DEBUG):
        assert source() is None
        assert source() is None  # asked at every check, warned once per source and set of tokens
    (warning,) = caplog.records
    assert warning.levelno == logging.WARNING and "tokens a, b" in warning.getMessage()
    assert "AMAZON_LWA_CLIENT_SECRET stands" in warning.getMessage()
    assert OLD_SECRET not in caplog.text and NEW_SECRET not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG):  # a source of its own (another replica, a restart) warns again
        assert lwa_secret_source(engine=engine, box=box, client_id=CLIENT_ID)() is None
    assert len(caplog.records) == 1


def test_a_stored_secret_the_keys_cant_read_leaves_the_environment_in_charge(engine, box, caplog):
    seed(engine, now=NOW, tokens=[lwa_token("lwa")])
    store_secret(engine, SecretBox((_other_key(),)), "lwa", OLD_SECRET)
    with caplog.at_level(logging.WARNING):
        assert lookup(engine, box) is None
    assert "token lwa can't be decrypted" in caplog.text and OLD_SECRET not in caplog.text


def _other_key() -> str:
    from cryptography.fernet import Fernet
    return Fernet.generate_key().decode()


def test_a_database_that_cant_answer_leaves_the_environment_in_charge(box, caplog, tmp_path):
    from storage.db import make_engine
    broken = make_engine(f"sqlite:///{tmp_path}/no-tables.db")  # no migration: the token table is missing
    with caplog.at_level(logging.ERROR):
        assert lwa_secret_source(engine=broken, box=box, client_id=CLIENT_ID)() is None
    assert "reading the stored LWA client secret failed" in caplog.text


# --- end to end: renewing the tracked secret changes what the next verification signs in with ----------

@pytest.fixture
def issuer():
    with IssuerStandin(refresh_tokens={REFRESH}) as standin:
        standin.client_secret = NEW_SECRET  # Amazon now knows only the rotated secret
        yield standin


def submit(engine, box, token_id: str, secret: str, *, expiry: str, check=None):
    version = stored(engine, token_id).version
    request = RenewalRequest(token_id=token_id, version=version, user_id="U0OWNER",
                             form=RenewalForm(secret=secret, expiry=expiry, reenable={0: frozenset({"uk"})}))
    return renew(engine=engine, box=box, request=request, may_act=lambda owners: True, now=NOW, verifier=check)


def test_renewing_the_lwa_secret_changes_the_secret_the_next_verification_uses(engine, box, issuer, caplog):
    seed(engine, now=NOW, accounts=[account("uk")], tokens=[
        token("sp", NOW + timedelta(days=3), kind="amazon-sp-api", accounts=["uk"]), lwa_token("lwa"),
    ])
    check = HttpVerifier(lwa_url=issuer.url, lwa_client_id=CLIENT_ID, lwa_client_secret=ENV_SECRET, deadline=1.0,
                         stored_lwa_secret=lwa_secret_source(engine=engine, box=box, client_id=CLIENT_ID))
    with caplog.at_level(logging.DEBUG):
        # Nothing stored yet: the environment's (stale) secret is used, and Amazon refuses renewbot's client.
        first = submit(engine, box, "sp", REFRESH, expiry="2027-11-20", check=check)
        assert first.verification == f"unverified: {LWA_SETTINGS_REFUSED}"
        # The team tracks the secret and renews it through the form, with the value before the rotation...
        submit(engine, box, "lwa", OLD_SECRET, expiry="2027-05-20", check=check)
        second = submit(engine, box, "sp", REFRESH, expiry="2027-11-21", check=check)
        assert second.verification == f"unverified: {LWA_SETTINGS_REFUSED}"
        # ...then rotates it: the next verification signs in with the new one, and Amazon accepts it.
        submit(engine, box, "lwa", NEW_SECRET, expiry="2027-05-21", check=check)
        third = submit(engine, box, "sp", REFRESH, expiry="2027-11-22", check=check)
    assert (third.verification, third.verified_by) == ("verified", "Amazon")
    sent = [seen.form["client_secret"] for seen in issuer.seen("/auth/o2/token")]
    # Renewing the LWA secret itself is checked with nobody; a refused stored secret is retried with the environment's.
    assert sent == [ENV_SECRET, OLD_SECRET, ENV_SECRET, NEW_SECRET]
    assert all(seen.form["client_id"] == CLIENT_ID for seen in issuer.seen("/auth/o2/token"))
    assert stored(engine, "sp").expires_at == datetime(2027, 11, 22, tzinfo=UTC)
    (warning, again) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "check AMAZON_LWA_CLIENT_ID and AMAZON_LWA_CLIENT_SECRET" in warning
    assert ("check AMAZON_LWA_CLIENT_ID and the client secret stored in token lwa and AMAZON_LWA_CLIENT_SECRET "
            "(both refused)") in again
    for secret in (OLD_SECRET, NEW_SECRET, ENV_SECRET, REFRESH):
        assert secret not in caplog.text and secret not in repr(check)


def test_a_mistyped_renewal_of_the_lwa_secret_does_not_stop_verification(engine, box, issuer, caplog):
    """The environment's secret still works: verification goes on with it, and the operator learns which token."""
    issuer.client_secret = ENV_SECRET
    seed(engine, now=NOW, accounts=[account("uk")], tokens=[
        token("sp", NOW + timedelta(days=3), kind="amazon-sp-api", accounts=["uk"]), lwa_token("lwa")])
    check = HttpVerifier(lwa_url=issuer.url, lwa_client_id=CLIENT_ID, lwa_client_secret=ENV_SECRET, deadline=1.0,
                         stored_lwa_secret=lwa_secret_source(engine=engine, box=box, client_id=CLIENT_ID))
    submit(engine, box, "lwa", OLD_SECRET, expiry="2027-05-20", check=check)  # a typo: not the app's secret
    with caplog.at_level(logging.WARNING):
        outcome = submit(engine, box, "sp", REFRESH, expiry="2027-11-20", check=check)
    assert (outcome.verification, outcome.verified_by) == ("verified", "Amazon")
    assert [seen.form["client_secret"] for seen in issuer.seen("/auth/o2/token")] == [OLD_SECRET, ENV_SECRET]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "stored in token lwa" in warning and "renew token lwa" in warning
    assert OLD_SECRET not in caplog.text and ENV_SECRET not in caplog.text


def test_a_stored_secret_turns_verification_on_without_the_environments_secret(engine, box, issuer):
    seed(engine, now=NOW, accounts=[account("uk")], tokens=[
        token("sp", NOW + timedelta(days=3), kind="amazon-sp-api", accounts=["uk"]), lwa_token("lwa")])
    check = HttpVerifier(lwa_url=issuer.url, lwa_client_id=CLIENT_ID, deadline=1.0,
                         stored_lwa_secret=lwa_secret_source(engine=engine, box=box, client_id=CLIENT_ID))
    assert submit(engine, box, "sp", REFRESH, expiry="2027-11-20", check=check).verification is None  # off
    submit(engine, box, "lwa", NEW_SECRET, expiry="2027-05-20", check=check)
    assert submit(engine, box, "sp", REFRESH, expiry="2027-11-21", check=check).verification == "verified"
    assert len(issuer.seen("/auth/o2/token")) == 1


# --- through the real-HTTP stand-in, signed: the steps button and the form ------------------------------

UK_APPS = "<https://sellercentral.amazon.co.uk/apps/manage|Manage Your Apps>"


def seed_seller(engine) -> None:
    soon = NOW + timedelta(days=2)
    seed(engine, now=NOW, accounts=[account("uk"), account("us")], tokens=[
        token("sp-eu", soon, kind="amazon-sp-api", accounts=["uk"], owners=["U0OWNER"], name="EU SP-API",
              marketplace="uk", app_id="amzn1.sp.solution.x"),
        token("mws-uk", soon, kind="amazon-mws", accounts=["uk"], owners=["U0OWNER"], name="UK MWS <legacy>"),
        token("mws-us", soon, kind="amazon-mws", accounts=["us"], owners=["U0OWNER"], name="US MWS",
              marketplace="us"),
    ])


def notice_of(slack, token_id: str) -> dict:
    return next(m for m in slack.messages["C0ALERTS"] if token_id in str(m.get("blocks")))


def test_the_steps_button_links_the_marketplace_and_names_the_paired_token(engine, slack, bot):
    from jobs.scan import scan
    from renewbot.blocks import ids
    from renewbot.runtime.slack_client import make_client

    seed_seller(engine)
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    posted = len(slack.calls_to("chat.postMessage"))
    assert bot.click(ids.STEPS_BUTTON, "sp-eu", message=notice_of(slack, "sp-eu")) == 200
    steps = slack.wait_for("chat.postMessage", count=posted + 1)[-1].params
    text = steps["blocks"][0]["text"]["text"]
    assert f"open *Apps and Services → {UK_APPS}*" in text
    assert text.endswith(":link: This seller also has *UK MWS &lt;legacy&gt;* (Amazon MWS auth token (legacy)): "
                         f"renewing in {UK_APPS} touches both tokens; renew it too.")
    assert bot.click(ids.STEPS_BUTTON, "mws-us", message=notice_of(slack, "mws-us")) == 200
    other = slack.wait_for("chat.postMessage", count=posted + 2)[-1].params["blocks"][0]["text"]["text"]
    assert "<https://sellercentral.amazon.com/apps/manage|Manage Your Apps>" in other and "also has" not in other


def test_the_form_of_an_mws_token_reminds_of_its_sp_api_authorization(engine, slack, bot):
    seed_seller(engine)
    status, _ = bot.command("mws-uk")
    assert status == 200
    (opened,) = slack.wait_for("views.open")
    (reminder,) = [b["elements"][0]["text"] for b in opened.params["view"]["blocks"]
                   if b["type"] == "context" and "Current expiry" in b["elements"][0]["text"]]
    assert reminder == ("Current expiry: *2026-11-28*. Before you start: log out of all Amazon seller accounts, then "
                        "renew the app your team uses for this integration in Manage Your Apps. This seller also has "
                        "*EU SP-API* (Amazon SP-API authorization): renewing in Manage Your Apps touches both tokens; "
                        "renew it too.")
