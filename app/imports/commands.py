"""`podpass import`: move a publisher in (back catalogue, subscribers, old URLs)."""

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import DownloadColumn, Progress, TaskID, TransferSpeedColumn

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.commands import commands, database
from app.core.config import get_settings
from app.core.db.session import transaction
from app.core.errors import AppError
from app.imports import catalogue, subscriber_csv
from app.imports.source import FeedError, Source, SourceError
from app.storage.factory import build_storage

cli = commands("Move a publisher in: back catalogue, subscribers, old URLs.")


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


@cli.command("feed")
def import_feed(
    show: Annotated[str, typer.Option(help="The show's slug.")],
    source: Annotated[
        str,
        typer.Argument(
            help="The feed's URL (https://user:password@host/... for a private one) or file."
        ),
    ],
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="This is the show's public feed, moving here: its episodes are free, and its "
            "URL answers 301 to the public feed once its domain points here.",
        ),
    ] = False,
) -> None:
    """Import a feed's episodes (and its archive pages) into a show; rerun to resume."""
    settings = get_settings()
    columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
    try:
        with database(settings.database_url) as db, Progress(*columns, transient=True) as bar:
            report = catalogue.import_feed(
                db,
                build_storage(settings),
                Source(source),
                show,
                public=public,
                max_bytes=settings.max_upload_bytes,
                clock=utcnow,
                progress=_DownloadBar(bar),
            )
    except (AppError, FeedError, SourceError) as refused:
        raise SystemExit(getattr(refused, "detail", str(refused))) from None
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
    if report.failed:  # a rerun has more to do
        raise typer.Exit(1)


@cli.command("subscribers")
def import_subscribers(
    file: Annotated[Path, typer.Argument(help="A UTF-8 CSV file (docs: Moving in).")],
    welcome: Annotated[
        bool,
        typer.Option("--welcome", help="Email new active subscribers the welcome email."),
    ] = False,
) -> None:
    """Create or update subscribers from a CSV file."""
    try:
        with database() as db, transaction(db.writer) as session:
            audit.act_as(session, audit.COMMAND_LINE, utcnow)
            result = subscriber_csv.import_subscribers(
                session,
                subscriber_csv.text_of(file.read_bytes()),
                welcome=welcome,
                now=utcnow(),
            )
    except subscriber_csv.ImportRefused as refused:
        for problem in refused.problems:
            print(f"{file}: {problem}", file=sys.stderr)
        print(f"{file}: nothing was imported.", file=sys.stderr)
        raise typer.Exit(1) from None
    print(
        f"{result.created} subscriber(s) created, {result.updated} updated, "
        f"{result.old_urls} old feed URL(s) added."
    )
