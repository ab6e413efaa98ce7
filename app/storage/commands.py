"""`podpass storage`: audio storage maintenance."""

from datetime import timedelta
from typing import Annotated

import typer

from app.core.clock import utcnow
from app.core.commands import commands, database
from app.core.config import get_settings
from app.core.db.session import transaction
from app.storage.factory import build_storage
from app.storage.reconcile import reconcile

cli = commands("Audio storage maintenance.")


@cli.command("reconcile")
def reconcile_storage(
    grace_hours: Annotated[
        float,
        typer.Option(
            help="Only orphans and unfinished uploads idle for longer than this may be deleted."
        ),
    ] = 24,
    delete: Annotated[
        bool,
        typer.Option("--delete", help="Delete those orphans and abort those unfinished uploads."),
    ] = False,
) -> None:
    """List orphan objects, episodes without audio and unfinished uploads."""
    settings = get_settings()
    storage = build_storage(settings)
    with database(settings.database_url) as db, transaction(db.reader) as session:
        report = reconcile(session, storage, grace=timedelta(hours=grace_hours), now=utcnow())
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
