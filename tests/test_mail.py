"""Subscriber emails, received by a real SMTP server (aiosmtpd in its own process): headers,
both parts, and links that open."""

import json
import logging
import re
import time
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings, SmtpSecurity
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.core.tokens import sign
from app.jobs import email_composers
from app.main import create_app
from app.models import OutboxStatus, Subscriber
from app.outbox.sender import Sender
from app.text import when
from tests.conftest import (
    ADMIN_KEY,
    SHOW,
    WEBHOOK_SECRET,
    Clock,
    create_show,
    feed_path,
    subscribe,
    upload,
)
from tests.servers import SmtpServer
from tests.test_console import log_in, make_staff
from tests.test_sharing import Feed, add_downloads, detect, network, shared_widely

LINK = re.compile(r"https?://\S+?(?=[\s\"<]|$)")


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": SmtpSecurity.NONE,
            "outbox_in_app": False,  # the tests send, at the times they choose
            "publisher_name": "Stratechery",
            "publisher_colour": "#0f5c4d",
        }
    )


def new_sender(client: TestClient, settings: Settings, clock: Clock) -> Sender:
    links = client.app.state.page_links  # type: ignore[attr-defined]
    database = client.app.state.db  # type: ignore[attr-defined]
    return Sender.from_settings(
        database, settings, clock, composers=email_composers(settings, links)
    )


def send_all(client: TestClient, settings: Settings, clock: Clock) -> None:
    outcome = new_sender(client, settings, clock).send_due(clock())
    assert outcome.retrying == outcome.dead == 0


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    return plain.get_content(), html.get_content()


def received(smtp: SmtpServer, subject: str) -> EmailMessage:
    (message,) = [m for m in smtp.messages() if m["Subject"] == subject]
    return message


