"""`podpass` administration commands."""

import argparse
import getpass
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from pydantic import TypeAdapter, ValidationError
from rich.progress import DownloadColumn, Progress, TaskID, TransferSpeedColumn
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.analytics import service as analytics
from app.core.clock import utcnow
from app.core.config import DatabaseSettings, get_settings
from app.core.db.engine import Database, build_engine
from app.core.db.session import transaction
from app.core.errors import AppError
from app.core.fields import Email
from app.core.urls import Urls
from app.images import title_card
from app.imports import service as imports
from app.imports.source import FeedError, Source, SourceError
from app.jobs import podpass_runner
from app.main import build_page_links, build_storage
from app.models import Role, Show
from app.sharing import service as sharing
from app.shows import service as shows
from app.storage import Storage
from app.storage.reconcile import reconcile

ROOT = Path(__file__).resolve().parent.parent

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


def init_env(path: Path) -> None:
    """Write a .env with fresh secrets, once; never overwrite one."""
    if path.exists():
        print(f"Using the keys in {path} (PODPASS_ADMIN_KEY is the admin key).")
        return
    path.write_text(
        "# Written by `podpass init-env`. Keep it secret; it is git-ignored.\n"
        f"PODPASS_SECRET_KEY={secrets.token_urlsafe(32)}\n"
        f"PODPASS_ADMIN_KEY={secrets.token_urlsafe(32)}\n"
    )
    path.chmod(0o600)
    print(f"Wrote fresh keys to {path}. The admin key is PODPASS_ADMIN_KEY in that file.")


def migrate(database_url: str | None = None) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logging"] = False
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url)
    command.upgrade(config, "head")


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
            shows.set_artwork(session, storage, show, artwork, f"{spec['slug']}.png")
    return created


def seed() -> None:
    settings = get_settings()
    db = Database(build_engine(settings.database_url))
    with transaction(db.writer) as session:
        created = seed_shows(
            session,
            build_storage(settings),
            base_url=settings.public_base_url,
            owner_email=settings.owner_email,
        )
    db.engine.dispose()
    print(f"Seeded shows: {', '.join(created)}." if created else "Shows already seeded.")


def reconcile_storage(*, grace_hours: float, delete: bool) -> None:
    settings = get_settings()
    db = Database(build_engine(settings.database_url))
    storage = build_storage(settings)
    with transaction(db.reader) as session:
        report = reconcile(session, storage, grace=timedelta(hours=grace_hours), now=utcnow())
    db.engine.dispose()
    for obj in report.orphans:
        age = "older than grace" if obj in report.removable else "recent, kept"
        print(f"orphan object  {obj.key}  {obj.size} bytes  {obj.modified:%Y-%m-%d %H:%M}  ({age})")
    for upload in report.incomplete:
        age = "idle longer than grace" if upload in report.abortable else "recent, kept"
        upload_id = f"  upload {upload.upload_id}" if upload.upload_id else ""
        parts = "" if upload.parts is None else f"{upload.parts} part(s), "
        print(
            f"incomplete upload  {upload.key}{upload_id}  {parts}{upload.size} bytes  "
            f"{upload.modified:%Y-%m-%d %H:%M}  ({age})"
        )
    for episode in report.missing:
        print(f"missing audio  episode {episode.id} ({episode.title!r})  {episode.audio_key}")
    if delete:
        for obj in report.removable:
            storage.delete(obj.key)
        for upload in report.abortable:
            storage.abort(upload)
        print(f"Deleted {len(report.removable)} orphan object(s).")
        print(f"Aborted {len(report.abortable)} incomplete upload(s).")
    else:
        if report.removable:
            print(f"{len(report.removable)} orphan object(s) can go: run again with --delete.")
        if report.abortable:
            print(f"{len(report.abortable)} incomplete upload(s) can go: run again with --delete.")
    if report.agree:
        print("Storage and database agree.")


def detect_sharing() -> None:
    settings = get_settings()
    db = Database(build_engine(settings.database_url))
    with transaction(db.writer) as session:
        alerts = sharing.detect(session, now=utcnow(), settings=settings)
    db.engine.dispose()
    for alert in alerts:
        evidence = alert.evidence
        print(
            f"alert {alert.id} ({alert.status})  subscriber {alert.subscriber_id}  "
            f"show {alert.show_id}  {evidence['prefix_count']} networks, "
            f"{evidence['app_count']} apps, {evidence['downloads']} downloads  "
            f"({', '.join(evidence['reasons'])})"
        )
    if not alerts:
        print("No feed URL looks shared.")


