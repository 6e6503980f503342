"""`bot.py status`: tokens and accounts as a person (or a script) wants to see them. No secrets."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from storage import queries
from thresholds import days_left, ladder_for, stage_for


def collect(*, session: Session, now: datetime) -> dict:
    tokens = queries.list_tokens(session=session)
    links = queries.accounts_by_token(session=session, token_ids=[t.id for t in tokens])
    failed_by_token: dict[str, list] = {}
    for n in queries.failed_notices(session=session):
        failed_by_token.setdefault(n.token_id, []).append(n)
    out_tokens = []
    for t in tokens:
        notices = queries.open_notices(session=session, token_id=t.id)
        current = [n for n in notices if n.expires_at == t.expires_at]
        latest = current[-1] if current else None
        failed = [n for n in failed_by_token.get(t.id, []) if n.expires_at == t.expires_at]
        out_tokens.append({
            "id": t.id, "name": t.name, "kind": t.kind,
            "expires_at": t.expires_at.isoformat(),
            "days_left": days_left(t.expires_at, now),
            "stage": stage_for(t.expires_at, now, ladder_for(t.notify_days)),
            "open_notice": None if latest is None else {
                "id": latest.id, "stage": latest.stage, "state": latest.state,
                "channel": latest.channel, "ts": latest.ts,
            },
            "failed_notices": [{"id": n.id, "stage": n.stage, "error": n.last_error} for n in failed],
            "channel": t.channel, "owners": list(t.owners), "accounts": [a.id for a in links[t.id]],
            "app_id": t.app_id, "has_secret": t.secret_encrypted is not None,
        })
    accounts = [{"id": a.id, "name": a.name, "enabled": a.enabled, "fetch_orders": a.fetch_orders,
                 "settings_url": a.settings_url} for a in queries.list_accounts(session=session)]
    return {"tokens": out_tokens, "accounts": accounts}


def render_text(data: dict) -> str:
    lines = ["TOKEN                          KIND           EXPIRES     STAGE     NOTICE"]
    for t in data["tokens"]:
        notice = f"{t['open_notice']['stage']} {t['open_notice']['state']}" if t["open_notice"] else "-"
        if t["failed_notices"]:
            notice += f" (failed: {t['failed_notices'][-1]['error']})"
        lines.append(f"{t['id'][:30]:<30} {t['kind']:<14} {t['expires_at'][:10]}  {t['stage']:<9} {notice}")
    lines.append("")
    lines.append("ACCOUNT                        ENABLED  FETCH ORDERS")
    for a in data["accounts"]:
        lines.append(f"{a['id'][:30]:<30} {'yes' if a['enabled'] else 'no':<8} {'yes' if a['fetch_orders'] else 'no (don'+chr(39)+'t fetch)'}")
    return "\n".join(lines)
