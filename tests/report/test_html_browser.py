"""The HTML reports in a real browser: headless Chromium, driven by Playwright, opens the page and checks what a
reader would meet: no console or page error, every image decoded, no horizontal scrolling on a laptop (1280 px) or
a phone (390 px), and no network request (only the file itself and its data: URLs). It saves a screenshot per width.

Chromium comes from the system (``apt-get install -y chromium-headless-shell``), not from ``playwright install``;
``VISIONBENCH_CHROMIUM`` names another executable. Without Playwright or Chromium the tests are skipped with the
way to install them, except when ``CI=true``: there they fail, so CI cannot skip them silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from visionbench.report.html import Document, Figure, Section, Table, write_document
from visionbench.studies import run_study

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WIDTHS = {1280: (1280, 800), 390: (390, 844)}
CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
INSTALL = ("install it with `apt-get install -y chromium-headless-shell` and `pip install playwright` "
           "(or `pip install -e '.[dev]'`), or set VISIONBENCH_CHROMIUM to a Chromium executable")


def _unavailable(reason: str) -> None:
    """Skip, or fail under CI=true (CI installs Chromium, so a missing one there is a broken CI, not a skip)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true, so this fails instead of skipping); {INSTALL}", pytrace=False)
    pytest.skip(f"{reason}; {INSTALL}")


def find_chromium() -> str | None:
    """The Chromium to drive: $VISIONBENCH_CHROMIUM, else the first of :data:`CANDIDATES` on the PATH."""
    named = os.environ.get("VISIONBENCH_CHROMIUM")
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            pytest.fail(f"VISIONBENCH_CHROMIUM={named}: not an executable file; fix or unset it", pytrace=False)
        return named
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the whole module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed")
    executable = find_chromium()
    if executable is None:
        _unavailable(f"no Chromium found (looked for {', '.join(CANDIDATES)} on the PATH)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


_MEASURE = """() => ({
  title: document.title,
  h1: (document.querySelector('h1') || {}).textContent || '',
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  images: Array.from(document.images, i => ({src: i.src.slice(0, 40), naturalWidth: i.naturalWidth,
                                             complete: i.complete})),
  boxes: Array.from(document.querySelectorAll('.wrap, pre'), e => ({tag: e.tagName, scrollWidth: e.scrollWidth,
                                                                   clientWidth: e.clientWidth})),
})"""


def open_page(browser: Any, html_path: Path, width: int, screenshot: Path | None = None) -> dict[str, Any]:
    """Open ``html_path`` at ``width`` px; return what the page measured and every problem found in ``problems``."""
    viewport_width, viewport_height = WIDTHS.get(width, (width, 800))
    context = browser.new_context(viewport={"width": viewport_width, "height": viewport_height})
    try:
        page = context.new_page()
        url = html_path.resolve().as_uri()
        errors: list[str] = []
        requests: list[str] = []
        page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error"
                else None)
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on("request", lambda req: requests.append(req.url))
        page.goto(url, wait_until="load")
        seen = page.evaluate(_MEASURE)
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()
    problems = list(errors)
    problems += [f"network request: {u[:80]}" for u in requests if u != url and not u.startswith("data:")]
    problems += [f"image not decoded: {i}" for i in seen["images"] if not (i["complete"] and i["naturalWidth"] > 0)]
    if seen["scrollWidth"] > seen["innerWidth"]:
        problems.append(f"horizontal scrolling at {width} px: the page is {seen['scrollWidth']} px wide")
    if not seen["title"].strip() or not seen["h1"].strip():
        problems.append(f"empty title or h1: {seen['title']!r}, {seen['h1']!r}")
    return seen | {"problems": problems, "requests": requests}


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > len(PNG_MAGIC) and data.startswith(PNG_MAGIC), path


@pytest.fixture(scope="module", params=["diy-linear", "diy-autoencoder", "lab2"])
def study_dir(request, tmp_path_factory) -> Path:
    """A study's directory: diy-linear (one figure), diy-autoencoder (image grids, t-SNE maps, many tables) and lab2
    (an 11-column table, attention maps, detection figures)."""
    return run_study(request.param, quick=True, out=tmp_path_factory.mktemp("study")).out_dir


