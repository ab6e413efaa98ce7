"""The gzip fast path: every subscriber's compressed feed decodes to their own feed."""

import gzip
import random
import secrets
import subprocess
import zlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.tokens import TOKEN_LENGTH
from app.feeds.splice import (
    MAX_DISTANCE,
    WINDOW,
    ConstantMultiplier,
    Piece,
    SplicedGzip,
    Splicer,
    TitleCut,
    _multiply,
    placeholder_for,
    positions_of,
)
from tests.conftest import feed_path, subscribe, upload


def token() -> bytes:
    return secrets.token_urlsafe(TOKEN_LENGTH)[:TOKEN_LENGTH].encode()


def build_spliced(xml: bytes, placeholder: bytes) -> SplicedGzip | None:
    """`xml` as a document of one piece."""
    splicer = Splicer(placeholder, placeholder_for(len(placeholder)))
    return splicer.gzip([Piece("feed", xml, tuple(positions_of(xml, placeholder)))])


def gnu_gunzip(data: bytes) -> bytes:
    result = subprocess.run(["gzip", "-dc"], input=data, capture_output=True, check=True)
    return result.stdout


def sample_feed(placeholder: bytes, items: int, gap: int = 0) -> bytes:
    parts = [b"<?xml version='1.0'?><rss><channel><title>Q&amp;A (live!)</title>"]
    for i in range(items):
        notes = secrets.token_hex(150).encode() if i % 5 == 0 else b"Notes: more & more. " * 8
        parts.append(
            b"<item><title>Ep %d</title><description>%s</description><enclosure url="
            b'"https://feeds.example.com/p/%s/%d.mp3"/></item>' % (i, notes, placeholder, i)
        )
        if gap and i == items // 2:
            parts.append(b"<x>" + secrets.token_hex(gap).encode() + b"</x>")
    return b"".join(parts) + b"</channel></rss>"


@pytest.mark.parametrize("gap", [0, WINDOW])  # with a gap, a second stored copy is needed
def test_spliced_gzip_matches_an_uncompressed_render(gap: int) -> None:
    placeholder = token()
    xml = sample_feed(placeholder, 300, gap)
    spliced = build_spliced(xml, placeholder)
    assert spliced is not None
    assert len(spliced.slots) == (2 if gap else 1)
    assert len(spliced.template) < len(gzip.compress(xml, 6)) * 1.05  # full compression
    for _ in range(25):
        mine = token()
        body = spliced.for_token(mine)
        expected = xml.replace(placeholder, mine)
        assert zlib.decompress(body, 31) == expected
        assert gnu_gunzip(body) == expected
        single = zlib.decompressobj(31)
        single.decompress(body)
        assert single.eof  # one gzip member, nothing after it
        assert single.unused_data == b""


def two_copies(placeholder: bytes, distance: int) -> bytes:
    """A feed whose two token copies start `distance` bytes apart, with incompressible
    text between them (as a long article narration has)."""
    head = b"<rss><channel><item><enclosure url='https://x.example/p/"
    filler = secrets.token_hex(distance).encode()[: distance - len(placeholder)]
    return head + placeholder + filler + placeholder + b"/1.mp3'/></item></channel></rss>"


@pytest.mark.parametrize(
    ("distance", "stored_copies"),
    [
        (MAX_DISTANCE - 1, 1),
        (MAX_DISTANCE, 1),  # zlib's furthest match: the second copy is a back-reference
        (MAX_DISTANCE + 1, 2),  # 32,506: zlib's MAX_DIST itself is out of reach
        (MAX_DISTANCE + 2, 2),
        (WINDOW - 1, 2),
        (WINDOW, 2),
        (WINDOW + 1, 2),
    ],
)
def test_copies_around_zlibs_reach_splice_without_falling_back(
    distance: int, stored_copies: int
) -> None:
    placeholder = token()
    xml = two_copies(placeholder, distance)
    assert xml.index(placeholder, 1 + xml.index(placeholder)) - xml.index(placeholder) == distance
    spliced = build_spliced(xml, placeholder)
    assert spliced is not None
    assert not spliced.every_copy_stored
    assert len(spliced.slots) == stored_copies
    mine = token()
    assert zlib.decompress(spliced.for_token(mine), 31) == xml.replace(placeholder, mine)


def test_feeds_that_cannot_hold_a_placeholder_fall_back() -> None:
    placeholder = token()
    # Control characters cannot be in a rendered feed; if they were, no placeholder is safe.
    xml = sample_feed(placeholder, 3) + bytes(range(1, 32))
    assert build_spliced(xml, placeholder) is None


