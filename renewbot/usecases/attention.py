"""Attention on a notice: "I'm on it" (acknowledge), snooze, mute and unmute. No Slack in here.

Like renewal: read the token, ask `decide(owners, channel)` whether this person may act (Slack calls, made
before any transaction is open), then in one short transaction check that nothing the decision rested on
changed, write the notice or token fields and the TokenEvent row. The caller edits the notice after the commit.
Lock waits are bounded (the mute form is answered inside Slack's 3 s): a locked row fails, with nothing written.
What was already so (a second "I'm on it" or mute, an unmute of a token no longer muted) is refused, saying who.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from renewbot.blocks.common import escape
from renewbot.domain.kinds import Kind
from renewbot.domain.patterns import CONTROL_RE
from renewbot.usecases.kinds import kind_of, ladders, token_stage
from storage import attention as store
from storage import queries
from storage.db import bounded_lock_waits, session_scope
from storage.models import Account, Notice, NoticeState, Token

logger = logging.getLogger(__name__)

# days -> label; an option is offered (and accepted) only while it ends before the expiry.
SNOOZE_DAYS: dict[int, str] = {1: "1 day", 3: "3 days", 7: "1 week"}
# reason -> how it is shown; "other" needs the text.
MUTE_REASONS: dict[str, str] = {"retired": "retired", "elsewhere": "handled elsewhere", "other": "other"}
MAX_MUTE_TEXT = 300
LOCK_WAIT_SECONDS = 1.5  # as renewal's: inside Slack's 3 s, a locked row fails the action with nothing written
REASON_FIELD, TEXT_FIELD = "reason", "text"


def snooze_choices(now: datetime, expires_at: datetime) -> list[int]:
    """The snooze lengths that end before the expiry; none at all with less than a day left."""
    return [days for days in SNOOZE_DAYS if now + timedelta(days=days) < expires_at]


@dataclass(frozen=True)
class NoticeRef:
    """Which notice a control is on: its unique key."""
    token_id: str
    expires_at: datetime
    stage: str


@dataclass(frozen=True)
class Attention:
    """What the notice shows about who is on it: its acknowledgement and snooze, and the token's mute."""
    acked_by: str | None = None
    acked_at: datetime | None = None
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    muted_by: str | None = None
    muted_at: datetime | None = None
    mute_reason: str | None = None

    @property
    def muted(self) -> bool:
        return self.muted_by is not None

    @classmethod
    def of(cls, notice: Notice | None, token: Token, now: datetime) -> Attention:
        muted = store.is_muted(token)
        return cls.at(now, acked_by=notice.acked_by if notice else None, acked_at=notice.acked_at if notice else None,
                      snoozed_until=notice.snoozed_until if notice else None,
                      snoozed_by=notice.snoozed_by if notice else None,
                      muted_by=token.muted_by if muted else None, muted_at=token.muted_at if muted else None,
                      mute_reason=token.mute_reason if muted else None)

    @classmethod
    def at(cls, now: datetime, *, snoozed_until: datetime | None, snoozed_by: str | None, **fields) -> Attention:
        """From stored fields (the mute's only when muted); a snooze that has ended shows no more."""
        snoozed = snoozed_until is not None and snoozed_until > now
        return cls(snoozed_until=snoozed_until if snoozed else None, snoozed_by=snoozed_by if snoozed else None,
                   **fields)


@dataclass(frozen=True)
class Shown:
    """One notice message to edit: where it is and which stage (and attention) it shows."""
    channel: str
    ts: str
    stage: str
    attention: Attention


@dataclass(frozen=True)
class AttentionOutcome:
    token: Token
    accounts: list[Account]
    kind: Kind
    edits: list[Shown]


class AttentionRefused(Exception):
    """Nothing was changed; `text` (mrkdwn, for a message) and `plain` (for a form's inline error, which Slack
    shows as plain text) say why. `decision` is set when the refusal is about who they are (the caller words it
    like Renew's)."""

    def __init__(self, text: str, *, plain: str | None = None, token: Token | None = None, decision=None) -> None:
        super().__init__(text)
        self.text, self.token, self.decision = text, token, decision
        self.plain = text if plain is None else plain


def _refused(token: Token, message: str, *, plain: str | None = None) -> AttentionRefused:
    """`message` (and `plain`, when it must differ) with {name} standing for the token's name: bold and escaped in
    the message, as typed in the form's error."""
    return AttentionRefused(message.replace("{name}", f"*{escape(token.name)}*"),
                            plain=(plain or message).replace("{name}", token.name))


