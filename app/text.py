"""Text that ends up in feeds: representable in XML 1.0, and HTML that is safe to show; and
times as the publisher reads them.

The only module that imports nh3 (the Ammonia HTML sanitiser)."""

import html
import re
from datetime import datetime, tzinfo
from typing import Annotated

import nh3
from pydantic import AfterValidator, StringConstraints

_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


def strip_unrepresentable(text: str) -> str:
    return _NOT_XML.sub("", text)


def _reject_unrepresentable(text: str) -> str:
    found = _NOT_XML.search(text)
    if found:
        raise ValueError(
            f"contains the control character U+{ord(found.group()):04X} at position "
            f"{found.start()}, which podcast feeds cannot carry; remove it"
        )
    return text


# What show notes and articles need, and what podcast apps render; other elements are
# unwrapped (their text kept), and script/style/iframe-like ones go with their content.
_INLINE = {"a", "br", "strong", "em", "b", "i", "u", "s", "sub", "sup", "small", "code", "span"}
_BLOCKS = {"p", "div", "hr", "pre", "blockquote", "ul", "ol", "li", "figure", "figcaption", "img"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_SHOW_NOTES = nh3.Cleaner(
    tags=_INLINE | _BLOCKS | _HEADINGS,
    clean_content_tags={"script", "style", "iframe", "object", "embed", "noscript", "template"},
    attributes={"a": {"href", "title"}, "img": {"src", "alt"}},
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener nofollow",
)


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return "".join(f"<p>{html.escape(block, quote=False)}</p>" for block in blocks)


def feed_html(text: str) -> str:
    """HTML for a feed from what a publisher sent: text that keeps at least one allowed tag
    once sanitised is HTML (sanitised); anything else is plain text, escaped, with each
    blank-line-separated block a paragraph."""
    cleaned = _SHOW_NOTES.clean(text)
    return cleaned if nh3.is_html(cleaned) else _paragraphs(text)


_NO_TAGS = nh3.Cleaner(tags=set())
_BREAKS = re.compile(r"</(?:p|div|li|h[1-6]|blockquote)\s*>|<br\s*/?>", re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n\s*\n")


def plain_text(text: str) -> str:
    """Plain text from what a feed may give as text or HTML (a channel's description): tags
    dropped with their text kept, entities decoded, each paragraph on one line, paragraphs
    a blank line apart."""
    stripped = html.unescape(_NO_TAGS.clean(_BREAKS.sub("\n\n", text)))
    paragraphs = (" ".join(block.split()) for block in _BLANK_LINE.split(stripped))
    return strip_unrepresentable("\n\n".join(p for p in paragraphs if p))


FeedText = Annotated[str, AfterValidator(_reject_unrepresentable)]
FeedHtml = Annotated[str, AfterValidator(_reject_unrepresentable), AfterValidator(feed_html)]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_reject_unrepresentable),
]
# An episode's title may be 500 characters; a show's column holds 255.
ShowTitle = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_reject_unrepresentable),
]


def when(moment: datetime | None, zone: tzinfo) -> str:
    """A time as the publisher reads it: in PODPASS_TIMEZONE, to the minute ("" for none).
    Every console page and staff email shows times this way (templates: `moment | when(tz)`)."""
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%a %d %b %Y, %H:%M %Z")
