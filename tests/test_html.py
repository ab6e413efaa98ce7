"""Show notes and article text: HTML is sanitised on the way in, plain text becomes paragraphs,
and feeds carry what was stored."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from app.core.db.engine import build_engine
from tests.conftest import M4A, alembic_config, feed_path, subscribe, upload
from tests.parsers import gpodder, universal

ARTICLE: dict[str, Any] = {"kind": "article", "article_url": "https://stratechery.com/2026/post/"}


def feed_items(admin: TestClient) -> list[dict[str, Any]]:
    """The feed's items as podcastparser reads them (`description_html` is content:encoded)."""
    body = admin.get(feed_path(subscribe(admin, "html@example.com", "sharp-tech"), "sharp-tech"))
    universal(body.content)  # well-formed for feedparser too
    episodes: list[dict[str, Any]] = gpodder(body.content)["episodes"]
    return episodes


def test_article_html_is_sanitised_not_escaped(admin: TestClient, show: dict[str, Any]) -> None:
    created = upload(
        admin,
        "sharp-tech",
        M4A,
        title="Listen: A Post",
        article_text="<p>A &amp; B</p><script>x</script>",
        publish=True,
        **ARTICLE,
    )
    assert created.status_code == 201, created.text
    assert created.json()["article_text"] == "<p>A &amp; B</p>"  # stored sanitised
    (item,) = feed_items(admin)
    assert item["description_html"] == "<p>A &amp; B</p>"


def test_plain_text_becomes_escaped_paragraphs(admin: TestClient, show: dict[str, Any]) -> None:
    text = "First with <angle> & ampersand.\r\n\r\nSecond. ]]> tricky.\n\n\n  \nThird line\none."
    created = upload(admin, "sharp-tech", M4A, title="Plain", article_text=text, **ARTICLE)
    assert created.status_code == 201, created.text
    paragraphs = (
        "<p>First with &lt;angle&gt; &amp; ampersand.</p>"
        "<p>Second. ]]&gt; tricky.</p>"
        "<p>Third line\none.</p>"
    )
    assert created.json()["article_text"] == paragraphs
    published = admin.post(f"/admin/episodes/{created.json()['id']}/publish")
    assert published.status_code == 200, published.text
    (item,) = feed_items(admin)
    assert item["description_html"] == paragraphs


def test_show_notes_lose_scripts_handlers_and_javascript_links(
    admin: TestClient, show: dict[str, Any]
) -> None:
    notes = (
        '<p onclick="steal()">Links: <a href="javascript:alert(1)">bad</a>, '
        '<a href="JaVaScRiPt:alert(2)" title="t">worse</a> and '
        '<a href="https://example.com/?a=1&amp;b=2" target="_blank">good</a>.</p>'
        '<img src="https://example.com/chart.png" alt="Chart" onerror="x()">'
        "<style>p{}</style><iframe src='https://example.com'></iframe>"
    )
    created = upload(admin, "sharp-tech", title="Notes", show_notes=notes, publish=True)
    assert created.status_code == 201, created.text
    clean = (
        '<p>Links: <a rel="noopener nofollow">bad</a>, '
        '<a title="t" rel="noopener nofollow">worse</a> and '
        '<a href="https://example.com/?a=1&amp;b=2" rel="noopener nofollow">good</a>.</p>'
        '<img src="https://example.com/chart.png" alt="Chart">'
    )
    assert created.json()["show_notes"] == clean
    (item,) = feed_items(admin)
    assert item["description_html"] == clean
    assert "javascript" not in item["description"].lower()


def test_patch_sanitises_too(admin: TestClient, show: dict[str, Any]) -> None:
    created = upload(admin, "sharp-tech", M4A, title="Post", publish=True, **ARTICLE)
    patched = admin.patch(
        f"/admin/episodes/{created.json()['id']}",
        json={
            "show_notes": '<p onmouseover="x()">Hi <b>there</b></p><script>x()</script>',
            "article_text": "One.\n\nTwo & three.",
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["show_notes"] == "<p>Hi <b>there</b></p>"
    assert patched.json()["article_text"] == "<p>One.</p><p>Two &amp; three.</p>"
    (item,) = feed_items(admin)
    # gPodder shows content:encoded: the notes, then the article.
    expected = "<p>Hi <b>there</b></p><hr><p>One.</p><p>Two &amp; three.</p>"
    assert item["description_html"] == expected


def test_migration_0005_converts_rows_stored_before(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0004")
    engine = build_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine, only=["shows", "episodes"])
    shows, episodes = metadata.tables["shows"], metadata.tables["episodes"]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    show_row = {
        "description": "d",
        "author": "a",
        "owner_name": "o",
        "owner_email": "o@example.com",
        "language": "en",
        "category": "Technology",
        "explicit": False,
        "link": "https://example.com",
        "feed_version": 3,
        "created_at": now,
        "updated_at": now,
    }
    episode_row = {
        "free": False,
        "episode_type": "full",
        "explicit": False,
        "audio_mime": "audio/mpeg",
        "audio_size": 1,
        "duration_seconds": 1.0,
        "bitrate": 1,
        "created_at": now,
        "updated_at": now,
    }
    with engine.begin() as connection:
        connection.execute(
            shows.insert(),
            [
                show_row | {"id": 1, "slug": "changed", "title": "Changed"},
                show_row | {"id": 2, "slug": "clean", "title": "Clean"},
            ],
        )
        connection.execute(
            episodes.insert(),
            [
                episode_row
                | {
                    "id": 1,
                    "show_id": 1,
                    "guid": "g1",
                    "title": "Plain article",
                    "status": "published",
                    "kind": "article",
                    "show_notes": "",
                    "article_text": "One <angle>.\n\nTwo & three.",
                    "audio_key": "episodes/1.mp3",
                },
                episode_row
                | {
                    "id": 2,
                    "show_id": 1,
                    "guid": "g2",
                    "title": "Unsafe draft",
                    "status": "draft",
                    "kind": "episode",
                    "show_notes": "<p onclick='x()'>Hi</p><script>x()</script>",
                    "article_text": None,
                    "audio_key": "episodes/2.mp3",
                },
                episode_row
                | {
                    "id": 3,
                    "show_id": 2,
                    "guid": "g3",
                    "title": "Already clean",
                    "status": "published",
                    "kind": "episode",
                    "show_notes": "<p>Fine &amp; dandy</p>",
                    "article_text": None,
                    "audio_key": "episodes/3.mp3",
                },
            ],
        )

    def stored() -> tuple[dict[int, tuple[str, str | None]], dict[int, tuple[int, bool]]]:
        with engine.connect() as connection:
            texts = connection.execute(
                sa.select(episodes.c.id, episodes.c.show_notes, episodes.c.article_text)
            ).all()
            versions = connection.execute(
                sa.select(shows.c.id, shows.c.feed_version, shows.c.updated_at)
            ).all()
        return (
            {r.id: (r.show_notes, r.article_text) for r in texts},
            {r.id: (r.feed_version, r.updated_at == now.replace(tzinfo=None)) for r in versions},
        )

    command.upgrade(config, "0005")
    converted = {
        1: ("", "<p>One &lt;angle&gt;.</p><p>Two &amp; three.</p>"),
        2: ("<p>Hi</p>", None),
        3: ("<p>Fine &amp; dandy</p>", None),
    }
    # Show 1's published article changed, so its feeds get a new version and Last-Modified;
    # show 2 is as it was.
    shows_after = {1: (4, False), 2: (3, True)}
    assert stored() == (converted, shows_after)
    command.downgrade(config, "0004")
    assert stored() == (converted, shows_after)
    engine.dispose()
