"""API keys: made once and shown once, kept only as hashes, checked in constant time, revocable; and the CLI."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from renewbot.runtime.cli import main
from renewbot.usecases import apikeys
from renewbot.usecases.apikeys import ApiKeyError, authenticate, bearer_key, create_key, list_keys, revoke_key
from storage.db import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import ApiKey
from tests.conftest import NOW

KEY_RE = re.compile(r"rbk_[A-Za-z0-9_-]{43}")


def create(engine, name="platform", scopes=None, now=NOW):
    with session_scope(engine) as s:
        return create_key(session=s, name=name, scopes=scopes, now=now)


def auth(engine, key):
    with session_scope(engine) as s:
        return authenticate(session=s, key=key)


def revoke(engine, name, now=NOW):
    with session_scope(engine) as s:
        return revoke_key(session=s, name=name, now=now)


def every_stored_value(engine) -> str:
    """Every column of every row of every table, as text: where a key in plain text would show."""
    parts = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts += [repr(v) for v in row]
    return "\n".join(parts)


def test_a_new_key_is_random_holds_only_state_by_default_and_is_stored_only_as_its_hash(engine):
    first, second = create(engine, "platform"), create(engine, "script")
    assert KEY_RE.fullmatch(first.key) and KEY_RE.fullmatch(second.key) and first.key != second.key
    # calendar and metrics only when asked for by name: a calendar key travels in URLs
    assert first.info.scopes == ("state",) and first.info.created_at == NOW
    assert first.key not in repr(first)
    stored = every_stored_value(engine)
    assert hashlib.sha256(first.key.encode()).hexdigest() in stored  # the dump does see the key table
    for key in (first.key, second.key):
        assert key not in stored and key[len("rbk_"):] not in stored and key[4:24] not in stored


def test_the_database_file_itself_never_holds_a_key(tmp_path):
    path = tmp_path / "keys.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    keys = [create(engine, f"k{i}").key for i in range(3)]
    revoke(engine, "k1")
    engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("keys.db"))
    assert b"rbk_" not in raw
    for key in keys:
        assert key.encode() not in raw and key[4:24].encode() not in raw


def test_scopes_are_checked_deduplicated_and_kept_in_one_order(engine):
    assert create(engine, "a", ["calendar", "state", "calendar"]).info.scopes == ("state", "calendar")
    assert create(engine, "b", ["calendar"]).info.scopes == ("calendar",)
    with pytest.raises(ApiKeyError, match="unknown scope 'admin'"):
        create(engine, "c", ["state", "admin"])
    with session_scope(engine) as s:
        assert [k.name for k in list_keys(session=s)] == ["a", "b"]  # the refused one wrote nothing


@pytest.mark.parametrize("name", ["", "-x", "has space", "x" * 101, "naïve", "a/b", "tab\there"])
def test_a_bad_name_is_refused(engine, name):
    with pytest.raises(ApiKeyError, match="a key name is"):
        create(engine, name)


def test_a_name_in_use_by_a_live_key_is_refused_but_free_again_once_revoked(engine):
    old = create(engine, "platform")
    with pytest.raises(ApiKeyError, match="exists already"):
        create(engine, "platform")
    assert revoke(engine, "platform", now=NOW + timedelta(days=1)) is True
    assert revoke(engine, "platform") is False  # nothing live of that name any more
    new = create(engine, "platform", now=NOW + timedelta(days=2))
    assert auth(engine, old.key) is None
    assert auth(engine, new.key).name == "platform"
    with session_scope(engine) as s:
        listed = [(k.name, k.created_at, k.revoked_at) for k in list_keys(session=s)]
    assert listed == [("platform", NOW, NOW + timedelta(days=1)), ("platform", NOW + timedelta(days=2), None)]


def test_authenticate_accepts_only_a_live_key_exactly(engine):
    good = create(engine, "platform", ["state"]).key
    create(engine, "other")
    info = auth(engine, good)
    assert (info.name, info.scopes, info.revoked_at) == ("platform", ("state",), None)
    for wrong in (good[:-1], good + "x", good.upper(), good[:-1] + ("A" if good[-1] != "A" else "B"),
                  "rbk_" + "A" * 43, hashlib.sha256(good.encode()).hexdigest()):
        assert auth(engine, wrong) is None, wrong
    revoke(engine, "platform")
    assert auth(engine, good) is None


def test_authentication_compares_with_every_live_key_in_constant_time(engine, monkeypatch):
    """No early exit and no comparison in SQL: each live key's hash goes through hmac.compare_digest."""
    keys = [create(engine, f"k{i}").key for i in range(4)]
    compared = []
    real = apikeys.hmac.compare_digest

    def spy(a, b):
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(apikeys.hmac, "compare_digest", spy)
    assert auth(engine, keys[0]).name == "k0"
    assert len(compared) == 4
    assert auth(engine, "rbk_nothing") is None
    assert len(compared) == 8