@pytest.mark.parametrize("width", sorted(WIDTHS, reverse=True))
def test_study_report_in_chromium(browser, study_dir, width):
    html_path = study_dir / "report.html"
    shot = study_dir / f"screenshot-{width}.png"
    seen = open_page(browser, html_path, width, screenshot=shot)
    assert seen["problems"] == []
    assert seen["innerWidth"] == width
    n_img = html_path.read_text(encoding="utf-8").count("<img ")
    assert n_img >= 1 and len(seen["images"]) == n_img
    assert all(i["src"].startswith("data:image/png;base64,") for i in seen["images"])
    _assert_png(shot)


def _hostile_document(folder: Path) -> Document:
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(12, 3), dpi=100)  # 1200 px wide: wider than a phone, must shrink to the page
    ax = fig.add_subplot()
    ax.plot(range(50), [i * i for i in range(50)])
    ax.set_title("a wide figure")
    (folder / "figures").mkdir()
    fig.savefig(folder / "figures" / "wide.png")
    words = ["Incomprehensibilities", "counterrevolutionaries", "electroencephalographically",
             "Pneumonoultramicroscopic", "antidisestablishmentarian", "uncharacteristically"]
    columns = [f"{words[i % len(words)]}{i}" for i in range(12)]
    rows = [[f"{words[(r + c) % len(words)]}_{r}_{c}" for c in range(12)] for r in range(4)]
    rows.append([f"{123456.789 * (c + 1):,.3f}" for c in range(12)])
    command = ("visionbench study run diy-linear --seeds 0,1,2 --data-dir "
               + "/a/very/long/unbroken/path/" * 12 + "--out=" + "x" * 200)
    long_word = "https://example.invalid/" + "y" * 150
    return Document(
        title="Hostile layout " + "z" * 120,
        lead=f"A lead with a long word {long_word} and inline `{command}` code.",
        sections=[Section(
            "Section " + "s" * 120,
            paragraphs=[f"Paragraph with {long_word}."],
            bullets=[f"Bullet {long_word}"],
            code=[command],
            tables=[Table(columns, rows, title="Table " + "t" * 120, caption="Caption " + "c" * 150)],
            figures=[Figure("figures/wide.png", "Figure caption " + "f" * 150)],
        )],
    )


def test_hostile_layout_at_phone_width(browser, tmp_path):
    html_path, _ = write_document(_hostile_document(tmp_path), tmp_path)
    shot = tmp_path / "screenshot-390.png"
    seen = open_page(browser, html_path, 390, screenshot=shot)
    assert seen["problems"] == []
    assert len(seen["images"]) == 1 and seen["images"][0]["naturalWidth"] == 1200
    table_box, code_box = ([b for b in seen["boxes"] if b["tag"] == tag] for tag in ("DIV", "PRE"))
    # The test is really hostile: the table is wider than the phone and scrolls inside its own box; the command wraps.
    assert len(table_box) == 1 and table_box[0]["scrollWidth"] > table_box[0]["clientWidth"]
    assert len(code_box) == 1 and code_box[0]["scrollWidth"] <= code_box[0]["clientWidth"]
    _assert_png(shot)


def test_the_checks_catch_a_broken_page(browser, tmp_path):
    """A page with every fault the checks look for: each must be reported (the checks are not vacuous)."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width"><title></title>'
                    '</head><body><h1>x</h1><div style="width:2000px">wide</div>'
                    '<img src="missing.png"><img src="data:image/png;base64,AAAA">'
                    '<script>console.error("boom"); undefined_function();</script></body></html>',
                    encoding="utf-8")
    problems = "\n".join(open_page(browser, page, 390)["problems"])
    for expected in ("console error: boom", "page error:", "network request: file://", "image not decoded",
                     "horizontal scrolling at 390 px", "empty title"):
        assert expected in problems, (expected, problems)
