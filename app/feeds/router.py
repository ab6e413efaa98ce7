"""Stage three of serving a feed: delivery. Each route checks who is asking (access.py),
takes the view of the prepared document for them (documents.py), and answers it:
conditional GET, gzip, HEAD, Range, and the episodes' files. Feed polls and audio requests,
and the refusals of a known token (403, 410), are handed to the analytics recorder as they
are answered: a queue append, no I/O.

A subscriber's routes live under their secret token, /p/{token}/...; each show's free
episodes under /shows/{slug}/.... Twin routes share one function that serves the file.
"""

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from app.analytics.recorder import Recorder
from app.core.db.session import SessionDep
from app.core.deps import PageLinksDep, SettingsDep, TokensDep, UrlsDep
from app.core.errors import NotFound
from app.core.routing import get_and_head
from app.feeds import opml
from app.feeds.access import Access, Inactive, Revoked
from app.feeds.deps import (
    Page,
    PublicAccess,
    PublicEpisode,
    Stages,
    StagesDep,
    SubscriberAccess,
    SubscriberEpisode,
    Token,
)
from app.feeds.documents import NOTICE_AUDIO, PAYMENT_AUDIO, WELCOME_AUDIO, FeedView
from app.media.conditional import accepts_gzip, not_modified
from app.media.files import Audio, Files, FilesDep, answered
from app.models import TRANSCRIPT_TYPES, Episode, EventKind, Show, Subscriber, Welcome
from app.subscribers import service as subscribers

router = APIRouter(tags=["feeds"])
RSS_TYPE = "application/rss+xml; charset=utf-8"


# Recording, for analytics.


def _record(
    recorder: Recorder,
    request: Request,
    kind: EventKind,
    status: int,
    *,
    token_id: str | None,
    subscriber_id: int | None = None,
    show_id: int | None = None,
    episode_id: int | None = None,
) -> None:
    """Queue the request for the recorder, which writes it later. The client's address is
    the socket's, or what uvicorn took from a trusted proxy's X-Forwarded-For."""
    headers = request.headers
    client = request.client
    recorder.record(
        kind,
        status,
        request.method,
        token_id=token_id,
        subscriber_id=subscriber_id,
        show_id=show_id,
        episode_id=episode_id,
        byte_range=headers.get("range"),
        user_agent=headers.get("user-agent", ""),
        ip=client.host if client else "",
    )


def _refused(
    stages: Stages,
    request: Request,
    kind: EventKind,
    refusal: Inactive | Revoked,
    episode_id: int | None = None,
) -> None:
    """Record the refusal of a known token (lapsed: 403, revoked: 410). Its holder is found
    from the token's id when the event is written."""
    if stages.recorder is not None:
        status, token_id = refusal.status_code, refusal.token_id
        _record(stages.recorder, request, kind, status, token_id=token_id, episode_id=episode_id)


def _polled(request: Request, stages: Stages, access: Access, page: int) -> Response:
    """A feed (or archive page) poll, answered and recorded."""
    private = access.token is not None
    response = _feed(request, stages.documents.view(access, page), private=private)
    if stages.recorder is not None:
        _record(
            stages.recorder,
            request,
            EventKind.FEED,
            response.status_code,
            token_id=access.token_id,
            subscriber_id=access.subscriber_id,
            show_id=access.show_id,
        )
    return response


def _subscriber_feed(token: str, page: int, request: Request, stages: Stages) -> Response:
    try:
        access = stages.gate.subscriber(token)
    except Revoked as refusal:
        _refused(stages, request, EventKind.FEED, refusal)
        raise
    return _polled(request, stages, access, page)


def _feed(request: Request, view: FeedView, *, private: bool) -> Response:
    headers = {
        "ETag": view.etag,
        "Last-Modified": view.last_modified_header,
        "Cache-Control": "private, no-cache" if private else "public, max-age=300",
        "Vary": "Accept-Encoding",
    }
    if private:
        headers["X-Robots-Tag"] = "noindex, nofollow"
    if not_modified(request, view.etag, view.last_modified):
        return Response(status_code=304, headers=headers)
    if accepts_gzip(request):
        body = view.gzip_body()
        headers["Content-Encoding"] = "gzip"
    else:
        body = view.body()
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(media_type=RSS_TYPE, headers=headers)
    return Response(body, media_type=RSS_TYPE, headers=headers)


