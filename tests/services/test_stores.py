"""Redis and PostgreSQL, natively from Debian's packages."""

from __future__ import annotations

import psycopg2
import pytest
import redis

pytestmark = [pytest.mark.services("redis", "postgres"), pytest.mark.timeout(120)]


def test_redis_set_get(stack: dict[str, str]) -> None:
    r = redis.Redis.from_url(stack["REDIS_URL"])
    r.set("m001:greeting", "hello")
    assert r.get("m001:greeting") == b"hello"
    from autograder.services import commands

    assert commands.reset("redis", "m001")["REDIS_KEY_PREFIX"] == "m001:"
    assert r.get("m001:greeting") is None


def test_postgres_query(stack: dict[str, str]) -> None:
    with psycopg2.connect(stack["POSTGRES_DSN"]) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS features (id int primary key, value double precision)")
        cur.execute("INSERT INTO features VALUES (1, 0.5), (2, 1.5) ON CONFLICT DO NOTHING")
        cur.execute("SELECT sum(value), current_setting('listen_addresses') FROM features")
        total, listen = cur.fetchone()
    assert total == 2.0
    assert listen == "127.0.0.1"


def test_postgres_per_lab_database(stack: dict[str, str]) -> None:
    from autograder.services import commands

    env = commands.reset("postgres", "m042")
    with psycopg2.connect(env["POSTGRES_DSN"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        assert cur.fetchone()[0] == "lab_m042"
