"""What a poll costs the database: one query, run on indexes (on SQLite and PostgreSQL, as
the suite runs on both). `python -m bench.scale` shows the same plans at 100,000
subscribers."""

import threading
import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, make_url
from sqlalchemy.pool import QueuePool

from app.core.config import Settings
from app.core.db import engine as db
from app.core.db.hot import HotQuery
from app.feeds.access import Gate
from tests.conftest import feed_path, subscribe, upload


@pytest.fixture
def polled(admin: TestClient, show: dict[str, Any]) -> tuple[str, str]:
    """A subscriber's feed path, already rendered once, and its newest episode's audio."""
    assert upload(admin, "sharp-tech", title="One", publish=True).status_code == 201
    episode = upload(admin, "sharp-tech", title="Two", publish=True).json()
    path = feed_path(subscribe(admin, "fan@example.com", "sharp-tech"), "sharp-tech")
    assert admin.get(path).status_code == 200  # the first render reads the episodes
    return path, path.removesuffix("feed.xml") + f"{episode['id']}.mp3"


def test_a_poll_and_an_enclosure_each_cost_one_query(
    admin: TestClient, polled: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    feed, audio = polled
    engine = admin.app.state.db.engine  # type: ignore[attr-defined]
    hot: list[str] = []
    other: list[str] = []
    one_or_none = HotQuery.one_or_none

    def counted(query: HotQuery[Any], **params: object) -> Any:
        hot.append(query.sql)
        return one_or_none(query, **params)

    def select(*args: Any) -> None:
        if threading.current_thread().name != "podpass-recorder":  # it writes when it will
            other.append(args[2])

    monkeypatch.setattr(HotQuery, "one_or_none", counted)
    event.listen(engine, "before_cursor_execute", select)
    try:
        for path, headers in [(feed, {}), (audio, {"Range": "bytes=0-1"})]:
            hot.clear()
            response = admin.get(path, headers=headers)
            assert response.status_code in (200, 206)
            assert (len(hot), other) == (1, [])
    finally:
        event.remove(engine, "before_cursor_execute", select)
    # On PostgreSQL the poll's query runs in autocommit: every pooled connection is back
    # out of it (the ORM's sessions need their transactions).
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    held = [engine.raw_connection() for _ in range(pool.checkedin())]
    try:
        autocommit = [getattr(c.driver_connection, "autocommit", False) for c in held]
        assert held
        assert not any(autocommit)
    finally:
        for connection in held:
            connection.close()


def _full_scans(plan: list[str], dialect: str) -> list[str]:
    if dialect == "sqlite":  # "SEARCH t USING INDEX ..." reads by key; "SCAN t" reads all
        return [step for step in plan if step.startswith("SCAN")]
    return [step for step in plan if "Seq Scan" in step]


def test_the_polls_query_runs_on_indexes(admin: TestClient, polled: tuple[str, str]) -> None:
    gate: Gate = admin.app.state.stages.gate  # type: ignore[attr-defined]
    dialect = gate.by_token.engine.dialect.name
    params: dict[str, object] = {"token_id": "0" * 32}
    queries: list[tuple[HotQuery[Any], dict[str, object]]] = [
        (gate.by_token, params),
        (gate.by_token_with_episode, params | {"episode_id": 1}),
    ]
    for query, values in queries:
        plan = query.plan(as_if_large=True, **values)
        assert plan, "no plan"
        assert _full_scans(plan, dialect) == [], plan


def _drop_connections(database_url: str) -> None:
    """What a restart of PostgreSQL does to the app's pooled connections: the server ends
    them. Returns once those backends are gone."""
    conninfo = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(conninfo.render_as_string(hide_password=False), autocommit=True) as pg:
        ended = [
            pid
            for pid, done in pg.execute(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if done
        ]
        for _ in range(500):  # each backend exits in its own time
            left = pg.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [ended]
            ).fetchone()
            if left == (0,):
                return
            time.sleep(0.01)
    raise AssertionError("PostgreSQL's backends outlived pg_terminate_backend")


def test_polls_outlive_connections_the_server_dropped(
    admin: TestClient, polled: tuple[str, str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping before each poll (a round trip), yet nothing fails after a restart."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pooled connections")
    feed, audio = polled
    recorder = admin.app.state.recorder  # type: ignore[attr-defined]
    retried: list[bool] = []
    fetch = HotQuery._fetch

    def counted(query: HotQuery[Any], args: Any, *, again: bool = False) -> Any:
        retried.append(again)
        return fetch(query, args, again=again)

    monkeypatch.setattr(HotQuery, "_fetch", counted)
    # Connections used a moment ago are not pinged (here: none is): the poll's query finds
    # its connection dropped, and runs again on a new one.
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 1e9)
    for path, headers, status in [(feed, {}, 200), (audio, {"Range": "bytes=0-1"}, 206)]:
        _drop_connections(settings.database_url)
        retried.clear()
        assert admin.get(path, headers=headers).status_code == status
        assert retried == [False, True]
    # The recorder's batch, likewise: written on a new connection, not lost.
    _drop_connections(settings.database_url)
    recorder.flush()
    assert recorder.failed == 0
    # Connections idle for a while are pinged as they are checked out, and replaced: the
    # sessions' requests do not see the restart either.
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    _drop_connections(settings.database_url)
    assert admin.get("/admin/shows").status_code == 200
