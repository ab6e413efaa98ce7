"""Moving a publisher in: their subscribers, from a CSV file, with their old feed URLs. Every
line is checked before anything is written."""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.fields import said
from app.imports import old_urls
from app.imports.schemas import (
    COLUMNS,
    EMAIL,
    EXTERNAL_ID,
    JOINED,
    NAME,
    OLD_URL_PREFIX,
    PLAN,
    SHOWS,
    STATUS,
    SubscriberImport,
    SubscriberLine,
)
from app.models import (
    FeedAccess,
    OldFeedUrl,
    Plan,
    Show,
    Subscriber,
    SubscriberStatus,
)
from app.subscribers import service as subscribers
from app.subscribers.schemas import SubscriberCreate


class ImportRefused(Exception):
    """The file has errors; nothing was imported. One message per problem, with its line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


class NotCsv(ImportRefused):
    """The file is not a CSV in UTF-8 (a picture, a UTF-16 export): no line is at fault."""

    def __init__(self) -> None:
        super().__init__(
            ["The file is not a CSV in UTF-8: save it from the spreadsheet as CSV UTF-8."]
        )


def text_of(data: bytes) -> str:
    """The file's text, or NotCsv. A byte-order mark is dropped, as a spreadsheet's
    "CSV UTF-8" starts with one; UTF-16 without one decodes as UTF-8, but with NULs."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotCsv from None
    if "\x00" in text:
        raise NotCsv
    return text


@dataclass(frozen=True)
class _Checked:
    line: int
    data: SubscriberLine
    shows: list[Show]
    existing: Subscriber | None


def import_subscribers(
    session: Session, text: str, *, welcome: bool, now: datetime
) -> SubscriberImport:
    """Create or update each subscriber in the CSV, matched by external id, else by email.
    Every line is checked first: a file with any error imports nothing (ImportRefused).
    `welcome`: send new active subscribers the welcome email (with their links)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    problems = _check_header(session, header)
    if problems:
        raise ImportRefused(problems)
    reader.fieldnames = header
    checked = _check_lines(session, reader, problems, now)
    if problems:
        raise ImportRefused(problems)
    result = SubscriberImport()
    for line in checked:
        result.old_urls += _apply(session, line, welcome=welcome, result=result, now=now)
    return result


def export(found: Iterable[Subscriber]) -> str:
    """Subscribers as the CSV this module imports (without old URLs): a file exported here
    imports back as the same subscribers, here or on another server. `joined` is when they
    subscribed (here, or at the previous host if an import said so)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for subscriber in found:
        writer.writerow(
            {
                EMAIL: subscriber.email,
                NAME: subscriber.name or "",
                EXTERNAL_ID: subscriber.external_id or "",
                PLAN: subscriber.plan_id or "",
                SHOWS: " ".join(feed.show.slug for feed in subscriber.feeds if feed.entitled),
                STATUS: subscriber.status,
                JOINED: subscriber.created_at.isoformat(),
            }
        )
    return out.getvalue()


def _check_header(session: Session, header: Sequence[str]) -> list[str]:
    if EMAIL not in header:
        return ["line 1: the header needs an email column"]
    problems = []
    slugs = set(session.scalars(select(Show.slug)))
    for name in header:
        slug = name.removeprefix(OLD_URL_PREFIX)
        if name in COLUMNS or (name.startswith(OLD_URL_PREFIX) and slug in slugs):
            continue
        if name.startswith(OLD_URL_PREFIX):
            problems.append(f"line 1: column {name!r}: there is no show {slug!r}")
        else:
            columns = ", ".join(COLUMNS)
            problems.append(f"line 1: unknown column {name!r} (columns: {columns}, old_url:<show>)")
    if len(set(header)) != len(header):
        problems.append("line 1: a column is named twice")
    return problems


def _line_data(row: dict[str, str | None]) -> dict[str, object]:
    data: dict[str, object] = {
        name: (value or "").strip()
        for name, value in row.items()
        if name in COLUMNS and name is not None
    }
    data["old_urls"] = {
        name.removeprefix(OLD_URL_PREFIX): value.strip()
        for name, value in row.items()
        if name and name.startswith(OLD_URL_PREFIX) and value and value.strip()
    }
    return data


