"""What makes one subscriber's feed differ from the show's shared one, kept off the
per-request cost: the few variants a show has (a welcome item or not, a payment problem or
not, a back-catalogue cutoff) are shared documents, chosen per request by a `Shape`; the
personal title is the one per-subscriber part, a stored gzip block between two shared
segments.

A personal title is spliced like this: the channel's head is cut just after the show's
title text. The part before the cut is one deflate segment; the name goes in a stored
(uncompressed) block; the rest of the feed is a spliced gzip of its own whose first
segment has no dictionary, so nothing in it refers back across the name. The CRC of the
whole is the CRCs of the three parts combined (zlib's crc32_combine): the CRC so far times
x^(8·length of the rest), plus the rest's CRC. That multiplication is by a constant of the
document, so it is a table lookup per byte of the CRC.
"""

import bisect
import html
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from app.feeds.splice import _CRC_ONE, _multiply, _shift, _stored_block
from app.models import BackCatalogue

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, mtime 0, best


@dataclass(frozen=True, slots=True)
class Holder:
    """What the Gate's row says about the holder beyond their standing: enough to choose
    their variant and write their title, with no further query."""

    name: str  # their name, else their email's local part
    joined_at: datetime  # when they gained the show
    past_due_since: datetime | None
    back_catalogue: str  # BackCatalogue
    latest: int | None  # back_catalogue == latest: how many
    days_before: int | None  # back_catalogue == since_joining: from how long before joining


def holder_name(name: str | None, email: str) -> str:
    return name or email.partition("@")[0]


@dataclass(frozen=True, slots=True)
class Shape:
    """Which shared variant of a show's feed a holder sees."""

    welcome: bool = False
    payment_day: date | None = None  # the day their payment became past due
    episodes: int | None = None  # the newest this many; None: every one

    @property
    def is_plain(self) -> bool:
        return self == PLAIN


PLAIN = Shape()


def shape_for(
    holder: Holder, *, welcome_days: int, dates: list[datetime], now: datetime
) -> Shape:
    """The variant for a holder, from the show's welcome days and its listed episodes'
    publication dates (newest first)."""
    welcome = welcome_days > 0 and now < holder.joined_at + timedelta(days=welcome_days)
    payment_day = holder.past_due_since.date() if holder.past_due_since else None
    return Shape(welcome, payment_day, _episodes(holder, dates))


def _episodes(holder: Holder, dates: list[datetime]) -> int | None:
    if holder.back_catalogue == BackCatalogue.LATEST and holder.latest is not None:
        count = min(holder.latest, len(dates))
    elif holder.back_catalogue == BackCatalogue.SINCE_JOINING and holder.days_before is not None:
        count = published_since(dates, cutoff(holder.joined_at, holder.days_before))
    else:
        return None
    return None if count == len(dates) else count  # all of them: the plain document


def cutoff(joined_at: datetime, days_before: int) -> datetime:
    """The start of the UTC day `days_before` days before joining: cutoffs are whole days,
    so subscribers who joined on one day share one variant."""
    day = joined_at.astimezone(UTC).date() - timedelta(days=days_before)
    return datetime.combine(day, time(), UTC)


def published_since(dates: list[datetime], since: datetime) -> int:
    """How many of the newest-first dates are at or after `since`."""
    ascending = [-d.timestamp() for d in dates]  # newest first: negated, ascending
    return bisect.bisect_right(ascending, -since.timestamp())


def title_suffix(name: str) -> bytes:
    """" (for Jane)" as the channel's title text holds it, escaped as lxml escapes text."""
    escaped = html.escape(f" (for {name})", quote=False).replace("\r", "&#13;")
    return escaped.encode()


class ConstantMultiplier:
    """Multiplication by one constant in CRC-32's field, as four byte-indexed tables: the
    map is linear, so each table is built from 8 products and XORs (32 products in all)."""

    def __init__(self, constant: int) -> None:
        self.tables: list[list[int]] = []
        for byte in range(4):
            bits = [_multiply(1 << (8 * byte + bit), constant) for bit in range(8)]
            table = [0] * 256
            for value in range(1, 256):
                low = value & -value
                table[value] = table[value ^ low] ^ bits[low.bit_length() - 1]
            self.tables.append(table)

    def __call__(self, crc: int) -> int:
        t0, t1, t2, t3 = self.tables
        return t0[crc & 0xFF] ^ t1[(crc >> 8) & 0xFF] ^ t2[(crc >> 16) & 0xFF] ^ t3[crc >> 24]


@dataclass(frozen=True)
class TitleCut:
    """A document's head up to the end of its title text, deflated once: each holder's
    title suffix goes after it, then the rest of the document."""

    segment: bytes  # deflated, byte-aligned, not a last block, no dictionary
    crc: int
    length: int
    after: ConstantMultiplier  # times x^(8·the rest's length)
    rest_length: int

    @classmethod
    def of(cls, before: bytes, rest_length: int) -> "TitleCut":
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        segment = compressor.compress(before) + compressor.flush(zlib.Z_SYNC_FLUSH)
        after = ConstantMultiplier(_shift(_CRC_ONE, rest_length))
        return cls(segment, zlib.crc32(before), len(before), after, rest_length)

    def gzip(self, suffix: bytes, rest_deflate: list[bytes | memoryview], rest_crc: int) -> bytes:
        """The whole gzip: `rest_deflate` is the rest's deflate stream, last block included,
        and `rest_crc` its CRC (with the holder's token in it)."""
        crc = self.after(zlib.crc32(suffix, self.crc)) ^ rest_crc
        size = (self.length + len(suffix) + self.rest_length) & 0xFFFFFFFF
        return b"".join(
            [
                GZIP_HEADER,
                self.segment,
                _stored_block(suffix),
                *rest_deflate,
                struct.pack("<II", crc, size),
            ]
        )
