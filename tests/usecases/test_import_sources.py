"""Import of the issue-10 token fields: `source` (expiry optional, unknown until read), `verify_url`, `connector`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from renewbot.domain.thresholds import UNKNOWN_EXPIRY, notify_from
from renewbot.errors import ImportFileError
from renewbot.usecases.importing import import_file
from storage.db import session_scope
from storage.models import Connector, Token
from tests.test_importer import item_line, write

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _token(**fields) -> dict:
    return {"id": "shop-tls", "kind": "generic", "name": "Shop certificate",
            "channel": "C0123ALERTS", **fields}


def _import(engine, path, now=NOW):
    with session_scope(engine) as s:
        return import_file(path, session=s, now=now)


def _stored(engine, token_id="shop-tls") -> Token:
    with session_scope(engine) as s:
        token = s.get(Token, token_id)
        s.expunge(token)
        return token


def test_a_source_token_without_a_date_is_unknown_and_never_due(sqlite_engine, tmp_path):
    _import(sqlite_engine, write(tmp_path, {"tokens": [_token(source="tls://shop.example:443")]}))
    token = _stored(sqlite_engine)
    assert (token.expiry_known, token.expires_at) == (False, UNKNOWN_EXPIRY)
    assert token.notify_from.year > 8000  # no scan before then plans a notice from it
    assert token.source == "tls://shop.example:443"


def test_reimport_without_a_date_keeps_what_the_source_said(sqlite_engine, tmp_path):
    path = write(tmp_path, {"tokens": [_token(source="tls://shop.example:443")]})
    _import(sqlite_engine, path)
    seen = datetime(2027, 3, 1, tzinfo=UTC)
    with session_scope(sqlite_engine) as s:  # what a scan's first read records
        token = s.get(Token, "shop-tls")
        token.expires_at, token.notify_from, token.expiry_known = seen, notify_from(seen, None), True
    report = _import(sqlite_engine, path)
    token = _stored(sqlite_engine)
    assert (token.expiry_known, token.expires_at) == (True, seen)
    assert report.unchanged == ["token shop-tls"]


def test_a_date_in_the_file_makes_a_source_token_known(sqlite_engine, tmp_path):
    _import(sqlite_engine, write(tmp_path, {"tokens": [_token(source="tls://shop.example:443")]}))
    _import(sqlite_engine, write(tmp_path, {"tokens": [_token(source="tls://shop.example:443",
                                                               expires_at="2027-01-02")]}, "dated.yml"))
    token = _stored(sqlite_engine)
    assert (token.expiry_known, token.expires_at) == (True, datetime(2027, 1, 2, tzinfo=UTC))


@pytest.mark.parametrize("fields, problem", [
    ({"source": "https://shop.example"}, "source 'https://shop.example' is not valid (tls://host:port"),
    ({"source": "tls://shop.example"}, "source 'tls://shop.example' is not valid"),
    ({"source": "tls://shop.example:70000"}, "source 'tls://shop.example:70000' is not valid"),
    ({"expires_at": "2027-01-01", "verify_url": "http://api.example/me"},
     "verify_url 'http://api.example/me' must be https (plain http only for localhost or 127.0.0.1)"),
    ({"expires_at": "2027-01-01", "verify_url": "https://user:pw@api.example/me"},
     "verify_url must not carry a user name or password"),
    ({"expires_at": "2027-01-01", "connector": "nowhere"}, "unknown connector 'nowhere' (define it under connectors:)"),
    ({}, "expires_at is missing (optional only with a source: tls://host:port)"),
    ({"source": None}, "expires_at is missing (optional only with a source: tls://host:port)"),
])
def test_bad_new_fields_are_refused_by_entry_and_line(sqlite_engine, tmp_path, fields, problem):
    path = write(tmp_path, {"tokens": [_token(**fields)]})
    with pytest.raises(ImportFileError) as caught:
        _import(sqlite_engine, path)
    where = f"tokens[0] (id 'shop-tls', line {item_line(path, 'shop-tls')})"
    assert any(p.startswith(f"{where}: {problem}") for p in caught.value.problems), caught.value.problems
    with session_scope(sqlite_engine) as s:
        assert s.get(Token, "shop-tls") is None


def test_connectors_and_the_tokens_naming_them_are_stored(sqlite_engine, tmp_path):
    data = {"connectors": [{"id": "commerce-eu", "type": "webhook", "url": "https://commerce.example/hooks",
                            "secret_env": "COMMERCE_EU_WEBHOOK_SECRET"},
                           {"id": "apply", "type": "command", "command": ["/usr/local/bin/apply", "--eu"]}],
            "tokens": [_token(expires_at="2027-01-01", connector="commerce-eu",
                              verify_url="https://api.example/me")]}
    report = _import(sqlite_engine, write(tmp_path, data))
    assert "connector commerce-eu" in report.created and "connector apply" in report.created
    with session_scope(sqlite_engine) as s:
        hook = s.get(Connector, "commerce-eu")
        assert (hook.type, hook.config) == ("webhook", {"url": "https://commerce.example/hooks",
                                                        "secret_env": "COMMERCE_EU_WEBHOOK_SECRET"})
        assert s.get(Connector, "apply").config == {"command": ["/usr/local/bin/apply", "--eu"]}
    token = _stored(sqlite_engine)
    assert (token.connector, token.verify_url) == ("commerce-eu", "https://api.example/me")
    # A later file may name the stored connector without defining it again.
    _import(sqlite_engine, write(tmp_path, {"tokens": [_token(expires_at="2027-01-01", connector="commerce-eu")]},
                                 "later.yml"))
    assert _stored(sqlite_engine).verify_url is None