def _check_lines(
    session: Session, reader: Iterable[dict[str, str | None]], problems: list[str], now: datetime
) -> list[_Checked]:
    plans = {plan.id: plan for plan in session.scalars(select(Plan))}
    all_shows = {show.slug: show for show in session.scalars(select(Show))}
    seen_emails: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    seen_urls: dict[old_urls.OldUrlKey, int] = {}
    checked = []
    for number, row in enumerate(reader, start=2):
        if None in row:  # more cells than the header has columns
            problems.append(f"line {number}: more cells than columns")
            continue
        try:
            data = SubscriberLine.model_validate(_line_data(row))
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"])
                problems.append(f"line {number}: {where}: {said(error)}")
            continue
        here = len(problems)
        if data.joined is not None and data.joined > now:
            problems.append(f"line {number}: joined {data.joined.isoformat()} is in the future")
        if data.plan is not None and data.plan not in plans:
            problems.append(f"line {number}: no plan {data.plan!r} (PUT /admin/plans/...)")
        missing = [slug for slug in data.shows if slug not in all_shows]
        if missing:
            problems.append(f"line {number}: no show {', '.join(missing)}")
        entitled = {slug: all_shows[slug] for slug in data.shows if slug in all_shows}
        if data.plan in plans:
            entitled |= {show.slug: show for show in plans[data.plan].shows}
        for slug in data.old_urls:
            if slug not in entitled:
                problems.append(
                    f"line {number}: an old URL for {slug}, which is not among their shows"
                )
        for value, seen, what in (
            (data.email, seen_emails, "email"),
            (data.external_id, seen_ids, "external_id"),
        ):
            if value is not None and value in seen:
                problems.append(f"line {number}: {what} {value} is on line {seen[value]} too")
            elif value is not None:
                seen[value] = number
        existing = _existing(session, data, number, problems)
        for url in data.old_urls.values():
            key = old_urls.old_url_key(str(url))
            if key in seen_urls:
                problems.append(f"line {number}: old URL {url} is on line {seen_urls[key]} too")
            seen_urls[key] = number
            _check_old_url(session, key, str(url), existing, number, problems)
        if len(problems) == here:
            checked.append(_Checked(number, data, list(entitled.values()), existing))
    return checked


def _existing(
    session: Session, data: SubscriberLine, number: int, problems: list[str]
) -> Subscriber | None:
    by_email = session.scalar(select(Subscriber).where(Subscriber.email == data.email))
    if data.external_id is None:
        return by_email
    by_id = session.scalar(select(Subscriber).where(Subscriber.external_id == data.external_id))
    if by_id is not None and by_email is not None and by_id.id != by_email.id:
        problems.append(
            f"line {number}: external_id {data.external_id} is subscriber {by_id.id}, but "
            f"{data.email} is subscriber {by_email.id}"
        )
        return None
    if by_id is None and by_email is not None and by_email.external_id is not None:
        problems.append(
            f"line {number}: {data.email} has external_id {by_email.external_id} here, "
            f"not {data.external_id}"
        )
        return None
    return by_id or by_email


def _check_old_url(
    session: Session,
    key: old_urls.OldUrlKey,
    url: str,
    existing: Subscriber | None,
    number: int,
    problems: list[str],
) -> None:
    taken = session.scalar(
        select(OldFeedUrl).where(OldFeedUrl.host == key.host, OldFeedUrl.path == key.path)
    )
    if taken is None:
        return
    owner = session.scalar(
        select(FeedAccess.subscriber_id).where(FeedAccess.id == taken.feed_access_id)
    )
    if existing is None or owner != existing.id:
        problems.append(f"line {number}: old URL {url} already leads to another feed")


def _apply(
    session: Session, line: _Checked, *, welcome: bool, result: SubscriberImport, now: datetime
) -> int:
    data = line.data
    slugs = [show.slug for show in line.shows]
    subscriber = line.existing
    if subscriber is None:
        create = SubscriberCreate(
            email=data.email, name=data.name, external_id=data.external_id, shows=slugs
        )
        # "Your podcasts are ready" is for those whose podcasts are: not a lapsed member's.
        active = data.status is SubscriberStatus.ACTIVE
        subscriber = subscribers.create(session, create, now=now, emails=welcome and active)
        result.created += 1
    else:
        subscriber.email = data.email
        subscriber.name = data.name or subscriber.name
        subscriber.external_id = data.external_id or subscriber.external_id
        subscribers.set_shows(session, subscriber, slugs, now=now)
        result.updated += 1
    if subscriber.status != data.status:
        subscribers.set_status(session, subscriber, data.status, now=now, emails=False)
    if data.plan is not None:  # its back-catalogue rules apply to them, as to a new member
        subscriber.plan_id = data.plan
    if data.joined is not None:  # long-standing members: no welcome item, their own cutoff
        session.flush()  # the feeds just added get their dates as they are written
        subscriber.created_at = min(subscriber.created_at, data.joined)
        for feed in subscriber.feeds:
            feed.created_at = min(feed.created_at, data.joined)
    added = 0
    for slug, url in data.old_urls.items():
        feed = next(f for f in subscriber.feeds if f.show.slug == slug)
        key = old_urls.old_url_key(str(url))
        existing = session.scalar(
            select(OldFeedUrl.id).where(OldFeedUrl.host == key.host, OldFeedUrl.path == key.path)
        )
        # One already there stays as it is: after a rotation it must not come back to life.
        if existing is None:
            session.add(
                OldFeedUrl(
                    host=key.host,
                    path=key.path,
                    show_id=feed.show_id,
                    feed_access_id=feed.id,
                    token_id=feed.token_id,
                )
            )
            added += 1
    session.flush()
    return added
