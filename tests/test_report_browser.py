"""The HTML report in a real browser: headless Chromium loads index.html over HTTP, every image decodes, every
relative link answers 200, the first screen shows the results with baselines, and a screenshot is saved."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_analysis import trial, two_tables, write_alpha_history, write_metrics, write_results, write_sample

from analysis.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
except ImportError:
    selenium = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER and selenium),
        reason="needs Chromium, chromedriver (Debian: apt-get install chromium chromium-driver; .ci/run installs them) "
        f"and selenium (pip, the `test` extra); found chromium={CHROMIUM}, chromedriver={CHROMEDRIVER}, "
        f"selenium={'yes' if selenium else 'no'}",
    ),
]
WIDTH, HEIGHT = 1400, 1000


def _report(root: Path) -> Path:
    """Two experiments' tables (one older without baselines), one search run with alphas, losses and samples."""
    a, b, first, _ = two_tables(root)
    search = trial(
        stage="search",
        figure="fig5",
        dataset="facades",
        scheme="OF",
        architecture="searched",
        trial_id="search-facades-OF",
        experiment="e1",
        search_time_s=500.0,
        run_dir="runs/search",
    )
    write_results(first + [search], a)
    run = a.parent / "runs" / "search"
    run.mkdir(parents=True)
    write_alpha_history(run / "alpha_history.parquet")
    write_metrics(run / "metrics.parquet")
    write_sample(run / "samples" / "epoch_0003.png", 120)
    build_report([a, b], root / "report")
    return root / "report"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request would bury the test output
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The report folder behind a local HTTP server (so a missing file is a real 404), stopped afterwards."""
    folder = _report(tmp_path_factory.mktemp("browser"))
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={WIDTH},{HEIGHT}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_window_size(WIDTH, HEIGHT)
        # Every load from the server, never from the cache: a file deleted since must show as missing.
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        yield driver
    finally:
        driver.quit()


def test_report_loads_in_chromium_with_every_image_and_link(served, browser, tmp_path):
    folder, url = served
    browser.get(f"{url}/index.html")
    assert browser.title == "nasplatform report"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);"
    )
    # Fig. 5, the search run's alpha, alpha-deviation and loss figures, and its sample grid.
    assert len(images) == 5, images
    broken = [src for src, complete, width in images if not (complete and width > 0)]
    assert not broken, f"images that did not load: {broken}"
    # Every relative href/src, fetched by the browser itself from the served folder.
    statuses = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const links = Array.from(document.querySelectorAll('[href],[src]'))
            .map(e => e.getAttribute('href') || e.getAttribute('src'));
        Promise.all(links.map(l => fetch(l).then(r => [l, r.status]).catch(e => [l, String(e)]))).then(done);
    """)
    assert len(statuses) > 20
    assert all("://" not in link and not link.startswith("/") for link, _ in statuses)
    bad = [(link, status) for link, status in statuses if status != 200]
    assert not bad, f"links that do not resolve: {bad}"

    # The first screen answers which model won, by how much and how sure: the results with baselines are in
    # view before any figure.
    top = browser.execute_script(
        "const t = document.getElementById('results_with_baselines').getBoundingClientRect().top;"
        "const f = document.images[0].getBoundingClientRect().top; return [t, f, window.innerHeight];"
    )
    assert 0 <= top[0] < top[2] and top[0] < top[1], top
    screenshot = Path(os.environ.get("NASPLATFORM_SCREENSHOT_DIR", tmp_path)) / "report_first_screen.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(screenshot))
    pixels = np.asarray(Image.open(screenshot).convert("L"))
    assert pixels.shape[1] >= WIDTH * 0.9 and (pixels < 128).mean() > 0.01  # text on the page, not blank
    print(f"screenshot: {screenshot}")


def test_a_missing_file_is_caught(served, browser):
    """The link check can fail: a deleted figure shows as a broken image and a 404."""
    folder, url = served
    victim = folder / "figures" / "fig5_size_matched.png"
    kept = victim.read_bytes()
    victim.unlink()
    try:
        browser.get(f"{url}/index.html")
        widths = browser.execute_script(
            "return Array.from(document.images).filter(i => i.getAttribute('src') === 'figures/fig5_size_matched.png')"
            ".map(i => i.naturalWidth);"
        )
        status = browser.execute_async_script(
            "const done = arguments[arguments.length - 1]; fetch('figures/fig5_size_matched.png')"
            ".then(r => done(r.status));"
        )
    finally:
        victim.write_bytes(kept)
    assert widths == [0] and status == 404
