"""`podpass` administration commands."""

import argparse
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.config import get_settings
from app.db import Database, build_engine, transaction
from app.shows import service as shows

ROOT = Path(__file__).resolve().parent.parent


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


def seed() -> None:
    settings = get_settings()
    db = Database(build_engine(settings.database_url))
    with transaction(db.writer) as session:
        created = shows.seed(
            session, base_url=settings.public_base_url, owner_email=settings.owner_email
        )
    db.engine.dispose()
    print(f"Seeded shows: {', '.join(created)}." if created else "Shows already seeded.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="podpass", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    env = commands.add_parser("init-env", help="write .env with fresh secrets if missing")
    env.add_argument("--path", type=Path, default=Path(".env"))
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("seed", help="create the default shows if missing")
    args = parser.parse_args(argv)
    if args.command == "init-env":
        init_env(args.path)
    elif args.command == "migrate":
        migrate()
    elif args.command == "seed":
        seed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