class MuteRejected(Exception):
    """The mute form's errors, by field (REASON_FIELD, TEXT_FIELD)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def validate_mute(reason: str | None, text: str | None) -> str:
    """The mute reason as stored and shown, or MuteRejected."""
    text = (text or "").strip()
    if reason not in MUTE_REASONS:
        raise MuteRejected({REASON_FIELD: "Pick why this token needs no notices."})
    if CONTROL_RE.search(text):
        raise MuteRejected({TEXT_FIELD: "Use plain text on one line (no control characters)."})
    if len(text) > MAX_MUTE_TEXT:
        raise MuteRejected({TEXT_FIELD: f"At most {MAX_MUTE_TEXT} characters ({len(text)} given)."})
    if reason == "other":
        if not text:
            raise MuteRejected({TEXT_FIELD: "Say why, when the reason is \"other\"."})
        return text
    label = MUTE_REASONS[reason]
    return f"{label}: {text}"[:MAX_MUTE_TEXT] if text else label


Decide = Callable[[Sequence[str], str], object]  # (owners, channel) -> a Decision (has .allowed)


@contextmanager
def _transaction(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session, bounded_lock_waits(session, LOCK_WAIT_SECONDS):
        yield session


def _authorize(engine: Engine, token_id: str, decide: Decide) -> tuple:
    with _transaction(engine) as session:
        token = queries.get_token(session=session, token_id=token_id)
        if token is None or token.retired:
            raise AttentionRefused("That token no longer exists (or was retired): nothing to do.")
        seen = (tuple(token.owners), token.channel)
    decision = decide(*seen)
    if not getattr(decision, "allowed", False):
        raise AttentionRefused("", token=token, decision=decision)
    return seen


def _current_token(session: Session, token_id: str, seen: tuple) -> Token:
    token = queries.get_token(session=session, token_id=token_id)
    if token is None or token.retired:
        raise AttentionRefused("That token no longer exists (or was retired): nothing to do.")
    if (tuple(token.owners), token.channel) != seen:
        raise _refused(token, "{name}'s owners changed just now: nothing was changed. Try again.")
    return token


def _open_notice(session: Session, ref: NoticeRef, token: Token) -> Notice:
    notice = store.find_notice(session=session, token_id=ref.token_id, expires_at=ref.expires_at, stage=ref.stage)
    if notice is not None and notice.state == NoticeState.CLOSED:
        raise _refused(token, "{name} was already renewed: this notice is closed.")
    if notice is None or notice.expires_at != token.expires_at or notice.state not in NoticeState.open():
        raise _refused(token, "{name} was already renewed (or its expiry changed): this notice is no longer "
                              "current.")
    return notice


def _not_muted(token: Token) -> None:
    if store.is_muted(token):
        raise _refused(token, "{name} is muted: unmute it first.")


def _already_muted(token: Token) -> AttentionRefused:
    return _refused(token, f"{{name}} is already muted by <@{token.muted_by}>: nothing was changed.",
                    plain="{name} is already muted (the notice says by whom): nothing was changed.")


def _outcome(session: Session, token: Token, now: datetime) -> AttentionOutcome:
    """Every message about the token's current expiry, each showing the stage it shows in Slack: a notice's own
    message its stage, a thread's first message the newest notice posted in that thread (delivery edits it so)."""
    session.flush()
    session.expire_all()  # the writes above went through UPDATE statements: read what is stored now
    session.refresh(token)
    posted = store.posted_notices(session=session, token_id=token.id, expires_at=token.expires_at)
    shown: dict[tuple[str, str], Notice] = {}
    for notice in posted:  # oldest first: a later notice in the same thread takes its root's place
        shown[(notice.channel, notice.ts)] = notice
        if notice.root_ts:
            shown[(notice.channel, notice.root_ts)] = notice
    edits = [Shown(channel=ch, ts=ts, stage=n.stage, attention=Attention.of(n, token, now))
             for (ch, ts), n in shown.items()]
    return AttentionOutcome(token=token, accounts=queries.token_accounts(session=session, token_id=token.id),
                            kind=kind_of(token, session=session), edits=edits)


def acknowledge(*, engine: Engine, ref: NoticeRef, user_id: str, now: datetime, decide: Decide) -> AttentionOutcome:
    seen = _authorize(engine, ref.token_id, decide)
    with _transaction(engine) as session:
        token = _current_token(session, ref.token_id, seen)
        notice = _open_notice(session, ref, token)
        notice_id, stage = notice.id, notice.stage
        _not_muted(token)
        if not store.acknowledge(session=session, notice_id=notice_id, by=user_id, at=now):
            session.refresh(notice)  # the first acknowledgement stands: say whose it is
            raise _refused(token, f"<@{notice.acked_by}> is already on {{name}}: nothing was changed.",
                           plain="Someone is already on {name} (the notice says who): nothing was changed.")
        store.record_event(session=session, token_id=token.id, action=store.ACKNOWLEDGED, by=user_id, at=now,
                           expires_at=token.expires_at, stage=stage)
        outcome = _outcome(session, token, now)
    logger.info("notice %s of token %s acknowledged by %s", notice_id, token.id, user_id)
    return outcome


