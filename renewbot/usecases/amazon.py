"""What renewbot knows about an Amazon seller beyond one token: its paired tokens, and the app's tracked LWA secret.

Paired tokens. Amazon renews a seller's legacy MWS token and its SP-API authorization in the same place (Seller
Central → Manage Your Apps), so renewing one touches the other. renewbot knows the seller only through the
accounts a token serves: two tokens are paired when their kinds pair in the kinds table (`pairs_with`:
amazon-mws with amazon-sp-api), both are not retired, and they serve at least one account in common.

The tracked LWA client secret. When the team tracks the SP-API app's client secret as a token of kind
amazon-lwa-client-secret, the stored value is what renewbot signs in to LWA with (verification now, re-authorization
later), instead of AMAZON_LWA_CLIENT_SECRET: renewing that token is then the whole rotation on renewbot's side.
Which one, among the non-retired such tokens holding a secret:
- those whose app_id is AMAZON_LWA_CLIENT_ID; when none is, those with no app_id (one naming another app is
  another client's secret, which LWA would refuse with our client id);
- exactly one: it wins; several: none does (the environment's value stands) and a WARNING says so, once per set.
The client id always comes from AMAZON_LWA_CLIENT_ID.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Set

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from renewbot.crypto import SecretBox
from renewbot.domain.kinds import resolve
from renewbot.errors import ConfigError
from renewbot.usecases.verify import StoredSecret
from storage.db import session_scope
from storage.models import Token, TokenAccount

logger = logging.getLogger(__name__)

LWA_SECRET_KIND = "amazon-lwa-client-secret"
MAX_PAIRED = 20  # more than the steps show (renewbot.blocks.runbook); enough to say "and N more"


def paired_tokens(token: Token, *, session: Session) -> list[Token]:
    """The other tokens renewed together with `token` (see the module's rule), by name; none for other kinds."""
    kinds = resolve(token.kind).pairs_with
    if not kinds:
        return []
    its_accounts = select(TokenAccount.account_id).where(TokenAccount.token_id == token.id)
    sharing = select(TokenAccount.token_id).where(col(TokenAccount.account_id).in_(its_accounts))
    stmt = (select(Token).where(col(Token.id).in_(sharing), col(Token.kind).in_(kinds), col(Token.id) != token.id,
                                col(Token.retired).is_(False))
            .order_by(Token.name, Token.id).limit(MAX_PAIRED))
    return list(session.exec(stmt).all())


def paired_of(token: Token | None, *, engine: Engine) -> list[Token]:
    """paired_tokens in a read of its own, for a handler building steps or a form; no read for unpaired kinds."""
    if token is None or not resolve(token.kind).pairs_with:
        return []
    with session_scope(engine, commit=False) as session:
        paired = paired_tokens(token, session=session)
        session.expunge_all()  # kept loaded: the rollback that ends a read must not expire them
    return paired


def tracked_lwa_secret(*, session: Session, box: SecretBox, client_id: str | None,
                       ambiguous: Callable[[frozenset[str]], None] | None = None) -> StoredSecret | None:
    """The stored LWA client secret that replaces AMAZON_LWA_CLIENT_SECRET (the module says which), or None.

    `ambiguous` is told the ids when several could be meant (default: a WARNING each time).
    """
    if not client_id:
        return None  # no client to sign in as: verification stays off whatever is stored
    stmt = (select(Token.id, Token.app_id, Token.secret_encrypted)
            .where(Token.kind == LWA_SECRET_KIND, col(Token.retired).is_(False),
                   col(Token.secret_encrypted).is_not(None)))
    rows = session.exec(stmt).all()
    candidates = [row for row in rows if row[1] == client_id] or [row for row in rows if not row[1]]
    if len(candidates) != 1:
        if candidates:
            (ambiguous or _warn_ambiguous)(frozenset(row[0] for row in candidates))
        return None
    token_id, _, ciphertext = candidates[0]
    try:
        return StoredSecret(token_id=token_id, value=box.decrypt(ciphertext))
    except ConfigError:
        logger.warning("the stored LWA client secret of token %s can't be decrypted with TOKEN_ENCRYPTION_KEYS: "
                       "using AMAZON_LWA_CLIENT_SECRET instead", token_id)
        return None


def _warn_ambiguous(token_ids: Set[str]) -> None:
    logger.warning("several stored LWA client secrets could be the one renewbot signs in with (tokens %s): none "
                   "is used, AMAZON_LWA_CLIENT_SECRET stands. Set app_id: <AMAZON_LWA_CLIENT_ID> on the right one, "
                   "or retire the others", ", ".join(sorted(token_ids)))


def lwa_secret_source(*, engine: Engine, box: SecretBox,
                      client_id: str | None) -> Callable[[], StoredSecret | None]:
    """tracked_lwa_secret read afresh at each call (a renewal of it counts at once), for HttpVerifier.

    The ambiguity warning is given once per set of tokens for this source (it is asked at every check).
    A database that can't answer leaves the environment's secret in use: verification must not fail a renewal.
    """
    warned: set[frozenset[str]] = set()
    lock = threading.Lock()

    def warn_once(token_ids: frozenset[str]) -> None:
        with lock:
            if token_ids in warned:
                return
            warned.add(token_ids)
        _warn_ambiguous(token_ids)

    def read() -> StoredSecret | None:
        try:
            with session_scope(engine, commit=False) as session:
                return tracked_lwa_secret(session=session, box=box, client_id=client_id, ambiguous=warn_once)
        except SQLAlchemyError:
            logger.exception("reading the stored LWA client secret failed: using AMAZON_LWA_CLIENT_SECRET")
            return None
    return read
