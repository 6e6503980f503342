"""Retiring tokens and accounts: no notices, out of the lists, history kept; and bringing them back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from jobs.plan import plan_notices
from renewbot.runtime.cli import main
from renewbot.usecases.retire import retire
from storage import notices, queries
from storage.db import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import Account, Notice, NoticeState, Token
from tests.conftest import NOW
from tests.support.seed import account, seed, token

WORLD = dict(accounts=[account("uk"), account("de")],
             tokens=[token("mws", NOW + timedelta(days=3), accounts=["uk"], notify_days=[30, 3]),
                     token("sp", NOW + timedelta(days=100), accounts=["de"])])


@pytest.fixture
def world(engine):
    seed(engine, now=NOW, **WORLD)
    return engine


def run_retire(engine, row_id, **kw):
    with session_scope(engine) as s:
        return retire(session=s, row_id=row_id, now=NOW, **kw)


def listed(engine) -> tuple[list[str], list[str], list[str]]:
    with session_scope(engine) as s:
        return ([i for i, _ in queries.token_names(session=s)], [t.id for t in queries.list_tokens(session=s)],
                [a.id for a in queries.list_accounts(session=s)])


def states(engine) -> list[tuple[str, str]]:
    with session_scope(engine) as s:
        return [(n.stage, n.state) for n in s.exec(select(Notice).order_by(Notice.id))]


def test_a_retired_token_gets_no_notice_and_leaves_the_lists_but_stays_stored(world):
    result = run_retire(world, "mws")
    assert (result.what, result.id, result.retired, result.changed, result.withdrawn) == ("token", "mws", True, True, 0)
    assert result.summary() == "token mws retired (0 open notices withdrawn)"
    assert plan_notices(engine=world, now=NOW) == 0
    assert states(world) == []
    names, tokens, _ = listed(world)
    assert "mws" not in names and "mws" not in tokens and "sp" in names
    with session_scope(world) as s:
        assert [t.id for t in queries.list_tokens(session=s, include_retired=True)] == ["mws", "sp"]
        assert queries.find_token(session=s, ref="mws") is None
        assert s.get(Token, "mws").retired is True


def test_retiring_a_token_withdraws_its_open_notices_so_none_is_posted_later(world):
    with session_scope(world) as s:
        tok = s.get(Token, "mws")
        notices.insert_notice_if_absent(session=s, token=tok, stage="30d", now=NOW)
        s.add(Notice(token_id="mws", expires_at=tok.expires_at, stage="3d", state=NoticeState.SENT,
                     channel="C0ALERTS", ts="1.0", root_ts="1.0", created_at=NOW))
    result = run_retire(world, "mws")
    assert result.withdrawn == 2 and result.summary() == "token mws retired (2 open notices withdrawn)"
    assert states(world) == [("30d", NoticeState.SUPERSEDED), ("3d", NoticeState.SUPERSEDED)]
    with session_scope(world) as s:
        assert notices.claim_due_notices(session=s, now=NOW + timedelta(days=1), lease=timedelta(minutes=2)) == []


def test_bringing_a_token_back_returns_it_to_the_lists_and_restores_its_unposted_current_notice(world):
    assert plan_notices(engine=world, now=NOW) == 1  # "3d", pending
    run_retire(world, "mws")
    result = run_retire(world, "mws", undo=True)
    assert (result.retired, result.changed, result.restored) == (False, True, 1)
    assert result.summary() == "token mws back in service (1 notice restored)"
    assert states(world) == [("3d", NoticeState.PENDING)]
    names, tokens, _ = listed(world)
    assert "mws" in names and "mws" in tokens
    with session_scope(world) as s:
        assert queries.find_token(session=s, ref="Token mws").id == "mws"
        claimed = notices.claim_due_notices(session=s, now=NOW, lease=timedelta(minutes=2))
        assert [channel for _, channel in claimed] == ["C0ALERTS"]


def test_a_notice_already_posted_is_not_posted_again_after_bringing_the_token_back(world):
    with session_scope(world) as s:
        tok = s.get(Token, "mws")
        s.add(Notice(token_id="mws", expires_at=tok.expires_at, stage="3d", state=NoticeState.SENT,
                     channel="C0ALERTS", ts="1.0", root_ts="1.0", created_at=NOW))
    run_retire(world, "mws")
    assert run_retire(world, "mws", undo=True).restored == 0
    assert states(world) == [("3d", NoticeState.SUPERSEDED)]
    assert plan_notices(engine=world, now=NOW) == 0  # that stage was seen; the next one will come


def test_an_account_is_retired_and_brought_back(world):
    result = run_retire(world, "de", account=True)
    assert result.summary() == "account de retired"
    assert listed(world)[2] == ["uk"]
    with session_scope(world) as s:
        assert [a.id for a in queries.list_accounts(session=s, include_retired=True)] == ["de", "uk"]
    assert run_retire(world, "de", account=True, undo=True).summary() == "account de back in service"
    assert listed(world)[2] == ["de", "uk"]


def test_retiring_twice_changes_nothing_the_second_time(world):
    run_retire(world, "mws")
    again = run_retire(world, "mws")
    assert (again.changed, again.withdrawn) == (False, 0)
    assert again.summary() == "token mws was already retired (nothing changed)"
    assert run_retire(world, "sp", undo=True).summary() == "token sp was already in service (nothing changed)"


def test_an_unknown_id_is_none_and_changes_nothing(world):
    assert run_retire(world, "nope") is None
    assert run_retire(world, "mws", account=True) is None  # a token's id is not an account's
    with session_scope(world) as s:
        assert not any(t.retired for t in s.exec(select(Token))) and not any(a.retired for a in s.exec(select(Account)))


# --- the command, in-process -------------------------------------------------------------------

@pytest.fixture
def cli_engine(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()


def test_the_retire_command_end_to_end(cli_engine, capsys):
    seed(cli_engine, now=NOW, **WORLD)
    assert main(["retire", "mws"]) == 0
    assert capsys.readouterr().out == "retire: token mws retired (0 open notices withdrawn)\n"
    assert main(["retire", "de", "--account"]) == 0
    assert capsys.readouterr().out == "retire: account de retired\n"
    assert main(["retire", "mws", "--undo"]) == 0
    assert capsys.readouterr().out == "retire: token mws back in service (0 notices restored)\n"
    with session_scope(cli_engine) as s:
        assert (s.get(Token, "mws").retired, s.get(Account, "de").retired) == (False, True)


def test_the_retire_command_refuses_an_unknown_id_with_exit_2_and_one_line(cli_engine, capsys):
    seed(cli_engine, now=NOW, **WORLD)
    assert main(["retire", "amazon-eu-gone"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "retire: no token with id 'amazon-eu-gone'\n"
    assert main(["retire", "mws", "--account", "--undo"]) == 2
    assert capsys.readouterr().err == "retire: no account with id 'mws'\n"
    with session_scope(cli_engine) as s:
        assert not any(t.retired for t in s.exec(select(Token)))