def analytics_rollup(day: date | None) -> None:
    """Count the downloads of `day` (default: yesterday and today), then purge old events."""
    settings = get_settings()
    db = Database(build_engine(settings.database_url))
    now = utcnow()
    first_kept = analytics.first_kept_day(now, settings.event_retention_days)
    if day is not None and day < first_kept:
        raise SystemExit(
            f"{day}'s raw events are purged (PODPASS_EVENT_RETENTION_DAYS): "
            "its downloads stay as they were counted."
        )
    for each in [day] if day else [now.date() - timedelta(days=1), now.date()]:
        with transaction(db.writer) as session:
            counted = analytics.rollup(session, each)
        print(f"{each}: {counted} download(s).")
    with transaction(db.writer) as session:
        purged = analytics.purge(session, now, settings.event_retention_days)
    db.engine.dispose()
    print(f"Purged {purged} raw event(s) from before {first_kept}.")


def worker() -> None:
    """Run the background jobs (outbox, rollup, sharing detection, purge) until SIGTERM or
    Ctrl-C; any number of workers may run at once."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    db = Database(build_engine(settings.database_url))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runner = podpass_runner(db, settings, utcnow, links=build_page_links(settings), outbox=True)
    print(
        f"Sending the outbox every {settings.outbox_poll_seconds:g} s, and the rollup, sharing "
        f"detection and purge every {settings.jobs_interval_seconds:g} s; Ctrl-C stops."
    )
    runner.start()
    stop.wait()
    runner.stop()  # after the job in hand
    db.engine.dispose()


class _DownloadBar:
    """The import's progress on the terminal: one bar per episode, in bytes."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def start(self, title: str, total: int | None) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(title[:40], total=total)

    def advance(self, size: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, size)


def import_feed(slug: str, url_or_file: str, *, public: bool) -> int:
    settings = get_settings()
    db = Database(build_engine(settings.database_url))
    columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
    try:
        source = Source(url_or_file)
        with Progress(*columns, transient=True) as progress:
            report = imports.import_feed(
                db,
                build_storage(settings),
                source,
                slug,
                public=public,
                max_bytes=settings.max_upload_bytes,
                progress=_DownloadBar(progress),
            )
    except (AppError, FeedError, SourceError) as refused:
        raise SystemExit(getattr(refused, "detail", str(refused))) from None
    finally:
        db.engine.dispose()
    for note in report.notes:
        print(f"note: {note}")
    for left_out in report.left_out:
        print(f"left out: {left_out}")
    for failure in report.failed:
        print(f"failed: {failure}")
    summary = f"{len(report.imported)} episode(s) imported, {len(report.skipped)} already here"
    if report.left_out:
        summary += f", {len(report.left_out)} left out (a rerun leaves them out too)"
    if report.failed:
        summary += f", {len(report.failed)} failed: run the command again to retry them"
    print(f"{summary}.")
    return 1 if report.failed else 0  # 1: a rerun has more to do


def import_subscribers(path: Path, *, welcome: bool) -> int:
    db = Database(build_engine(DatabaseSettings().database_url))
    try:
        with transaction(db.writer) as session:
            result = imports.import_subscribers(
                session, path.read_text(encoding="utf-8-sig"), welcome=welcome
            )
    except imports.ImportRefused as refused:
        for problem in refused.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        print(f"{path}: nothing was imported.", file=sys.stderr)
        return 1
    finally:
        db.engine.dispose()
    print(
        f"{result.created} subscriber(s) created, {result.updated} updated, "
        f"{result.old_urls} old feed URL(s) added."
    )
    return 0


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    try:
        password = getpass.getpass("Password (at least 12 characters): ")
        again = getpass.getpass("The same password again: ")
    except EOFError:  # no terminal to ask on
        raise SystemExit(
            "No password was typed (no terminal?): pipe it in with --password-stdin."
        ) from None
    if again != password:
        raise SystemExit("The two passwords differ; nothing was created.")
    return password


def create_staff_user(email: str, role: Role, *, password_stdin: bool) -> None:
    try:
        email = TypeAdapter(Email).validate_python(email)
    except ValidationError:
        raise SystemExit(f"{email!r} is not an email address.") from None
    password = read_password(password_stdin)
    db = Database(build_engine(DatabaseSettings().database_url))
    try:
        with transaction(db.writer) as session:
            user = accounts.create_user(
                session, email=email, password=password, role=role, now=utcnow()
            )
    except AppError as refused:
        raise SystemExit(refused.detail) from None
    finally:
        db.engine.dispose()
    print(f"Created staff account {user.id}: {user.email}, {user.role}.")


