"""What each kind of user does in the browser, end to end, in Debian's Chromium."""

from __future__ import annotations

import re

import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.conftest import shot, sign_in
from tests.factories import unique_serial


def fill_registration(page: Page, serial: str) -> None:
    page.get_by_label("Category").select_option("SA-PIS")
    page.get_by_label("Make (manufacturer as marked)").fill("Glock")
    page.get_by_label("Model", exact=True).fill("19")
    page.get_by_label("Calibre").fill("9mm Luger")
    page.get_by_label("Serial number").fill(serial)
    page.get_by_label("Marking text, exactly as applied").fill(f"GLOCK AUSTRIA {serial}")
    page.get_by_label("Manufacturer in the mark").fill("GLOCK")
    page.get_by_label("Country in the mark").first.fill("AT")
    page.get_by_label("Serial in the mark").fill(serial)
    page.locator("#f-marking2-text").fill("IMP KE 2025")
    page.locator("#f-marking2-kind").select_option("import")
    page.locator("#f-marking2-country").fill("KE")
    page.locator("#f-marking2-year").fill("2025")
    page.get_by_label("Event").select_option("imported")
    page.get_by_label("From country").fill("AT")
    page.get_by_label("To country").fill("KE")
    page.locator("#f-event-document-kind").fill("import_licence")
    page.locator("#f-event-document-number").fill("IL-2025-0042")


def test_record_officer_registers_a_weapon_and_records_an_export(page: Page) -> None:
    sign_in(page, "record_officer")
    expect(page.get_by_test_id("whoami")).to_contain_text("record officer")
    shot(page, "record-officer-dashboard")

    page.get_by_role("link", name="Register").click()
    serial = unique_serial()
    fill_registration(page, serial)
    shot(page, "record-officer-register-form")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("status").first).to_contain_text("Weapon registered.")
    expect(page.get_by_test_id("markings")).to_contain_text(f"GLOCK AUSTRIA {serial}")
    expect(page.get_by_test_id("status")).to_have_text("active")

    page.get_by_role("link", name="Record an event").click()
    page.get_by_label("Event").select_option("exported")
    page.get_by_label("To country").fill("UG")
    page.locator("#f-document-kind").fill("export_licence")
    page.locator("#f-document-number").fill("EL-2026-0007")
    page.get_by_role("button", name="Record").click()

    expect(page.get_by_role("status").first).to_contain_text("Event recorded.")
    timeline = page.get_by_test_id("timeline")
    items = timeline.locator("li")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-type", "exported")  # newest first
    expect(items.nth(0)).to_contain_text("EL-2026-0007")
    expect(items.nth(1)).to_have_attribute("data-type", "imported")
    expect(page.get_by_test_id("status")).to_have_text("exported")
    shot(page, "record-officer-weapon-timeline")

    # The search finds it again by its serial typed carelessly (case and spaces ignored).
    page.get_by_role("link", name="Weapons").click()
    page.get_by_label("Serial or marking").fill(" " + serial.lower() + " ")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("results")).to_contain_text(serial)
    shot(page, "record-officer-search")


def test_an_invalid_form_shows_the_error_next_to_the_field_and_keeps_the_input(page: Page) -> None:
    sign_in(page, "record_officer")
    page.goto("/ui/weapons/new")
    serial = unique_serial()
    fill_registration(page, serial)
    page.get_by_label("To country").fill("XX")
    page.get_by_role("button", name="Register").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()  # a keyboard or screen-reader user lands on the problem
    expect(summary).to_contain_text("Nothing was recorded")
    field = page.locator("#f-event-to_country")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("[data-field='event.to_country']")).to_contain_text("ISO 3166")
    expect(page.get_by_label("Serial number")).to_have_value(serial)
    shot(page, "record-officer-form-error")
    page.goto(f"/ui/weapons?serial={serial}")
    expect(page.get_by_test_id("results")).to_contain_text("No weapon on record matches")


def test_the_record_qr_code_decodes_to_the_record_address(page: Page, live_server: str) -> None:
    sign_in(page, "auditor")
    page.goto("/ui/weapons?status=active")
    page.get_by_test_id("results").locator("tbody a").first.click()
    path = shot(page, "weapon-qr", full_page=False)
    qr = page.get_by_test_id("record-qr").locator("svg")
    qr.screenshot(path=str(path))
    decoded = zxingcpp.read_barcodes(Image.open(path))
    assert [d.format for d in decoded] == [zxingcpp.BarcodeFormat.QRCode]
    assert decoded[0].text == page.url.split("?")[0]
    assert re.fullmatch(rf"{live_server}/ui/weapons/[0-9a-f-]{{36}}", decoded[0].text)


def test_a_marking_operator_cannot_open_user_admin(page: Page) -> None:
    sign_in(page, "marking_operator")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Users")).to_have_count(0)
    expect(page.get_by_role("heading", name="Waiting to be marked")).to_be_visible()
    shot(page, "marking-operator-dashboard")
    response = page.goto("/ui/admin/users")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("user.admin")
    shot(page, "marking-operator-refused")


def test_auditor_verifies_the_log(page: Page) -> None:
    sign_in(page, "auditor")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(page.get_by_test_id("tree-heads").locator("tbody tr")).not_to_have_count(0)
    page.get_by_label("also cross-check every record against the log (slower)").check()
    page.get_by_role("button", name="Verify the log").click()
    expect(page.get_by_test_id("verify-result")).to_contain_text("Verified: the log is intact")
    shot(page, "auditor-verify")


def test_admin_manages_accounts(page: Page) -> None:
    sign_in(page, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    name = f"poc-{unique_serial().lower()[:8]}"
    page.get_by_label("User name").fill(name)
    page.get_by_label("Role").select_option("poc_officer")
    page.get_by_label("Initial password").fill("a long enough initial password")
    page.get_by_role("button", name="Add account").click()
    expect(page.get_by_role("status").first).to_contain_text("Account added.")
    expect(page.get_by_test_id("users")).to_contain_text(name)
    shot(page, "admin-users")


def test_pages_are_readable_without_javascript(chromium, live_server: str) -> None:
    context = chromium.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, "poc_officer")
    expect(page.get_by_test_id("status-counts")).to_be_visible()
    page.goto("/ui/weapons?status=stolen")
    expect(page.get_by_test_id("results")).to_be_visible()
    shot(page, "poc-officer-stolen-weapons")
    context.close()


def test_signing_out_ends_the_session(page: Page) -> None:
    sign_in(page, "auditor")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/login")
    page.goto("/ui/audit")
    assert "/ui/login" in page.url
