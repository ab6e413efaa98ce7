"""`podpass sharing`: feed-sharing detection."""

from app.core.clock import utcnow
from app.core.commands import commands, database
from app.core.config import get_settings
from app.core.db.session import transaction
from app.sharing import service as sharing

cli = commands("Feed-sharing detection.")


@cli.command("detect")
def detect_sharing() -> None:
    """Open (or refresh) an alert for each feed URL whose downloads look shared."""
    settings = get_settings()
    with database(settings.database_url) as db, transaction(db.writer) as session:
        alerts = sharing.detect(session, now=utcnow(), settings=settings)
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
