"""article text and show notes are stored as sanitised feed HTML

Before this revision an episode's `article_text` was plain text, turned into paragraphs each
time a feed was rendered, and its `show_notes` were HTML stored as sent. Since then the API
sanitises both on the way in (`app.text.feed_html`) and feeds emit them as stored. This
converts the rows stored before with that same function (a second copy of the sanitiser's
rules here could drift from the one the API uses), and moves the feeds of every show whose
published episodes changed to a new version, so clients fetch them again.

Downgrade is a no-op: the sanitised HTML can't be turned back into the text as it was sent.
The schema is unchanged, so revision 0004's code runs on the converted rows; it shows an
article's tags as text (it escapes `article_text`) until this revision is applied again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.text import feed_html

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500

shows = sa.table(
    "shows",
    sa.column("id", sa.Integer),
    sa.column("feed_version", sa.Integer),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
episodes = sa.table(
    "episodes",
    sa.column("id", sa.Integer),
    sa.column("show_id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("show_notes", sa.Text),
    sa.column("article_text", sa.Text),
)


def upgrade() -> None:
    connection = op.get_bind()
    changed_shows: set[int] = set()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(
                episodes.c.id,
                episodes.c.show_id,
                episodes.c.status,
                episodes.c.show_notes,
                episodes.c.article_text,
            )
            .where(episodes.c.id > after)
            .order_by(episodes.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            notes = feed_html(row.show_notes)
            article = None if row.article_text is None else feed_html(row.article_text)
            if (notes, article) != (row.show_notes, row.article_text):
                connection.execute(
                    episodes.update()
                    .where(episodes.c.id == row.id)
                    .values(show_notes=notes, article_text=article)
                )
                if row.status == "published":
                    changed_shows.add(row.show_id)
        after = rows[-1].id
    if changed_shows:
        connection.execute(
            shows.update()
            .where(shows.c.id.in_(sorted(changed_shows)))
            .values(feed_version=shows.c.feed_version + 1, updated_at=datetime.now(UTC))
        )


def downgrade() -> None:
    """Nothing to undo in the schema, and the text as sent is gone (see above)."""
