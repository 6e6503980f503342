"""Start-up key checks and `bot.py rotate-keys`."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from renewbot.crypto import SecretBox
from renewbot.errors import ConfigError
from storage import queries
from storage.db import session_scope
from storage.models import Token

SAMPLE = 50  # enough to catch a wrong or missing key without decrypting a million rows at start-up


def check_keys(engine: Engine, box: SecretBox) -> None:
    """Refuses to start when stored secrets exist that the configured keys cannot read."""
    with session_scope(engine) as session:
        # The partial index ix_token_secret makes this cheap however many tokens there are.
        sample = session.exec(select(Token.id, Token.secret_encrypted)
                              .where(col(Token.secret_encrypted).is_not(None)).order_by(Token.id).limit(SAMPLE)).all()
        if not sample:
            return
        if not box.ready:
            stored = session.exec(select(func.count()).select_from(Token).where(
                col(Token.secret_encrypted).is_not(None))).one()
            raise ConfigError(f"{stored} stored secret(s) but TOKEN_ENCRYPTION_KEYS is not set: "
                              "set the key(s) they were encrypted with")
    unreadable = [token_id for token_id, secret in sample if not box.can_decrypt(secret)]
    if unreadable:
        raise ConfigError(f"TOKEN_ENCRYPTION_KEYS cannot decrypt the stored secret of {len(unreadable)} token(s) "
                          f"(e.g. {unreadable[0]}): keep the old key in the list, after the new one")


def rotate_keys(engine: Engine, box: SecretBox) -> int:
    """Re-encrypts every stored secret under the newest key, all or nothing. Returns how many."""
    with session_scope(engine) as session:
        return queries.reencrypt_secrets(session=session, rotate=lambda secret, token_id: box.rotate(secret,
                                                                                                       label=token_id))
