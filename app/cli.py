"""`podpass`: the administration commands. Each domain keeps its own (app/<domain>/commands.py);
this module puts them under one name, so that `podpass --help` is the map."""

import logging
import secrets
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from alembic import command
from alembic.config import Config
from typer.main import get_command

from app.accounts.commands import cli as users
from app.analytics.commands import cli as analytics
from app.core.clock import utcnow
from app.core.commands import commands, database
from app.core.config import get_settings
from app.core.tokens import PageLinks
from app.imports.commands import cli as imports
from app.jobs import podpass_runner
from app.sharing.commands import cli as sharing
from app.shows.commands import seed
from app.storage.commands import cli as storage

ROOT = Path(__file__).resolve().parent.parent

cli = commands("Podpass administration commands.")
cli.command("seed")(seed)
cli.add_typer(storage, name="storage")
cli.add_typer(sharing, name="sharing")
cli.add_typer(analytics, name="analytics")
cli.add_typer(users, name="users")
cli.add_typer(imports, name="import")


@cli.command("init-env")
def init_env(
    path: Annotated[Path, typer.Option(help="Where to write it.")] = Path(".env"),
) -> None:
    """Write .env with fresh secrets if missing; never overwrite one."""
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


def alembic_config(database_url: str | None = None) -> Config:
    """alembic.ini beside app/ in a checkout; where the package is installed from a wheel
    (the Docker image), the one in the working directory."""
    found = next(
        (
            folder / "alembic.ini"
            for folder in (ROOT, Path.cwd())
            if (folder / "alembic.ini").exists()
        ),
        None,
    )
    if found is None:
        raise SystemExit("No alembic.ini here: run this in Podpass's folder (beside migrations/).")
    config = Config(str(found))
    config.attributes["configure_logging"] = False
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url)
    return config


@cli.command("migrate")
def migrate(
    database_url: Annotated[
        str | None, typer.Option(help="The database to migrate (default: DATABASE_URL).")
    ] = None,
) -> None:
    """Apply database migrations."""
    command.upgrade(alembic_config(database_url), "head")


@cli.command("worker")
def worker() -> None:
    """Run the background jobs (outbox, rollup, sharing, purge) until stopped.

    Any number of workers may run at once."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with database(settings.database_url) as db:
        links = PageLinks.from_settings(settings)
        runner = podpass_runner(db, settings, utcnow, links=links, outbox=True)
        print(
            f"Sending the outbox every {settings.outbox_poll_seconds:g} s, and the rollup, "
            f"sharing detection and purge every {settings.jobs_interval_seconds:g} s; "
            "Ctrl-C stops."
        )
        runner.start()
        stop.wait()
        runner.stop()  # after the job in hand


def main(argv: Sequence[str] | None = None) -> int:
    """The `podpass` command; with `argv`, run in this process and answer its exit status
    (a SystemExit with a message still propagates, as from the command line)."""
    group = get_command(cli)
    if argv is None:
        group.main(prog_name="podpass")  # exits
        return 0
    status = group.main(args=list(argv), prog_name="podpass", standalone_mode=False)
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    main()