def _enclosure(
    files: Files,
    audio: Audio,
    extension: str,
    recorder: Recorder | None,
    *,
    token_id: str | None,
    subscriber_id: int | None,
    show_id: int,
    episode_id: int,
) -> Response:
    """An episode's audio, answered and recorded: a subscriber's, or a free one's (no token)."""
    response = files.audio(audio, extension, private=token_id is not None)
    if recorder is not None:
        status = answered(files.request, response)
        _record(
            recorder,
            files.request,
            EventKind.AUDIO,
            status,
            token_id=token_id,
            subscriber_id=subscriber_id,
            show_id=show_id,
            episode_id=episode_id,
        )
    return response


def _chapters(episode: Episode) -> Response:
    if not episode.chapters:
        raise NotFound("This episode has no chapters.")
    return JSONResponse(episode.chapters, media_type="application/json+chapters")


def _transcript(episode: Episode, extension: str) -> Response:
    kind = TRANSCRIPT_TYPES.get(extension)
    if not episode.transcript or kind is None or kind != episode.transcript_type:
        raise NotFound(f"This episode has no transcript.{extension}.")
    return Response(episode.transcript, media_type=f"{kind}; charset=utf-8")


# A subscriber's routes. The literal ones come before /{episode_id}.{extension}.


@get_and_head(
    router, "/p/{token}/feed.xml", response_class=Response, summary="A subscriber's RSS feed"
)
def get_feed(token: Token, request: Request, stages: StagesDep) -> Response:
    return _subscriber_feed(token, 0, request, stages)


@get_and_head(
    router, "/p/{token}/archive/{page:natural}.xml", response_class=Response, summary="Archive page"
)
def get_archive(token: Token, page: Page, request: Request, stages: StagesDep) -> Response:
    """An older page of a subscriber's feed (RFC 5005)."""
    return _subscriber_feed(token, page, request, stages)


@get_and_head(router, "/p/{token}/all.opml", response_class=Response)
def get_opml(
    access: SubscriberAccess, tokens: TokensDep, urls: UrlsDep, session: SessionDep
) -> Response:
    """All of a subscriber's feeds, as OPML, to add a bundle in one step."""
    subscriber = session.get_one(Subscriber, access.subscriber_id)
    feeds = opml.subscriber_feeds(subscriber, tokens, urls)
    return Response(
        opml.render("My private podcast feeds", feeds),
        media_type=opml.MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="podcasts.opml"',
            "Cache-Control": "private, no-store",
        },
    )


@get_and_head(router, "/p/{token}/{episode_id:natural}.{extension}", response_class=Response)
def get_enclosure(
    token: Token, episode_id: int, extension: str, request: Request, stages: StagesDep
) -> Response:
    """An episode's audio (Range, HEAD and conditional requests too)."""
    # Digits, by the path; a plain int here (the gate refuses ids beyond the column):
    # RowId's bounds cost this, the hottest route, about 10 µs a request.
    try:
        access, audio = stages.gate.audio(token, episode_id)  # one query: token and episode
    except (Inactive, Revoked) as refusal:
        _refused(stages, request, EventKind.AUDIO, refusal, episode_id)
        raise
    return _enclosure(
        Files(request, stages.storage, stages.handoff),
        audio,
        extension,
        stages.recorder,
        token_id=access.token_id,
        subscriber_id=access.subscriber_id,
        show_id=access.show_id,
        episode_id=episode_id,
    )


# Public routes: each show's free feed, its artwork, and its free episodes' files.


@get_and_head(router, "/p/{token}/my", response_class=RedirectResponse, status_code=303)
def get_page_via_feed(
    access: SubscriberAccess, links: PageLinksDep, urls: UrlsDep
) -> RedirectResponse:
    """The subscriber's page, from the link in their feed's welcome item: a fresh signed
    page link each time, so the feed's link never expires."""
    assert access.subscriber_id is not None
    link = subscribers.page_link(links, urls, access.subscriber_id)
    return RedirectResponse(link.url, status_code=303, headers={"Cache-Control": "no-store"})


def _spoken(path: Path) -> Response:
    return FileResponse(
        path, media_type="audio/mpeg", headers={"Cache-Control": "public, max-age=86400"}
    )


@get_and_head(
    router, "/notice.mp3", response_class=Response, summary="The lapsed feed's spoken notice"
)
def get_notice() -> Response:
    return _spoken(NOTICE_AUDIO)


