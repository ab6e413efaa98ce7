"""The same thing created at the same moment by parallel requests (real threads, each
request on the app's own worker threads): one wins, the others get a clean answer (never
a 500), on SQLite and PostgreSQL alike."""

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from app.core.tokens import sign
from tests.conftest import WEBHOOK_SECRET

PARALLEL = 20


@pytest.fixture
def plans(admin: TestClient, show: dict[str, Any]) -> None:
    plan = admin.put("/admin/plans/tech", json={"name": "T", "shows": ["sharp-tech"]})
    assert plan.status_code == 200, plan.text


def all_at_once(count: int, request: Callable[[int], httpx.Response]) -> list[Any]:
    """`count` requests released together from as many threads."""
    start = threading.Barrier(count)

    def one(i: int) -> tuple[int, Any]:
        start.wait()
        response = request(i)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def deliver(client: TestClient, payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "Podpass-Signature": sign(WEBHOOK_SECRET, int(time.time()), body),
        "Content-Type": "application/json",
    }
    return client.post("/webhooks/billing", content=body, headers=headers)


def created(event_id: str, at: int) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "subscription.created",
        "created": at,
        "data": {"customer_id": "cus_race", "email": "race@example.com", "plan": "tech"},
    }


def subscribers(admin: TestClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = admin.get("/admin/subscribers").json()
    return found


@pytest.mark.usefixtures("plans")
def test_parallel_deliveries_of_one_event_apply_it_once(admin: TestClient) -> None:
    results = all_at_once(PARALLEL, lambda _: deliver(admin, created("e", 100)))
    assert {status for status, _ in results} == {200}, results
    outcomes = sorted(body["status"] for _, body in results)
    assert outcomes == ["applied"] + ["duplicate"] * (PARALLEL - 1)
    assert len(subscribers(admin)) == 1


@pytest.mark.usefixtures("plans")
def test_parallel_created_events_for_one_new_customer_all_succeed(admin: TestClient) -> None:
    results = all_at_once(10, lambda i: deliver(admin, created(f"e{i}", 100 + i)))
    assert {status for status, _ in results} == {200}, results
    (subscriber,) = subscribers(admin)
    assert {body["subscriber_id"] for _, body in results} == {subscriber["id"]}
    assert [f["entitled"] for f in subscriber["feeds"]] == [True]
    # Every one was recorded: a redelivery changes nothing.
    again = [deliver(admin, created(f"e{i}", 100 + i)).json() for i in range(10)]
    assert {body["status"] for body in again} == {"duplicate"}


@pytest.mark.usefixtures("show")
def test_parallel_creation_of_one_subscriber_is_one_201_and_409s(admin: TestClient) -> None:
    results = all_at_once(
        PARALLEL,
        lambda _: admin.post(
            "/admin/subscribers", json={"email": "twin@example.com", "shows": ["sharp-tech"]}
        ),
    )
    assert sorted(status for status, _ in results) == [201] + [409] * (PARALLEL - 1), results
    assert len(subscribers(admin)) == 1
