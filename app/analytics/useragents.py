"""Who fetched: the OPAWG user-agents-v2 verdict on a User-Agent (app, device, bot).

The only reader of the vendored patterns in data/opawg/ beside it (MIT; SOURCE.md there gives the
matching rule this module follows). Every pattern is compiled once, at import; verdicts are
cached, so a repeated agent costs a dict lookup.
"""

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import NotRequired, TypedDict

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data" / "opawg"

# SOURCE.md: the first entry to match, over these files in this order, names the agent.
AGENT_FILES = ("bots", "apps", "libraries", "browsers")
DEVICE_FILE = "devices"

# Distinct agents seen in a day run to the thousands; beyond that an entry is re-matched.
CACHE_SIZE = 4096

# Only the first characters are matched, as many as ListenEvent.user_agent keeps. A few
# patterns (".+[Bb]rave", "^.*Android.*Chrome/") backtrack in quadratic time, so an unbounded
# agent could stall the classifier: 8 KB costs half a second, 512 characters a few milliseconds.
MAX_LENGTH = 512

# The patterns are written for JavaScript's RegExp (no flags), where \d, \w and \b are ASCII.
PATTERN_FLAGS = re.ASCII


class RawEntry(TypedDict):
    name: str
    pattern: str
    category: NotRequired[str]
    examples: NotRequired[list[str]]


@dataclass(frozen=True)
class Entry:
    file: str  # its type: "bots", "apps", "libraries", "browsers" or "devices"
    name: str
    pattern: re.Pattern[str]
    category: str | None

    @property
    def is_bot(self) -> bool:
        # libraries.json marks the HTTP libraries seen mostly on servers (Go, Python, curl-like
        # clients) with category "bot"; IAB counting excludes them like the bots file.
        return self.file == "bots" or (self.file == "libraries" and self.category == "bot")


@dataclass(frozen=True)
class Agent:
    app: str | None
    device: str | None
    device_category: str | None
    bot: bool


def compile_entries(file: str, raw_entries: Iterable[RawEntry]) -> list[Entry]:
    """The file's entries in order; an entry whose pattern Python's re rejects is logged and
    skipped (none is, in the vendored data: the tests check that every entry loads)."""
    entries = []
    for raw in raw_entries:
        try:
            pattern = re.compile(raw["pattern"], PATTERN_FLAGS)
        except re.error as error:
            logger.warning(
                "OPAWG %s entry %r skipped: Python's re rejects its pattern %r (%s)",
                file,
                raw["name"],
                raw["pattern"],
                error,
            )
            continue
        entries.append(Entry(file, raw["name"], pattern, raw.get("category")))
    return entries


def read_entries(file: str) -> list[RawEntry]:
    with (DATA_DIR / f"{file}.json").open(encoding="utf-8") as f:
        entries: list[RawEntry] = json.load(f)["entries"]
    return entries


def load(file: str) -> list[Entry]:
    return compile_entries(file, read_entries(file))


AGENTS: tuple[Entry, ...] = tuple(chain.from_iterable(load(file) for file in AGENT_FILES))
DEVICES: tuple[Entry, ...] = tuple(load(DEVICE_FILE))


def first_match(entries: Sequence[Entry], user_agent: str) -> Entry | None:
    return next((entry for entry in entries if entry.pattern.search(user_agent)), None)


@lru_cache(maxsize=CACHE_SIZE)
def classify(user_agent: str) -> Agent:
    # SOURCE.md, step 1 (only a bad actor's agent holds any).
    user_agent = user_agent.replace("\r", "").replace("\n", "")[:MAX_LENGTH]
    agent = first_match(AGENTS, user_agent)
    if agent is not None and agent.is_bot:
        return Agent(app=agent.name, device=None, device_category=None, bot=True)
    device = first_match(DEVICES, user_agent)
    return Agent(
        app=agent.name if agent is not None else None,
        device=device.name if device is not None else None,
        device_category=device.category if device is not None else None,
        bot=False,
    )
