import io
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import images
from app.db import after_commit, after_rollback, utcnow
from app.errors import Conflict, NotFound
from app.models import Show
from app.shows.schemas import ShowCreate, ShowUpdate
from app.storage import Storage

SEED_SHOWS: list[dict[str, Any]] = [
    {
        "slug": "update",
        "title": "Stratechery Update",
        "description": "Daily updates on the business and strategy of technology, plus "
        "narrations of every Stratechery article.",
        "author": "Ben Thompson",
        "category": "Technology",
    },
    {
        "slug": "sharp-tech",
        "title": "Sharp Tech",
        "description": "A podcast about how technology works, and why.",
        "author": "Ben Thompson and Andrew Sharp",
        "category": "Technology",
    },
    {
        "slug": "sharp-china",
        "title": "Sharp China",
        "description": "China, its politics and its economy, explained twice a week.",
        "author": "Bill Bishop and Andrew Sharp",
        "category": "News",
        "subcategory": "Politics",
    },
    {
        "slug": "goat",
        "title": "Greatest of All Talk",
        "description": "Basketball, and everything around it.",
        "author": "Ben Thompson and Andrew Sharp",
        "category": "Sports",
        "subcategory": "Basketball",
    },
]


def store_artwork(
    session: Session, storage: Storage, data: bytes, filename: str, *, replacing: str | None
) -> str:
    """Check and store podcast artwork; return its key. A new key every time, so apps that
    cache by URL see the change; the replaced image goes once the change commits."""
    info = images.probe_artwork(data, filename)
    key = f"artwork/{uuid4().hex}.{info.extension}"
    storage.save(key, io.BytesIO(data), info.mime)
    after_rollback(session, lambda: storage.delete(key))
    if replacing:
        after_commit(session, lambda: storage.delete(replacing))
    return key


def set_artwork(session: Session, storage: Storage, show: Show, data: bytes, filename: str) -> Show:
    show.artwork_key = store_artwork(session, storage, data, filename, replacing=show.artwork_key)
    touch(show)
    session.flush()
    return show


def touch(show: Show) -> None:
    """Mark every feed of the show as changed."""
    show.feed_version += 1
    show.updated_at = utcnow()


def get(session: Session, slug: str) -> Show:
    show = session.scalar(select(Show).where(Show.slug == slug))
    if show is None:
        raise NotFound(f"No show with slug {slug!r}. GET /admin/shows lists them.")
    return show


def get_many(session: Session, slugs: Sequence[str]) -> list[Show]:
    found = {s.slug: s for s in session.scalars(select(Show).where(Show.slug.in_(slugs)))}
    missing = sorted(set(slugs) - found.keys())
    if missing:
        raise NotFound(
            f"No show with slug {', '.join(map(repr, missing))}. GET /admin/shows lists them."
        )
    return [found[slug] for slug in dict.fromkeys(slugs)]


def list_all(session: Session) -> Sequence[Show]:
    return session.scalars(select(Show).order_by(Show.id)).all()


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    if fields.get("feed_limit") == 0:
        fields["feed_limit"] = None  # 0 means "every episode in the main feed"
    return fields


def create(session: Session, data: ShowCreate) -> Show:
    if session.scalar(select(Show.id).where(Show.slug == data.slug)) is not None:
        raise Conflict(f"A show with slug {data.slug!r} already exists.")
    show = Show(**_values(data.model_dump(mode="json", exclude_none=True)))
    session.add(show)
    session.flush()
    return show


def update(session: Session, show: Show, data: ShowUpdate) -> Show:
    changes = data.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    for name, value in _values(changes).items():
        setattr(show, name, value)
    touch(show)
    session.flush()
    return show


def seed(session: Session, *, base_url: str, owner_email: str) -> list[str]:
    """Create the publisher's default shows that do not exist yet; return their slugs."""
    existing = set(session.scalars(select(Show.slug)))
    created = []
    for spec in SEED_SHOWS:
        if spec["slug"] in existing:
            continue
        session.add(
            Show(
                **spec,
                owner_name=spec["author"],
                owner_email=owner_email,
                language="en",
                explicit=False,
                link=f"{base_url}/shows/{spec['slug']}",
            )
        )
        created.append(spec["slug"])
    session.flush()
    return created
