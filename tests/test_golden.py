"""One complete feed, byte for byte: any change to what we emit shows up in review.

Regenerate after an intended change with `PODPASS_REGENERATE_GOLDEN=1 make test`.
"""

import os
from datetime import UTC, datetime
from pathlib import Path

from app.core.urls import FeedPlace
from app.feeds.render import FeedLinks, Paging, render_feed
from app.models import Episode, Show
from tests.parsers import partytime, universal

GOLDEN = Path(__file__).parent / "golden" / "feed.xml"
BASE = "https://feeds.example.com"
TOKEN = "TOKEN-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijkl"


def sample() -> tuple[Show, list[Episode]]:
    show = Show(
        id=1,
        slug="update",
        title="Stratechery Update",
        description="Daily & deep: <tech>.",
        author="Ben Thompson",
        owner_name="Stratechery",
        owner_email="podcasts@example.com",
        language="en",
        category="Technology",
        subcategory=None,
        explicit=False,
        link="https://stratechery.com",
        artwork_key="artwork/abc.png",
        itunes_type="episodic",
        feed_limit=2,
        people=[{"name": "Ben Thompson", "role": "host"}],
        feed_version=7,
        updated_at=datetime(2026, 11, 20, 6, 0, tzinfo=UTC),
    )
    narration = Episode(
        id=12,
        show_id=1,
        guid="6f1c5e0e-6d0a-4d5c-9a57-2f4b8f1d2c01",
        title="Listen: An Interview ]]> with 🎙 & <friends>",
        show_notes="<p>Notes ]]> here</p>",
        status="published",
        published_at=datetime(2026, 11, 20, 6, 0, tzinfo=UTC),
        free=False,
        kind="article",
        article_url="https://stratechery.com/2026/interview/",
        article_text="<p>Paragraph one.</p><p>Paragraph two, עברית.</p>",
        episode_type="full",
        season=None,
        number=None,
        explicit=False,
        audio_key="episodes/a.m4a",
        audio_mime="audio/x-m4a",
        audio_size=18090,
        duration_seconds=3.08,
        bitrate=44000,
        artwork_key="artwork/chart.jpg",
        chapters=None,
        transcript=None,
        transcript_type=None,
        people=[],
    )
    daily = Episode(
        id=11,
        show_id=1,
        guid="6f1c5e0e-6d0a-4d5c-9a57-2f4b8f1d2c00",
        title="Update: Chips",
        show_notes="<p>Chips, <b>again</b>.</p>",
        status="published",
        published_at=datetime(2026, 11, 19, 6, 0, tzinfo=UTC),
        free=True,
        kind="episode",
        article_url=None,
        article_text=None,
        episode_type="full",
        season=3,
        number=41,
        explicit=True,
        audio_key="episodes/b.mp3",
        audio_mime="audio/mpeg",
        audio_size=12721,
        duration_seconds=1805.4,
        bitrate=128000,
        artwork_key=None,
        chapters={"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Intro"}]},
        transcript="WEBVTT\n",
        transcript_type="text/vtt",
        people=[{"name": "A Guest", "role": "guest"}],
    )
    return show, [narration, daily]


def test_golden_feed() -> None:
    show, episodes = sample()
    root = f"{BASE}/p/{TOKEN}"
    links = FeedLinks(
        feed=f"{root}/feed.xml",
        canonical=f"{BASE}/shows/update/feed.xml",
        show_artwork=f"{BASE}/shows/update/artwork.png",
        files=FeedPlace(root, root),
        paging=Paging(older=f"{root}/archive/3.xml"),
    )
    xml = render_feed(show, episodes, links, private=True)
    if os.environ.get("PODPASS_REGENERATE_GOLDEN"):
        GOLDEN.write_bytes(xml)
    assert xml == GOLDEN.read_bytes()
    assert [e.title for e in universal(xml).entries] == [e.title for e in episodes]
    assert len(partytime(xml)["items"]) == 2
