"""Time. Code that asks "is it due yet?" takes a `Clock`, so that tests move time on instead
of sleeping; only the composition (app/main.py, the CLI) reads the real one."""

from collections.abc import Callable
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


Clock = Callable[[], datetime]  # "now", injected where something may be due
