"""The streamed, set-wise importer gives what the whole-tree, row-by-row one gave, for every shape of file.

The reference below is the earlier reader: PyYAML's pure-Python safe loader over the whole
document, lines from its node tree, then check_inventory. The streamed reader must agree
with it on the data, the entry lines and every problem message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from renewbot.domain.inventory import SECTIONS, check_inventory
from renewbot.errors import ImportFileError
from renewbot.usecases import inventory_file
from renewbot.usecases.importing import check_file, import_file
from storage.db import session_scope
from storage.models import Account, Notice, NoticeState, Token, TokenAccount
from tests.conftest import NOW


class _Reference(yaml.SafeLoader):
    """The earlier reader: pure-Python PyYAML, whole document (with the importer's rule for impossible dates)."""


_Reference.add_constructor("tag:yaml.org,2002:timestamp", inventory_file._timestamp)


def reference(text: str, known_accounts=frozenset(), known_kinds=frozenset()):
    loader = _Reference(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines = {}
    for section in SECTIONS:
        lines[section] = []
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if getattr(key, "value", None) == section and isinstance(value, yaml.SequenceNode):
                    lines[section] = [item.start_mark.line + 1 for item in value.value]
                    break
    return check_inventory(data, lines, known_accounts=set(known_accounts), known_kinds=set(known_kinds))


def streamed(engine, path: Path):
    with session_scope(engine, commit=False) as s:
        try:
            return check_file(path, session=s), []
        except ImportFileError as exc:
            return None, exc.problems


TOKEN = "{{id: {id}, kind: generic, name: N {id}, channel: C0AB, expires_at: 2027-01-01{extra}}}"

SHAPES = {
    "block": ("accounts:\n- id: a1\n  name: A1\ntokens:\n- id: t1\n  kind: generic\n  name: T\n  channel: C0AB\n"
              "  expires_at: 2027-01-01\n  accounts: [a1]\n  notify_days: [7, 30, 7]\n- id: t2\n  kind: generic\n"
              "  name: T2\n  channel: C0AB\n  expires_at: '2027-01-20T09:30:00+02:00'\n"),
    "flow": "{accounts: [{id: a1, name: A1}], tokens: [" + TOKEN.format(id="t1", extra=", accounts: [a1]") + "]}\n",
    "tokens before accounts": ("tokens:\n  - " + TOKEN.format(id="t1", extra=", accounts: [a1, a2]") + "\n"
                               "accounts:\n  - {id: a1, name: A1}\n"),
    "tokens before kinds": ("tokens:\n  - " + TOKEN.format(id="t1", extra="").replace("generic", "mine") + "\n"
                            "  - " + TOKEN.format(id="t2", extra="").replace("generic", "nope") + "\n"
                            "kinds:\n  - {id: mine, label: Mine, steps: [do it]}\n"),
    "anchors and aliases": ("accounts:\n- &acc {id: a1, name: A1}\ntokens:\n- &tok " + TOKEN.format(id="t1", extra="")
                            + "\n- *tok\n- {<<: *tok, id: t3}\n- " + TOKEN.format(id="t4", extra=", owners: &o [U0AB]")
                            + "\n- " + TOKEN.format(id="t5", extra=", owners: *o") + "\n"),
    "tagged values": ("tokens:\n- {id: !!str t1, kind: generic, name: !!str 12, channel: C0AB, "
                      "expires_at: !!timestamp 2027-01-01, app_id: !!str 532089569783}\n- !!map " +
                      TOKEN.format(id="t2", extra="") + "\n"),
    "tagged section": "tokens: !!seq\n- " + TOKEN.format(id="t1", extra="") + "\n- just text\n",
    "anchored section": "tokens: &all\n- " + TOKEN.format(id="t1", extra="") + "\n",
    "section repeated": ("tokens:\n- " + TOKEN.format(id="t1", extra="") + "\ntokens:\n\n\n- "
                         + TOKEN.format(id="t2", extra=", colour: red") + "\n"),
    "merge at the top": "base: &b {tokens: []}\n<<: *b\naccounts: [{id: a1, name: A1}]\n",
    "quoted section key": "'tokens':\n- " + TOKEN.format(id="t1", extra=", colour: red") + "\n",
    "unknown sections": "zebra: 1\n1: x\ntokens: 3\naccounts: []\nkinds: {a: b}\n",
    "empty sections": "tokens:\naccounts: []\nkinds: ''\n",
    "not a mapping": "- " + TOKEN.format(id="t1", extra="") + "\n",
    "a scalar": "hello\n",
    "empty": "",
    "two documents": "tokens: []\n---\ntokens: []\n",
    "bad date then bad syntax": ("tokens:\n- " + TOKEN.format(id="t1", extra="").replace("2027-01-01", "2027-02-30")
                                 + "\n- {id: t2, name: [unclosed\n"),
    "bad date": "tokens:\n- " + TOKEN.format(id="t1", extra="").replace("2027-01-01", "2027-02-30") + "\n",
    "unknown alias": "tokens:\n- *nothing\n",
    "deep": "tokens:\n- " + "[" * 40 + "]" * 40 + "\n",
    "many problems": ("kinds:\n- {id: generic, label: G, steps: [x]}\naccounts:\n- {id: a1, name: A1, enabled: 3}\n"
                      "tokens:\n- {id: t1}\n- 7\n- " + TOKEN.format(id="t1", extra=", accounts: [zz, zz]") + "\n"
                      "- {id: 't\\n', kind: [x], expires_at: nonsense, notify_days: [0]}\n"),
    "complex keys": "tokens:\n- {[a, b]: c}\n- {? {x: 1} : y}\n",
    "null and bool values": "tokens:\n- {id: t1, kind: ~, name: yes, channel: null, expires_at: 2027-01-01}\n",
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_streamed_reading_agrees_with_the_whole_tree_reader(sqlite_engine, tmp_path, shape):
    text = SHAPES[shape]
    path = tmp_path / "shape.yml"
    path.write_text(text, encoding="utf-8")
    inventory, problems = streamed(sqlite_engine, path)
    try:
        expected, expected_problems = reference(text)
    except yaml.YAMLError:
        # Syntax errors: libyaml words them its own way; a line and "not valid YAML" are what is promised.
        assert problems and len(problems) == 1 and "not valid YAML" in problems[0], problems
        return
    except RecursionError:
        assert problems == ["the YAML is nested too deeply to be an import file"]
        return
    assert problems == expected_problems
    if not expected_problems:
        assert inventory == expected


def test_a_constructor_error_is_reported_with_its_line(sqlite_engine, tmp_path):
    path = tmp_path / "shape.yml"
    path.write_text(SHAPES["bad date"], encoding="utf-8")
    _, problems = streamed(sqlite_engine, path)
    assert problems == ["line 2: not valid YAML ('2027-02-30' is not a real date)"]


def test_a_later_syntax_error_wins_over_an_earlier_bad_date_as_before(sqlite_engine, tmp_path):
    path = tmp_path / "shape.yml"
    path.write_text(SHAPES["bad date then bad syntax"], encoding="utf-8")
    _, problems = streamed(sqlite_engine, path)
    assert len(problems) == 1 and "not valid YAML" in problems[0] and "is not a real date" not in problems[0]


def test_lines_stay_exact_across_a_large_file(sqlite_engine, tmp_path):
    items = [f"- id: t{i}\n  kind: generic\n  name: T{i}\n  channel: C0AB\n  expires_at: 2027-01-01\n"
             + ("  # a comment\n\n" if i % 7 == 0 else "") for i in range(12_000)]
    items[11_000] = items[11_000].replace("channel: C0AB", "channel: nope")
    items[3] = items[3].replace("kind: generic", "kind: generic\n  colour: red")
    text = "tokens:\n" + "".join(items)
    path = tmp_path / "big.yml"
    path.write_text(text, encoding="utf-8")
    _, problems = streamed(sqlite_engine, path)
    assert problems == reference(text)[1]
    assert len(problems) == 2 and "tokens[11000] (id 't11000', line " in problems[1]


# --- writes in bulk: more tokens than one batch, every rule at once -------------------------------------

def _file(n: int, *, later: set[int] = frozenset(), earlier: set[int] = frozenset(), renamed=frozenset(),
          relinked=frozenset(), retired=frozenset()) -> str:
    out = ["accounts:\n"] + [f"- {{id: a{a}, name: A{a}}}\n" for a in range(5)] + ["tokens:\n"]
    for i in range(n):
        expires = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=i % 300)
        expires += timedelta(days=90) if i in later else timedelta(days=-30) if i in earlier else timedelta()
        accounts = [f"a{(i + 1) % 5}", f"a{i % 5}"] if i in relinked else [f"a{i % 5}", f"a{(i + 1) % 5}"][:i % 3]
        out.append(f"- {{id: t{i}, kind: generic, name: 'T{i}{' renamed' if i in renamed else ''}', channel: C0AB, "
                   f"expires_at: {expires:%Y-%m-%d}, accounts: [{', '.join(accounts)}]"
                   f"{', retired: true' if i in retired else ''}}}\n")
    return "".join(out)


def test_bulk_writes_keep_every_rule(engine, tmp_path):
    n = 12_345  # three batches
    path = tmp_path / "one.yml"
    path.write_text(_file(n), encoding="utf-8")
    with session_scope(engine) as s:
        report = import_file(path, session=s, now=NOW)
    assert len(report.created) == n + 5 and report.changes.count("token t7: created") == 1
    with session_scope(engine) as s:
        for i in (1, 5000, 5001, 12_344):
            s.add(Notice(token_id=f"t{i}", expires_at=s.get(Token, f"t{i}").expires_at, stage="7d",
                         state=NoticeState.SENT, channel="C0AB", ts="1.0", root_ts="1.0", created_at=NOW))
    later, earlier, renamed, relinked, retired = {1, 5001}, {2, 9000}, {3}, {4, 5002}, {5000, 12_344}
    path.write_text(_file(n, later=later, earlier=earlier, renamed=renamed, relinked=relinked, retired=retired),
                    encoding="utf-8")
    with session_scope(engine) as s:
        report = import_file(path, session=s, now=NOW + timedelta(hours=1))
    assert sorted(report.updated) == sorted(f"token t{i}" for i in later | renamed | relinked | retired)
    assert len(report.unchanged) == n + 5 - len(report.updated)
    assert sum("kept the stored date" in line for line in report.changes) == len(earlier)
    assert "token t3: name 'T3' -> 'T3 renamed'" in report.changes
    assert "token t4: accounts ['a4'] -> ['a0', 'a4']" in report.changes
    with session_scope(engine) as s:
        versions = {t.id: t.version for t in s.exec(select(Token).where(Token.version != 1)).all()}
        assert versions == {"t1": 2, "t5001": 2}
        assert s.get(Token, "t2").expires_at == datetime(2027, 1, 3, tzinfo=UTC)  # the later stored date stands
        states = dict(s.exec(select(Notice.token_id, Notice.state)).all())
        assert states == {"t1": NoticeState.SUPERSEDED, "t5001": NoticeState.SUPERSEDED,
                          "t5000": NoticeState.SUPERSEDED, "t12344": NoticeState.SUPERSEDED}
        links = s.exec(select(TokenAccount.account_id).where(TokenAccount.token_id == "t5002")
                       .order_by(TokenAccount.position)).all()
        assert links == ["a3", "a2"]
        assert s.get(Account, "a1").name == "A1"
    with session_scope(engine) as s:
        again = import_file(path, session=s, now=NOW + timedelta(hours=2))
    assert not again.created and not again.updated
