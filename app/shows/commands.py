"""`podpass seed`: the publisher's default shows."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.commands import database
from app.core.config import get_settings
from app.core.db.session import transaction
from app.core.urls import Urls
from app.images import title_card
from app.models import Show
from app.shows import service as shows
from app.storage import Storage
from app.storage.factory import build_storage

SEED_SHOWS: list[dict[str, Any]] = [
    {
        "slug": "update",
        "artwork_colour": "#1f3a5f",
        "title": "Stratechery Update",
        "description": "Daily updates on the business and strategy of technology, plus "
        "narrations of every Stratechery article.",
        "author": "Ben Thompson",
        "category": "Technology",
    },
    {
        "slug": "sharp-tech",
        "artwork_colour": "#0f5c4d",
        "title": "Sharp Tech",
        "description": "A podcast about how technology works, and why.",
        "author": "Ben Thompson and Andrew Sharp",
        "category": "Technology",
    },
    {
        "slug": "sharp-china",
        "artwork_colour": "#8c2f1b",
        "title": "Sharp China",
        "description": "China, its politics and its economy, explained twice a week.",
        "author": "Bill Bishop and Andrew Sharp",
        "category": "News",
        "subcategory": "Politics",
    },
    {
        "slug": "goat",
        "artwork_colour": "#4b2a7a",
        "title": "Greatest of All Talk",
        "description": "Basketball, and everything around it.",
        "author": "Ben Thompson and Andrew Sharp",
        "category": "Sports",
        "subcategory": "Basketball",
    },
]


def seed_shows(session: Session, storage: Storage, *, base_url: str, owner_email: str) -> list[str]:
    """Create the publisher's default shows that do not exist yet; return their slugs. A
    default show without artwork gets a title card (apps want `itunes:image`); artwork that
    is there already, generated or uploaded, stays."""
    urls = Urls(base_url)
    existing = {show.slug: show for show in session.scalars(select(Show))}
    created = []
    for spec in SEED_SHOWS:
        fields = {name: value for name, value in spec.items() if name != "artwork_colour"}
        show = existing.get(spec["slug"])
        if show is None:
            show = Show(
                **fields,
                owner_name=spec["author"],
                owner_email=owner_email,
                language="en",
                explicit=False,
                link=urls.show_page(spec["slug"]),
            )
            session.add(show)
            session.flush()
            created.append(spec["slug"])
        if show.artwork_key is None:
            artwork = title_card(spec["title"], spec["artwork_colour"])
            filename = f"{spec['slug']}.png"
            shows.set_artwork(session, storage, show, artwork, filename, now=utcnow())
    return created


def seed() -> None:
    """Create the default shows if missing."""
    settings = get_settings()
    with database(settings.database_url) as db, transaction(db.writer) as session:
        created = seed_shows(
            session,
            build_storage(settings),
            base_url=settings.public_base_url,
            owner_email=settings.owner_email,
        )
    print(f"Seeded shows: {', '.join(created)}." if created else "Shows already seeded.")
