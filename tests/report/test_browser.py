"""The report page in a real browser: headless Chromium renders it (not blank) and its tables sort.

Chromium comes from Debian's ``chromium`` package. When it is missing the fixture installs
it if that needs no questions (root, apt-get); otherwise these tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from report_runs import Tables

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1280, 1800)


def _find() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def _install() -> str:
    """Try a non-interactive ``apt-get install chromium``; returns what happened, for the skip reason."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not running as root with apt-get, so the tests cannot install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    # Stale package lists are the usual reason an install fails; refresh them once.
    for command in (install, ["apt-get", "update", "-q"], install):
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(command)}` took longer than 15 minutes"
        if done.returncode == 0 and command is install and _find():
            return "installed"
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return f"`apt-get install chromium` failed: {tail[0]}"


@pytest.fixture(scope="session")
def chromium() -> str:
    found = _find()
    if found is None:
        why = _install()
        found = _find()
        if found is None:
            pytest.skip(f"headless Chromium is not available ({why}); on Debian: apt-get install chromium")
    return found


def _run(chromium: str, profile, *args: str) -> subprocess.CompletedProcess:
    # --no-sandbox: Chromium refuses to start as root with its sandbox (CI containers run as root).
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def screenshot(chromium: str, page, tmp_path) -> Image.Image:
    shot = tmp_path / f"{page.stem}-screenshot.png"
    done = _run(
        chromium, tmp_path / "profile", f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}", page.as_uri()
    )
    assert shot.is_file(), done.stderr[-2000:]
    return Image.open(shot).convert("RGB")


def ink(image: Image.Image) -> tuple[float, int]:
    """(share of pixels that are not near-white, number of distinct colours)."""
    grey = image.convert("L")
    histogram = grey.histogram()
    dark = sum(histogram[:245]) / (image.width * image.height)
    colours = image.getcolors(maxcolors=1 << 20)
    return dark, len(colours) if colours else 1 << 20


@pytest.fixture(scope="module")
def report(trained_run, tmp_path_factory):
    return trained_run.plot(tmp_path_factory.mktemp("browser-report"))


def test_the_page_renders_with_its_figure_and_tables(chromium, report, tmp_path):
    image = screenshot(chromium, report.html_path, tmp_path)
    assert image.size == WINDOW
    dark, colours = ink(image)
    # Text, tables and a colourful figure: far from a blank or error page.
    assert dark > 0.05, dark
    assert colours > 500, colours
    # The inlined figure is drawn: its crimson Pareto markers show up somewhere in the window.
    pixels = np.asarray(image).astype(int)
    crimson = (pixels[..., 0] > 180) & (pixels[..., 1] < 60) & (pixels[..., 2] < 90)
    assert crimson.sum() > 20


def test_the_blank_check_rejects_an_empty_page(chromium, tmp_path):
    empty = tmp_path / "empty.html"
    empty.write_text("<!DOCTYPE html><html><body></body></html>")
    dark, colours = ink(screenshot(chromium, empty, tmp_path))
    assert dark < 0.01
    assert colours < 10


def sorted_by_clicks(chromium, page, tmp_path, header: str, clicks: int) -> Tables:
    """The page's tables after ``clicks`` clicks on the trials table's ``header``, as the browser left them."""
    script = (
        "<script>var th = Array.from(document.querySelectorAll('#trials-table th'))"
        f".find(function (h) {{ return h.textContent === '{header}'; }});" + " th.click();" * clicks + "</script>"
    )
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.replace("</body>", script + "</body>"), encoding="utf-8")
    done = _run(chromium, tmp_path / "profile", "--dump-dom", clicked.as_uri())
    assert "trials-table" in done.stdout, done.stderr[-2000:]
    return Tables(done.stdout)


def test_clicking_a_column_header_sorts_the_trials(chromium, report, trained_run, tmp_path):
    page = report.html_path.read_text(encoding="utf-8")
    numbers = [t.number for t in trained_run.trials]
    # Twice on "trial": descending, as numbers (10 after 9, not after 1).
    tables = sorted_by_clicks(chromium, page, tmp_path, "trial", 2)
    assert tables.column("trials-table", "trial") == [str(n) for n in sorted(numbers, reverse=True)]
    # Once on "latency_ms": ascending.
    tables = sorted_by_clicks(chromium, page, tmp_path, "latency_ms", 1)
    by_latency = sorted(trained_run.trials, key=lambda t: t.metrics["latency_ms"])
    assert tables.column("trials-table", "trial") == [str(t.number) for t in by_latency]
