from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import images
from app.db import utcnow
from app.errors import Conflict, NotFound
from app.models import Show
from app.shows.schemas import ShowCreate, ShowUpdate
from app.storage import Storage


def set_artwork(session: Session, storage: Storage, show: Show, data: bytes, filename: str) -> Show:
    show.artwork_key = images.store_artwork(
        session, storage, data, filename, replacing=show.artwork_key
    )
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
    changes = data.model_dump(exclude_unset=True, mode="json")  # a null sent clears
    if data.people is not None:  # but a person's empty fields are left out, as on create
        changes["people"] = [p.model_dump(mode="json", exclude_none=True) for p in data.people]
    for name, value in _values(changes).items():
        setattr(show, name, value)
    touch(show)
    session.flush()
    return show
