"""The start-up key check reads every stored secret's key, not a sample; key ids are recorded with each secret."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update

from renewbot.crypto import SecretBox, key_id
from renewbot.errors import ConfigError
from renewbot.usecases.keys import check_keys, rotate_keys
from storage.db import session_scope
from storage.models import Token
from tests.conftest import NOW
from tests.support.seed import seed, token


def new_key() -> str:
    return Fernet.generate_key().decode()


def store(engine, secrets: dict[str, tuple[SecretBox, bool]]) -> None:
    """token id -> (box that encrypts it, whether its key id is recorded as a current release does)."""
    seed(engine, now=NOW, tokens=[token(t, NOW + timedelta(days=90)) for t in secrets])
    with session_scope(engine) as s:
        for token_id, (box, with_id) in secrets.items():
            tok = s.get(Token, token_id)
            tok.secret_encrypted = box.encrypt(f"secret-{token_id}")
            tok.secret_key_id = box.current_key_id if with_id else None
            s.add(tok)


def test_key_id_is_short_stable_and_reveals_nothing(fernet_key):
    kid = key_id(fernet_key)
    assert len(kid) == 12 and kid == key_id(fernet_key) and kid != key_id(new_key())
    assert kid not in fernet_key and int(kid, 16) >= 0
    box = SecretBox((new_key(), fernet_key))
    assert box.current_key_id == box.key_ids[0] and box.key_ids[1] == kid
    assert SecretBox(()).current_key_id is None


@pytest.mark.parametrize("with_ids", [True, False], ids=["key ids", "stored by an older release"])
def test_ten_unreadable_secrets_beyond_the_first_fifty_refuse_the_start(engine, with_ids):
    configured, lost = new_key(), new_key()
    # t00..t49 sort first (the old check read only those); t50..t59 need a key that is not configured.
    store(engine, {f"t{i:02d}": (SecretBox((configured if i < 50 else lost,)), with_ids) for i in range(60)})
    with pytest.raises(ConfigError) as caught:
        check_keys(engine, SecretBox((configured,)))
    message = str(caught.value)
    assert "10 token(s)" in message and "e.g. t50" in message and "keep the old key in the list" in message
    check_keys(engine, SecretBox((configured, lost)))


def test_mixed_ids_and_legacy_secrets_pass_with_every_key_and_fail_without_one(engine):
    a, b = new_key(), new_key()
    store(engine, {"new": (SecretBox((a,)), True), "old": (SecretBox((b,)), False)})
    check_keys(engine, SecretBox((a, b)))
    with pytest.raises(ConfigError, match=r"1 token\(s\) \(e.g. old\)"):
        check_keys(engine, SecretBox((a,)))
    with pytest.raises(ConfigError, match=r"1 token\(s\) \(e.g. new\)"):
        check_keys(engine, SecretBox((b,)))


def test_a_ciphertext_that_does_not_match_its_key_id_is_caught_by_the_sample(engine):
    a, b = new_key(), new_key()
    store(engine, {"t0": (SecretBox((a,)), True)})
    with session_scope(engine) as s:  # labelled with b's id but encrypted with a (a damaged row)
        s.execute(update(Token).where(Token.id == "t0").values(secret_key_id=key_id(b)))
    with pytest.raises(ConfigError, match="t0"):
        check_keys(engine, SecretBox((a, b)))


def test_no_keys_and_secrets_still_refuses(engine):
    store(engine, {"t0": (SecretBox((new_key(),)), True)})
    with pytest.raises(ConfigError, match="1 stored secret"):
        check_keys(engine, SecretBox(()))


def test_rotate_keys_records_the_newest_key_id_so_old_secrets_need_no_decrypt(engine):
    old, new = new_key(), new_key()
    store(engine, {"t0": (SecretBox((old,)), False), "t1": (SecretBox((old,)), True)})
    assert rotate_keys(engine, SecretBox((new, old))) == 2
    with session_scope(engine) as s:
        assert {s.get(Token, t).secret_key_id for t in ("t0", "t1")} == {key_id(new)}
    check_keys(engine, SecretBox((new,)))
    with pytest.raises(ConfigError, match=r"2 token\(s\)"):
        check_keys(engine, SecretBox((old,)))


def test_a_renewal_records_the_key_id(engine, fernet_key):
    from renewbot.domain.validation import Submission
    from renewbot.usecases.renewal import apply_renewal
    seed(engine, now=NOW, tokens=[token("t0", NOW + timedelta(days=3))])
    box = SecretBox((fernet_key,))
    with session_scope(engine) as s:
        submission = Submission(token_id="t0", version=1, secret="new-secret", new_expiry=NOW + timedelta(days=90),
                                reenable=frozenset(), no_fetch=frozenset())
        apply_renewal(session=s, box=box, submission=submission, user_id="U0OWNER", now=NOW)
    with session_scope(engine) as s:
        assert s.get(Token, "t0").secret_key_id == key_id(fernet_key)
    check_keys(engine, box)
