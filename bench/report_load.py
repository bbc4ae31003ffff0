"""Study report load time in headless Chromium, as ratios against peers in the same browser.

A 200-trial study's report (the size the report tests open) is timed from navigation to
the load event against (a) a page of plain text the same byte size, what the browser
needs just to read the file, and (b) a 20-trial study's report, to show how the report
grows with the study. Median of 5 loads each, in one Chromium.

Needs Chromium on PATH (the report tests install Debian's package when missing).
Usage: python bench/report_load.py
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).parents[1]))  # the tests' DevTools client and study
from tests.report.chromium import Browser, find_chromium  # noqa: E402
from tests.report.synthetic import make_study  # noqa: E402

from steepest.report.html import write_report  # noqa: E402

LOADS = 5


def load_seconds(devtools, page: Path) -> float:
    """Median seconds from navigation to the load event over LOADS loads."""
    times = []
    for _ in range(LOADS):
        start = time.perf_counter()
        devtools.open(page.as_uri())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    binary = find_chromium()
    if binary is None:
        print("report_load: skipped, no Chromium on PATH (apt-get install chromium)")
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        large = write_report(make_study(200, epochs=30), folder / "large.html")
        small = write_report(make_study(20, epochs=30), folder / "small.html")
        plain = folder / "plain.html"
        plain.write_text("<pre>" + "x" * (large.stat().st_size - 5) + "</pre>")
        size = large.stat().st_size / 1e6
        with Browser(binary, folder / "profile", (1280, 2400)) as devtools:
            devtools.call("Page.enable")
            large_s, small_s, plain_s = (load_seconds(devtools, p) for p in (large, small, plain))
    print(f"200-trial report ({size:.1f} MB): {large_s * 1e3:.0f} ms to the load event")
    print(f"  vs a plain-text page of the same size: {large_s / plain_s:.1f}x")
    print(f"  vs a 20-trial report:                  {large_s / small_s:.1f}x")


if __name__ == "__main__":
    main()
