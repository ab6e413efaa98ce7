"""`podpass` administration commands."""

import argparse
import secrets
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import Database, build_engine, transaction, utcnow
from app.main import build_storage
from app.models import Show
from app.storage.reconcile import reconcile

ROOT = Path(__file__).resolve().parent.parent

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


def seed_shows(session: Session, *, base_url: str, owner_email: str) -> list[str]:
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


def seed() -> None:
    settings = get_settings()
    db = Database(build_engine(settings.database_url))
    with transaction(db.writer) as session:
        created = seed_shows(
            session, base_url=settings.public_base_url, owner_email=settings.owner_email
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
    for episode in report.missing:
        print(f"missing audio  episode {episode.id} ({episode.title!r})  {episode.audio_key}")
    if delete:
        for obj in report.removable:
            storage.delete(obj.key)
        print(f"Deleted {len(report.removable)} orphan object(s).")
    elif report.removable:
        print(f"{len(report.removable)} orphan object(s) can go: run again with --delete.")
    if not report.orphans and not report.missing:
        print("Storage and database agree.")


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
        "reconcile", help="list orphan objects and episodes without audio"
    )
    reconcile.add_argument(
        "--grace-hours",
        type=float,
        default=24,
        help="only orphans older than this may be deleted (default 24)",
    )
    reconcile.add_argument(
        "--delete", action="store_true", help="delete the orphans older than the grace period"
    )
    args = parser.parse_args(argv)
    if args.command == "init-env":
        init_env(args.path)
    elif args.command == "migrate":
        migrate()
    elif args.command == "seed":
        seed()
    elif args.command == "storage":
        reconcile_storage(grace_hours=args.grace_hours, delete=args.delete)
    return 0


if __name__ == "__main__":
    sys.exit(main())
