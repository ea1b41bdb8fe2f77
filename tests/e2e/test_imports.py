"""A record officer uploads import files in the browser: a live progress bar, then the result; a file with
bad rows imports nothing and offers the report of every bad row as a download."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import shot, sign_in
from tests.factories import unique_serial
from tests.registry.imports.test_import import COLUMNS, row


def csv_file(path: Path, rows: list[dict[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_a_good_file_is_imported_with_progress_shown(page: Page, tmp_path: Path) -> None:
    serials = [unique_serial() for _ in range(400)]
    upload = csv_file(tmp_path / "armoury-7.csv", [row(s) for s in serials])
    sign_in(page, "record_officer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Imports").click()
    page.get_by_label("Import file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_url("**/ui/imports/*")
    progress = page.get_by_test_id("import-progress")
    expect(progress).to_have_attribute("data-status", "done", timeout=60_000)  # polled by the page itself
    expect(progress).to_contain_text("Imported 400 records.")
    shot(page, "record-officer-import-done")
    page.goto(f"/ui/weapons?serial={serials[-1]}")
    expect(page.get_by_test_id("results")).to_contain_text(serials[-1])


def test_bad_rows_import_nothing_and_the_report_lists_each(page: Page, tmp_path: Path) -> None:
    good = [row(unique_serial()) for _ in range(5)]
    bad = [row(unique_serial(), category="NOT-A-CATEGORY"), row(unique_serial(), country_of_manufacture="XX")]
    upload = csv_file(tmp_path / "depot.csv", [good[0], bad[0], *good[1:], bad[1]])
    sign_in(page, "record_officer")
    page.goto("/ui/imports")
    page.get_by_label("Import file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and import").click()
    progress = page.get_by_test_id("import-progress")
    expect(progress).to_have_attribute("data-status", "failed", timeout=60_000)
    expect(progress).to_contain_text("Nothing was imported")
    expect(progress).to_contain_text("2 rows broke a rule")
    shot(page, "record-officer-import-rejects")
    with page.expect_download() as info:
        page.get_by_test_id("rejects-link").click()
    download = info.value
    assert download.suggested_filename == "depot-rejects.csv"
    report = list(csv.DictReader(Path(download.path()).read_text(encoding="utf-8").splitlines()))
    assert {r["field"] for r in report} >= {"category", "country_of_manufacture"}
    assert len({r["row"] for r in report}) == 2
    page.goto(f"/ui/weapons?serial={good[0]['serial']}")
    expect(page.get_by_test_id("results")).to_contain_text("No weapon on record matches")


def test_a_file_of_the_wrong_type_is_refused_on_the_form(page: Page, tmp_path: Path) -> None:
    upload = tmp_path / "photo.png"
    upload.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    sign_in(page, "record_officer")
    page.goto("/ui/imports")
    page.get_by_label("Import file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#error-summary")).to_contain_text("Not imported")
