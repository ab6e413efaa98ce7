"""Outbound webhooks: a real HTTP receiver (tests/servers.py) that checks each delivery's
signature the way Podpass checks billing events, deliveries retried through the outbox,
and the tries and answers the admin API shows."""

import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.core.tokens import SignatureRejected, verify
from app.jobs import email_composers
from app.main import create_app
from app.models import AlertStatus, SharingAlert
from app.outbox import webhooks
from app.outbox.sender import Sender
from tests.conftest import Clock, create_show, subscribe, upload
from tests.servers import WebhookReceiver

BACKOFF = 60.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "outbox_in_app": False,  # the tests send, at the times they choose
            "outbox_backoff_seconds": BACKOFF,
            "outbox_max_tries": 5,
            "webhook_timeout_seconds": 5,
            "webhook_allow_private": True,  # the receivers listen on 127.0.0.1
        }
    )


@pytest.fixture
def db(client: TestClient) -> Database:
    database: Database = client.app.state.db  # type: ignore[attr-defined]
    return database


def new_sender(client: TestClient, settings: Settings, clock: Clock) -> Sender:
    """No SMTP host: emails wait."""
    links = client.app.state.page_links  # type: ignore[attr-defined]
    database = client.app.state.db  # type: ignore[attr-defined]
    return Sender.from_settings(
        database, settings, clock, composers=email_composers(settings, links)
    )


@pytest.fixture
def sender(client: TestClient, settings: Settings, clock: Clock) -> Sender:
    return new_sender(client, settings, clock)