@get_and_head(router, "/welcome.mp3", response_class=Response, summary="The default spoken welcome")
def get_welcome() -> Response:
    return _spoken(WELCOME_AUDIO)


@get_and_head(
    router, "/payment.mp3", response_class=Response, summary="The payment problem, spoken"
)
def get_payment_notice() -> Response:
    return _spoken(PAYMENT_AUDIO)


@get_and_head(router, "/shows/{slug}/feed.xml", response_class=Response)
def get_public_feed(slug: str, request: Request, stages: StagesDep) -> Response:
    """A show's public feed of free episodes."""
    return _polled(request, stages, stages.gate.public(slug), 0)


@get_and_head(router, "/shows/{slug}/archive/{page:natural}.xml", response_class=Response)
def get_public_archive(
    access: PublicAccess, page: Page, request: Request, stages: StagesDep
) -> Response:
    """An older page of a show's public feed (RFC 5005)."""
    return _polled(request, stages, access, page)


@get_and_head(
    router, "/shows/{slug}/artwork.{extension}", response_class=Response, summary="Show artwork"
)
def get_show_artwork(
    access: PublicAccess,
    extension: str,
    files: FilesDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The show's artwork; until some is uploaded, its title card."""
    show = session.get_one(Show, access.show_id)
    if show.artwork_key is None and extension == "png":
        return files.title_card(show.title, settings.publisher_colour)
    return files.artwork(show.artwork_key, extension, private=False)


@get_and_head(router, "/shows/{slug}/welcome.{extension}", response_class=Response)
def get_show_welcome(
    access: PublicAccess, extension: str, files: FilesDep, session: SessionDep
) -> Response:
    """The audio a show's publisher recorded for its welcome item."""
    welcome = session.get(Welcome, access.show_id)
    if welcome is None or welcome.audio_key is None or welcome.audio_mime is None:
        raise NotFound("This show has no welcome recording.")
    size = welcome.audio_size or 0
    audio = Audio(
        welcome.audio_key, welcome.audio_mime, size, "Welcome", welcome.updated_at, "welcome"
    )
    return files.audio(audio, extension, private=False)


@get_and_head(
    router, "/shows/{slug}/episodes/{episode_id:natural}.{extension}", response_class=Response
)
def get_public_enclosure(
    episode: PublicEpisode, extension: str, files: FilesDep, stages: StagesDep
) -> Response:
    """A free episode's audio."""
    return _enclosure(
        files,
        Audio.of(episode),
        extension,
        stages.recorder,
        token_id=None,
        subscriber_id=None,
        show_id=episode.show_id,
        episode_id=episode.id,
    )


# An episode's other files, each for its subscribers and, when free, for anyone.


@get_and_head(
    router,
    "/p/{token}/{episode_id:natural}/chapters.json",
    response_class=Response,
    summary="Chapters",
)
def get_chapters(episode: SubscriberEpisode) -> Response:
    return _chapters(episode)


@get_and_head(
    router, "/shows/{slug}/episodes/{episode_id:natural}/chapters.json", response_class=Response
)
def get_public_chapters(episode: PublicEpisode) -> Response:
    """A free episode's chapters."""
    return _chapters(episode)


@get_and_head(
    router,
    "/p/{token}/{episode_id:natural}/transcript.{extension}",
    response_class=Response,
    summary="Transcript",
)
def get_transcript(episode: SubscriberEpisode, extension: str) -> Response:
    return _transcript(episode, extension)


@get_and_head(
    router,
    "/shows/{slug}/episodes/{episode_id:natural}/transcript.{extension}",
    response_class=Response,
)
def get_public_transcript(episode: PublicEpisode, extension: str) -> Response:
    """A free episode's transcript."""
    return _transcript(episode, extension)


@get_and_head(
    router, "/p/{token}/{episode_id:natural}/artwork.{extension}", response_class=Response
)
def get_episode_artwork(episode: SubscriberEpisode, extension: str, files: FilesDep) -> Response:
    """An episode's artwork."""
    return files.artwork(episode.artwork_key, extension, private=True)


@get_and_head(
    router,
    "/shows/{slug}/episodes/{episode_id:natural}/artwork.{extension}",
    response_class=Response,
)
def get_public_episode_artwork(episode: PublicEpisode, extension: str, files: FilesDep) -> Response:
    """A free episode's artwork."""
    return files.artwork(episode.artwork_key, extension, private=False)
