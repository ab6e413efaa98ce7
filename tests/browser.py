"""What the browser tests check in a page (the browser itself, `browser`, and a live
server, `live`, are fixtures in conftest.py)."""

import io

from PIL import Image
from playwright.sync_api import Browser, Page


def open_page(browser: Browser, url: str, *, width: int = 390) -> Page:
    context = browser.new_context(
        viewport={"width": width, "height": 844}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    page.goto(url)
    return page


def assert_fits_the_width(page: Page) -> None:
    """Nothing reaches past the viewport's right edge, so the page never scrolls sideways."""
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "scrolls sideways"
    too_wide = page.evaluate(
        """[...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .map((e) => e.outerHTML.slice(0, 80))"""
    )
    assert too_wide == [], too_wide
    # A full-page screenshot is as wide as everything drawn: no wider than the phone.
    assert Image.open(io.BytesIO(page.screenshot(full_page=True))).width == width
