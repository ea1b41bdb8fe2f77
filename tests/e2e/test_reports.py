"""An auditor opens the reports page in Chromium: the charts are drawn, the national report downloads as a PDF
whose text carries the registry's figures, and the weapons export downloads as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.e2e.conftest import shot, sign_in


def test_reports_page_charts_and_downloads(page: Page) -> None:
    sign_in(page, "auditor")
    total = int(page.get_by_test_id("status-counts").locator("tfoot td").inner_text().replace(",", ""))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    charts = page.locator("main svg")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 2
    shot(page, "auditor-reports")
    with page.expect_download() as info:
        page.get_by_test_id("national-report").click()
    pdf = Path(info.value.path())
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = "\n".join(p.extract_text() or "" for p in PdfReader(pdf).pages)
    assert "16.4.2" in text
    with page.expect_download() as info:
        page.get_by_test_id("exports").get_by_role("link", name="CSV").first.click()
    rows = list(csv.reader(Path(info.value.path()).read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) == 1 + total  # a header, then every weapon the dashboard counts
