"""The OPAWG user-agents-v2 classifier, checked against the examples the data itself carries."""

import logging
from collections.abc import Iterator

import pytest

from app.analytics import useragents
from app.analytics.useragents import Agent, Entry, RawEntry, classify


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    classify.cache_clear()
    yield
    classify.cache_clear()


def examples(file: str) -> list[tuple[str, str]]:
    return [
        (entry["name"], example)
        for entry in useragents.read_entries(file)
        for example in entry.get("examples", [])
    ]


def entry_named(entries: tuple[Entry, ...], file: str, name: str) -> Entry:
    return next(entry for entry in entries if (entry.file, entry.name) == (file, name))


@pytest.mark.parametrize("file", [*useragents.AGENT_FILES, useragents.DEVICE_FILE])
def test_every_entry_loads_or_is_logged(file: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="app.analytics.useragents"):
        loaded = [entry.name for entry in useragents.load(file)]
    skipped = [str(record.args[1]) for record in caplog.records if isinstance(record.args, tuple)]
    assert sorted(loaded + skipped) == sorted(e["name"] for e in useragents.read_entries(file))
    in_use = useragents.DEVICES if file == useragents.DEVICE_FILE else useragents.AGENTS
    assert [entry.name for entry in in_use if entry.file == file] == loaded


def test_a_pattern_python_rejects_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    raw: list[RawEntry] = [
        {"name": "Named group", "pattern": "^(?<app>Thing)/"},  # JavaScript's syntax, not re's
        {"name": "Thing", "pattern": "^Thing/"},
    ]
    with caplog.at_level(logging.WARNING, logger="app.analytics.useragents"):
        entries = useragents.compile_entries("apps", raw)
    assert [entry.name for entry in entries] == ["Thing"]
    assert len(caplog.records) == 1
    assert "'Named group' skipped" in caplog.records[0].getMessage()


@pytest.mark.parametrize("file", useragents.AGENT_FILES)
def test_every_example_names_its_own_entry_or_an_earlier_match(file: str) -> None:
    shadowed = []
    for name, example in examples(file):
        own = entry_named(useragents.AGENTS, file, name)
        assert own.pattern.search(example), (name, example)
        # First match wins: whatever wins comes no later than the entry and matches too.
        winner = useragents.first_match(useragents.AGENTS, example)
        assert winner is not None
        assert useragents.AGENTS.index(winner) <= useragents.AGENTS.index(own)
        if winner is not own:
            shadowed.append((name, winner.name, example))
        agent = classify(example)
        assert (agent.app, agent.bot) == (winner.name, winner.is_bot), example
        if agent.bot:
            assert (agent.device, agent.device_category) == (None, None)
    # The data's own tests keep every agent example on its entry: none is shadowed.
    assert shadowed == []


def test_every_device_example_names_its_device_or_an_earlier_match() -> None:
    shadowed = []
    for name, example in examples(useragents.DEVICE_FILE):
        own = entry_named(useragents.DEVICES, useragents.DEVICE_FILE, name)
        assert own.pattern.search(example), (name, example)
        winner = useragents.first_match(useragents.DEVICES, example)
        assert winner is not None
        assert useragents.DEVICES.index(winner) <= useragents.DEVICES.index(own)
        if winner is not own:
            shadowed.append((name, winner.name, example))
        agent = classify(example)
        if not agent.bot:
            assert (agent.device, agent.device_category) == (winner.name, winner.category)
    # The one example the data orders against itself: "CFNetwork" (iPhone) comes before Watch.
    assert shadowed == [
        ("Apple Watch", "Apple iPhone", "Watch/1140 CFNetwork/3860.200.71 Darwin/25.1.0")
    ]


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (
            "Podcasts/1555.2.1 CFNetwork/1568.100.1 Darwin/24.0.0",
            Agent("Apple Podcasts", "Apple iPhone", "mobile", bot=False),
        ),
        (
            "AppleCoreMedia/1.0.0.21F90 (iPhone; U; CPU OS 17_5_1 like Mac OS X; en_us)",
            Agent("AppleCoreMedia", "Apple iPhone", "mobile", bot=False),
        ),
        (
            "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)",
            Agent("Overcast", "Apple iPhone", "mobile", bot=False),
        ),
        # Overcast's feed poll is its server, not a listener.
        (
            "Overcast/1.0 Podcast Sync (3 subscribers; feed-id=2468013; +http://overcast.fm/)",
            Agent("Overcast feed parser", None, None, bot=True),
        ),
        ("Pocket Casts", Agent("Pocket Casts", "Other Mobile Device", "mobile", bot=False)),
        (
            "Pocket%20Casts/7.96.0.4 CFNetwork/3826.600.41 Darwin/24.6.0",
            Agent("Pocket Casts", "Apple iPhone", "mobile", bot=False),
        ),
        ("AntennaPod/3.4.0", Agent("AntennaPod", "Android Phone", "mobile", bot=False)),
        (
            "Spotify/8.9.10 Android/34 (SM-S918B)",
            Agent("Spotify", "Android Phone", "mobile", bot=False),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            Agent("Chrome", "Windows Computer", "computer", bot=False),
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            Agent("Googlebot", None, None, bot=True),
        ),
        ("curl/8.5.0", Agent("curl", None, None, bot=True)),
        # libraries.json's category "bot": a server-side HTTP client.
        ("Go-http-client/1.1", Agent("Go Http Client", None, None, bot=True)),
        ("SomeUnknownThing/1.0", Agent(None, None, None, bot=False)),
        ("", Agent(None, None, None, bot=False)),
    ],
)
def test_known_agents(user_agent: str, expected: Agent) -> None:
    assert classify(user_agent) == expected


def test_newlines_are_removed_before_matching() -> None:
    assert classify("Pocket\r\nCasts/7.0").app == "Pocket Casts"  # "^PocketCasts/"


def test_digits_are_ascii_as_in_javascript() -> None:
    assert classify("AirPodcasts/4022.700.8").app == "Apple HomePod"  # "^AirPodcasts/\d"
    assert classify("AirPodcasts/\u0664\u0660").app is None  # Arabic-Indic digits


def test_only_the_first_characters_are_matched() -> None:
    assert classify(" curl/8.5.0").app == "curl"
    assert classify("x" * useragents.MAX_LENGTH + " curl/8.5.0").app is None


def test_a_repeated_agent_is_not_matched_again() -> None:
    user_agent = "AntennaPod/3.4.0"
    first = classify(user_agent)
    assert (classify.cache_info().hits, classify.cache_info().misses) == (0, 1)
    assert classify(user_agent) is first
    assert (classify.cache_info().hits, classify.cache_info().misses) == (1, 1)
    assert classify.cache_info().maxsize == useragents.CACHE_SIZE
