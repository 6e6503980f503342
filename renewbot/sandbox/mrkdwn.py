"""Slack's mrkdwn as safe HTML, for the sandbox page.

Slack sends text with `&`, `<` and `>` escaped as entities; a raw `<...>` is a special sequence (link, mention,
date). Those sequences, code spans and known emoji are lifted out first as placeholders, the rest is decoded
and HTML-escaped, bold/italic/strike apply on the escaped text, and the placeholders go back in: nothing from a
payload reaches the page unescaped, and only http(s) URLs become links.

`<!date^…>` renders in UTC. The "pretty" formats show the absolute date: the sandbox's clock can be moved, so a
"today" computed from the wall clock would mislead.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

# The shortcodes renewbot writes (grep ':[a-z_]*:' renewbot), and a few common ones; others stay as typed.
EMOJI = {
    "white_check_mark": "\u2705", "warning": "\u26a0\ufe0f", "rotating_light": "\U0001f6a8",
    "hourglass_flowing_sand": "\u23f3", "zzz": "\U0001f4a4", "raised_hand": "\u270b", "outbox_tray": "\U0001f4e4",
    "no_bell": "\U0001f515", "bell": "\U0001f514", "link": "\U0001f517", "large_yellow_circle": "\U0001f7e1",
    "x": "\u274c", "key": "\U0001f511", "lock": "\U0001f512", "calendar": "\U0001f4c5", "tada": "\U0001f389",
    "information_source": "\u2139\ufe0f", "heavy_check_mark": "\u2714\ufe0f",
}

_PH_OPEN, _PH_CLOSE = "\ue000", "\ue001"  # private-use characters: stripped from input, so never forged
_PLACEHOLDER = re.compile(f"{_PH_OPEN}(\\d+){_PH_CLOSE}")
_SPECIAL = re.compile(r"<([^<>\n]+)>")
_CODE = re.compile(r"`([^`\n]+)`")
_PRE = re.compile(r"```\n?(.*?)```", re.DOTALL)
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
_STYLES = [  # (marker, tag): the marker hugs the text and is not inside a word, as Slack reads it
    (re.compile(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]+?)(?<=\S){m}(?![\w{m}])"), tag)
    for m, tag in ((r"\*", "strong"), ("_", "em"), ("~", "del"))
]
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def decode(text: str) -> str:
    """Slack's three entities, as its clients show them (&amp;lt; stays "&lt;" once decoded, as in Slack)."""
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def safe_url(url: str) -> str | None:
    """The URL when it is http(s) with a host, else None (javascript:, data:, relative paths never link)."""
    url = decode(url).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def emoji(text: str) -> str:
    """Known shortcodes as Unicode; text already escaped stays escaped (the table holds no markup)."""
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _ordinal(day: int) -> str:
    return f"{day}{'th' if 11 <= day % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th')}"


def _date_tokens(at: datetime) -> dict[str, str]:
    date = f"{at:%B} {_ordinal(at.day)}, {at.year}"
    long = f"{at:%A}, {date}"
    short = f"{at:%b} {at.day}, {at.year}"
    return {"date_num": f"{at:%Y-%m-%d}", "date": date, "date_pretty": date, "date_short": short,
            "date_short_pretty": short, "date_long": long, "date_long_pretty": long,
            "time": f"{at:%H:%M} UTC", "time_secs": f"{at:%H:%M:%S} UTC"}


def render_date(body: str, fallback: str) -> str:
    """`date^TS^FORMAT[^link]` as a <time>; the fallback (escaped) when the timestamp or a token is unknown."""
    parts = body.split("^")
    try:
        at = datetime.fromtimestamp(int(parts[1]), tz=UTC)
        tokens = _date_tokens(at)
        shown = re.sub(r"\{(\w+)\}", lambda m: tokens[m.group(1)], parts[2])
    except (IndexError, ValueError, OverflowError, OSError, KeyError):
        return esc(decode(fallback or body))
    return (f'<time class="bk-date" datetime="{at.isoformat()}" title="{esc(decode(fallback))}">'
            f"{esc(decode(shown))}</time>")


