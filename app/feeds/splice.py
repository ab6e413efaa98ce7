"""Gzip a feed once per show version, then give every subscriber their own copy in
microseconds.

The feed is compressed with a placeholder where each token goes. A placeholder with no
earlier copy within zlib's reach is written as a stored (uncompressed) block; every other
copy compresses to a back-reference to an earlier one. Writing the real token into the
stored blocks therefore changes every copy. The CRC-32 in the gzip trailer is fixed
arithmetically: CRC is linear, so the change it sees is a fixed 32x32 bit matrix (built
once per version) applied to the CRC of (placeholder XOR token).

zlib's reach is not the 32 KiB window: it matches only strictly nearer than the window
less its look-ahead, so at most 32,505 bytes back. Should zlib still not take a
back-reference it could (its hash chains are bounded), the template is built again with
every copy stored, which is always correct and only larger.
"""

import secrets
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

WINDOW = 32 * 1024
MIN_LOOKAHEAD = 258 + 3 + 1  # zlib's MAX_MATCH + MIN_MATCH + 1
# zlib's longest_match() takes only matches strictly nearer than MAX_DIST = 32768 - 262.
MAX_DISTANCE = WINDOW - MIN_LOOKAHEAD - 1
LEVEL = 9
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, mtime 0, best


def _shift(crc: int, zeros: int) -> int:
    """The linear part of appending `zeros` zero bytes to a message with this CRC."""
    if zeros == 0:
        return crc
    pad = bytes(zeros)
    return zlib.crc32(pad, crc) ^ zlib.crc32(pad, 0)


@dataclass(frozen=True)
class SplicedGzip:
    template: bytes
    slots: tuple[int, ...]  # offsets of the stored-block copies in `template`
    placeholder: bytes
    crc: int
    columns: tuple[int, ...]  # the CRC correction matrix, one column per bit
    zero_crc: int
    every_copy_stored: bool  # the larger template, used when back-references failed

    def for_token(self, token: bytes) -> bytes:
        """This token's gzip body: slices of the shared template with the token between
        them, and the trailer with its CRC, joined in one copy."""
        view = memoryview(self.template)
        parts: list[bytes | memoryview] = []
        start = 0
        for offset in self.slots:
            parts += [view[start:offset], token]
            start = offset + len(token)
        parts += [view[start:-8], struct.pack("<I", self._crc_for(token)), view[-4:]]
        return b"".join(parts)

    def _crc_for(self, token: bytes) -> int:
        delta = bytes(a ^ b for a, b in zip(self.placeholder, token, strict=True))
        change = zlib.crc32(delta) ^ self.zero_crc
        crc = self.crc
        bit = 0
        while change:
            if change & 1:
                crc ^= self.columns[bit]
            change >>= 1
            bit += 1
        return crc


def _stored_block(data: bytes) -> bytes:
    return b"\x00" + struct.pack("<HH", len(data), len(data) ^ 0xFFFF) + data


# The placeholder never reaches a client (each copy is overwritten by a token), so it is
# made of control characters that XML 1.0 text cannot hold, and so no feed contains: no
# back-reference can copy placeholder bytes into ordinary text. Checked all the same.
_CANDIDATES = bytes([*range(1, 9), 0x0B, 0x0C, *range(0x0E, 0x20)])
_MIN_SYMBOLS = 4


def _de_bruijn(symbols: bytes, length: int) -> bytes | None:
    """A sequence whose every 3-byte window is distinct, so a back-reference into one copy
    of the placeholder can only come from the same offset of another copy."""
    k, n = len(symbols), 3
    a = [0] * k * n
    sequence: list[int] = []

    def walk(t: int, p: int) -> None:
        if t > n:
            if n % p == 0:
                sequence.extend(a[1 : p + 1])
        else:
            a[t] = a[t - p]
            walk(t + 1, p)
            for j in range(a[t - p] + 1, k):
                a[t] = j
                walk(t + 1, t)

    walk(1, 1)
    linear = sequence + sequence[: n - 1]
    return bytes(symbols[i] for i in linear[:length]) if len(linear) >= length else None


def build_spliced(xml: bytes, token_placeholder: bytes) -> SplicedGzip | None:
    """The spliceable gzip of `xml`: with back-references where zlib takes them, else with
    every copy stored. None if no placeholder can be made for this feed (then compress per
    request)."""
    length = len(token_placeholder)
    absent = bytes(c for c in _CANDIDATES if c not in xml)
    if len(absent) < _MIN_SYMBOLS:
        return None
    placeholder = _de_bruijn(absent[:_MIN_SYMBOLS], length)
    if placeholder is None:
        return None
    xml = xml.replace(token_placeholder, placeholder)
    positions: list[int] = []
    start = xml.find(placeholder)
    while start != -1:
        positions.append(start)
        start = xml.find(placeholder, start + length)
    if not positions:
        return None
    for reach in (MAX_DISTANCE, 0):
        spliced = _template(xml, placeholder, positions, reach)
        if _verified(spliced, xml):
            return spliced
    return None


def _template(xml: bytes, placeholder: bytes, positions: Sequence[int], reach: int) -> SplicedGzip:
    """Store each copy that has no earlier copy within `reach` bytes back; compress the
    rest (reach 0: store every copy)."""
    length = len(placeholder)
    parts = [_GZIP_HEADER]
    size = len(_GZIP_HEADER)
    slots: list[int] = []
    previous: int | None = None
    segment_start = 0
    for position in positions:
        if previous is not None and position - previous <= reach:
            previous = position
            continue  # an earlier copy is in reach: leave it to the compressor
        compressed = _compress(xml, segment_start, position, final=False)
        parts.append(compressed)
        size += len(compressed)
        block = _stored_block(placeholder)
        slots.append(size + 5)
        parts.append(block)
        size += len(block)
        segment_start = position + length
        previous = position
    parts.append(_compress(xml, segment_start, len(xml), final=True))
    parts.append(struct.pack("<II", zlib.crc32(xml), len(xml) & 0xFFFFFFFF))
    return SplicedGzip(
        template=b"".join(parts),
        slots=tuple(slots),
        placeholder=placeholder,
        crc=zlib.crc32(xml),
        columns=_columns(positions, length, len(xml)),
        zero_crc=zlib.crc32(bytes(length)),
        every_copy_stored=reach == 0,
    )


def _compress(xml: bytes, start: int, end: int, *, final: bool) -> bytes:
    history = xml[max(0, start - WINDOW) : start]
    compressor = (
        zlib.compressobj(LEVEL, zlib.DEFLATED, -15, zdict=history)
        if history
        else zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    )
    out = compressor.compress(xml[start:end])
    return out + compressor.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


def _columns(positions: Sequence[int], length: int, total: int) -> tuple[int, ...]:
    """Column j: the CRC change when bit j of the token's own (linear) CRC flips, summed
    over every copy (each copy's change is shifted by the bytes that follow it)."""
    columns = []
    for bit in range(32):
        basis = 1 << bit
        acc = 0
        last_end = positions[0] + length
        for position in positions:
            acc = _shift(acc, position + length - last_end) ^ basis
            last_end = position + length
        columns.append(_shift(acc, total - last_end))
    return tuple(columns)


def _verified(spliced: SplicedGzip, xml: bytes) -> bool:
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for _ in range(2):
        token = bytes(secrets.choice([c for c in alphabet if c != p]) for p in spliced.placeholder)
        expected = xml.replace(spliced.placeholder, token)  # xml holds the new placeholder
        try:
            if zlib.decompress(spliced.for_token(token), 31) != expected:
                return False
        except zlib.error:
            return False
    return True