def outbox(admin: TestClient, **params: str) -> list[dict[str, Any]]:
    response = admin.get("/admin/outbox", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_welcome_email_on_create(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    create_show(admin)
    subscriber = subscribe(admin, "listener@example.com", "sharp-tech")
    (queued,) = outbox(admin)
    assert queued["status"] == "pending"
    assert queued["payload"] == {
        "template": "welcome",
        "subscriber_id": subscriber["id"],
        "to": "listener@example.com",
    }
    assert smtp.messages() == []  # never sent from inside the request

    send_all(admin, settings, clock)

    (message,) = smtp.messages()
    assert message["Message-ID"] == f"<{queued['idempotency_key']}@testserver>"
    assert message["From"] == "Stratechery <podcasts@example.com>"
    assert message["To"] == "listener@example.com"
    assert message["Subject"] == "Your Stratechery podcasts are ready"
    assert message["Date"]
    plain, html = parts(message)
    assert "Sharp Tech" in plain
    assert "<li>Sharp Tech</li>" in html
    assert "#0f5c4d" in html  # the publisher's colour
    (page_url,) = LINK.findall(plain)
    assert page_url.startswith("http://testserver/my/")
    assert f'href="{page_url}"' in html
    # The page link is the only private link: no feed URL or token travels by email.
    feed_url = subscriber["feeds"][0]["feed_url"]
    token = feed_url.split("/p/", 1)[1].split("/", 1)[0]
    for body in (plain, html):
        assert token not in body
        assert "/p/" not in body
    page = admin.get(page_url.removeprefix("http://testserver"))
    assert page.status_code == 200
    assert "Sharp Tech" in page.text
    assert feed_url in page.text
    (sent,) = outbox(admin, status="sent")
    assert sent["attempts"] == 1
    assert sent["sent_at"] is not None


def test_welcome_email_from_a_billing_event(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    create_show(admin)
    admin.put("/admin/plans/tech", json={"name": "Sharp Tech", "shows": ["sharp-tech"]})
    body = json.dumps(
        {
            "id": "evt_1",
            "type": "subscription.created",
            "created": int(time.time()),
            "data": {"customer_id": "cus_1", "email": "payer@example.com", "plan": "tech"},
        }
    ).encode()
    response = admin.post(
        "/webhooks/billing",
        content=body,
        headers={
            "Podpass-Signature": sign(WEBHOOK_SECRET, int(time.time()), body),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text

    send_all(admin, settings, clock)

    (message,) = smtp.messages()
    assert message["To"] == "payer@example.com"
    plain, html = parts(message)
    # The plan's shows, entitled after the subscriber was created in the same event.
    assert "Sharp Tech" in plain
    assert "Sharp Tech" in html
    (page_url,) = LINK.findall(plain)
    page = admin.get(page_url.removeprefix("http://testserver"))
    assert page.status_code == 200
    assert "Sharp Tech" in page.text


def test_with_nowhere_to_renew_every_renew_link_is_the_show_page(
    settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    """No subscribe_url and no PODPASS_RENEW_URL: the lapse email's button and the lapsed
    feed's notice lead to the show's public page (not the publisher's site, its `link`),
    which says whom to ask (test_show_page)."""
    settings = settings.model_copy(update={"renew_url": ""})
    with TestClient(create_app(settings, clock)) as admin:
        admin.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        create_show(admin)
        subscriber = subscribe(admin, "listener@example.com", "sharp-tech")
        admin.post(f"/admin/subscribers/{subscriber['id']}/lapse").raise_for_status()
        send_all(admin, settings, clock)
        notice = feedparser.parse(admin.get(feed_path(subscriber, "sharp-tech")).content)
    show_page = "http://testserver/shows/sharp-tech"
    plain, html = parts(received(smtp, "Your Stratechery subscription has lapsed"))
    assert f"Renew your subscription: {show_page}\n" in plain
    assert f'href="{show_page}"' in html
    (item,) = notice.entries
    assert item.link == show_page
    assert item.title == f"Subscription inactive — renew at {show_page}"


def test_lapsed_renewed_and_reset_emails(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    create_show(admin)
    subscriber = subscribe(admin, "listener@example.com", "sharp-tech")
    send_all(admin, settings, clock)
    base = f"/admin/subscribers/{subscriber['id']}"

    admin.post(f"{base}/lapse")
    send_all(admin, settings, clock)
    lapsed = received(smtp, "Your Stratechery subscription has lapsed")
    plain, html = parts(lapsed)
    assert "https://example.com/renew" in plain  # PODPASS_RENEW_URL
    assert 'href="https://example.com/renew"' in html

    admin.post(f"{base}/reinstate")
    send_all(admin, settings, clock)
    renewed = received(smtp, "Welcome back: your Stratechery podcasts are on again")
    assert LINK.findall(parts(renewed)[0])[0].startswith("http://testserver/my/")

    admin.post(f"{base}/shows/sharp-tech/rotate")
    send_all(admin, settings, clock)
    reset = received(smtp, "Your feed address for Sharp Tech was reset")
    (page_url,) = LINK.findall(parts(reset)[0])
    new_feed_url = admin.get(base).json()["feeds"][0]["feed_url"]
    assert new_feed_url in admin.get(page_url.removeprefix("http://testserver")).text

    admin.post(f"{base}/revoke")  # not announced
    assert [m["payload"]["template"] for m in outbox(admin)] == [
        "url_reset",
        "renewed",
        "lapsed",
        "welcome",
    ]


def test_an_email_for_a_subscriber_revoked_meanwhile_is_not_sent(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    create_show(admin)
    subscriber = subscribe(admin, "listener@example.com", "sharp-tech")
    admin.post(f"/admin/subscribers/{subscriber['id']}/revoke")

    new_sender(admin, settings, clock).send_due(clock())

    assert smtp.messages() == []
    (dead,) = outbox(admin, status="dead")
    assert dead["attempts"] == 1
    assert "revoked" in dead["last_error"]


def test_without_an_smtp_host_emails_wait(
    admin: TestClient, settings: Settings, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    create_show(admin)
    subscribe(admin, "listener@example.com", "sharp-tech")
    off = settings.model_copy(update={"smtp_host": ""})
    with caplog.at_level(logging.WARNING, logger="app.outbox.sender"):
        sender = new_sender(admin, off, clock)
    assert "PODPASS_SMTP_HOST is not set" in caplog.text
    assert sender.send_due(clock()).claimed == 0
    (waiting,) = outbox(admin)
    assert waiting["status"] == OutboxStatus.PENDING
    assert waiting["attempts"] == 0


def opt_in(admin: TestClient, subscriber: dict[str, Any]) -> str:
    """Turn new-episode emails on from the subscriber's page; returns the page's path."""
    page = admin.post(f"/admin/subscribers/{subscriber['id']}/page-link").json()["url"]
    path: str = page.removeprefix("http://testserver")
    response = admin.post(f"{path}/new-episode-emails", data={"on": "yes"})
    assert response.status_code == 200, response.text  # the page, after the redirect
    return path


def test_new_episode_email_to_those_who_asked_and_one_click_off(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    create_show(admin)
    admin.post("/admin/shows", json=SHOW | {"slug": "other", "title": "Other Show"})
    wants = subscribe(admin, "wants@example.com", "sharp-tech")
    opt_in(admin, wants)
    opt_in(admin, subscribe(admin, "elsewhere@example.com", "other"))
    subscribe(admin, "quiet@example.com", "sharp-tech")  # never asked
    lapsed = subscribe(admin, "lapsed@example.com", "sharp-tech")
    opt_in(admin, lapsed)
    admin.post(f"/admin/subscribers/{lapsed['id']}/lapse")
    send_all(admin, settings, clock)  # the welcomes and the lapse notice

    episode = upload(admin, "sharp-tech", title="Episode 1", publish=True)
    assert episode.status_code == 201, episode.text
    notes = [m for m in outbox(admin) if m["payload"]["template"] == "new_episode"]
    assert [m["payload"]["to"] for m in notes] == ["wants@example.com"]
    send_all(admin, settings, clock)

    message = received(smtp, "New on Sharp Tech: Episode 1")
    assert message["To"] == "wants@example.com"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = message["List-Unsubscribe"]
    (unsubscribe_url,) = re.findall(r"<(http://testserver/unsubscribe/[^>]+)>", header)
    # On the wire as a plain <URL> (mail clients read it as sent), not RFC 2047-encoded.
    (wire,) = [raw for raw in smtp.raw() if b"List-Unsubscribe:" in raw]
    assert f"List-Unsubscribe: <{unsubscribe_url}>".encode() in wire
    plain, html = parts(message)
    links = LINK.findall(plain)
    assert [link for link in links if "/my/" in link] == [links[1]]  # the page link, only
    assert links[0] == "http://testserver/shows/sharp-tech"
    assert links[2] == unsubscribe_url
    for body in (plain, html):
        assert "/p/" not in body  # no feed URL or token
        assert "Episode 1" in body
    for link in links:
        assert admin.get(link.removeprefix("http://testserver")).status_code == 200

    one_click = admin.post(
        unsubscribe_url.removeprefix("http://testserver"),
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    upload(admin, "sharp-tech", title="Episode 2", publish=True)
    notes = [m for m in outbox(admin) if m["payload"]["template"] == "new_episode"]
    assert [m["payload"]["episode_id"] for m in notes] == [episode.json()["id"]]


def test_your_links_email_on_request(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    create_show(admin)
    subscribe(admin, "listener@example.com", "sharp-tech")
    send_all(admin, settings, clock)
    page = admin.get("/shows/sharp-tech").text
    (token,) = re.findall(r'name="form_token" value="([^"]+)"', page)
    answer = admin.post(
        "/email-my-links", data={"email": "listener@example.com", "form_token": token}
    )
    assert answer.status_code == 200
    send_all(admin, settings, clock)
    message = received(smtp, "Your Stratechery podcasts page")
    (page_url,) = LINK.findall(parts(message)[0])
    opened = admin.get(page_url.removeprefix("http://testserver"))
    assert opened.status_code == 200
    assert "Sharp Tech" in opened.text


def test_an_email_goes_to_the_address_the_subscriber_has_now(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    """The page link is a credential: queued for an address the subscriber has since left,
    it goes to their new one, never the old."""
    create_show(admin)
    subscriber = subscribe(admin, "old@example.com", "sharp-tech")
    db: Database = admin.app.state.db  # type: ignore[attr-defined]
    with transaction(db.writer) as session:
        session.get_one(Subscriber, subscriber["id"]).email = "new@example.com"

    send_all(admin, settings, clock)

    (message,) = smtp.messages()
    assert message["To"] == "new@example.com"
    assert all("old@example.com" not in str(m) for m in smtp.messages())


def test_a_new_episode_note_withdrawn_with_its_episode_goes_out_when_it_is_back(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    create_show(admin)
    opt_in(admin, subscribe(admin, "wants@example.com", "sharp-tech"))
    send_all(admin, settings, clock)  # the welcome
    episode = upload(admin, "sharp-tech", title="Episode 1", publish=True).json()
    admin.post(f"/admin/episodes/{episode['id']}/unpublish")
    send_all(admin, settings, clock)  # the note was cancelled: nothing to send, nothing dead
    assert [m["Subject"] for m in smtp.messages()] == ["Your Stratechery podcasts are ready"]

    admin.post(f"/admin/episodes/{episode['id']}/publish")
    send_all(admin, settings, clock)

    assert len([m for m in smtp.messages() if m["Subject"] == "New on Sharp Tech: Episode 1"]) == 1


ALERTS = "alerts@stratechery.example"


def shared_feed(admin: TestClient, email: str) -> Feed:
    """A subscriber to Sharp Tech whose feed URL was posted on a forum."""
    show = create_show(admin)
    subscriber = subscribe(admin, email, "sharp-tech")
    feed = Feed(subscriber["id"], show["id"], feed_path(subscriber, "sharp-tech"))
    shared_widely(admin.app.state.db, feed)  # type: ignore[attr-defined]
    return feed


def test_a_sharing_alert_is_emailed_to_the_publisher_once_as_it_opens(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    feed = shared_feed(admin, "forum@example.com")
    send_all(admin, settings, clock)  # the welcome
    db: Database = admin.app.state.db  # type: ignore[attr-defined]
    alerting = settings.model_copy(update={"alerts_email": ALERTS})
    [alert] = detect(db, alerting)
    add_downloads(db, feed, (4, network(12), "Podcast Addict", "Android phone", 1))
    [refreshed] = detect(db, alerting)  # refreshes the open alert: no second email

    send_all(admin, alerting, clock)

    subject = "Sharing suspected: Sharp Tech feed of forum@example.com"
    assert [m["Subject"] for m in smtp.messages() if m["To"] == ALERTS] == [subject]
    # The subscriber it is about hears nothing of it.
    assert [m["Subject"] for m in smtp.messages() if m["To"] != ALERTS] == [
        "Your Stratechery podcasts are ready"
    ]
    (queued,) = [m for m in outbox(admin) if m["payload"]["template"] == "sharing_alert"]
    assert queued["payload"] == {"template": "sharing_alert", "to": ALERTS, "alert_id": alert["id"]}
    plain, html = parts(received(smtp, subject))
    # The evidence as it is when the email goes out (refreshed since the alert opened).
    assert "37 downloads" in plain
    assert "from 13 networks" in plain
    assert "<strong>37</strong> downloads" in html
    assert "from <strong>13</strong> networks" in html
    evidence = refreshed["evidence"]
    seen = [
        when(datetime.fromisoformat(evidence[k]), settings.timezone)
        for k in ("first_seen", "last_seen")
    ]
    for body in (plain, html):
        assert f"{seen[0]} to {seen[1]}" in body
        assert "Podcast Addict" in body
        assert "many networks, many apps" in body
        # Staff get the evidence, never a link that opens the subscriber's feed or page.
        token = feed.path.split("/")[2]
        assert token not in body
        assert feed.token_id not in body
        assert "/p/" not in body
        assert "/my/" not in body
    assert "#0f5c4d" in html
    console_url = f"http://testserver/console/alerts?status=open#alert-{alert['id']}"
    assert LINK.findall(plain) == [console_url]
    assert f'href="{console_url}"' in html
    make_staff(admin, "support@example.com", "support")
    assert log_in(admin, "support@example.com").status_code == 303
    page = admin.get(console_url.removeprefix("http://testserver"))
    assert page.status_code == 200
    assert f'id="alert-{alert["id"]}"' in page.text


def test_no_alert_email_without_an_alerts_address(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    shared_feed(admin, "forum@example.com")
    assert settings.alerts_email == ""

    [_alert] = detect(admin.app.state.db, settings)  # type: ignore[attr-defined]
    send_all(admin, settings, clock)

    assert [m["payload"]["template"] for m in outbox(admin)] == ["welcome"]
    assert [m["To"] for m in smtp.messages()] == ["forum@example.com"]


def test_an_alert_email_waiting_when_the_address_is_unset_is_not_sent(
    admin: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    shared_feed(admin, "forum@example.com")
    detect(admin.app.state.db, settings.model_copy(update={"alerts_email": ALERTS}))  # type: ignore[attr-defined]

    new_sender(admin, settings, clock).send_due(clock())

    assert [m["To"] for m in smtp.messages()] == ["forum@example.com"]
    (dead,) = outbox(admin, status="dead")
    assert dead["payload"]["template"] == "sharing_alert"
    assert "PODPASS_ALERTS_EMAIL" in dead["last_error"]