def register(admin: TestClient, url: str, *events: str) -> dict[str, Any]:
    response = admin.post("/admin/webhook-endpoints", json={"url": url, "events": list(events)})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def deliveries(admin: TestClient, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    response = admin.get(f"/admin/webhook-endpoints/{endpoint['id']}/deliveries")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


class Verifying:
    """A receiver's handler, given the endpoint's secret once it is registered: refuses a
    bad signature (400), fails the first `fail_first` good deliveries (503), then takes
    them (200)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.secret = ""
        self.fail_first = fail_first
        self.good = 0

    def __call__(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        try:
            signature = headers.get("podpass-signature")
            verify(self.secret, signature, body, now=time.time(), tolerance=300)
        except SignatureRejected as exc:
            return 400, exc.detail.encode()
        self.good += 1
        if self.good <= self.fail_first:
            return 503, b"busy deploying, try later"
        return 200, b'{"ok":true}'


def test_a_receiver_that_fails_twice_gets_one_signed_delivery(
    admin: TestClient, sender: Sender, clock: Clock
) -> None:
    create_show(admin)
    handler = Verifying(fail_first=2)
    with WebhookReceiver(handler) as receiver:
        endpoint = register(admin, receiver.url, "subscriber.created")
        handler.secret = endpoint["secret"]
        assert handler.secret.startswith("whsec_")
        subscriber = subscribe(admin, "listener@example.com", "sharp-tech")
        assert receiver.received == []  # never sent from inside the request

        now = clock()
        for _ in range(3):
            assert sender.send_due(now).claimed == 1
            (delivery,) = deliveries(admin, endpoint)
            now = max(now, datetime.fromisoformat(delivery["next_attempt_at"]))
        assert sender.send_due(now + timedelta(days=1)).claimed == 0  # nothing left

    assert [r.answered for r in receiver.received] == [503, 503, 200]
    assert len({r.headers["podpass-delivery"] for r in receiver.received}) == 1
    assert {r.headers["podpass-event"] for r in receiver.received} == {"subscriber.created"}
    body = json.loads(receiver.received[-1].body)
    assert body["type"] == "subscriber.created"
    assert body["id"].startswith("evt_")
    assert body["data"]["subscriber"] == {
        "id": subscriber["id"],
        "email": "listener@example.com",
        "external_id": None,
        "status": "active",
        "shows": ["sharp-tech"],
        "created_at": body["data"]["subscriber"]["created_at"],
    }
    # No feed URL or token goes to a third party.
    token = subscriber["feeds"][0]["feed_url"].split("/p/", 1)[1].split("/", 1)[0]
    for received in receiver.received:
        assert token not in received.body.decode()
        assert b"/p/" not in received.body

    (delivery,) = deliveries(admin, endpoint)
    assert delivery["status"] == "sent"
    assert delivery["delivery_id"] == receiver.received[0].headers["podpass-delivery"]
    assert [(a["attempt"], a["status_code"]) for a in delivery["attempts"]] == [
        (1, 503),
        (2, 503),
        (3, 200),
    ]
    assert delivery["attempts"][0]["response_excerpt"] == "busy deploying, try later"
    assert delivery["attempts"][2]["response_excerpt"] == '{"ok":true}'
    # The secret was shown once, at registration.
    assert "secret" not in admin.get(f"/admin/webhook-endpoints/{endpoint['id']}").json()


def bodies(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [json.loads(received.body) for received in receiver.received]


def test_each_endpoint_hears_the_events_it_listens_for(
    admin: TestClient, sender: Sender, clock: Clock
) -> None:
    create_show(admin)
    statuses, episodes = Verifying(), Verifying()
    with WebhookReceiver(statuses) as crm, WebhookReceiver(episodes) as slack:
        statuses.secret = register(
            admin,
            crm.url,
            "subscriber.lapsed",
            "subscriber.renewed",
            "subscriber.revoked",
        )["secret"]
        episodes.secret = register(admin, slack.url, "episode.published")["secret"]
        subscriber = subscribe(admin, "listener@example.com", "sharp-tech")
        base = f"/admin/subscribers/{subscriber['id']}"
        admin.post(f"{base}/lapse")
        admin.post(f"{base}/lapse")  # no change, no event
        admin.post(f"{base}/reinstate")
        admin.post(f"{base}/revoke")
        episode = upload(admin, "sharp-tech", title="Episode 1", publish=True).json()
        admin.post(f"/admin/episodes/{episode['id']}/publish")  # announced once only
        assert sender.send_due(clock()).sent == 4

    assert [body["type"] for body in bodies(crm)] == [
        "subscriber.lapsed",
        "subscriber.renewed",
        "subscriber.revoked",
    ]
    # Each body describes the subscriber as they are when it goes out.
    assert {body["data"]["subscriber"]["status"] for body in bodies(crm)} == {"revoked"}
    ((published),) = [body["data"]["episode"] for body in bodies(slack)]
    assert published["id"] == episode["id"]
    assert published["title"] == "Episode 1"
    assert published["show"] == "sharp-tech"
    assert "url" not in json.dumps(published).lower()
    assert {r.answered for r in crm.received + slack.received} == {200}


def test_a_scheduled_episode_is_announced_when_it_comes_out(
    admin: TestClient, sender: Sender, clock: Clock
) -> None:
    create_show(admin)
    handler = Verifying()
    with WebhookReceiver(handler) as receiver:
        handler.secret = register(admin, receiver.url, "episode.published")["secret"]
        out_at = clock() + timedelta(hours=3)
        upload(admin, "sharp-tech", title="Later", published_at=out_at.isoformat())
        assert sender.send_due(clock()).claimed == 0
        assert sender.send_due(out_at - timedelta(seconds=1)).claimed == 0
        assert sender.send_due(out_at).sent == 1
    ((body),) = bodies(receiver)
    assert body["data"]["episode"]["title"] == "Later"


def test_a_rotated_secret_signs_every_delivery_from_then_on(
    admin: TestClient, sender: Sender, clock: Clock
) -> None:
    create_show(admin)
    handler = Verifying()
    with WebhookReceiver(handler) as receiver:
        endpoint = register(admin, receiver.url, "subscriber.created")
        handler.secret = endpoint["secret"]
        subscribe(admin, "one@example.com", "sharp-tech")
        assert sender.send_due(clock()).sent == 1
        subscribe(admin, "two@example.com", "sharp-tech")  # waiting while the secret turns
        rotated = admin.post(f"/admin/webhook-endpoints/{endpoint['id']}/rotate-secret")
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["secret"] not in (endpoint["secret"], "")
        assert rotated.json()["rotated_at"] is not None
        assert sender.send_due(clock()).retrying == 1  # the old secret no longer signs
        handler.secret = rotated.json()["secret"]
        assert sender.send_due(clock() + timedelta(seconds=BACKOFF)).sent == 1
    assert [r.answered for r in receiver.received] == [200, 400, 200]
    retried = next(d for d in deliveries(admin, endpoint) if len(d["attempts"]) == 2)
    refused = retried["attempts"][0]
    assert refused["status_code"] == 400
    assert "does not match" in refused["response_excerpt"]


def test_a_suspected_sharing_alert_is_announced_without_the_feed(
    admin: TestClient, db: Database, sender: Sender, clock: Clock
) -> None:
    show = create_show(admin)
    handler = Verifying()
    with WebhookReceiver(handler) as receiver:
        handler.secret = register(admin, receiver.url, "sharing.suspected")["secret"]
        subscriber = subscribe(admin, "sharer@example.com", "sharp-tech")
        token_id = subscriber["feeds"][0]["feed_url"].split("/p/", 1)[1][:12]
        with transaction(db.writer) as session:
            alert = SharingAlert(
                token_id=token_id,
                subscriber_id=subscriber["id"],
                show_id=show["id"],
                status=AlertStatus.OPEN,
                evidence={"prefixes": ["a", "b", "c"], "apps": ["x", "y"], "downloads": 40},
            )
            session.add(alert)
            session.flush()
            assert webhooks.sharing_suspected(session, alert, clock()) == 1
        assert sender.send_due(clock()).sent == 1
    ((body),) = bodies(receiver)
    assert body["type"] == "sharing.suspected"
    assert body["data"]["alert"]["show"] == "sharp-tech"
    assert body["data"]["alert"]["networks"] == 3
    assert body["data"]["alert"]["downloads"] == 40
    assert body["data"]["subscriber"]["email"] == "sharer@example.com"
    assert token_id not in receiver.received[0].body.decode()


def test_no_answer_is_retried_and_a_deleted_endpoint_gets_nothing(
    admin: TestClient, sender: Sender, clock: Clock
) -> None:
    """Issue 22: on SQLite the next endpoint registered took a deleted one's id, and with it
    the deliveries still retrying, a subscriber's email in each."""
    create_show(admin)
    gone = register(admin, "http://127.0.0.1:9/nothing-listens", "subscriber.created")
    subscribe(admin, "listener@example.com", "sharp-tech")
    assert sender.send_due(clock()).retrying == 1
    (delivery,) = deliveries(admin, gone)
    (refused,) = delivery["attempts"]
    assert refused["status_code"] is None
    assert "ConnectionRefusedError" in refused["error"]

    assert admin.delete(f"/admin/webhook-endpoints/{gone['id']}").status_code == 204
    assert admin.get(f"/admin/webhook-endpoints/{gone['id']}").status_code == 404
    assert admin.get("/admin/webhook-endpoints").json() == []
    # Its delivery still waiting is not sent: dead at once, saying why.
    (dead,) = admin.get("/admin/outbox", params={"status": "dead"}).json()
    assert dead["id"] == delivery["message_id"]
    assert "endpoint was deleted" in dead["last_error"]

    handler = Verifying()
    with WebhookReceiver(handler) as receiver:
        after = register(admin, receiver.url, "subscriber.created")
        handler.secret = after["secret"]
        assert sender.send_due(clock() + timedelta(days=1)).claimed == 0
    assert receiver.received == []
    assert after["id"] != gone["id"]
    assert deliveries(admin, after) == []


def test_a_redirect_is_an_answer_not_a_new_place_to_post(
    admin: TestClient, sender: Sender, clock: Clock
) -> None:
    create_show(admin)
    target = Verifying()
    with WebhookReceiver(target) as elsewhere:

        def redirect(headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
            return 307, elsewhere.url.encode()  # a 307 would POST the body again there

        with WebhookReceiver(redirect) as redirecting:
            endpoint = register(admin, redirecting.url, "subscriber.created")
            subscribe(admin, "listener@example.com", "sharp-tech")
            assert sender.send_due(clock()).retrying == 1
    assert elsewhere.received == []
    (attempt,) = deliveries(admin, endpoint)[0]["attempts"]
    assert attempt["status_code"] == 307


def test_endpoints_are_checked_and_need_the_admin_key(
    client: TestClient, admin: TestClient
) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/x", "not a url"):
        response = admin.post(
            "/admin/webhook-endpoints", json={"url": url, "events": ["subscriber.created"]}
        )
        assert response.status_code == 422, url
    unknown = admin.post(
        "/admin/webhook-endpoints", json={"url": "https://example.com", "events": ["nope"]}
    )
    assert unknown.status_code == 422
    none = admin.post("/admin/webhook-endpoints", json={"url": "https://example.com", "events": []})
    assert none.status_code == 422
    for url in ("https://zapier:hunter2@hooks.example.com/x", "https://token@hooks.example.com/x"):
        response = admin.post(
            "/admin/webhook-endpoints", json={"url": url, "events": ["subscriber.created"]}
        )
        assert response.status_code == 422, url
        assert "user:pass@" in response.json()["detail"]
    assert admin.get("/admin/webhook-endpoints").json() == []
    del admin.headers["Authorization"]
    assert client.get("/admin/webhook-endpoints").status_code == 401
    assert client.post("/admin/webhook-endpoints", json={}).status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://169.254.169.254/latest/meta-data",  # a cloud's metadata service
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://224.0.0.1/hooks",
        "http://0.0.0.0/hooks",
    ],
)
def test_an_endpoint_on_the_servers_own_network_is_refused(
    settings: Settings, clock: Clock, url: str
) -> None:
    strict = settings.model_copy(update={"webhook_allow_private": False})
    with TestClient(create_app(strict, clock)) as client:
        client.headers["Authorization"] = f"Bearer {strict.admin_key}"
        response = client.post(
            "/admin/webhook-endpoints", json={"url": url, "events": ["subscriber.created"]}
        )
        assert response.status_code == 422, response.text
        assert "PODPASS_WEBHOOK_ALLOW_PRIVATE" in response.json()["detail"]
        assert client.get("/admin/webhook-endpoints").json() == []


