"""storage/search.py on SQLite and PostgreSQL: what each phase finds, in which order, and literal wildcards."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from storage import search
from storage.db import session_scope
from tests.conftest import NOW
from tests.support.seed import account, seed, token


def names(rows) -> list[str]:
    return [r.id for r in rows]


def seed_tokens(engine):
    seed(engine, now=NOW, tokens=[
        token("b-two", NOW + timedelta(days=9), name="beta Two"),
        token("a-one", NOW + timedelta(days=9), name="Alpha one", owners=["U0A", "S0B"], channel="C0X"),
        token("alp-id", NOW + timedelta(days=9), name="Zulu"),  # matches "alp" by its id only
        token("c-pct", NOW + timedelta(days=9), name="100% cotton_x"),
        token("c-nopct", NOW + timedelta(days=9), name="1000 cottonXx"),
        token("ret", NOW + timedelta(days=9), name="Alpha retired", retired=True),
        token("mid", NOW + timedelta(days=9), name="The ALPHA inside"),
    ])


def test_empty_query_lists_tokens_in_name_order_ignoring_case(engine):
    seed_tokens(engine)
    with session_scope(engine) as s:
        assert names(search.search_tokens(session=s, query="", limit=10)) == [
            "c-pct", "c-nopct", "a-one", "b-two", "mid", "alp-id"]
        assert names(search.search_tokens(session=s, query="  ", limit=2)) == ["c-pct", "c-nopct"]


def test_name_prefix_then_id_prefix_then_anywhere(engine):
    seed_tokens(engine)
    with session_scope(engine) as s:
        assert names(search.search_tokens(session=s, query="ALP", limit=10)) == ["a-one", "alp-id", "mid"]
        assert names(search.search_tokens(session=s, query="alp", limit=1)) == ["a-one"]
        row = search.search_tokens(session=s, query="alpha  ONE", limit=10)[0]
        assert row == search.TokenRow("a-one", "Alpha one", ("U0A", "S0B"), "C0X")
        assert search.search_tokens(session=s, query="zzz", limit=10) == []


def test_wildcards_are_literal(engine):
    seed_tokens(engine)
    with session_scope(engine) as s:
        assert names(search.search_tokens(session=s, query="100%", limit=10)) == ["c-pct"]
        assert names(search.search_tokens(session=s, query="%", limit=10)) == ["c-pct"]
        assert names(search.search_tokens(session=s, query="cotton_", limit=10)) == ["c-pct"]
        assert names(search.search_tokens(session=s, query="_", limit=10)) == ["c-pct"]
        assert search.search_tokens(session=s, query="/", limit=10) == []  # SQLAlchemy's escape character


def test_long_typed_text_is_cut_and_the_highest_character_does_not_break_the_range(engine):
    seed_tokens(engine)
    with session_scope(engine) as s:
        assert search.search_tokens(session=s, query="a" * 5000, limit=10) == []
        assert search.search_tokens(session=s, query="alpha\U0010ffff", limit=10) == []


def test_the_name_prefix_is_answered_from_the_index(engine):
    seed_tokens(engine)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = conn.execute(text(
                "EXPLAIN QUERY PLAN SELECT id FROM token WHERE lower(token.name) >= 'alp' "
                "AND lower(token.name) < 'alq' ORDER BY lower(token.name) LIMIT 5")).all()
            assert "ix_token_lower_name" in " ".join(str(r) for r in plan)
        else:
            conn.execute(text("SET enable_seqscan = off"))
            plan = conn.execute(text(
                "EXPLAIN SELECT id FROM token WHERE lower(token.name) >= 'alp' "
                "AND lower(token.name) < 'alq' ORDER BY lower(token.name) LIMIT 5")).all()
            assert "ix_token_lower_name" in " ".join(str(r) for r in plan)


def seed_accounts(engine):
    seed(engine, now=NOW,
         accounts=[account("amz-uk", name="Amazon UK"), account("amz-de", name="Amazon DE", fetch_orders=False),
                   account("ebay-1", name="eBay one"), account("old", name="Amazon old", retired=True)],
         tokens=[token("t", NOW + timedelta(days=9), accounts=["amz-uk", "ebay-1", "amz-de"]),
                 token("u", NOW + timedelta(days=9), accounts=["old"])])


def test_accounts_of_one_token_in_its_order(engine):
    seed_accounts(engine)
    with session_scope(engine) as s:
        assert names(search.search_accounts(session=s, query="", limit=10, token_id="t")) == [
            "amz-uk", "ebay-1", "amz-de"]
        assert names(search.search_accounts(session=s, query="amazon", limit=10, token_id="t")) == [
            "amz-uk", "amz-de"]
        assert names(search.search_accounts(session=s, query="amz-d", limit=10, token_id="t")) == ["amz-de"]
        assert search.search_accounts(session=s, query="old", limit=10, token_id="t") == []
        assert search.no_fetch_ids(session=s, token_id="t") == {"amz-de"}


def test_every_account_in_service_by_name(engine):
    seed_accounts(engine)
    with session_scope(engine) as s:
        assert names(search.search_accounts(session=s, query="", limit=10)) == ["amz-de", "amz-uk", "ebay-1"]
        assert names(search.search_accounts(session=s, query="AMAZON", limit=1)) == ["amz-de"]
        assert names(search.search_accounts(session=s, query="bay", limit=10)) == ["ebay-1"]
