"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) driven by selenium, with
the network disabled: every host resolves to nothing and every proxy is a dead port."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver", "chromium-driver")
LOAD_TIMEOUT_S = 60.0
NO_NETWORK_FLAGS = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
                    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-default-apps")


def find_chromium() -> tuple[str, str] | None:
    """(browser, driver) paths, or None when either is missing."""
    browser = next((p for n in CHROMIUM_NAMES if (p := shutil.which(n))), None)
    driver = next((p for n in DRIVER_NAMES if (p := shutil.which(n))), None)
    if browser is None or driver is None:
        return None
    return browser, driver


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """One headless browser session; the caller sets the window size per page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    assert found is not None, "chromium and chromedriver are needed"
    browser, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", "--hide-scrollbars", *NO_NETWORK_FLAGS):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        driver.set_page_load_timeout(LOAD_TIMEOUT_S)
        yield driver
    finally:
        driver.quit()


def open_page(driver: Any, path: Path, width: int = 1280, height: int = 900) -> None:
    """Load a page at a window size and wait until its renderer says every chart is done."""
    driver.set_window_size(width, height)
    driver.get(path.resolve().as_uri())
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while time.monotonic() < deadline:
        state = driver.execute_script("return document.body.dataset.charts || ''")
        if state in ("done", "failed"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{path}: charts not drawn within {LOAD_TIMEOUT_S:g} s")


def console_errors(driver: Any) -> list[str]:
    """Console messages of level SEVERE since the last call (reading clears them)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver: Any, path: Path, width: int = 1280) -> None:
    """The whole page at `width` px: the window grows to the document's height."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, min(height, 16000))
    time.sleep(0.3)  # Plotly's responsive charts resize on the window's resize event
    driver.save_screenshot(str(path))


READ_CHARTS = """
function data(el) {
  var out = {};
  el.getAttributeNames().forEach(function (n) {
    if (n.indexOf('data-') === 0) { out[n.slice(5)] = el.getAttribute(n); }
  });
  return out;
}
return Array.prototype.map.call(document.querySelectorAll('figure.chart'), function (f) {
  var chart = data(f);
  chart.id = f.id;
  chart.facts = Array.prototype.map.call(f.querySelectorAll('ul.facts > li'), data);
  chart.summary = f.querySelector('figcaption').textContent;
  var plot = f.querySelector('[data-plot]');
  var box = plot.getBoundingClientRect();
  chart.plot = {rendered: plot.dataset.rendered || '', width: box.width, height: box.height,
                svgs: plot.querySelectorAll('svg.main-svg').length,
                traces: plot.querySelectorAll('g.trace').length};
  return chart;
});
"""

READ_TABLES = """
var out = {};
document.querySelectorAll('table[data-table]').forEach(function (t) {
  out[t.getAttribute('data-table')] = Array.prototype.map.call(
    t.querySelectorAll('tbody tr'), function (tr) {
      var row = {};
      tr.querySelectorAll('td').forEach(function (td) {
        row[td.getAttribute('data-col')] = td.textContent;
      });
      return row;
    });
});
return out;
"""


READ_SERIES = """
function count(g, selector) { return g.querySelectorAll(selector).length; }
return Array.prototype.map.call(document.querySelectorAll('figure.chart[data-kind=series]'),
                                function (f) {
  var plot = f.querySelector('[data-plot]');
  var drawn = Array.prototype.map.call(plot.querySelectorAll('g.trace.scatter'), function (g) {
    var segments = 0;
    g.querySelectorAll('path.js-line').forEach(function (p) {
      segments += ((p.getAttribute('d') || '').match(/M/g) || []).length;
    });
    return {markers: count(g, 'path.point'), segments: segments};
  });
  return {route: f.getAttribute('data-route'),
          traces: plot.data.map(function (t) { return {name: t.name, x: t.x, y: t.y}; }),
          drawn: drawn,
          dotted: (plot.layout.shapes || []).filter(function (s) {
            return s.line && s.line.dash === 'dot'; }).map(function (s) { return s.x0; })};
});
"""


def read_series(driver: Any) -> list[dict[str, Any]]:
    """Each series chart as Plotly holds it in the DOM (its traces' points, the dotted reset
    lines) and as it drew it (markers and line segments per trace, in the SVG)."""
    found: list[dict[str, Any]] = driver.execute_script(READ_SERIES)
    return found


def read_charts(driver: Any) -> list[dict[str, Any]]:
    """Every chart as the DOM has it: attributes, facts, and its drawn plot's box."""
    charts: list[dict[str, Any]] = driver.execute_script(READ_CHARTS)
    return charts


def read_tables(driver: Any) -> dict[str, list[dict[str, str]]]:
    tables: dict[str, list[dict[str, str]]] = driver.execute_script(READ_TABLES)
    return tables
