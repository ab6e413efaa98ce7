"""The unit of work: a transaction that commits or rolls back as a whole, with hooks that
run after it (to delete a stored object, or remove one a failed upload left), and the
request's own transaction."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from app.core.db.engine import Database
from app.core.db.schema import Base
from app.core.errors import NotFound

logger = logging.getLogger(__name__)
Row = TypeVar("Row", bound=Base)


def get_by_id(session: Session, model: type[Row], row_id: int, what: str) -> Row:
    """The `model` row with this id, or NotFound naming it as `what` ("No episode with id 7.")."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"No {what} with id {row_id}.")
    return row


def conflict_insert(session: Session, model: type[Base]) -> sqlite.Insert | postgresql.Insert:
    """An INSERT of `model` that can say ON CONFLICT, in the session's database's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` once the transaction has committed (e.g. delete a stored object)."""
    session.info.setdefault("after_commit", []).append(action)


def after_rollback(session: Session, action: Callable[[], None]) -> None:
    """Run `action` if the transaction fails (e.g. remove an object it had just stored)."""
    session.info.setdefault("after_rollback", []).append(action)


def _run(session: Session, hook: str) -> None:
    for action in session.info.pop(hook, []):
        try:
            action()
        except Exception:
            # The reconcile command finds whatever a failed clean-up leaves behind.
            logger.exception("clean-up after %s failed", hook)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back (and undo side effects) on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        _run(session, "after_rollback")
        raise
    else:
        _run(session, "after_commit")
    finally:
        session.close()


def get_session(request: Request) -> Iterator[Session]:
    db: Database = request.app.state.db
    factory = db.reader if request.method in ("GET", "HEAD") else db.writer
    with transaction(factory) as session:
        yield session


# scope="function": the transaction ends before the response goes out.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
