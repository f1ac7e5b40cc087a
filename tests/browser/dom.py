"""Reading and driving the dashboard's DOM from Selenium (Dash 4 component markup).

Dash renders a dict id as its JSON with sorted keys, so those elements are found with
``document.getElementById`` rather than CSS selectors. A Dash 4 dropdown is a ``<button>``
with that id whose ``<id>-value`` span shows the selected label.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

# Console errors that only say an external map tile could not load (offline is fine).
EXTERNAL_TILE_MARKERS = ("basemaps.cartocdn.com", "tile.openstreetmap.org", "AJAXError")

_FORM_VALUES = """
const page = arguments[0], out = {};
for (const el of document.querySelectorAll('[id^="{"]')) {
  let id; try { id = JSON.parse(el.id); } catch (e) { continue; }
  if (id.page !== page) continue;
  if (id.kind === 'field-date') {  // a date picker: its text box shows YYYY-MM-DD
    const box = el.tagName === 'INPUT' ? el : el.querySelector('input');
    out[id.path] = box ? box.value : '';
    continue;
  }
  if (id.kind !== 'field') continue;
  if (el.tagName === 'INPUT') {
    out[id.path] = el.type === 'checkbox' ? el.checked : el.value;
  } else {
    const shown = document.getElementById(el.id + '-value');
    const item = shown && shown.querySelector('.dash-dropdown-value-item');
    out[id.path] = item ? item.innerText.trim() : '';
  }
}
return out;
"""

_GRAPH_POINTS = """
const host = document.getElementById(arguments[0]);
const gd = host && host.querySelector('.js-plotly-plot');
const first = gd && gd.data && gd.data[0];
const along = first && (first.x || first.lat);
return along ? along.length : -1;
"""

_MAP_LAYERS = """
const host = document.getElementById(arguments[0]);
const gd = host && host.querySelector('.js-plotly-plot');
const sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
if (!sub || !sub.map || !sub.map.isStyleLoaded() || sub.map.isMoving()) return [];
return sub.map.getStyle().layers.filter(l => l.id.startsWith('plotly-trace-layer'))
  .filter(l => sub.map.getLayoutProperty(l.id, 'visibility') !== 'none').map(l => l.type);
"""


def wait_until(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except Exception as exc:  # a probe that raises means "not yet"
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}; last: {last!r}")
        time.sleep(interval)


def dom_id(value: str | dict[str, Any]) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                           separators=(",", ":"))  # fmt: skip


def element(driver: Any, value: str | dict[str, Any]) -> Any:
    return driver.execute_script("return document.getElementById(arguments[0])", dom_id(value))


def wait_element(driver: Any, value: str | dict[str, Any], timeout: float = 30) -> Any:
    return wait_until(lambda: element(driver, value), timeout=timeout,
                      what=f"element {dom_id(value)}")  # fmt: skip


def text(driver: Any, value: str | dict[str, Any]) -> str:
    found = element(driver, value)
    return "" if found is None else str(found.text)


def click(driver: Any, value: str | dict[str, Any]) -> None:
    driver.execute_script("arguments[0].click()", wait_element(driver, value))


def idle(driver: Any) -> bool:
    """True when Dash has no callback in flight."""
    return bool(driver.execute_script(
        "return !!document.getElementById('react-entry-point') && "
        "!document.querySelector('[data-dash-is-loading=\"true\"]') && "
        "!document.querySelector('._dash-loading')"
    ))  # fmt: skip


def open_page(driver: Any, base: str, path: str, ready: str | dict[str, Any]) -> None:
    """Load ``path`` and wait for element ``ready`` and for Dash to finish its callbacks."""
    driver.get(f"{base}{path}")
    wait_element(driver, ready, timeout=60)
    wait_until(lambda: idle(driver), timeout=60, what=f"{path}: initial callbacks done")


def form_values(driver: Any, page: str) -> dict[str, Any]:
    return dict(driver.execute_script(_FORM_VALUES, page))


def changed_form(
    driver: Any, page: str, before: dict[str, Any], *, timeout: float = 30
) -> dict[str, Any]:
    """The form's values once they differ from ``before`` and the page has rendered all of them.

    A Dash 4 dropdown copies a new ``value`` into its shown label in an effect, one render after
    the number inputs change, so a single read can mix new inputs with old labels. The values
    count only when Dash is idle and two reads a poll apart agree."""
    last: dict[str, Any] = {}

    def settled() -> dict[str, Any] | None:
        nonlocal last
        now = form_values(driver, page) if idle(driver) else {}
        agreed = bool(now) and now != before and now == last
        last = now
        return now if agreed else None

    return wait_until(settled, timeout=timeout, what=f"{page}: the changed form, rendered")


def graph_points(driver: Any, graph: str | dict[str, Any]) -> int:
    """Points in the first trace of a dcc.Graph (-1 when it shows no trace yet)."""
    return int(driver.execute_script(_GRAPH_POINTS, dom_id(graph)))


def map_layers(driver: Any, graph: str | dict[str, Any]) -> list[str]:
    """Types of the visible trace layers MapLibre drew for a map graph ([] while it moves)."""
    return list(driver.execute_script(_MAP_LAYERS, dom_id(graph)))


def console_errors(driver: Any) -> list[str]:
    """SEVERE browser-console entries since the last call, minus external map-tile failures."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and not any(marker in entry["message"] for marker in EXTERNAL_TILE_MARKERS)
    ]


def request_hosts(driver: Any) -> set[str]:
    """Host:port of every network request the browser made since the last call."""
    hosts: set[str] = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] != "Network.requestWillBeSent":
            continue
        url = message["params"]["request"]["url"]
        if url.startswith(("http://", "https://", "ws://", "wss://")):
            hosts.add(url.split("/")[2])
    return hosts


def settle(driver: Any, seconds: float = 1.0) -> None:
    """Let timers fire once more (bounded), then wait for Dash to be idle."""
    time.sleep(seconds)
    wait_until(lambda: idle(driver), timeout=30, what="Dash callbacks done")