def _special(inner: str) -> str:
    """One `<...>` sequence as HTML."""
    body, _, label = inner.partition("|")
    if body.startswith("@"):
        return f'<span class="bk-mention">@{esc(decode(body[1:]))}</span>'
    if body.startswith("#"):
        return f'<span class="bk-mention bk-channel">#{esc(decode(label or body[1:]))}</span>'
    if body.startswith("!subteam^"):
        return f'<span class="bk-mention">@{esc(decode(body.removeprefix("!subteam^")))}</span>'
    if body in ("!here", "!channel", "!everyone"):
        return f'<span class="bk-mention">@{body[1:]}</span>'
    if body.startswith("!date^"):
        return render_date(body, label)
    url = safe_url(body)
    if url is None:  # a label reads as text; a sequence Slack would not know shows as typed
        return esc(emoji(decode(label))) if label else esc(decode(f"<{inner}>"))
    shown = esc(emoji(decode(label or body)))
    return f'<a class="bk-link" href="{esc(url)}" target="_blank" rel="noopener noreferrer">{shown}</a>'


class _Lifted:
    """Placeholders for HTML already made safe, put back once the surrounding text is escaped and styled."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def keep(self, html_part: str) -> str:
        self.parts.append(html_part)
        return f"{_PH_OPEN}{len(self.parts) - 1}{_PH_CLOSE}"

    def restore(self, text: str) -> str:
        while _PLACEHOLDER.search(text):  # a code span's HTML holds placeholders of its own
            text = _PLACEHOLDER.sub(lambda m: self.parts[int(m.group(1))], text)
        return text


def _plain_part(text: str) -> str:
    """Text between placeholders: decoded, escaped; the placeholders themselves pass through."""
    return "".join(esc(decode(piece)) if not _PLACEHOLDER.fullmatch(piece) else piece
                   for piece in re.split(f"({_PH_OPEN}\\d+{_PH_CLOSE})", text))


def _lines(text: str) -> str:
    """Consecutive "> " lines become one blockquote; the other lines are joined with <br>."""
    out: list[str] = []
    quote: list[str] = []
    for line in text.split("\n"):
        if line.startswith("&gt;"):
            quote.append(line[4:].removeprefix(" "))
            continue
        if quote:
            out.append(f'<blockquote class="bk-quote">{"<br>".join(quote)}</blockquote>')
            quote = []
        out.append(line + "<br>")
    if quote:
        out.append(f'<blockquote class="bk-quote">{"<br>".join(quote)}</blockquote>')
    return "".join(out).removesuffix("<br>")


def render_mrkdwn(text: str) -> str:
    """Slack mrkdwn -> HTML safe to put inside a <div>."""
    text = str(text or "").replace(_PH_OPEN, "").replace(_PH_CLOSE, "")
    lifted = _Lifted()
    text = _SPECIAL.sub(lambda m: lifted.keep(_special(m.group(1))), text)
    text = _PRE.sub(lambda m: lifted.keep(f'<pre class="bk-pre">{_plain_part(m.group(1))}</pre>'), text)
    text = _CODE.sub(lambda m: lifted.keep(f'<code class="bk-code">{_plain_part(m.group(1))}</code>'), text)
    text = _EMOJI.sub(lambda m: lifted.keep(EMOJI[m.group(1)]) if m.group(1) in EMOJI else m.group(0), text)
    text = _plain_part(text)
    for pattern, tag in _STYLES:
        text = pattern.sub(lambda m, tag=tag: f"<{tag}>{m.group(1)}</{tag}>", text)
    return lifted.restore(_lines(text))


def render_plain(text: str, *, with_emoji: bool = True, breaks: bool = True) -> str:
    """plain_text: escaped, shortcodes as Unicode when the object says `emoji` (Slack's default), newlines kept."""
    shown = esc(str(text or ""))
    if with_emoji:
        shown = emoji(shown)
    return shown.replace("\n", "<br>") if breaks else shown
