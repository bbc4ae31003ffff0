"""The study report as a person sees it: a 200-trial study opened in headless Chromium,
watched through the DevTools protocol for console errors and network requests, its table
clicked, its first screen photographed (STEEPEST_SCREENSHOT=1 keeps it as docs/report.png).
"""

import base64
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from steepest.report.html import write_report

from .chromium import Browser
from .synthetic import make_study

pytestmark = pytest.mark.slow
TRIALS = 200
WINDOW = (1280, 2400)
SCREENSHOT = Path(__file__).parents[2] / "docs" / "report.png"


@pytest.fixture(scope="module")
def page(chromium, tmp_path_factory):
    """(DevTools session on the opened report, the study). How fast it loads is measured
    in bench/report_load.py, not asserted here."""
    folder = tmp_path_factory.mktemp("browser")
    study = make_study(TRIALS, epochs=30)
    report = write_report(study, folder / "report.html")
    with Browser(chromium, folder / "profile", WINDOW) as devtools:
        for domain in ("Page", "Runtime", "Log", "Network"):
            devtools.call(f"{domain}.enable")
        devtools.call(
            "Emulation.setDeviceMetricsOverride",
            width=WINDOW[0],
            height=WINDOW[1],
            deviceScaleFactor=1,
            mobile=False,
        )
        devtools.open(report.as_uri())
        yield devtools, study


def problems(events: list[dict]) -> list[str]:
    """Console errors and warnings, uncaught exceptions, and requests to anything but the
    page's own file and its data: URIs, among DevTools ``events``."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails']}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning"):
            found.append(f"console.{params['type']}: {params['args']}")
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            found.append(f"log: {params['entry']['text']}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:")):
                found.append(f"request: {url}")
    return found


def test_report_loads_without_errors_or_requests(page):
    devtools, _ = page
    assert devtools.evaluate("document.readyState") == "complete"
    assert problems(devtools.events) == []


def test_every_figure_is_drawn(page):
    devtools, _ = page
    images = devtools.evaluate(
        "Array.from(document.images).map(i => i.complete && i.naturalWidth > 300)"
    )
    assert images == [True] * 6  # history, curves, parallel, slices, importance, stages


def test_page_fits_the_window_without_sideways_scrolling(page):
    devtools, _ = page
    assert devtools.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def column(devtools, index: int) -> list[str]:
    return devtools.evaluate(
        "Array.from(document.querySelectorAll('table.sortable tbody tr'))"
        f".map(r => r.cells[{index}].textContent)"
    )


def click_header(devtools, name: str) -> None:
    devtools.evaluate(
        "Array.from(document.querySelectorAll('table.sortable th button'))"
        f".find(b => b.textContent === {name!r}).click()"
    )


def test_clicking_a_header_sorts_the_trials(page):
    devtools, study = page
    assert len(column(devtools, 0)) == TRIALS
    click_header(devtools, "val_accuracy")
    values = column(devtools, 2)
    scored = [float(v.rstrip("%")) for v in values if v != "—"]
    assert scored == sorted(scored) and values[len(scored) :] == ["—"] * (TRIALS - len(scored))
    click_header(devtools, "val_accuracy")
    assert column(devtools, 0)[0] == str(study.best_trial.number)
    assert column(devtools, 2)[-1] == "—"  # trials without a value stay last
    click_header(devtools, "trial")
    assert column(devtools, 0) == [str(n) for n in range(TRIALS)]


def test_first_screen_screenshot(page, tmp_path):
    devtools, _ = page
    png = base64.b64decode(devtools.call("Page.captureScreenshot", format="png")["data"])
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == WINDOW
        colours = image.convert("RGB").resize((64, 120)).getcolors(64 * 120)
        assert len(colours) > 50  # figures and text, not a blank page
    if os.environ.get("STEEPEST_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(png)


def test_an_outside_request_would_be_blocked_and_caught(page):
    """The page's Content-Security-Policy blocks a request to the outside and the console
    says so — proof that the silence the first test checks is not deafness."""
    devtools, _ = page
    before = len(devtools.events)
    devtools.evaluate(
        "const img = document.createElement('img');"
        "img.src = 'https://example.com/pixel.png'; document.body.append(img);"
    )
    devtools.wait_for("Log.entryAdded", since=before, timeout=10)
    caught = problems(devtools.events[before:])
    assert caught and "Content Security Policy" in caught[0]
