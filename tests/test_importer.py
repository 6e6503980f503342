"""importer.py: the import file is applied whole or not at all, and re-importing changes nothing."""

from __future__ import annotations

import copy
import re
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


# --- the checks themselves (renewbot/domain/inventory.py), without YAML or a database ---------------
# Exact problem texts and values, so a changed word, bound or condition is noticed (docs/mutation.md).

def _check(data, lines=None, *, known_accounts=frozenset(), known_kinds=frozenset()):
    from renewbot.domain.inventory import check_inventory

    return check_inventory(data, lines or {}, known_accounts=set(known_accounts), known_kinds=set(known_kinds))


def _problems(data, lines=None, **known) -> list[str]:
    return _check(data, lines, **known)[1]


def _tok(**changes) -> dict:
    item = {"id": "t", "kind": "generic", "name": "T", "expires_at": "2027-01-01", "channel": "C0123ALERTS"}
    item.update(changes)
    return {k: v for k, v in item.items() if v is not _MISSING}


def _acc(**changes) -> dict:
    item = {"id": "a", "name": "A"}
    item.update(changes)
    return {k: v for k, v in item.items() if v is not _MISSING}


def _kind(**changes) -> dict:
    item = {"id": "ship", "label": "Ship key", "steps": ["Rotate it."]}
    item.update(changes)
    return {k: v for k, v in item.items() if v is not _MISSING}


_MISSING = object()
T0 = "tokens[0] (id 't')"
A0 = "accounts[0] (id 'a')"
K0 = "kinds[0] (id 'ship')"


# What a token entry holds when the file gives no connector, verify_url or source.
NEW_TOKEN_FIELDS = {"connector": None, "verify_url": None, "source": None, "expiry_known": True, "marketplace": None,
                    "escalate_to": None, "selling_partner_id": None}


def test_inventory_limits_and_fields():
    from renewbot.domain import inventory as inv

    assert (inv.MAX_TEXT, inv.MAX_STEP_TEXT, inv.MAX_STEPS, inv.MAX_PATTERN) == (200, 500, 20, 500)
    assert inv.SECTIONS == ("kinds", "connectors", "accounts", "tokens")
    assert sorted(inv.KIND_KEYS) == ["id", "label", "lifetime_days", "notify_days", "pattern", "pattern_message",
                                     "reminder", "steps"]
    assert sorted(inv.ACCOUNT_KEYS) == ["enabled", "fetch_orders", "id", "name", "retired", "settings_url"]
    assert sorted(inv.TOKEN_KEYS) == ["accounts", "app_id", "channel", "connector", "escalate_to", "expires_at", "id",
                                      "kind",
                                      "marketplace", "name", "notify_days", "owners", "retired",
                                      "selling_partner_id", "source", "verify_url"]