@pytest.mark.parametrize("header, key", [
    ("Bearer rbk_abc", "rbk_abc"),
    ("bearer rbk_abc", "rbk_abc"),
    ("Bearer  rbk_abc ", "rbk_abc"),
    ("Bearer abc==", "abc=="),
    (None, None), ("", None), ("Bearer", None), ("Bearer ", None), ("Basic dXNlcjpwYXNz", None),
    ("Bearer rbk abc", None), ("Bearer rbk_abc\x00", None), ("Bearer rbk_äbc", None),
    ("Bearer " + "a" * 200, "a" * 200), ("Bearer " + "a" * 201, None),
    ("Bearer " + "a" * 5000, None), ("Bearer rbk_abc, Bearer rbk_def", None),
])
def test_the_bearer_header_is_parsed_strictly_and_bounded(header, key):
    assert bearer_key(header) == key


# --- the command line --------------------------------------------------------

@pytest.fixture
def cli_db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)  # no stray .env
    return path


def test_the_api_key_commands_end_to_end(cli_db, capsys):
    assert main(["api-key", "create", "platform"]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert KEY_RE.fullmatch(key) and out == key + "\n"  # stdout is the key alone, for $(...)
    assert "'platform' (scopes: state)" in err and "only time the key is shown" in err and key not in err

    assert main(["api-key", "create", "cal", "--scope", "calendar"]) == 0
    cal_key = capsys.readouterr().out.strip()
    assert main(["api-key", "create", "both", "--scope", "state", "--scope", "calendar"]) == 0
    capsys.readouterr()
    assert main(["api-key", "create", "platform"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "exists already" in err and "nothing was changed" in err

    assert main(["api-key", "revoke", "cal"]) == 0
    assert capsys.readouterr().out == "api-key: revoked 'cal'; requests with it now get 401\n"
    assert main(["api-key", "revoke", "cal"]) == 2
    assert "no key named 'cal'" in capsys.readouterr().err

    assert main(["api-key", "list"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SCOPES", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == ["platform", "cal", "both"]
    assert lines[1].split()[1] == "state" and "state, calendar" in lines[3]
    assert "(revoked " in lines[2] and "revoked" not in lines[1] + lines[3]
    engine = make_engine(f"sqlite:///{cli_db}")
    with session_scope(engine) as s:
        hashes = list(s.exec(select(ApiKey.key_hash)).scalars())
    engine.dispose()
    for secret in (key, cal_key, key[4:20], *hashes, *(h[:16] for h in hashes)):
        assert secret not in out + err


def test_listing_without_keys_says_how_to_make_one(cli_db, capsys):
    assert main(["api-key", "list"]) == 0
    assert "no API keys yet" in capsys.readouterr().out


def test_an_unknown_scope_or_a_missing_action_is_an_argument_error(cli_db, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["api-key", "create", "x", "--scope", "admin"])
    assert exit_info.value.code == 2 and "invalid choice: 'admin'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["api-key"])


def test_the_database_refuses_a_second_live_key_of_the_same_name(engine):
    """Two `create` of one name racing past the in-code check: the partial unique index decides."""
    from sqlalchemy.exc import IntegrityError

    from storage import apikeys as stored

    now = NOW
    with session_scope(engine) as s:
        stored.insert_key(session=s, name="twin", key_hash="a" * 64, scopes=["state"], created_at=now)
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        stored.insert_key(session=s, name="twin", key_hash="b" * 64, scopes=["state"], created_at=now)
    with session_scope(engine) as s:
        stored.revoke_named(session=s, name="twin", now=now)
    with session_scope(engine) as s:  # revoked: the name is free again
        stored.insert_key(session=s, name="twin", key_hash="c" * 64, scopes=["state"], created_at=now)


def test_create_turns_a_racing_create_of_the_same_name_into_a_refusal(engine, monkeypatch):
    """The other `create` committed between create_key's check and its insert: a refusal, not an IntegrityError."""
    first = create(engine, "twin")
    monkeypatch.setattr(apikeys.apikeys, "live_key_named", lambda **_: None)  # the check saw no key yet
    with pytest.raises(ApiKeyError, match="a key named 'twin' exists already"):
        create(engine, "twin")
    with session_scope(engine) as s:
        assert [(k.name, k.created_at, k.revoked_at) for k in list_keys(session=s)] == [("twin", NOW, None)]
    assert auth(engine, first.key).name == "twin"


def test_the_log_formatter_redacts_an_api_key_shape():
    from renewbot.runtime.logs import redact

    assert redact("got rbk_" + "A1b2_-" * 6) == "got [redacted]"
