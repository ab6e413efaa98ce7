"""The three independent feed parsers the suite checks feeds with."""

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import feedparser
import podcastparser

JS = Path(__file__).parent / "js"


def gpodder(body: bytes, url: str = "http://testserver/feed.xml") -> dict[str, Any]:
    parsed: dict[str, Any] = podcastparser.parse(url, io.BytesIO(body))
    return parsed


def universal(body: bytes) -> Any:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.bozo_exception
    return parsed


def partytime(body: bytes) -> dict[str, Any]:
    """podcast-partytime, the Podcast Index's parser (Node), which reads Podcasting 2.0."""
    result = subprocess.run(
        ["node", str(JS / "parse.mjs")], input=body, capture_output=True, check=True, timeout=60
    )
    parsed = json.loads(result.stdout)
    assert parsed is not None, "partytime could not parse the feed"
    assert isinstance(parsed, dict)
    return parsed
