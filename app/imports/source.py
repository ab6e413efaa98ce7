"""A podcast's feed at its previous host: the only module that imports feedparser.

feedparser, not podcastparser: it keeps RFC 5005's `prev-archive` links and the type of a
`podcast:transcript`, which podcastparser drops. What the channel says of the show itself
is read with the standard library's ElementTree, since feedparser flattens nested
`itunes:category` elements, keeps one `podcast:person` (without its name), and lets a small
RSS `<image>` stand for `itunes:image`. Pages and files are fetched with the
standard library's urllib (the app has no HTTP client at run time). Credentials given in the
source URL (https://user:password@host/feed) are sent as basic auth, and only to the
source's own origin: an enclosure on a CDN, or a redirect elsewhere, never sees them.
"""

import base64
import calendar
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from xml.etree import ElementTree

import feedparser

CHUNK = 1024 * 1024
USER_AGENT = "Podpass-import/1.0"
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024  # a feed page, chapters or a transcript


# Answers that another try may change: a timeout, throttling, and any 5xx (the server's own
# trouble). Any other refusal (404 and 410: not there; 401 and 403: not for us) stays.
_TRY_AGAIN = {408, 425, 429}


class SourceError(Exception):
    """A page or file could not be fetched, or was cut short: worth another try."""


class FeedError(Exception):
    """What no retry changes: the source is not a feed this importer can read, or its host
    refuses a file for good (404, 410, 401, 403...)."""


@dataclass(frozen=True)
class Linked:
    """A file an item points at, with the type the feed gives for it."""

    url: str
    type: str = ""


# Same shape as ShowFields in shows/schemas.py (optional field after optional field): this
# is what a feed says, unchecked; that is what the API accepts. The importer maps one onto the
# other, reporting what the checks refuse.
@dataclass(frozen=True)
class SourceEpisode:
    guid: str
    title: str
    published_at: datetime | None
    show_notes: str
    audio: Linked | None
    number: int | None = None
    season: int | None = None
    episode_type: str | None = None
    explicit: bool | None = None
    artwork: str | None = None
    chapters: Linked | None = None
    transcripts: list[Linked] = field(default_factory=list)


@dataclass(frozen=True)
class SourceCategory:
    """An Apple Podcasts category, with the first category nested in it."""

    name: str
    subcategory: str | None = None


@dataclass(frozen=True)
class SourcePerson:
    """A podcast:person: its node value names them; a missing role is "host"."""

    name: str
    role: str | None = None
    group: str | None = None
    href: str | None = None
    img: str | None = None


@dataclass(frozen=True)
class SourceChannel:
    """What a feed says about the show itself."""

    description: str = ""  # as the feed has it: plain text or HTML
    categories: list[SourceCategory] = field(default_factory=list)
    people: list[SourcePerson] = field(default_factory=list)
    artwork: str | None = None  # itunes:image
    unreadable: str | None = None  # why none of it could be read


@dataclass(frozen=True)
class SourcePage:
    url: str
    title: str
    artwork: str | None
    episodes: list[SourceEpisode]
    older: str | None  # the next archive page back (RFC 5005 prev-archive, or rel="next")
    channel: SourceChannel = field(default_factory=SourceChannel)


