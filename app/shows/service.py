from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.service import Action
from app.core.db.session import after_commit
from app.core.errors import Conflict, NotFound
from app.core.urls import Urls
from app.models import Show, Welcome
from app.shows.schemas import ShowCreate, ShowUpdate, WelcomeIn
from app.storage import Storage, uploads


def set_artwork(
    session: Session, storage: Storage, show: Show, data: bytes, filename: str, *, now: datetime
) -> Show:
    show.artwork_key = uploads.store_artwork(
        session, storage, data, filename, replacing=show.artwork_key
    )
    touch(show, now=now)
    session.flush()
    audit.record(session, Action.SHOW_UPDATE, show, {"fields": ["artwork"]})
    return show


def touch(show: Show, *, now: datetime) -> None:
    """Mark every feed of the show as changed."""
    show.feed_version += 1
    show.updated_at = now


def get(session: Session, slug: str) -> Show:
    show = session.scalar(select(Show).where(Show.slug == slug))
    if show is None:
        raise NotFound(f"No show with slug {slug!r}.", api_hint="GET /admin/shows lists them.")
    return show


def get_many(session: Session, slugs: Sequence[str]) -> list[Show]:
    found = {s.slug: s for s in session.scalars(select(Show).where(Show.slug.in_(slugs)))}
    missing = sorted(set(slugs) - found.keys())
    if missing:
        raise NotFound(
            f"No show with slug {', '.join(map(repr, missing))}.",
            api_hint="GET /admin/shows lists them.",
        )
    return [found[slug] for slug in dict.fromkeys(slugs)]


def list_all(session: Session) -> Sequence[Show]:
    return session.scalars(select(Show).order_by(Show.id)).all()


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    if fields.get("feed_limit") == 0:
        fields["feed_limit"] = None  # 0 means "every episode in the main feed"
    return fields


def create(session: Session, urls: Urls, data: ShowCreate) -> Show:
    if session.scalar(select(Show.id).where(Show.slug == data.slug)) is not None:
        raise Conflict(f"A show with slug {data.slug!r} already exists.")
    show = Show(**_values(data.model_dump(mode="json", exclude_none=True)))
    show.link = show.link or urls.show_page(show.slug)
    session.add(show)
    session.flush()
    audit.record(session, Action.SHOW_CREATE, show)
    return show


def update(session: Session, show: Show, data: ShowUpdate, *, now: datetime) -> Show:
    changes = data.model_dump(exclude_unset=True, mode="json")  # a null sent clears
    if data.people is not None:  # but a person's empty fields are left out, as on create
        changes["people"] = [p.model_dump(mode="json", exclude_none=True) for p in data.people]
    for name, value in _values(changes).items():
        setattr(show, name, value)
    touch(show, now=now)
    session.flush()
    audit.record(session, Action.SHOW_UPDATE, show, {"fields": sorted(changes)})
    return show


_WELCOME = {"fields": ["welcome"]}


def welcome(session: Session, show: Show) -> Welcome:
    found = session.get(Welcome, show.id)
    if found is None:
        raise NotFound(f"{show.slug!r} has no welcome item: PUT /admin/shows/{show.slug}/welcome.")
    return found


def put_welcome(session: Session, show: Show, data: WelcomeIn, *, now: datetime) -> Welcome:
    """Set the welcome item's days, title and notes (its audio stays as it is)."""
    found = session.get(Welcome, show.id) or Welcome(show_id=show.id)
    found.days, found.title, found.notes = data.days, data.title, data.notes
    found.updated_at = now
    session.add(found)
    touch(show, now=now)
    session.flush()
    audit.record(session, Action.SHOW_UPDATE, show, _WELCOME)
    return found


def delete_welcome(session: Session, storage: Storage, show: Show, *, now: datetime) -> None:
    found = _dropping_audio(session, storage, show)
    session.delete(found)
    touch(show, now=now)
    session.flush()
    audit.record(session, Action.SHOW_UPDATE, show, _WELCOME)


def set_welcome_audio(
    session: Session, storage: Storage, slug: str, upload: uploads.Upload, *, now: datetime
) -> Welcome:
    """The publisher's own recording instead of the spoken default."""
    key, info = uploads.store_audio(session, storage, "welcome", upload)
    show = get(session, slug)
    found = _dropping_audio(session, storage, show)
    found.audio_key, found.audio_mime = key, info.mime
    found.audio_size, found.duration_seconds = upload.size, info.duration_seconds
    found.updated_at = now
    touch(show, now=now)
    session.flush()
    audit.record(session, Action.SHOW_UPDATE, show, _WELCOME)
    return found


def clear_welcome_audio(
    session: Session, storage: Storage, show: Show, *, now: datetime
) -> Welcome:
    """Back to the spoken default."""
    found = _dropping_audio(session, storage, show)
    found.audio_key = found.audio_mime = found.audio_size = found.duration_seconds = None
    found.updated_at = now
    touch(show, now=now)
    session.flush()
    audit.record(session, Action.SHOW_UPDATE, show, _WELCOME)
    return found


def _dropping_audio(session: Session, storage: Storage, show: Show) -> Welcome:
    """The show's welcome item, whose recording goes once the change commits (feeds still
    point at it until then)."""
    found = welcome(session, show)
    key = found.audio_key
    if key is not None:
        after_commit(session, lambda: storage.delete(key))
    return found
