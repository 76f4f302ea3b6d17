"""db.words: the values of a ``one_of_words`` parameter (the clips' hash probe). The
probe itself is exercised by every duplicate test on both backends
(tests/api/test_submissions.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import column

from rewards_engine.db import one_of_words, words


def test_postgresql_takes_one_text_that_the_server_splits() -> None:
    assert words("postgresql", ["ab", "cd"]) == "ab,cd"
    assert words("postgresql", []) == ""
    clause = one_of_words("postgresql", column("video_sha256"), "hashes")
    sql = str(clause.compile(dialect=postgresql.dialect()))
    assert "string_to_array(%(hashes)s" in sql and "ANY" in sql


def test_a_value_with_a_comma_is_refused_rather_than_split() -> None:
    with pytest.raises(ValueError, match="without commas"):
        words("postgresql", ["ab", "c,d"])


def test_sqlite_takes_the_list_as_an_expanding_in() -> None:
    assert words("sqlite", iter(["ab", "c,d"])) == ["ab", "c,d"]
    clause = one_of_words("sqlite", column("video_sha256"), "hashes")
    assert "IN (__[POSTCOMPILE_hashes])" in str(clause.compile(dialect=sqlite.dialect()))
