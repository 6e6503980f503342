"""Start-up key checks and `bot.py rotate-keys`."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from renewbot.crypto import SecretBox
from renewbot.errors import ConfigError
from storage import queries
from storage.db import session_scope

# Secrets decrypted per key id at start-up: the key ids prove which keys are needed; these few catch a
# ciphertext that does not match its key id (a corrupted row, a key-id collision) at no real cost.
SAMPLE_PER_KEY = 5


def _unreadable(count: int, example: str | None) -> ConfigError:
    return ConfigError(f"TOKEN_ENCRYPTION_KEYS cannot decrypt the stored secret of {count} token(s) "
                       f"(e.g. {example}): keep the old key in the list, after the new one")


def check_keys(engine: Engine, box: SecretBox) -> None:
    """Refuses to start when any stored secret exists that the configured keys cannot read.

    Complete, and fast however many tokens there are: each secret carries the id of the key that encrypted it,
    so the distinct ids (one index seek each) must all be configured keys'. Secrets stored before key ids existed
    have none and are decrypted one by one; renewals and `rotate-keys` give them one, so that set only shrinks.
    Nothing is written here.
    """
    with session_scope(engine, commit=False) as session:
        if not queries.has_secrets(session=session):
            return
        if not box.ready:
            raise ConfigError(f"{queries.count_secrets(session=session)} stored secret(s) but TOKEN_ENCRYPTION_KEYS "
                              "is not set: set the key(s) they were encrypted with")
        used = queries.secret_key_ids(session=session)
        unknown = [k for k in used if k not in box.key_ids]
        if unknown:
            raise _unreadable(*queries.secrets_under(session=session, key_ids=unknown))
        for key in used:
            for token_id, secret in queries.sample_secrets(session=session, key_id=key, limit=SAMPLE_PER_KEY):
                if not box.can_decrypt(secret, key_id=key):
                    raise ConfigError(f"the stored secret of {token_id} is not readable with the key its key id "
                                      "names (a damaged row?): restore it, or renew that token")
        unreadable = [token_id for token_id, secret in queries.secrets_without_key_id(session=session)
                      if not box.can_decrypt(secret)]
    if unreadable:
        raise _unreadable(len(unreadable), min(unreadable))


def rotate_keys(engine: Engine, box: SecretBox) -> int:
    """Re-encrypts every stored secret under the newest key, all or nothing, recording that key's id with each
    (which also makes the start-up check of secrets stored by older releases instant). Returns how many."""
    with session_scope(engine) as session:
        return queries.reencrypt_secrets(
            session=session, key_id=box.current_key_id,
            rotate=lambda secret, token_id: box.rotate(secret, label=token_id))
