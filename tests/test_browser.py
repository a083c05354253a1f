"""The HTML report in a real browser: headless Chromium, driven by Selenium, on a hand-made report (no training).

The film of training steps with its slider and its play button, a results table sorts, an appendix folds open (and
prints open), a verdict cell explains itself on hover and focus, page one's links lead to their claims, nothing is wider
than a 375 px phone, nothing is fetched and the console stays free of errors; with scripts off the page is the static
report. Needs Chromium and its driver (Debian: apt-get install -y chromium chromium-driver); skipped without them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

INSTALL = "apt-get install -y chromium chromium-driver"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
DRIVER = shutil.which("chromedriver")
if CHROMIUM is None or DRIVER is None:
    missing = "Chromium" if CHROMIUM is None else "chromedriver"
    pytest.skip(f"{missing} not found, so the browser tests cannot run; install it with: {INSTALL}", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="no Selenium: pip install -e '.[dev]'")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

# This machine's network is closed and the tests must not depend on it: no background traffic, no component updates.
FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
    "--disable-component-update --disable-sync --disable-extensions --hide-scrollbars"
).split()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    """The hand-made report of tests/test_report.py, whose frames of training are each their own colour."""
    from reportgen import report
    from tests.test_report import hand_made_context

    path = tmp_path_factory.mktemp("browser") / "report.html"
    path.write_text(report.render_html(hand_made_context()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module, with a fresh profile, its console and network events logged."""
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="reportgen-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _viewport(driver, width: int, height: int = 900) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500}
    )


@pytest.fixture
def page(browser, report_file):
    """The report freshly loaded at 1200 px, scripts on, screen media, logs emptied."""
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    _viewport(browser, 1200)
    browser.get(report_file.as_uri())
    browser.get_log("browser")
    return browser


def _shown_frame(driver) -> int:
    """The index of the one frame of training on screen."""
    shown = driver.execute_script(  # in one go: a playing film changes frames between two questions
        "return [...document.querySelectorAll('.film .frame')].flatMap((f, i) => f.getClientRects().length ? [i] : [])"
    )
    assert len(shown) == 1, shown
    return shown[0]


def test_the_page_loads_without_a_console_error_and_fetches_nothing(browser, report_file):
    browser.get_log("performance")
    browser.get(report_file.as_uri())
    browser.find_element(By.CSS_SELECTOR, ".film-controls")  # the script ran (a blocked script logs an error too)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    events = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    urls = {m["params"]["request"]["url"] for m in events if m["method"] == "Network.requestWillBeSent"}
    # chrome:// and chrome-untrusted:// are the browser's own pages (a loaded machine sees them), never the report's
    schemes = {u.split(":")[0] for u in urls} - {"chrome", "chrome-untrusted"}
    assert schemes <= {"file", "data"} and report_file.as_uri() in urls


def test_the_slider_and_the_play_button_change_the_frame(page):
    slider = page.find_element(By.CSS_SELECTOR, ".film-controls input[type=range]")
    label = page.find_element(By.CSS_SELECTOR, ".film-controls output")
    frames = page.find_elements(By.CSS_SELECTOR, ".film .frame")
    assert _shown_frame(page) == 0 and label.text == frames[0].get_attribute("data-label") == "after 10 epochs"
    first = frames[0].get_attribute("src")
    slider.send_keys(Keys.ARROW_RIGHT)  # keyboard-operable: the range input takes the arrow keys
    assert _shown_frame(page) == 1 and label.text == "after 20 epochs" and frames[1].get_attribute("src") != first
    slider.send_keys(Keys.END)
    assert _shown_frame(page) == len(frames) - 1 and label.text == "at the end of training"
    page.find_element(By.CSS_SELECTOR, ".film-controls button.play").click()  # at the end, play starts over
    deadline = time.monotonic() + 5
    while _shown_frame(page) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _shown_frame(page) >= 1 and slider.get_attribute("aria-valuetext") == label.text


def _row_names(table) -> list[str]:
    return [row.find_element(By.CSS_SELECTOR, "th").text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]