def _without_credentials(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    user, password = unquote(parts.username), unquote(parts.password or "")
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, base64.b64encode(f"{user}:{password}".encode()).decode()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class Source:
    """Where a feed comes from: an http(s) URL (perhaps with credentials, or a token in its
    query) or a local file. Only a local feed may point at local files."""

    def __init__(self, url_or_file: str, *, timeout: float = 60) -> None:
        scheme = urlsplit(url_or_file).scheme
        if scheme in ("http", "https"):
            self.url, self._auth = _without_credentials(url_or_file)
            self._schemes: tuple[str, ...] = ("http", "https")
        elif scheme in ("", "file"):
            path = Path(url_or_file.removeprefix("file://")).expanduser().resolve()
            if not path.is_file():
                raise FeedError(f"No feed file at {path}.")
            self.url, self._auth = path.as_uri(), None
            self._schemes = ("http", "https", "file")
        else:
            raise FeedError(f"{url_or_file}: give an http(s) URL or a file.")
        self.timeout = timeout

    @property
    def public_url(self) -> str:
        """The source's address without its credentials, fit for a log or the database."""
        return self.url

    def _open(self, url: str) -> Any:
        if urlsplit(url).scheme not in self._schemes:
            raise FeedError(f"{url}: not a URL this feed may point at.")
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310 (checked above)
        if self._auth and _origin(url) == _origin(self.url):
            # Unredirected: urllib would otherwise carry it along to wherever a redirect goes.
            request.add_unredirected_header("Authorization", f"Basic {self._auth}")
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            again = exc.code in _TRY_AGAIN or exc.code >= 500
            error = SourceError if again else FeedError
            raise error(f"{_shown(url)} answered {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SourceError(f"{_shown(url)}: {getattr(exc, 'reason', exc)}") from None

    def download(
        self, url: str, into: IO[bytes], progress: Callable[[int], None] | None = None
    ) -> int:
        """Stream the file at `url` into `into`; return its size. A body shorter than its
        Content-Length is a SourceError, not a file."""
        with self._open(url) as answer:
            expected = answer.headers.get("Content-Length")
            size = 0
            try:
                while chunk := answer.read(CHUNK):
                    into.write(chunk)
                    size += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
            except (OSError, ValueError) as exc:  # http.client.IncompleteRead is an OSError
                raise SourceError(f"{_shown(url)} broke off after {size} bytes: {exc}") from None
        if expected is not None and expected.isdigit() and int(expected) != size:
            raise SourceError(f"{_shown(url)} sent {size} of {expected} bytes")
        return size

    def fetch(self, url: str) -> bytes:
        """A small document: a feed page, chapters, a transcript, artwork."""
        with self._open(url) as answer:
            try:
                data: bytes = answer.read(MAX_DOCUMENT_BYTES + 1)
            except (OSError, ValueError) as exc:
                raise SourceError(f"{_shown(url)} broke off: {exc}") from None
        if len(data) > MAX_DOCUMENT_BYTES:
            raise FeedError(f"{_shown(url)} is larger than {MAX_DOCUMENT_BYTES} bytes")
        return data

    def pages(self) -> Iterator[SourcePage]:
        """The feed, then each archive page back, each page once."""
        url: str | None = self.url
        seen: set[str] = set()
        while url is not None and url not in seen:
            seen.add(url)
            page = parse_page(url, self.fetch(url))
            yield page
            url = page.older


def _shown(url: str) -> str:
    """A URL as a message may show it: without its query, which may hold a token."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _int(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _linked(value: Any, base: str) -> Linked | None:
    if not isinstance(value, dict) or not value.get("url"):
        return None
    return Linked(urljoin(base, value["url"]), str(value.get("type") or ""))


def _episode(entry: Any, base: str) -> SourceEpisode | None:
    enclosures = [link for link in entry.get("links", []) if link.get("rel") == "enclosure"]
    audio = (
        Linked(urljoin(base, enclosures[0]["href"]), enclosures[0].get("type", ""))
        if enclosures and enclosures[0].get("href")
        else None
    )
    guid = entry.get("id") or (audio.url if audio else None)
    if not guid:
        return None
    published = entry.get("published_parsed")
    content = entry.get("content") or []
    notes = content[0].get("value", "") if content else entry.get("summary", "")
    image = entry.get("image")
    explicit = entry.get("itunes_explicit")
    transcript = _linked(entry.get("podcast_transcript"), base)
    return SourceEpisode(
        guid=str(guid).strip(),
        title=str(entry.get("title") or "").strip(),
        published_at=(
            datetime.fromtimestamp(calendar.timegm(published), UTC) if published else None
        ),
        show_notes=str(notes or ""),
        audio=audio,
        number=_int(entry.get("itunes_episode")),
        season=_int(entry.get("itunes_season")),
        episode_type=str(entry.get("itunes_episodetype") or "").strip().lower() or None,
        explicit=explicit if isinstance(explicit, bool) else None,
        artwork=urljoin(base, image["href"]) if image and image.get("href") else None,
        chapters=_linked(entry.get("podcast_chapters"), base),
        transcripts=[transcript] if transcript else [],
    )


_ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
# The Podcasting 2.0 namespace, and the address early feeds copied from its documentation.
_PODCAST = (
    "{https://podcastindex.org/namespace/1.0}",
    "{https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md}",
)


def _text(element: ElementTree.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _attribute(element: ElementTree.Element, name: str) -> str | None:
    return (element.get(name) or "").strip() or None


def _category(element: ElementTree.Element) -> SourceCategory | None:
    name = _attribute(element, "text")
    if name is None:
        return None
    nested = element.find(f"{_ITUNES}category")
    return SourceCategory(name, _attribute(nested, "text") if nested is not None else None)


def _person(element: ElementTree.Element, base: str) -> SourcePerson | None:
    # The node value is the name; the first drafts of the tag had it as an attribute.
    name = _text(element) or _attribute(element, "name")
    if name is None:
        return None
    href, img = _attribute(element, "href"), _attribute(element, "img")
    return SourcePerson(
        name=name,
        role=_attribute(element, "role"),
        group=_attribute(element, "group"),
        href=urljoin(base, href) if href else None,
        img=urljoin(base, img) if img else None,
    )


def parse_channel(url: str, data: bytes) -> SourceChannel:
    """The channel's description (RSS `description`, else `itunes:summary`), its Apple
    categories, its podcast:person elements and its itunes:image."""
    try:
        # expat (2.4.1 and later) refuses entity expansion bombs, and ElementTree fetches
        # no external entity: safe for a document from elsewhere.
        root = ElementTree.fromstring(data)  # noqa: S314
    except ElementTree.ParseError as exc:
        return SourceChannel(unreadable=f"{_shown(url)} is not well-formed XML ({exc})")
    channel = root.find("channel")
    if channel is None:
        return SourceChannel()
    image = channel.find(f"{_ITUNES}image")
    # href, as Apple specifies; some hosts give the URL as the element's text.
    artwork = (_attribute(image, "href") or _text(image) or None) if image is not None else None
    people = [
        _person(element, url)
        for prefix in _PODCAST
        for element in channel.findall(f"{prefix}person")
    ]
    return SourceChannel(
        description=_text(channel.find("description")) or _text(channel.find(f"{_ITUNES}summary")),
        categories=[
            c for c in map(_category, channel.findall(f"{_ITUNES}category")) if c is not None
        ],
        people=[person for person in people if person is not None],
        artwork=urljoin(url, artwork) if artwork else None,
    )


def parse_page(url: str, data: bytes) -> SourcePage:
    parsed = feedparser.parse(data, response_headers={"content-location": url})
    if parsed.get("bozo") and not parsed.entries and not parsed.feed.get("title"):
        raise FeedError(f"{_shown(url)} is not a feed: {parsed.get('bozo_exception')}")
    links = parsed.feed.get("links", [])
    older = next((link["href"] for link in links if link.get("rel") == "prev-archive"), None)
    older = older or next((link["href"] for link in links if link.get("rel") == "next"), None)
    image = parsed.feed.get("image") or {}
    channel = parse_channel(url, data)
    episodes = [e for e in (_episode(entry, url) for entry in parsed.entries) if e is not None]
    return SourcePage(
        url=url,
        title=str(parsed.feed.get("title") or ""),
        artwork=channel.artwork or image.get("href"),
        episodes=episodes,
        older=urljoin(url, older) if older else None,
        channel=channel,
    )
