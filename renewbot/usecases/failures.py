"""Failures a person can fix: what each Slack refusal means, how to fix it, and retrying once it is fixed.

A notice Slack refused for good (the bot is not in the channel, the channel is wrong or archived) stays
"failed" until someone fixes the cause; then `renewbot retry-failed`, or the bot being added to the channel,
puts it back in the queue, in the token's current channel.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

from sqlmodel import Session

from storage import notices
from storage.models import Token

# Slack refused the bot token itself: nothing about a notice is wrong, so none is marked failed; delivery
# pauses until the token works again.
TOKEN_REFUSED = frozenset({"invalid_auth", "token_revoked", "account_inactive", "not_authed"})
# A private channel the bot is not in answers channel_not_found, like a deleted or mistyped one: its owners
# are told (once) so that a person can invite the bot or fix the id.
TELL_OWNERS = frozenset({"channel_not_found", "is_archived"})
# How long "the owners were told about this channel" is remembered after the expiry it was about.
TOLD_FOR = timedelta(days=30)

RETRY = "then run `renewbot retry-failed`"
_FIXES = {
    "not_in_channel": "invite @renewbot to the channel ({channel}), " + RETRY,
    "channel_not_found": ("invite @renewbot to the channel if it is private ({channel}; the notice is then posted), "
                          "or check the channel id in the import file and " + RETRY.removeprefix("then ")),
    "is_archived": "unarchive {channel}, or set another channel in the import file, " + RETRY,
    "method_not_supported_for_channel_type": "invite @renewbot to the channel ({channel}), " + RETRY,
    "missing_scope": "reinstall the app with the scopes in manifest.yml, " + RETRY,
    "restricted_action": "an admin restricts posting in {channel}: allow the app or set another channel, " + RETRY,
    "msg_too_long": "the notice is too long for Slack: shorten the token's name or accounts, " + RETRY,
    "invalid_blocks": "Slack refused the notice's layout: report it to renewbot's maintainers",
}
_TOKEN_FIX = "the bot token was refused: reinstall the app or set SLACK_BOT_TOKEN, " + RETRY
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def fix_for(error: str | None, channel: str) -> str:
    """One line: what a person does about a notice that failed with `error` in `channel`."""
    if error in TOKEN_REFUSED:
        return _TOKEN_FIX
    return _FIXES.get(error or "", "see Slack's documentation of this error, fix its cause, " + RETRY).format(
        channel=channel)


def user_owners(owners: list[str]) -> list[str]:
    """The owners that are people (U…/W… ids): groups and "*" cannot be sent a direct message."""
    return [o for o in owners if _USER_ID.fullmatch(o)]


def told_key(token_id: str, channel: str) -> str:
    """The Once key for "this token's owners were told about this channel" (at most 200 characters)."""
    key = f"dm-owners:{token_id}:{channel}"
    return key if len(key) <= 200 else "dm-owners:" + hashlib.sha256(key.encode()).hexdigest()


def owners_message(token: Token, channel: str, error: str) -> str:
    """The direct message to a token's owners when its notice cannot be posted in its channel."""
    where = f"<#{channel}>"
    head = f"renewbot could not post the expiry notice for *{token.name}* (`{token.id}`) in {where}: "
    if error == "is_archived":
        return head + ("the channel is archived. Unarchive it, or set another channel for the token in the "
                       "import file and run `renewbot retry-failed`.")
    return head + (f"Slack answered {error}. If it is a private channel, invite @renewbot to it "
                   "(`/invite @renewbot`) and the notice is posted. Otherwise fix the channel id in the import "
                   "file and run `renewbot retry-failed`.")


def requeue_failed(*, session: Session, now: datetime, channel: str | None = None) -> list[int]:
    """Puts failed notices back in the queue, in their token's current channel; returns their ids.

    Only notices about their token's current expiry (a renewal made them moot), and per token only its
    latest: an older stage that a nearer one has replaced is superseded, not posted late. With `channel`,
    only the tokens whose channel that is now.
    """
    retried = []
    newest: dict[str, int | None] = {}
    for notice, token in notices.retryable_failures(session=session, channel=channel):
        if token.id not in newest:
            newest[token.id] = notices.newest_notice_id(session=session, token_id=token.id,
                                                        expires_at=token.expires_at)
        if notice.id != newest[token.id]:
            notices.supersede_failed(session=session, notice_id=notice.id, closed_at=now)
        elif notices.retry_failed(session=session, notice_id=notice.id, channel=token.channel):
            retried.append(notice.id)
    return retried