def test_served_gzip_is_each_subscribers_own_feed(admin: TestClient, show: dict[str, Any]) -> None:
    for i in range(3):
        notes = "<p>Ünïcode & <b>HTML</b> ]]> 🎧</p>" * (i + 1)
        upload(admin, "sharp-tech", title=f"Ep {i}", show_notes=notes, publish=True)
    for i in range(12):
        path = feed_path(subscribe(admin, f"g{i}@example.com", "sharp-tech"), "sharp-tech")
        plain = admin.get(path, headers={"Accept-Encoding": "identity"}).content
        with admin.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as response:
            assert response.headers["content-encoding"] == "gzip"
            compressed = b"".join(response.iter_raw())
        assert zlib.decompress(compressed, 31) == plain
        assert gnu_gunzip(compressed) == plain
        assert path.split("/")[2].encode() in plain


def item(placeholder: bytes, number: int, version: int = 0, notes: bytes = b"") -> Piece:
    xml = (
        b"<item><title>Ep %d, take %d</title><description>%s Notes: more &amp; more."
        b"</description><enclosure url='https://feeds.example.com/p/%s/%d.mp3'/></item>"
        % (number, version, notes, placeholder, number)
    )
    return Piece(("item", number, version), xml, tuple(positions_of(xml, placeholder)))


def test_a_splicer_compresses_only_what_changed_and_every_version_decodes() -> None:
    placeholder = token()
    head_xml = b"<?xml version='1.0'?><rss><channel><link>https://x.example/p/%s/feed.xml</link>"
    head = Piece("head", head_xml % placeholder, (61,))
    assert head.positions == tuple(positions_of(head.xml, placeholder))
    tail = Piece("tail", b"</channel></rss>", ())

    def notes() -> bytes:  # about 8 KB: a few items to a group
        return b"Notes: more &amp; more. " * 200 + secrets.token_hex(1500).encode()

    older = [item(placeholder, n, notes=notes()) for n in range(20, 0, -1)]
    new = item(placeholder, 21, notes=notes())
    edited = item(placeholder, 15, 1, notes=notes())
    long = item(placeholder, 22, notes=secrets.token_hex(WINDOW).encode())  # out of reach
    versions = [
        [head, *older, tail],
        [head, new, *older, tail],  # a new episode
        [head, new, *older[:5], edited, *older[6:], tail],  # an edited one
        [head, long, new, *older[:5], edited, *older[6:], tail],  # a long article
        [head, long, new, *older[:5], *older[6:], tail],  # one deleted
    ]
    splicer = Splicer(placeholder, placeholder_for(len(placeholder)))
    public = Splicer(None, None)
    compressed = []
    for pieces in versions:
        before = dict(splicer._segments)
        spliced = splicer.gzip(pieces)
        assert spliced is not None
        assert not spliced.every_copy_stored
        compressed.append(sum(1 for pair in splicer._segments if pair not in before))
        xml = b"".join(p.xml for p in pieces)
        for _ in range(3):
            mine = token()
            body = spliced.for_token(mine)
            assert zlib.decompress(body, 31) == xml.replace(placeholder, mine)
            assert gnu_gunzip(body) == xml.replace(placeholder, mine)
        shared = public.gzip(pieces)
        assert shared is not None
        assert gzip.decompress(shared.template) == xml
        assert len(spliced.template) < len(gzip.compress(xml, 9)) * 1.05
    per_group = splicer._per_group
    assert per_group > 1
    # Every group at first; then the first group (or the changed one), and the next one,
    # whose dictionary it is.
    assert compressed[:4] == [-(-len(versions[0]) // per_group), 2, 2, 2]


def test_a_constant_multiplier_is_the_field_multiplication() -> None:
    rng = random.Random(16)
    for _ in range(20):
        constant = rng.getrandbits(32)
        times = ConstantMultiplier(constant)
        for _ in range(50):
            value = rng.getrandbits(32)
            assert times(value) == _multiply(value, constant)


@pytest.mark.parametrize("suffix", [b"", b" (for Jane &amp; &lt;Co&gt; \xf0\x9f\x8e\xa7)"])
def test_a_title_cut_joins_a_name_to_a_spliced_rest(suffix: bytes) -> None:
    """The head's start, a stored name, then a spliced gzip with the token: one valid gzip
    member (its CRC and length checked by gzip) of exactly those bytes."""
    token_placeholder = b"T" * 8
    placeholder = placeholder_for(8)
    assert placeholder is not None
    before = b"<rss><channel><title>Sharp Tech"
    texts = [
        b"</title><link>/p/TTTTTTTT/feed.xml</link>",
        *(f"<item>{i} /p/TTTTTTTT/{i}.mp3</item>".encode() for i in range(300)),
        b"</channel></rss>",
    ]
    rest = [
        Piece(i, text, tuple(positions_of(text, token_placeholder))) for i, text in enumerate(texts)
    ]
    spliced = Splicer(token_placeholder, placeholder).gzip(rest)
    assert spliced is not None
    cut = TitleCut.of(before, sum(len(p.xml) for p in rest))
    token = b"abcdEFGH"
    body = cut.gzip(suffix, spliced.deflate_for(token), spliced.crc_for(token))
    expected = before + suffix + b"".join(p.xml for p in rest).replace(token_placeholder, token)
    assert gzip.decompress(body) == expected