def _column(table, col: int) -> list[float]:
    cells = [row.find_elements(By.CSS_SELECTOR, "td")[col - 1] for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    return [float(c.text.split("\n")[0].rstrip("%").replace(",", "")) for c in cells]


def test_a_results_table_sorts_by_a_column(page):
    page.find_element(By.CSS_SELECTOR, "#appendix-results summary").click()
    table = page.find_element(By.CSS_SELECTOR, "#appendix-results table[data-sortable]")
    before = _row_names(table)
    head = table.find_elements(By.CSS_SELECTOR, "thead th")[1]
    head.find_element(By.CSS_SELECTOR, "button.sort").click()
    values = _column(table, 1)
    assert head.get_attribute("aria-sort") == "ascending" and values == sorted(values) and len(set(values)) > 1
    head.find_element(By.CSS_SELECTOR, "button.sort").click()
    assert head.get_attribute("aria-sort") == "descending" and _column(table, 1) == sorted(values, reverse=True)
    head.find_element(By.CSS_SELECTOR, "button.sort").click()
    assert head.get_attribute("aria-sort") is None and _row_names(table) == before
    assert not page.find_elements(By.CSS_SELECTOR, "table:not([data-sortable]) button.sort")  # key numbers: rows are metrics


def _visible(driver, element) -> bool:
    """Whether the browser renders the element (inside a closed fold it does not)."""
    return driver.execute_script("return arguments[0].checkVisibility()", element)


def test_an_appendix_folds_open_and_prints_open(page):
    details = page.find_element(By.CSS_SELECTOR, "#appendix-claims details")
    claim = details.find_element(By.CSS_SELECTOR, ".claim")
    assert details.get_attribute("open") is None and not _visible(page, claim)
    details.find_element(By.CSS_SELECTOR, "summary").click()
    assert details.get_attribute("open") is not None and _visible(page, claim)
    page.get(page.current_url)
    page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    table = page.find_element(By.CSS_SELECTOR, "#appendix-results table")
    assert table.find_element(By.XPATH, "ancestor::details").get_attribute("open") is None
    assert _visible(page, table)  # a closed fold prints open
    frames = page.find_elements(By.CSS_SELECTOR, ".film .frame")
    assert [_visible(page, f) for f in frames] == ["still" in f.get_attribute("class") for f in frames]
    assert not _visible(page, page.find_element(By.CSS_SELECTOR, ".film-controls"))


def test_a_verdict_cell_shows_its_evidence_on_focus_and_hover(page):
    cells = page.find_elements(By.CSS_SELECTOR, "table.matrix td.cell:not(.na)")
    tips = [c.find_element(By.CSS_SELECTOR, ".tip") for c in cells]
    assert not any(t.is_displayed() for t in tips)
    link = cells[0].find_element(By.CSS_SELECTOR, "a")
    page.execute_script("arguments[0].focus()", link)
    assert tips[0].is_displayed() and "rerun" in tips[0].text and "CI" in tips[0].text
    assert link.get_attribute("aria-describedby") == tips[0].get_attribute("id")
    link.send_keys(Keys.ESCAPE)
    assert not tips[0].is_displayed()
    ActionChains(page).move_to_element(cells[1]).perform()
    assert tips[1].is_displayed() and not tips[0].is_displayed()


def test_a_verdict_cell_leads_to_its_claim(page):
    link = page.find_element(By.CSS_SELECTOR, "table.matrix td.cell a")
    target = link.get_attribute("href").split("#")[1]
    link.click()
    claim = page.find_element(By.ID, target)
    assert page.execute_script("return location.hash") == f"#{target}" and claim.is_displayed()
    top = page.execute_script("return arguments[0].getBoundingClientRect().top", claim)
    assert -2 < top < 900  # scrolled into view (its top, to a fraction of a pixel)


@pytest.mark.parametrize("width", [375, 1200])
def test_nothing_is_wider_than_the_window(page, width):
    _viewport(page, width)
    page.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    sizes = page.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1] == width


def test_with_scripts_off_it_is_the_static_report(browser, report_file):
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.get(report_file.as_uri())
        assert not browser.find_elements(By.CSS_SELECTOR, ".film-controls, button.sort")
        assert all(f.is_displayed() for f in browser.find_elements(By.CSS_SELECTOR, ".film .frame"))  # every frame
        cell = browser.find_element(By.CSS_SELECTOR, "table.matrix td.cell a")
        browser.execute_script("arguments[0].focus()", cell)  # a driver's script runs; the page's do not
        assert cell.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, ".tip").is_displayed()  # CSS alone
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