@pytest.mark.parametrize("value, expected", [
    (date(2027, 1, 2), datetime(2027, 1, 2, tzinfo=UTC)),
    (datetime(2027, 1, 2, 3, 4), datetime(2027, 1, 2, 3, 4, tzinfo=UTC)),
    (datetime.fromisoformat("2027-01-02T03:04:00+02:00"), datetime(2027, 1, 2, 1, 4, tzinfo=UTC)),
    ("2027-01-02", datetime(2027, 1, 2, tzinfo=UTC)),
    ("  2027-01-02T03:04:05Z \n", datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2027-01-02T03:04:05-01:00", datetime(2027, 1, 2, 4, 4, 5, tzinfo=UTC)),
    ("1970-01-01", datetime(1970, 1, 1, tzinfo=UTC)),
    ("8999-12-30T23:59:59", datetime(8999, 12, 30, 23, 59, 59, tzinfo=UTC)),
])
def test_parse_expiry_reads_dates_and_datetimes_as_utc(value, expected):
    from renewbot.domain.inventory import parse_expiry

    moment = parse_expiry(value)
    assert moment == expected and moment.tzinfo is UTC


@pytest.mark.parametrize("value, message", [
    ("soon", "'soon' is not a date (use YYYY-MM-DD or an ISO 8601 datetime)"),
    ("", "must be a date (YYYY-MM-DD) or an ISO 8601 datetime"),
    ("   ", "must be a date (YYYY-MM-DD) or an ISO 8601 datetime"),
    (20270102, "must be a date (YYYY-MM-DD) or an ISO 8601 datetime"),
    (None, "must be a date (YYYY-MM-DD) or an ISO 8601 datetime"),
    ("1969-12-31T23:59:59", "1969-12-31 is out of range (1970 to 8999-12-30)"),
    ("8999-12-31", "8999-12-31 is out of range (1970 to 8999-12-30)"),  # the "not read yet" placeholder
    ("9000-01-01", "9000-01-01 is out of range (1970 to 8999-12-30)"),
    (datetime.fromisoformat("0001-01-01T00:00:00+01:00"), "is out of range"),
])
def test_parse_expiry_refuses_with_a_reason(value, message):
    from renewbot.domain.inventory import parse_expiry

    with pytest.raises(ValueError) as exc:
        parse_expiry(value)
    assert str(exc.value) == message


def test_a_good_inventory_exactly():
    inv, problems = _check({
        "kinds": [_kind(pattern="sk_[a-z]+", pattern_message="Starts with sk_.", lifetime_days=90,
                        notify_days=[7, 30, 7], reminder="Rotate {app}.")],
        "accounts": [_acc(), _acc(id="b", name="B", enabled=False, fetch_orders=False,
                                  settings_url="https://ex.example/b", retired=True)],
        "tokens": [_tok(kind="ship", owners=["U0123OWNER", "*", "S0GROUP"], accounts=["b", "a", "b"],
                        app_id="532089569783", notify_days=[1, 14, 3], retired=False)],
    })
    assert problems == [f"{T0}: accounts lists the same account twice"]
    assert inv.kinds == {"ship": {"id": "ship", "label": "Ship key", "pattern": "sk_[a-z]+",
                                  "pattern_message": "Starts with sk_.", "lifetime_days": 90, "notify_days": [30, 7],
                                  "steps": ["Rotate it."], "reminder": "Rotate {app}."}}
    assert inv.accounts == {
        "a": {"id": "a", "name": "A", "enabled": True, "fetch_orders": True, "settings_url": None},
        "b": {"id": "b", "name": "B", "enabled": False, "fetch_orders": False,
              "settings_url": "https://ex.example/b", "retired": True}}
    assert inv.tokens == {"t": {"id": "t", "kind": "ship", "name": "T", "channel": "C0123ALERTS",
                                "app_id": "532089569783", "expires_at": datetime(2027, 1, 1, tzinfo=UTC),
                                "owners": ["U0123OWNER", "*", "S0GROUP"], "accounts": ["b", "a"],
                                "notify_days": [14, 3, 1], "retired": False, **NEW_TOKEN_FIELDS}}


def test_a_minimal_token_exactly():
    inv, problems = _check({"tokens": [_tok(owners=None, accounts=None)]})
    assert problems == []
    assert inv.tokens["t"] == {"id": "t", "kind": "generic", "name": "T", "channel": "C0123ALERTS", "app_id": None,
                               "expires_at": datetime(2027, 1, 1, tzinfo=UTC), "owners": [], "accounts": [],
                               "notify_days": None, **NEW_TOKEN_FIELDS}


def test_where_names_the_entry_by_id_and_line():
    assert _problems({"tokens": [_tok(colour=1)]}, {"tokens": [4]}) == [
        "tokens[0] (id 't', line 4): unknown field 'colour'"]
    assert _problems({"tokens": [_tok(colour=1)]}) == [f"{T0}: unknown field 'colour'"]
    assert _problems({"tokens": [_tok(id=None)]}, {"tokens": [4]}) == ["tokens[0] (line 4): id is missing"]
    assert _problems({"tokens": [_tok(id=5)]}) == [
        "tokens[0]: id must be text, not int (letters, digits, . _ : -, up to 150)"]
    # lines beyond the ones given are unknown
    assert _problems({"tokens": [_tok(), _tok(id="u", colour=1)]}, {"tokens": [4]}) == [
        "tokens[1] (id 'u'): unknown field 'colour'"]


def test_entries_that_are_not_mappings():
    assert _problems({"kinds": ["x"], "accounts": [3], "tokens": [["t"]]}, {"accounts": [2]}) == [
        "kinds[0]: each entry must be a mapping with id, label and steps",
        "accounts[0] (line 2): each entry must be a mapping with id and name",
        "tokens[0]: each entry must be a mapping with id, kind, name, expires_at and channel",
    ]


def test_unknown_fields_are_reported_sorted():
    assert _problems({"accounts": [_acc(zeta=1, alpha=2, **{"5": 3})]}) == [
        f"{A0}: unknown field '5'", f"{A0}: unknown field 'alpha'", f"{A0}: unknown field 'zeta'"]


@pytest.mark.parametrize("ident, problem", [
    ("", "id '' is not valid (letters, digits, . _ : -, up to 150)"),
    (" ", "id ' ' is not valid (letters, digits, . _ : -, up to 150)"),
    ("-a", "id '-a' is not valid (letters, digits, . _ : -, up to 150)"),
    ("a b", "id 'a b' is not valid (letters, digits, . _ : -, up to 150)"),
    ("a" * 151, f"id {'a' * 80!r} is not valid (letters, digits, . _ : -, up to 150)"),
])
def test_bad_ids(ident, problem):
    where = f"(id {ident!r})"
    inv, problems = _check({"kinds": [_kind(id=ident)], "accounts": [_acc(id=ident)], "tokens": [_tok(id=ident)]})
    assert problems == [f"kinds[0] {where}: {problem}", f"accounts[0] {where}: {problem}",
                        f"tokens[0] {where}: {problem}"]
    assert (inv.kinds, inv.accounts, inv.tokens) == ({}, {}, {})


def test_an_id_of_150_is_fine():
    assert _problems({"accounts": [_acc(id="a" * 150)]}) == []


@pytest.mark.parametrize("name, problem", [
    (None, "name is missing"),
    (3, "name must be text, not int"),
    ("", "name '' is not valid"),
    ("  ", "name '  ' is not valid"),
    ("n" * 201, "name must be at most 200 characters of plain text (no control characters)"),
    ("a\x07b", "name must be at most 200 characters of plain text (no control characters)"),
    ("a\nb", "name must be at most 200 characters of plain text (no control characters)"),
])
def test_bad_names_and_the_entry_keeps_its_id_as_name(name, problem):
    inv, problems = _check({"accounts": [_acc(name=name)]})
    assert problems == [f"{A0}: {problem}"]
    assert inv.accounts["a"]["name"] == "a"


def test_a_name_of_200_is_fine():
    inv, problems = _check({"accounts": [_acc(name="n" * 200)]})
    assert problems == [] and inv.accounts["a"]["name"] == "n" * 200


@pytest.mark.parametrize("url, problem", [
    ("ftp://ex.example", "settings_url 'ftp://ex.example' is not valid (an http(s) URL)"),
    ("https://ex.example/\x7f", "settings_url 'https://ex.example/\\x7f' is not valid (an http(s) URL)"),
    (5, "settings_url must be text, not int (an http(s) URL)"),
])
def test_bad_settings_urls(url, problem):
    inv, problems = _check({"accounts": [_acc(settings_url=url)]})
    assert problems == [f"{A0}: {problem}"]
    assert inv.accounts["a"]["settings_url"] is None


def test_flags_default_to_true_and_must_be_booleans():
    inv, problems = _check({"accounts": [_acc(enabled="yes", fetch_orders=0)]})
    assert problems == [f"{A0}: enabled must be true or false, not 'yes'",
                        f"{A0}: fetch_orders must be true or false, not 0"]
    assert (inv.accounts["a"]["enabled"], inv.accounts["a"]["fetch_orders"]) == (True, True)


def test_retired_is_kept_only_when_given_and_must_be_a_boolean():
    inv, problems = _check({"accounts": [_acc(retired="no")], "tokens": [_tok(retired=True)]})
    assert problems == [f"{A0}: retired must be true or false, not 'no'"]
    assert inv.accounts["a"]["retired"] is False
    assert inv.tokens["t"]["retired"] is True
    assert "retired" not in _check({"accounts": [_acc()]})[0].accounts["a"]


def test_duplicate_ids_keep_the_first():
    inv, problems = _check({"kinds": [_kind(), _kind(label="Again")], "accounts": [_acc(), _acc(name="Again")],
                            "tokens": [_tok(), _tok(name="Again")]})
    assert problems == ["kinds[1] (id 'ship'): duplicate kind id 'ship'",
                        "accounts[1] (id 'a'): duplicate account id 'a'",
                        "tokens[1] (id 't'): duplicate token id 't'"]
    assert (inv.kinds["ship"]["label"], inv.accounts["a"]["name"], inv.tokens["t"]["name"]) == ("Ship key", "A", "T")


# --- kinds ---

def test_a_kind_may_not_reuse_a_builtin_id():
    inv, problems = _check({"kinds": [_kind(id="amazon-mws")]})
    assert problems == ["kinds[0] (id 'amazon-mws'): 'amazon-mws' is a built-in kind: give yours another id"]
    assert inv.kinds == {}


def test_a_kind_without_label_is_reported_and_named_by_its_id():
    inv, problems = _check({"kinds": [_kind(label=_MISSING)]})
    assert problems == [f"{K0}: label is missing"]
    assert inv.kinds["ship"]["label"] == "ship"


@pytest.mark.parametrize("pattern", [5, "", "x" * 501])
def test_a_bad_pattern_value(pattern):
    inv, problems = _check({"kinds": [_kind(pattern=pattern)]})
    assert problems == [f"{K0}: pattern must be a regular expression of at most 500 characters"]
    assert inv.kinds["ship"]["pattern"] is None


def test_a_pattern_of_500_is_fine_and_an_invalid_one_is_explained():
    assert _check({"kinds": [_kind(pattern="x" * 500)]})[0].kinds["ship"]["pattern"] == "x" * 500
    inv, problems = _check({"kinds": [_kind(pattern="(" * 30)]})
    assert problems == [f"{K0}: pattern is not a valid regular expression "
                        "(missing ), unterminated subpattern at position 29)"]
    assert inv.kinds["ship"]["pattern"] is None
    long_error = _problems({"kinds": [_kind(pattern="a{2,1}" + "b" * 200)]})[0]
    assert long_error == (f"{K0}: pattern is not a valid regular expression "
                          "(min repeat greater than max repeat at position 2)")
    twice = "(?P<" + "g" * 100 + ">a)(?P<" + "g" * 100 + ">b)"
    with pytest.raises(re.error) as exc:
        re.compile(twice)
    assert len(str(exc.value)) > 100
    assert _problems({"kinds": [_kind(pattern=twice)]}) == [
        f"{K0}: pattern is not a valid regular expression ({str(exc.value)[:100]})"]


@pytest.mark.parametrize("lifetime, ok", [(1, True), (3650, True), (0, False), (3651, False), (True, False),
                                          (30.0, False), ("30", False)])
def test_lifetime_days_bounds(lifetime, ok):
    inv, problems = _check({"kinds": [_kind(lifetime_days=lifetime)]})
    if ok:
        assert problems == [] and inv.kinds["ship"]["lifetime_days"] == lifetime
    else:
        assert problems == [f"{K0}: lifetime_days must be a whole number of days between 1 and 3650"]
        assert inv.kinds["ship"]["lifetime_days"] is None


STEPS_PROBLEM = f"{K0}: steps must be a list of 1 to 20 texts of at most 500 characters"


@pytest.mark.parametrize("steps", [_MISSING, [], "Rotate it.", ["x"] * 21, ["ok", " "], ["ok", 5], ["s" * 501]])
def test_bad_steps(steps):
    inv, problems = _check({"kinds": [_kind(steps=steps)]})
    assert problems == [STEPS_PROBLEM]
    assert inv.kinds["ship"]["steps"] == []


def test_twenty_steps_of_500_are_fine_and_copied():
    steps = ["s" * 500] * 20
    inv, problems = _check({"kinds": [_kind(steps=steps)]})
    assert problems == [] and inv.kinds["ship"]["steps"] == steps and inv.kinds["ship"]["steps"] is not steps


def test_kind_texts_are_checked():
    assert _problems({"kinds": [_kind(pattern_message=3, reminder="r" * 201)]}) == [
        f"{K0}: pattern_message must be text, not int",
        f"{K0}: reminder must be at most 200 characters of plain text (no control characters)"]


# --- tokens ---

def test_a_token_may_name_a_kind_defined_later_or_already_stored():
    assert _problems({"tokens": [_tok(kind="ship")], "kinds": [_kind()]}) == []
    assert _problems({"tokens": [_tok(kind="ship")]}, known_kinds={"ship"}) == []
    assert _problems({"tokens": [_tok(kind="ship")]}) == [
        f"{T0}: unknown kind 'ship' (use a built-in kind: amazon-sp-api, amazon-lwa-client-secret, amazon-mws, "
        "generic, jwt, x509; or define it under kinds:)"]
    # a refused kind does not become known
    assert _problems({"kinds": [_kind(id="amazon-mws")], "tokens": [_tok(kind="amazon-mws")]}) == [
        "kinds[0] (id 'amazon-mws'): 'amazon-mws' is a built-in kind: give yours another id"]


def test_a_token_may_name_an_account_defined_later_or_already_stored():
    assert _problems({"tokens": [_tok(accounts=["a"])], "accounts": [_acc()]}) == []
    assert _problems({"tokens": [_tok(accounts=["a"])]}, known_accounts={"a"}) == []
    assert _problems({"tokens": [_tok(accounts=["a", "x"])], "accounts": [_acc()]}) == [
        f"{T0}: unknown account 'x' (not in this file's accounts nor already imported)"]
    assert _problems({"tokens": [_tok(accounts=["x", "y"])]}) == [
        f"{T0}: unknown account 'x' (not in this file's accounts nor already imported)",
        f"{T0}: unknown account 'y' (not in this file's accounts nor already imported)"]


@pytest.mark.parametrize("accounts", ["a", [1], ["a", None]])
def test_token_accounts_must_be_a_list_of_ids(accounts):
    inv, problems = _check({"tokens": [_tok(accounts=accounts)], "accounts": [_acc()]})
    assert problems == [f"{T0}: accounts must be a list of account ids"]
    assert inv.tokens["t"]["accounts"] == []


@pytest.mark.parametrize("owners", ["U0123OWNER", ["U0123OWNER", "bob"], [5], ["**"]])
def test_token_owners_must_be_ids_or_the_wildcard(owners):
    inv, problems = _check({"tokens": [_tok(owners=owners)]})
    assert problems == [f"{T0}: owners must be a list of Slack user or user group IDs (U…, W… or S…), "
                        'or "*" for every full member of the workspace']
    assert inv.tokens["t"]["owners"] == []


@pytest.mark.parametrize("change, problem", [
    ({"kind": _MISSING}, "kind is missing"),
    ({"name": _MISSING}, "name is missing"),
    ({"channel": _MISSING}, "channel is missing"),
    ({"channel": "C0123\n"}, "channel 'C0123\\n' is not valid (a Slack channel ID like C0123ABC)"),
    ({"channel": 5}, "channel must be text, not int (a Slack channel ID like C0123ABC)"),
    ({"app_id": 532089569783}, 'app_id must be text, not int (quote numbers: app_id: "532089569783")'),
    ({"expires_at": _MISSING}, "expires_at is missing (optional only with a source: tls://host:port)"),
    ({"expires_at": None}, "expires_at is missing (optional only with a source: tls://host:port)"),
    ({"expires_at": "soon"}, "expires_at: 'soon' is not a date (use YYYY-MM-DD or an ISO 8601 datetime)"),
    ({"expires_at": ["2027-01-01"]}, "expires_at: must be a date (YYYY-MM-DD) or an ISO 8601 datetime"),
])
def test_token_field_problems(change, problem):
    inv, problems = _check({"tokens": [_tok(**change)]})
    assert problems == [f"{T0}: {problem}"]
    assert inv.tokens["t"]["name"] == ("t" if "name" in change else "T")


@pytest.mark.parametrize("days, ok", [([1, 365], True), ([0], False), ([366], False), ([7, 0], False), ([], False),
                                      ([True], False),
                                      ([7.0], False), (7, False), (None, True)])
def test_token_notify_days(days, ok):
    inv, problems = _check({"tokens": [_tok(notify_days=days)]})
    if ok:
        assert problems == [] and inv.tokens["t"]["notify_days"] == (sorted(days, reverse=True) if days else None)
    else:
        assert problems == [f"{T0}: notify_days must be a list of whole days between 1 and 365"]
        assert inv.tokens["t"]["notify_days"] is None


def test_equal_values_are_shared_between_tokens():
    inv, _ = _check({"tokens": [_tok(id="t1", kind="generic", owners=["U0123OWNER"], accounts=["a"],
                                     notify_days=[7, 1]),
                                _tok(id="t2", kind="gen" + "eric", owners=["U0123" + "OWNER"], accounts=["a"],
                                     notify_days=[1, 7])],
                     "accounts": [_acc()]})
    t1, t2 = inv.tokens["t1"], inv.tokens["t2"]
    assert t1["notify_days"] == [7, 1] and t1["notify_days"] is t2["notify_days"]
    assert t1["expires_at"] is t2["expires_at"]
    assert t1["owners"][0] is t2["owners"][0]


def test_an_expiry_seen_before_with_a_problem_is_reported_again():
    assert _problems({"tokens": [_tok(id="t1", expires_at="soon"), _tok(id="t2", expires_at="soon")]}) == [
        "tokens[0] (id 't1'): expires_at: 'soon' is not a date (use YYYY-MM-DD or an ISO 8601 datetime)",
        "tokens[1] (id 't2'): expires_at: 'soon' is not a date (use YYYY-MM-DD or an ISO 8601 datetime)"]


# --- the file as a whole ---

@pytest.mark.parametrize("data", [None, [], "tokens", 3])
def test_a_file_that_is_not_a_mapping(data):
    inv, problems = _check(data)
    assert problems == ["the file must be a mapping with 'kinds', 'connectors', 'accounts' and/or 'tokens' lists"]
    assert inv == _check({})[0]
    assert (inv.kinds, inv.accounts, inv.tokens) == ({}, {}, {})


def test_problems_come_in_section_order_whatever_the_files_order():
    data = {"zz": 1, "tokens": [_tok(colour=1)], "accounts": "a", 5: 2, "kinds": [_kind(steps=[])], "aa": None}
    assert _problems(data) == [
        "top level: unknown section 'aa' (expected kinds, connectors, accounts and tokens)",
        "top level: unknown section 'zz' (expected kinds, connectors, accounts and tokens)",
        "top level: unknown section 5 (expected kinds, connectors, accounts and tokens)",
        "accounts: must be a list",
        STEPS_PROBLEM,
        f"{T0}: unknown field 'colour'",
    ]
    assert _problems({"tokens": 5, "kinds": {"a": 1}}) == ["kinds: must be a list", "tokens: must be a list"]


def test_empty_sections_are_empty():
    inv, problems = _check({"kinds": None, "accounts": [], "tokens": None})
    assert problems == [] and (inv.kinds, inv.accounts, inv.tokens) == ({}, {}, {})


def test_the_streaming_checker_reports_in_section_order():
    from renewbot.domain.inventory import InventoryChecker

    checker = InventoryChecker(known_accounts={"old"})
    checker.entry("tokens", 0, _tok(accounts=["old", "a"], kind="ship"), 2)
    checker.entry("accounts", 0, _acc(), 9)
    checker.entry("kinds", 0, _kind(), 12)
    checker.not_a_list("accounts")
    checker.unknown_section("extra")
    inv, problems = checker.finish()
    assert problems == ["top level: unknown section 'extra' (expected kinds, connectors, accounts and tokens)",
                        "accounts: must be a list"]
    assert list(inv.tokens) == ["t"] and inv.tokens["t"]["accounts"] == ["old", "a"]


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
    pytest.param("tokens", 1, _delete("expires_at"), "expires_at is missing (optional only with a source: "
                 "tls://host:port)", "amazon-eu-sp-api", id="no-expiry"),
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
