"""Every report opens in LibreOffice and converts to a non-empty PDF with page numbers.

Skipped where LibreOffice is not installed, except under CI=true, where its absence fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from reports import (
    IncidentLine,
    MonthlyFigures,
    build_major,
    build_monthly,
    build_public,
    build_review,
    build_running,
)
from tests.reports import sample
from tests.reports.test_templates import template

CI = os.environ.get("CI", "").lower() == "true"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def documents() -> dict[str, bytes]:
    snap = sample.snapshot()
    tpl = template("{{cover}}", "#Timeline", "{{timeline}}", "{{report}}")
    return {
        "running": build_running(snap),
        "major": build_major(snap),
        "review-draft": build_review(snap),
        "review-final": build_review(snap, final=True),
        "public": build_public(snap),
        "running-template": build_running(snap, tpl),
        "review-template": build_review(snap, tpl),
        "monthly": build_monthly(MonthlyFigures(
            month="November 2026", generated_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
            incidents=(IncidentLine("INC-2026-0001", snap.title, "P1",
                                    datetime(2026, 11, 3, 9, tzinfo=UTC), "resolved",
                                    timedelta(hours=2)),),
            by_severity=(("P1", 1), ("P2", 0)), by_service=(("Payments", 1),),
            resolve_times=(("P1", timedelta(hours=2), timedelta(hours=2)),),
            actions_open=2, actions_overdue=1, actions_done=3)),
    }


def test_reports_convert_to_pdf_with_libreoffice(tmp_path):
    if SOFFICE is None:
        if CI:
            pytest.fail("LibreOffice (soffice) is required under CI=true")
        pytest.skip("LibreOffice (soffice) is not installed")
    docs = documents()
    for name, data in docs.items():
        (tmp_path / f"{name}.docx").write_bytes(data)
    out = tmp_path / "pdf"
    subprocess.run(  # noqa: S603 - fixed arguments, our own temp files
        [SOFFICE, "--headless", "--norestore",
         f"-env:UserInstallation=file://{tmp_path / 'profile'}",
         "--convert-to", "pdf", "--outdir", str(out),
         *(str(tmp_path / f"{name}.docx") for name in docs)],
        check=True, capture_output=True, timeout=300)
    for name in docs:
        pdf = out / f"{name}.pdf"
        assert pdf.exists(), f"{name}.pdf was not written"
        assert pdf.stat().st_size > 1000
        assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(  # noqa: S603
            ["pdftotext", str(out / "running.pdf"), "-"],  # noqa: S607
            check=True, capture_output=True, text=True).stdout
        assert "Running incident report" in text
        pages = re.findall(r"Page (\d+) of (\d+)", text)
        assert pages and pages[0] == ("1", pages[0][1]) and int(pages[-1][1]) == len(pages)
