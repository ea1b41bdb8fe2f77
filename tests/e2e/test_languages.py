"""The UI in the six UN languages, in Chromium: the choice sticks, dates follow the locale, Arabic is laid out
right to left."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import shot, sign_in


def choose(page: Page, language: str) -> None:
    page.get_by_label("Language").select_option(language)
    page.get_by_role("button", name="Change").click()


def test_arabic_is_right_to_left(page: Page) -> None:
    sign_in(page, "record_officer")
    choose(page, "ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    width = page.viewport_size["width"] if page.viewport_size else 1280
    brand = page.locator(".brand").bounding_box()
    who = page.get_by_test_id("whoami").bounding_box()
    assert brand is not None
    assert who is not None
    assert brand["x"] > width / 2 > who["x"]  # the header runs from the right
    heading = page.get_by_role("heading", level=1)
    expect(heading).not_to_have_text("Dashboard")
    assert any("\u0600" <= ch <= "\u06ff" for ch in heading.inner_text())  # Arabic script
    shot(page, "arabic-dashboard")
    page.get_by_test_id("status-counts").locator("a").first.click()
    row = page.get_by_test_id("results").locator("tbody tr").first
    cells = row.locator("td")
    first, second = cells.nth(0).bounding_box(), cells.nth(1).bounding_box()
    assert first is not None
    assert second is not None
    assert first["x"] > second["x"]  # table columns run right to left
    shot(page, "arabic-weapons")


def test_each_language_translates_the_menu(chromium: Browser, live_server: str) -> None:
    seen = {}
    for lang in ("en", "fr", "es", "ru", "zh", "ar"):
        context = chromium.new_context(base_url=live_server, locale=lang)  # the browser's language
        page = context.new_page()
        sign_in(page, "auditor")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        seen[lang] = page.get_by_role("navigation").locator("a").first.inner_text()
        context.close()
    assert len(set(seen.values())) == 6, seen  # "Dashboard" in six different words
