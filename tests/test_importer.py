"""importer.py: the import file is applied whole or not at all, and re-importing changes nothing."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlmodel import func, select

from renewbot.errors import ImportFileError
from renewbot.usecases.importing import check_file, import_file
from storage.db import session_scope
from storage.models import Account, Notice, Token, TokenAccount

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
UTC = UTC

GOOD = {
    "accounts": [
        {"id": "amazon-uk", "name": "Amazon UK", "enabled": True, "fetch_orders": True,
         "settings_url": "https://commerce.example/configuration/selling/amazon/accounts/amazon-uk"},
        {"id": "amazon-de", "name": "Amazon DE", "enabled": False, "fetch_orders": False},
    ],
    "tokens": [
        {"id": "amazon-eu-mws", "kind": "amazon-mws", "name": "Amazon EU MWS token",
         "expires_at": date(2026, 12, 1), "channel": "C0123ALERTS", "owners": ["U0123OWNER", "S0123GROUP"],
         "accounts": ["amazon-uk", "amazon-de"], "app_id": "532089569783", "notify_days": [30, 14, 7, 3, 1]},
        {"id": "amazon-eu-sp-api", "kind": "amazon-sp-api", "name": "Amazon EU SP-API authorization",
         "expires_at": datetime(2027, 1, 20, 9, 30, tzinfo=UTC), "channel": "C0123ALERTS", "owners": [],
         "accounts": ["amazon-uk"]},
        {"id": "shipping-api-key", "kind": "generic", "name": "Shipping carrier API key",
         "expires_at": date(2027, 6, 30), "channel": "C0456OPS", "notify_days": [7, 60, 7]},
    ],
}


def write(tmp_path: Path, data, name: str = "tokens.yml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def good() -> dict:
    return copy.deepcopy(GOOD)


def counts(engine) -> tuple[int, int, int]:
    with session_scope(engine) as s:
        return tuple(s.exec(select(func.count()).select_from(model)).one() for model in (Account, Token, TokenAccount))


def snapshot(engine) -> dict:
    with session_scope(engine) as s:
        return {
            "accounts": [a.model_dump() for a in s.exec(select(Account).order_by(Account.id)).all()],
            "tokens": [t.model_dump() for t in s.exec(select(Token).order_by(Token.id)).all()],
            "links": [link.model_dump() for link in s.exec(
                select(TokenAccount).order_by(TokenAccount.token_id, TokenAccount.account_id)).all()],
        }


def do_import(engine, path: Path, now: datetime = NOW):
    with session_scope(engine) as s:
        return import_file(path, session=s, now=now)


def item_line(path: Path, ident: str) -> int:
    """The 1-based line where the list item with this id starts."""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith(f"- id: {ident}"):
            return n
    raise AssertionError(f"no item {ident} in {path}")


# --- a good file ----------------------------------------------------------------------

def test_good_file_imports(sqlite_engine, tmp_path):
    report = do_import(sqlite_engine, write(tmp_path, good()))
    assert sorted(report.created) == sorted([
        "account amazon-uk", "account amazon-de",
        "token amazon-eu-mws", "token amazon-eu-sp-api", "token shipping-api-key"])
    assert report.updated == [] and report.unchanged == []
    assert counts(sqlite_engine) == (2, 3, 3)
    with session_scope(sqlite_engine) as s:
        de = s.get(Account, "amazon-de")
        assert (de.name, de.enabled, de.fetch_orders, de.settings_url) == ("Amazon DE", False, False, None)
        uk = s.get(Account, "amazon-uk")
        assert uk.settings_url.endswith("/amazon-uk") and uk.enabled and uk.fetch_orders
        mws = s.get(Token, "amazon-eu-mws")
        assert mws.kind == "amazon-mws" and mws.channel == "C0123ALERTS"
        assert mws.owners == ["U0123OWNER", "S0123GROUP"]
        assert mws.app_id == "532089569783"
        assert mws.version == 1
        assert mws.secret_encrypted is None
        assert mws.notify_from == datetime(2026, 11, 1, tzinfo=UTC)  # 30 days before expiry
        links = s.exec(select(TokenAccount).where(TokenAccount.token_id == "amazon-eu-mws")
                       .order_by(TokenAccount.position)).all()
        assert [link.account_id for link in links] == ["amazon-uk", "amazon-de"]
        key = s.get(Token, "shipping-api-key")
        assert key.notify_days == [60, 7]  # sorted, deduplicated
        assert key.notify_from == datetime(2027, 6, 30, tzinfo=UTC) - timedelta(days=60)
        assert key.owners == [] and key.app_id is None


def test_the_example_file_imports(sqlite_engine):
    example = Path(__file__).resolve().parents[1] / "examples" / "tokens.yml"
    report = do_import(sqlite_engine, example)
    assert len(report.created) == 8  # a team kind, 2 accounts, 5 tokens (one of them retired)
    assert counts(sqlite_engine) == (2, 5, 3)


def test_importing_twice_changes_nothing(sqlite_engine, tmp_path):
    path = write(tmp_path, good())
    do_import(sqlite_engine, path)
    before = snapshot(sqlite_engine)
    report = do_import(sqlite_engine, path, now=NOW + timedelta(days=1))
    assert report.created == [] and report.updated == []
    assert sorted(report.unchanged) == sorted([
        "account amazon-uk", "account amazon-de",
        "token amazon-eu-mws", "token amazon-eu-sp-api", "token shipping-api-key"])
    assert report.summary() == "0 created, 0 updated, 5 unchanged"
    assert snapshot(sqlite_engine) == before


def test_reimport_keeps_a_stored_secret(sqlite_engine, tmp_path):
    path = write(tmp_path, good())
    do_import(sqlite_engine, path)
    with session_scope(sqlite_engine) as s:
        s.get(Token, "amazon-eu-mws").secret_encrypted = "gAAAA-ciphertext"
    do_import(sqlite_engine, path)
    with session_scope(sqlite_engine) as s:
        assert s.get(Token, "amazon-eu-mws").secret_encrypted == "gAAAA-ciphertext"


def test_date_only_expiry_is_midnight_utc(sqlite_engine, tmp_path):
    do_import(sqlite_engine, write(tmp_path, good()))
    with session_scope(sqlite_engine) as s:
        expires = s.get(Token, "amazon-eu-mws").expires_at
    assert expires == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert expires.utcoffset() == timedelta(0)


@pytest.mark.parametrize("raw, expected", [
    ("2027-01-20T09:30:00+02:00", datetime(2027, 1, 20, 7, 30, tzinfo=UTC)),  # YAML timestamp with offset
    ("'2027-01-20T09:30:00+02:00'", datetime(2027, 1, 20, 7, 30, tzinfo=UTC)),  # quoted: a string
    ("'2027-01-20T23:30:00-05:00'", datetime(2027, 1, 21, 4, 30, tzinfo=UTC)),
    ("2027-01-20T09:30:00Z", datetime(2027, 1, 20, 9, 30, tzinfo=UTC)),
    ("'2027-01-20T09:30:00'", datetime(2027, 1, 20, 9, 30, tzinfo=UTC)),  # no offset: UTC
    ("'2027-01-20'", datetime(2027, 1, 20, tzinfo=UTC)),
])
def test_datetime_expiry_is_converted_to_utc(sqlite_engine, tmp_path, raw, expected):
    text = ("tokens:\n"
            "  - id: t1\n    kind: generic\n    name: T1\n    channel: C0123ALERTS\n"
            f"    expires_at: {raw}\n")
    do_import(sqlite_engine, write(tmp_path, text))
    with session_scope(sqlite_engine) as s:
        expires = s.get(Token, "t1").expires_at
    assert expires == expected
    assert expires.utcoffset() == timedelta(0)


def test_changed_expiry_updates_the_token_and_bumps_version(sqlite_engine, tmp_path):
    do_import(sqlite_engine, write(tmp_path, good()))
    with session_scope(sqlite_engine) as s:
        s.add(Notice(token_id="amazon-eu-mws", expires_at=datetime(2026, 12, 1, tzinfo=UTC), stage="7d",
                     state="sent", channel="C0123ALERTS", ts="1.0", root_ts="1.0", created_at=NOW))
    data = good()
    data["tokens"][0]["expires_at"] = date(2027, 12, 1)
    report = do_import(sqlite_engine, write(tmp_path, data, "changed.yml"))
    assert report.updated == ["token amazon-eu-mws"]
    assert "token amazon-eu-sp-api" in report.unchanged
    with session_scope(sqlite_engine) as s:
        mws = s.get(Token, "amazon-eu-mws")
        assert mws.expires_at == datetime(2027, 12, 1, tzinfo=UTC)
        assert mws.version == 2
        assert mws.notify_from == datetime(2027, 11, 1, tzinfo=UTC)
        assert s.get(Token, "amazon-eu-sp-api").version == 1
        notice = s.exec(select(Notice)).one()
        assert notice.state == "superseded"
        assert notice.closed_at == NOW


def test_change_other_than_expiry_updates_without_bumping_version(sqlite_engine, tmp_path):
    do_import(sqlite_engine, write(tmp_path, good()))
    data = good()
    data["tokens"][0]["name"] = "Renamed"
    data["tokens"][0]["accounts"] = ["amazon-de"]
    data["accounts"][1]["fetch_orders"] = True  # switches are the file's only when the account is created
    data["accounts"][1]["name"] = "Amazon Germany"
    report = do_import(sqlite_engine, write(tmp_path, data, "changed.yml"))
    assert sorted(report.updated) == ["account amazon-de", "token amazon-eu-mws"]
    with session_scope(sqlite_engine) as s:
        mws = s.get(Token, "amazon-eu-mws")
        assert mws.name == "Renamed" and mws.version == 1
        de = s.get(Account, "amazon-de")
        assert (de.name, de.fetch_orders) == ("Amazon Germany", False)
        links = s.exec(select(TokenAccount.account_id).where(TokenAccount.token_id == "amazon-eu-mws")).all()
        assert links == ["amazon-de"]


def test_later_file_can_refer_to_accounts_already_imported(sqlite_engine, tmp_path):
    do_import(sqlite_engine, write(tmp_path, good()))
    data = {"tokens": [{"id": "new-token", "kind": "generic", "name": "New", "expires_at": date(2027, 1, 1),
                        "channel": "C0123ALERTS", "accounts": ["amazon-de"]}]}
    report = do_import(sqlite_engine, write(tmp_path, data, "more.yml"))
    assert report.created == ["token new-token"]
    assert counts(sqlite_engine) == (2, 4, 4)


def test_check_file_returns_checked_values_without_writing(sqlite_engine, tmp_path):
    with session_scope(sqlite_engine) as s:
        inventory = check_file(write(tmp_path, good()), session=s)
        accounts, tokens = inventory.accounts, inventory.tokens
    assert set(accounts) == {"amazon-uk", "amazon-de"}
    assert tokens["amazon-eu-sp-api"]["expires_at"] == datetime(2027, 1, 20, 9, 30, tzinfo=UTC)
    assert counts(sqlite_engine) == (0, 0, 0)


# --- bad files: refused whole, nothing written ------------------------------------------

def refused(engine, path: Path) -> ImportFileError:
    before_counts, before = counts(engine), snapshot(engine)
    with pytest.raises(ImportFileError) as exc:
        do_import(engine, path)
    assert counts(engine) == before_counts
    assert snapshot(engine) == before
    err = exc.value
    assert err.problems
    rendered = err.render()
    assert str(path) in rendered and "nothing was imported" in rendered
    for problem in err.problems:
        assert problem in rendered
    return err


@pytest.mark.parametrize("text, needle", [
    ("accounts: [unclosed\n  - x: {\n", "not valid YAML"),
    ("tokens:\n  - id: a\n   kind: generic\n", "not valid YAML"),
    ("- just\n- a list\n", "mapping"),
    ("just a string\n", "mapping"),
    ("", "mapping"),
])
def test_not_yaml_or_not_a_mapping_is_refused(sqlite_engine, tmp_path, text, needle):
    err = refused(sqlite_engine, write(tmp_path, text))
    assert any(needle in p for p in err.problems)


def test_yaml_error_names_a_line(sqlite_engine, tmp_path):
    err = refused(sqlite_engine, write(tmp_path, "accounts:\n  - id: a\n    name: [oops\n"))
    assert any("line " in p for p in err.problems)


def _bad(section: str, index: int, change) -> dict:
    data = good()
    if index == len(data[section]):  # a new entry at the end
        data[section].append({})
    change(data[section][index])
    return data


def _delete(key):
    return lambda item: item.pop(key)


def _set(key, value):
    return lambda item: item.__setitem__(key, value)


# (section, index, change, problem text expected, id expected in the label)
BAD_ENTRIES = [
    pytest.param("tokens", 1, _set("accounts", ["amazon-uk", "amazon-fr"]), "unknown account 'amazon-fr'",
                 "amazon-eu-sp-api", id="unknown-account"),
    pytest.param("tokens", 1, _delete("expires_at"), "expires_at is missing", "amazon-eu-sp-api", id="no-expiry"),
    pytest.param("tokens", 1, _set("expires_at", "next tuesday"), "expires_at", "amazon-eu-sp-api",
                 id="unparseable-expiry"),
    pytest.param("tokens", 1, _set("expires_at", "2027-02-30"), "expires_at", "amazon-eu-sp-api",
                 id="impossible-expiry-string"),
    pytest.param("tokens", 1, _set("expires_at", 20270120), "expires_at", "amazon-eu-sp-api", id="expiry-number"),
    pytest.param("tokens", 1, _set("kind", "azure-ad"), "unknown kind 'azure-ad'", "amazon-eu-sp-api",
                 id="unknown-kind"),
    pytest.param("tokens", 1, _set("id", "amazon-eu-mws"), "duplicate token id 'amazon-eu-mws'", "amazon-eu-mws",
                 id="duplicate-token"),
    pytest.param("accounts", 2, lambda item: item.update(id="amazon-uk", name="Amazon UK again"),
                 "duplicate account id 'amazon-uk'", "amazon-uk", id="duplicate-account"),
    pytest.param("accounts", 1, _set("enabled", "yes please"), "enabled must be true or false", "amazon-de",
                 id="enabled-text"),
    pytest.param("accounts", 1, _set("fetch_orders", 1), "fetch_orders must be true or false", "amazon-de",
                 id="fetch-orders-number"),
    pytest.param("tokens", 1, _set("owners", "U0123OWNER"), "owners must be a list", "amazon-eu-sp-api",
                 id="owners-string"),
    pytest.param("tokens", 1, _set("owners", ["bob"]), "owners must be a list", "amazon-eu-sp-api",
                 id="owners-not-ids"),
    pytest.param("tokens", 1, _set("notify_days", ["a"]), "notify_days", "amazon-eu-sp-api", id="notify-days-text"),
    pytest.param("tokens", 1, _set("notify_days", [0, 400]), "notify_days", "amazon-eu-sp-api",
                 id="notify-days-range"),
    pytest.param("tokens", 1, _set("notify_days", 7), "notify_days", "amazon-eu-sp-api", id="notify-days-scalar"),
    pytest.param("tokens", 1, _set("app_id", 532089569783), "app_id must be text, not int", "amazon-eu-sp-api",
                 id="app-id-number"),
    pytest.param("tokens", 1, _set("name", ["Amazon", "EU"]), "name must be text, not list", "amazon-eu-sp-api",
                 id="name-list"),
    pytest.param("tokens", 1, _set("colour", "blue"), "unknown field 'colour'", "amazon-eu-sp-api",
                 id="unknown-token-field"),
    pytest.param("accounts", 1, _set("region", "eu"), "unknown field 'region'", "amazon-de",
                 id="unknown-account-field"),
    pytest.param("tokens", 1, _set("channel", "#alerts"), "channel", "amazon-eu-sp-api", id="channel-name"),
    pytest.param("tokens", 1, _set("accounts", ["amazon-uk", "amazon-uk"]), "same account twice",
                 "amazon-eu-sp-api", id="account-twice"),
    pytest.param("accounts", 1, _set("settings_url", "javascript:alert(1)"), "settings_url", "amazon-de",
                 id="settings-url-scheme"),
]


@pytest.mark.parametrize("section, index, change, problem, ident", BAD_ENTRIES)
def test_bad_entry_is_refused_whole_naming_entry_id_line_and_problem(sqlite_engine, tmp_path, section, index,
                                                                     change, problem, ident):
    path = write(tmp_path, _bad(section, index, change))
    err = refused(sqlite_engine, path)
    assert counts(sqlite_engine) == (0, 0, 0)  # not even the good entries before it
    assert len(err.problems) == 1, err.problems
    [message] = err.problems
    assert message.startswith(f"{section}[{index}]")
    assert f"'{ident}'" in message
    # the line of this entry: for a duplicate id, the line of the second one
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(f"- id: {ident}")]
    assert f"line {lines[-1] if 'duplicate' in problem else item_line(path, ident)}" in message
    assert problem in message


def test_bad_entry_after_good_ones_leaves_existing_data_untouched(sqlite_engine, tmp_path):
    do_import(sqlite_engine, write(tmp_path, good()))
    before = snapshot(sqlite_engine)
    data = good()
    data["accounts"][0]["enabled"] = False  # would be an update...
    data["tokens"][0]["expires_at"] = date(2028, 1, 1)  # ...and so would this
    data["tokens"].append({"id": "new-token", "kind": "generic", "name": "New", "expires_at": date(2027, 1, 1),
                           "channel": "C0123ALERTS"})  # a create
    data["tokens"].append({"id": "broken", "kind": "generic", "name": "Broken", "channel": "C0123ALERTS"})
    err = refused(sqlite_engine, write(tmp_path, data, "bad.yml"))
    assert snapshot(sqlite_engine) == before
    assert [p for p in err.problems if p.startswith("tokens[4]") and "'broken'" in p and "expires_at" in p]


def test_all_problems_are_reported_at_once(sqlite_engine, tmp_path):
    data = good()
    data["accounts"][0]["enabled"] = "yes please"
    data["tokens"][0]["kind"] = "nope"
    data["tokens"][2].pop("expires_at")
    err = refused(sqlite_engine, write(tmp_path, data))
    assert len(err.problems) == 3
    assert [p.split(" ")[0] for p in err.problems] == ["accounts[0]", "tokens[0]", "tokens[2]"]


def test_entry_that_is_not_a_mapping_is_named_by_index_and_line(sqlite_engine, tmp_path):
    text = ("tokens:\n"
            "  - id: t1\n    kind: generic\n    name: T1\n    channel: C0123ALERTS\n    expires_at: 2027-01-01\n"
            "  - just a string\n")
    err = refused(sqlite_engine, write(tmp_path, text))
    [message] = err.problems
    assert message.startswith("tokens[1]") and "line 7" in message and "mapping" in message


def test_sections_must_be_lists_and_unknown_sections_are_refused(sqlite_engine, tmp_path):
    err = refused(sqlite_engine, write(tmp_path, "accounts:\n  id: a\n  name: A\nextras: []\n"))
    assert any("accounts" in p and "must be a list" in p for p in err.problems)
    assert any("'extras'" in p for p in err.problems)


def test_unreadable_file_is_refused(sqlite_engine, tmp_path):
    err = refused(sqlite_engine, tmp_path / "missing.yml")
    assert "cannot read" in err.problems[0]


def test_impossible_unquoted_date_is_an_import_error_not_a_crash(sqlite_engine, tmp_path):
    text = ("tokens:\n"
            "  - id: t1\n    kind: generic\n    name: T1\n    channel: C0123ALERTS\n    expires_at: 2027-02-30\n")
    err = refused(sqlite_engine, write(tmp_path, text))
    assert any("line 6" in p and ("2027-02-30" in p or "date" in p) for p in err.problems)
