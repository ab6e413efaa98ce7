"""`podpass analytics`: listening analytics."""

from datetime import date, timedelta
from typing import Annotated

import typer

from app.analytics import service as analytics
from app.core.clock import utcnow
from app.core.commands import commands, database
from app.core.config import get_settings
from app.core.db.session import transaction

cli = commands("Listening analytics.")


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a day: write it as YYYY-MM-DD.") from None


@cli.command("rollup")
def rollup(
    day: Annotated[
        date | None,
        typer.Option(
            parser=_day,
            metavar="YYYY-MM-DD",
            help="The UTC day to count (default: yesterday and today).",
        ),
    ] = None,
) -> None:
    """Count downloads (IAB v2.2) from the raw events, then purge expired events."""
    settings = get_settings()
    now = utcnow()
    first_kept = analytics.first_kept_day(now, settings.event_retention_days)
    if day is not None and day < first_kept:
        raise SystemExit(
            f"{day}'s raw events are purged (PODPASS_EVENT_RETENTION_DAYS): "
            "its downloads stay as they were counted."
        )
    with database(settings.database_url) as db:
        for each in [day] if day else [now.date() - timedelta(days=1), now.date()]:
            with transaction(db.writer) as session:
                counted = analytics.rollup(session, each)
            print(f"{each}: {counted} download(s).")
        with transaction(db.writer) as session:
            purged = analytics.purge(session, now, settings.event_retention_days)
    print(f"Purged {purged} raw event(s) from before {first_kept}.")