def snooze(*, engine: Engine, ref: NoticeRef, user_id: str, days: int | None, now: datetime,
           decide: Decide) -> AttentionOutcome:
    seen = _authorize(engine, ref.token_id, decide)
    with _transaction(engine) as session:
        token = _current_token(session, ref.token_id, seen)
        notice = _open_notice(session, ref, token)
        notice_id, stage = notice.id, notice.stage
        _not_muted(token)
        # Checked again here: the value comes from the click, and anyone can send a click.
        if days not in snooze_choices(now, token.expires_at):
            allowed = ", ".join(SNOOZE_DAYS[d] for d in snooze_choices(now, token.expires_at))
            raise _refused(token, "{name} can't be snoozed for that long: a snooze ends before the expiry "
                                  f"({'choose ' + allowed if allowed else 'less than a day is left'}).")
        until = now + timedelta(days=days)
        store.snooze(session=session, notice_id=notice_id, by=user_id, until=until)
        store.record_event(session=session, token_id=token.id, action=store.SNOOZED, by=user_id, at=now,
                           expires_at=token.expires_at, stage=stage,
                           detail=f"until {until.isoformat(timespec='minutes')}")
        outcome = _outcome(session, token, now)
    logger.info("notice %s of token %s snoozed by %s for %d day(s)", notice_id, token.id, user_id, days)
    return outcome


def check_mute(*, engine: Engine, ref: NoticeRef, decide: Decide) -> Token:
    """Before the mute form opens: may this person mute it, is the notice still current, and is the token not muted
    yet? Returns the token."""
    seen = _authorize(engine, ref.token_id, decide)
    with _transaction(engine) as session:  # nothing is written; a rollback would expire the token we return
        token = _current_token(session, ref.token_id, seen)
        _open_notice(session, ref, token)
        if store.is_muted(token):
            raise _already_muted(token)
    return token


def mute(*, engine: Engine, ref: NoticeRef, user_id: str, reason: str, now: datetime,
         decide: Decide) -> AttentionOutcome:
    """`reason` as validate_mute returned it. Notices planned but not posted are not posted; planning plans no new
    ones while the expiry stays the same."""
    seen = _authorize(engine, ref.token_id, decide)
    with _transaction(engine) as session:
        token = _current_token(session, ref.token_id, seen)
        notice = _open_notice(session, ref, token)
        notice_id, stage = notice.id, notice.stage
        if store.is_muted(token):  # a stale Mute button, or a second form: the first mute stands
            raise _already_muted(token)
        if not store.mute(session=session, token_id=token.id, expires_at=token.expires_at, by=user_id, at=now,
                          reason=reason):
            session.refresh(token)  # muted by someone else since we read it, or its expiry moved
            raise _already_muted(token) if store.is_muted(token) else _refused(
                token, "{name} was just renewed (or its expiry changed): nothing was changed.")
        store.supersede_unposted(session=session, token_id=token.id, expires_at=token.expires_at, now=now)
        store.record_event(session=session, token_id=token.id, action=store.MUTED, by=user_id, at=now,
                           expires_at=token.expires_at, stage=stage, detail=reason)
        outcome = _outcome(session, token, now)
    logger.info("token %s muted by %s (notice %s)", token.id, user_id, notice_id)
    return outcome


def unmute(*, engine: Engine, ref: NoticeRef, user_id: str, now: datetime, decide: Decide) -> AttentionOutcome:
    """Notices come again: the current stage's notice, if a mute kept it from being posted, is due now; else the
    next scan plans it as usual."""
    seen = _authorize(engine, ref.token_id, decide)
    with _transaction(engine) as session:
        token = _current_token(session, ref.token_id, seen)
        _open_notice(session, ref, token)
        reason = token.mute_reason
        if not store.is_muted(token) or not store.unmute(session=session, token_id=token.id):
            raise _refused(token, "{name} is not muted (someone unmuted it just now): nothing was changed.")
        stage = token_stage(token, now, ladders(session=session))
        store.revive(session=session, token_id=token.id, expires_at=token.expires_at, stage=stage)
        store.record_event(session=session, token_id=token.id, action=store.UNMUTED, by=user_id, at=now,
                           expires_at=token.expires_at, stage=ref.stage, detail=reason)
        outcome = _outcome(session, token, now)
    logger.info("token %s unmuted by %s", token.id, user_id)
    return outcome