def test_a_delivery_connects_only_to_the_address_it_checked(
    admin: TestClient, settings: Settings, clock: Clock
) -> None:
    """An endpoint that resolved to a public address when registered but to a private one
    at delivery (DNS rebinding; here: registered while private addresses were allowed) is
    not reached, and not tried again: dead at once (issue 22: it was retried for all its
    tries). Allowed, and retried by hand, a name is kept for the Host header."""
    create_show(admin)
    handler = Verifying()
    with WebhookReceiver(handler) as receiver:
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        endpoint = register(admin, by_name, "subscriber.created")
        handler.secret = endpoint["secret"]
        subscribe(admin, "listener@example.com", "sharp-tech")
        strict = settings.model_copy(update={"webhook_allow_private": False})
        assert new_sender(admin, strict, clock).send_due(clock()).dead == 1
        assert receiver.received == []
        (dead,) = admin.get("/admin/outbox", params={"status": "dead"}).json()
        assert "AddressRefused" in dead["last_error"]
        assert admin.post(f"/admin/outbox/{dead['id']}/retry").status_code == 200
        assert new_sender(admin, settings, clock).send_due(clock()).sent == 1
    (refused, taken) = deliveries(admin, endpoint)[0]["attempts"]
    assert refused["status_code"] is None
    assert "AddressRefused: localhost resolves to" in refused["error"]
    assert taken["status_code"] == 200
    port = receiver.url.split(":")[2].split("/")[0]
    assert receiver.received[0].headers["host"] == f"localhost:{port}"


