"""The background-export status page in a real browser: the progress bar polls (htmx, no inline script) until
the file is ready, then offers the download — without any Content-Security-Policy violation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_progress_bar_updates_until_the_export_is_ready(page, login, live_server, coordinator, settings, tmp_path):
    from playwright.sync_api import expect

    from registry.models import CaseSeries, ExportLog, ExportStatus

    settings.MEDIA_ROOT = tmp_path
    series = CaseSeries.objects.create(name="Browser series")
    log = ExportLog.objects.create(
        user=coordinator, case_series=series, format="csv", tables=["baseline"],
        status=ExportStatus.RUNNING, progress=40,
    )
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    login("coordinator")
    page.goto(f"{live_server.url}/exports/{log.pk}/")
    assert page.locator("progress").get_attribute("value") == "40"
    assert page.locator("a.export-download").count() == 0

    ExportLog.objects.filter(pk=log.pk).update(progress=70)
    expect(page.locator("progress")).to_have_attribute("value", "70", timeout=10_000)

    log.file.save("baseline.csv", ContentFile(b"patient\nROM-001\n"), save=False)
    ExportLog.objects.filter(pk=log.pk).update(
        status=ExportStatus.DONE, progress=100, file=log.file.name, expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    download_link = page.locator("a.export-download")
    download_link.wait_for(timeout=10_000)
    assert page.locator("progress").get_attribute("value") == "100"
    assert page.locator("#export-progress").get_attribute("hx-trigger") is None  # polling stopped
    with page.expect_download() as info:
        download_link.click()
    assert info.value.suggested_filename == "baseline.csv"
    assert violations == []
