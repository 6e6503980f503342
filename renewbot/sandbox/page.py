"""The sandbox page's HTML: the shell served at / and the fragments /sandbox/state sends for the script to swap
in. What Slack shows (messages, modals, the Home tab) comes from render.py; this is the frame around it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html import escape

from renewbot.sandbox import demo
from renewbot.sandbox.render import render_home, render_message, render_view

HOME = "home"


@dataclass(frozen=True)
class Where:
    """What the page shows: who you are, the channel (or the Home tab) and the open thread."""
    user: str
    channel: str
    tab: str = "channel"  # or HOME
    thread: str = ""


def _ts_key(ts: str) -> Decimal:
    try:
        return Decimal(ts)
    except (InvalidOperation, ValueError):
        return Decimal(0)


def channel_name(channel: str, user: str) -> str:
    if channel.startswith("D"):
        return "renewbot (direct messages)"
    return "#" + demo.CHANNEL_NAMES.get(channel, channel)


def channels(standin, user: str) -> list[str]:
    """The demo channels, any other with the bot's messages, and your direct messages with the bot."""
    listed = list(demo.CHANNEL_NAMES)
    listed += sorted(c for c in standin.messages if c[:1] in "CG" and c not in listed)
    im = standin.ims.get(user)
    return listed + ([im] if im and standin.messages.get(im) else [])


def channels_html(standin, where: Where) -> str:
    items = []
    for channel in channels(standin, where.user):
        current = ' aria-current="page"' if where.tab != HOME and channel == where.channel else ""
        items.append(f'<li><button type="button" class="channel" data-channel="{escape(channel)}"{current}>'
                     f"{escape(channel_name(channel, where.user))}</button></li>")
    current = ' aria-current="page"' if where.tab == HOME else ""
    items.append(f'<li><button type="button" class="channel" id="home-tab" data-tab="home"{current}>'
                 "renewbot — Home</button></li>")
    return "".join(items)


def _top_level(standin, channel: str) -> list[dict]:
    return [m for m in standin.messages.get(channel, []) if m.get("thread_ts") in (None, m["ts"])]


def _replies(standin, channel: str, ts: str) -> list[dict]:
    return [m for m in standin.messages.get(channel, []) if m.get("thread_ts") == ts != m["ts"]]


def messages_html(standin, seen, where: Where) -> str:
    mine = [e for e in seen.ephemerals if e.user == where.user and e.channel == where.channel]
    parts = [render_message(e.message, channel=where.channel) for e in mine if not e.after_ts]
    for message in _top_level(standin, where.channel):
        parts.append(render_message(message, channel=where.channel,
                                    thread_count=len(_replies(standin, where.channel, message["ts"]))))
        parts += [render_message(e.message, channel=where.channel) for e in mine if e.after_ts == message["ts"]]
    if not parts:
        return '<p class="empty">No messages here yet.</p>'
    return "".join(parts)


def thread_html(standin, where: Where) -> str:
    if not where.thread:
        return ""
    found = [m for m in standin.messages.get(where.channel, []) if where.thread in (m["ts"], m.get("thread_ts"))]
    found.sort(key=lambda m: _ts_key(m["ts"]))
    return "".join(render_message(m, channel=where.channel) for m in found)


def home_html(standin, where: Where) -> str:
    view = standin.home_views.get(where.user)
    if view is None:
        return '<p class="empty">renewbot has not published a Home tab for you yet.</p>'
    return render_home(view)


def modal(bridge, snap, user: str) -> dict:
    view = bridge.top_view(user, snap.views)
    if view is None:
        return {"id": "", "key": "", "html": ""}
    errors = bridge.seen.errors.get(view["id"])
    key = f"{view['id']}:{view.get('hash')}:{sorted((errors or {}).items())}"
    return {"id": view["id"], "key": key, "html": render_view(view, errors=errors)}


def state(sandbox, where: Where) -> dict:
    bridge = sandbox.bridge
    with bridge.lock:
        version = bridge.version()
        standin = sandbox.standin.snapshot()
        return {"version": version, "user": where.user, "channel": where.channel, "tab": where.tab,
                "thread": where.thread, "clock": f"{sandbox.now():%Y-%m-%d %H:%M} UTC",
                "channel_name": channel_name(where.channel, where.user),
                "channels_html": channels_html(standin, where),
                "messages_html": messages_html(standin, bridge.seen, where),
                "thread_html": thread_html(standin, where),
                "home_html": home_html(standin, where) if where.tab == HOME else "",
                "modal": modal(bridge, standin, where.user)}


def _people_options(user: str) -> str:
    return "".join(f'<option value="{p.user_id}"{" selected" if p.user_id == user else ""}>'
                   f"{escape(p.name)} — {escape(p.role)}</option>" for p in demo.PEOPLE)


def shell(sandbox, where: Where) -> str:
    s = state(sandbox, where)
    home, thread = where.tab == HOME, bool(where.thread)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>renewbot sandbox</title>
<link rel="stylesheet" href="/static/page.css">
<script src="/static/page.js" defer></script>
</head>
<body data-user="{escape(where.user)}" data-channel="{escape(where.channel)}" data-tab="{escape(where.tab)}"
      data-thread="{escape(where.thread)}" data-version="{escape(s['version'])}">
<a class="skip" href="#messages">Skip to messages</a>
<header class="topbar">
  <h1>renewbot sandbox <span class="tagline">the real bot, a stand-in Slack, nothing leaves this machine</span></h1>
  <div class="controls">
    <label for="you-are">You are</label>
    <select id="you-are">{_people_options(where.user)}</select>
    <span id="clock" aria-live="polite">Sandbox time: {escape(s['clock'])}</span>
    <button type="button" id="advance-day">Advance one day</button>
  </div>
</header>
<div class="layout">
  <nav aria-label="Channels and apps"><h2 class="nav-title">Channels</h2>
    <ul id="channels">{s['channels_html']}</ul></nav>
  <main>
    <section id="channel-view" aria-labelledby="channel-title"{" hidden" if home else ""}>
      <h2 id="channel-title">{escape(s['channel_name'])}</h2>
      <div id="messages" role="log" aria-labelledby="channel-title">{s['messages_html']}</div>
      <form id="message-box" autocomplete="off">
        <label for="message-text">Message {escape(s['channel_name'])} (try <code>/renew-token list</code>)</label>
        <div class="send"><input id="message-text" name="text" placeholder="/renew-token list">
        <button type="submit">Send</button></div>
      </form>
    </section>
    <section id="home-view" aria-labelledby="home-title"{"" if home else " hidden"}>
      <h2 id="home-title">renewbot — Home</h2>
      <div id="home">{s['home_html']}</div>
    </section>
  </main>
  <aside id="thread" aria-labelledby="thread-title"{"" if thread else " hidden"}>
    <div class="thread-head"><h2 id="thread-title">Thread</h2>
      <button type="button" id="close-thread">Close thread</button></div>
    <div id="thread-messages" role="log" aria-labelledby="thread-title">{s['thread_html']}</div>
  </aside>
</div>
<div id="modal-host" data-key="{escape(s['modal']['key'])}">{s['modal']['html']}</div>
<p id="status" role="status" aria-live="polite"></p>
</body>
</html>
"""