def test_an_episode_unpublished_before_its_announcement_is_announced_when_republished(
    admin: TestClient, sender: Sender, clock: Clock
) -> None:
    create_show(admin)
    handler = Verifying()
    with WebhookReceiver(handler) as receiver:
        handler.secret = register(admin, receiver.url, "episode.published")["secret"]
        episode = upload(admin, "sharp-tech", title="Too soon", publish=True).json()
        assert admin.post(f"/admin/episodes/{episode['id']}/unpublish").status_code == 200
        assert sender.send_due(clock()).claimed == 0  # cancelled: nothing to send
        admin.post(f"/admin/episodes/{episode['id']}/publish")
        assert sender.send_due(clock()).sent == 1
        # Announced, it stays announced: unpublished and published again, it is not news.
        admin.post(f"/admin/episodes/{episode['id']}/unpublish")
        admin.post(f"/admin/episodes/{episode['id']}/publish")
        assert sender.send_due(clock() + timedelta(days=1)).claimed == 0
    assert [body["data"]["episode"]["id"] for body in bodies(receiver)] == [episode["id"]]
    (cancelled,) = admin.get("/admin/outbox", params={"status": "dead"}).json()
    assert cancelled["attempts"] == 0
    assert "unpublished" in cancelled["last_error"]


def test_whether_an_episode_is_news_is_asked_of_the_apps_clock(
    admin: TestClient, sender: Sender, clock: Clock
) -> None:
    """Published with yesterday's date (by the wall clock) on a server whose clock reads a
    week later: a back catalogue, not news."""
    create_show(admin)
    with WebhookReceiver(Verifying()) as receiver:
        endpoint = register(admin, receiver.url, "episode.published")
        clock.advance(timedelta(days=7))
        yesterday = clock() - timedelta(days=8)
        upload(admin, "sharp-tech", title="Old", published_at=yesterday.isoformat())
        assert sender.send_due(clock()).claimed == 0
        rotated = admin.post(f"/admin/webhook-endpoints/{endpoint['id']}/rotate-secret").json()
        assert datetime.fromisoformat(rotated["rotated_at"]) > clock() - timedelta(minutes=1)