def list_staff_users() -> None:
    db = Database(build_engine(DatabaseSettings().database_url))
    with transaction(db.reader) as session:
        users = accounts.list_users(session)
    db.engine.dispose()
    for user in users:
        state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active"
        print(f"{user.id}  {user.email}  {user.role}  {state}")
    if not users:
        print("No staff accounts yet: `podpass users create --email … --role owner`.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="podpass", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    env = commands.add_parser("init-env", help="write .env with fresh secrets if missing")
    env.add_argument("--path", type=Path, default=Path(".env"))
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("seed", help="create the default shows if missing")
    storage = commands.add_parser("storage", help="audio storage maintenance")
    storage_commands = storage.add_subparsers(dest="storage_command", required=True)
    reconcile = storage_commands.add_parser(
        "reconcile",
        help="list orphan objects, episodes without audio and unfinished uploads",
    )
    reconcile.add_argument(
        "--grace-hours",
        type=float,
        default=24,
        help="only orphans and unfinished uploads idle for longer than this may be deleted "
        "(default 24)",
    )
    reconcile.add_argument(
        "--delete",
        action="store_true",
        help="delete those orphans and abort those unfinished uploads",
    )
    sharing_parser = commands.add_parser("sharing", help="feed-sharing detection")
    sharing_commands = sharing_parser.add_subparsers(dest="sharing_command", required=True)
    sharing_commands.add_parser(
        "detect",
        help="open (or refresh) an alert for each feed URL whose downloads look shared",
    )
    analytics_parser = commands.add_parser("analytics", help="listening analytics")
    analytics_commands = analytics_parser.add_subparsers(dest="analytics_command", required=True)
    rollup = analytics_commands.add_parser(
        "rollup",
        help="count downloads (IAB v2.2) from the raw events, then purge expired events",
    )
    rollup.add_argument(
        "--day",
        type=date.fromisoformat,
        help="the UTC day to count, YYYY-MM-DD (default: yesterday and today)",
    )
    commands.add_parser(
        "worker", help="run the background jobs (outbox, rollup, sharing, purge) until stopped"
    )
    users_parser = commands.add_parser("users", help="staff accounts (console and API keys)")
    users_commands = users_parser.add_subparsers(dest="users_command", required=True)
    create_user = users_commands.add_parser(
        "create", help="create a staff account; the password is asked for twice"
    )
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--role", required=True, type=Role, choices=list(Role))
    create_user.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead",
    )
    users_commands.add_parser("list", help="list staff accounts")
    import_parser = commands.add_parser(
        "import", help="move a publisher in: back catalogue, subscribers, old URLs"
    )
    import_commands = import_parser.add_subparsers(dest="import_command", required=True)
    feed_import = import_commands.add_parser(
        "feed",
        help="import a feed's episodes (and its archive pages) into a show; rerun to resume",
    )
    feed_import.add_argument("--show", required=True, help="the show's slug")
    feed_import.add_argument(
        "source", help="the feed's URL (https://user:password@host/... for a private one) or file"
    )
    feed_import.add_argument(
        "--public",
        action="store_true",
        help="this is the show's public feed, moving here: its episodes are free, and its URL "
        "answers 301 to the public feed once its domain points here",
    )
    subscriber_import = import_commands.add_parser(
        "subscribers", help="create or update subscribers from a CSV file (see README)"
    )
    subscriber_import.add_argument("file", type=Path)
    subscriber_import.add_argument(
        "--welcome", action="store_true", help="email new subscribers the welcome email"
    )
    args = parser.parse_args(argv)
    if args.command == "init-env":
        init_env(args.path)
    elif args.command == "migrate":
        migrate()
    elif args.command == "seed":
        seed()
    elif args.command == "analytics":
        analytics_rollup(args.day)
    elif args.command == "storage":
        reconcile_storage(grace_hours=args.grace_hours, delete=args.delete)
    elif args.command == "sharing":
        detect_sharing()
    elif args.command == "users" and args.users_command == "create":
        create_staff_user(args.email, args.role, password_stdin=args.password_stdin)
    elif args.command == "users":
        list_staff_users()
    elif args.command == "worker":
        worker()
    elif args.command == "import" and args.import_command == "feed":
        return import_feed(args.show, args.source, public=args.public)
    elif args.command == "import":
        return import_subscribers(args.file, welcome=args.welcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
