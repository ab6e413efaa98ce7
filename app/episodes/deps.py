"""The episode a path names, for every route that takes one."""

from typing import Annotated

from fastapi import Depends

from app.core.db.session import SessionDep
from app.core.deps import RowId
from app.episodes import service
from app.models import Episode


def episode_by_id(episode_id: RowId, session: SessionDep) -> Episode:
    return service.get(session, episode_id)


EpisodeDep = Annotated[Episode, Depends(episode_by_id)]
