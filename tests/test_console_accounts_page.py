"""The Accounts page on a phone: one compact row per account, its actions folded away."""

import httpx2 as httpx
from playwright.sync_api import Browser, expect

from tests.browser import assert_fits_the_width
from tests.test_console_publishing import log_in, make_staff

ACCOUNTS = 20
# A row of about 85 px per account: its email, its role and last login, and "Manage…" (a
# 44 px tap target). The page was 8,700 px tall before, with every label repeated and every
# action open: 20 accounts took some 390 px each. (The table, not the page: the header above
# it grows with the console's pages.)
MAX_ROW_HEIGHT = 100


def test_twenty_accounts_fit_a_phone_in_a_bounded_height(
    browser: Browser, live: tuple[str, httpx.Client]
) -> None:
    base, admin = live
    make_staff(admin, "owner@example.com", "owner")
    for n in range(ACCOUNTS - 1):
        make_staff(admin, f"staff-member-{n:02}@example.com", "editor")
    page = log_in(browser, base, "owner@example.com", "/console/accounts")
    table = page.locator("table.accounts").bounding_box()
    assert table is not None
    assert table["height"] <= ACCOUNTS * MAX_ROW_HEIGHT, f"{table['height']} px tall"
    assert_fits_the_width(page)
    # No destructive button shows until its account's actions are opened.
    expect(page.locator("button.danger:visible")).to_have_count(0)
    # Each account's actions are behind "Manage…"; Disable asks once more.
    row = page.get_by_role("row").filter(has_text="staff-member-07@example.com")
    row.get_by_text("Manage…").click()
    expect(row.get_by_label("Role of staff-member-07@example.com")).to_be_visible()
    disable = row.get_by_role("button", name="Disable staff-member-07@example.com")
    expect(disable).to_be_hidden()
    row.get_by_text("Disable…").click()
    disable.click()
    expect(page.get_by_role("status")).to_contain_text("staff-member-07@example.com is disabled")
    assert admin.get("/admin/users").json()[8]["disabled_at"] is not None


def test_the_accounts_page_at_desktop_width(
    browser: Browser, live: tuple[str, httpx.Client]
) -> None:
    base, admin = live
    make_staff(admin, "owner@example.com", "owner")
    make_staff(admin, "editor@example.com", "editor")
    page = log_in(browser, base, "owner@example.com", "/console/accounts")
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.get_by_role("row")).to_have_count(3)  # the head and two accounts
    expect(page.locator("button.danger:visible")).to_have_count(0)
    assert_fits_the_width(page)
