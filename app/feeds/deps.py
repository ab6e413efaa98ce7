"""The feed routes' dependencies: the stages built once in the lifespan, who is asking, and
the `{name:natural}` path convertor."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi import Path as PathParam
from starlette.convertors import Convertor, register_url_convertor

from app.analytics.recorder import Recorder
from app.core.db.session import SessionDep
from app.core.deps import built
from app.feeds.access import Access, Gate
from app.feeds.documents import Documents
from app.media.files import Handoff
from app.models import Episode
from app.storage import Storage


class Natural(Convertor[int]):
    """`{name:natural}` in a path: 1 to 19 digits, no leading zero. Anything else matches no
    route, so a podcast app asking for `abc.mp3` or archive page 0 gets the 404 of a file
    that is not there, not a 422. 19 digits keep int() far from Python's limit on long
    numbers; an id's own bound is checked where it is looked up (Gate)."""

    regex = "[1-9][0-9]{0,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("natural", Natural())


Token = Annotated[str, PathParam(description="The subscriber's secret feed token.")]
Page = Annotated[int, PathParam(description="Archive page, 1 the oldest.")]


@dataclass(frozen=True)
class Stages:
    """The long-lived parts of the stages, built once in the lifespan and handed to a route
    as one dependency: each dependency FastAPI resolves costs a hot route about 15 µs."""

    gate: Gate
    documents: Documents
    storage: Storage
    recorder: Recorder | None  # None: analytics off (PODPASS_ANALYTICS=false)
    handoff: Handoff | None = None  # None: local files are sent by this server


StagesDep = Annotated[Stages, built("stages")]


# Who is asking, as dependencies, for the routes off the hot path (a sync dependency costs
# a thread hop of its own: the feed and audio routes check access in their own thread).


def subscriber_access(token: Token, stages: StagesDep) -> Access:
    return stages.gate.subscriber(token)


def public_access(slug: str, stages: StagesDep) -> Access:
    return stages.gate.public(slug)


SubscriberAccess = Annotated[Access, Depends(subscriber_access)]
PublicAccess = Annotated[Access, Depends(public_access)]


def subscriber_episode(
    access: SubscriberAccess, episode_id: int, stages: StagesDep, db: SessionDep
) -> Episode:
    return stages.gate.episode(db, access, episode_id)


def public_episode(
    access: PublicAccess, episode_id: int, stages: StagesDep, db: SessionDep
) -> Episode:
    return stages.gate.episode(db, access, episode_id)


SubscriberEpisode = Annotated[Episode, Depends(subscriber_episode)]
PublicEpisode = Annotated[Episode, Depends(public_episode)]
