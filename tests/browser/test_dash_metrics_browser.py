"""The metrics panels and form details in real headless Chromium (marker ``browser``).

Each domain page shows a card per metric its model reports, an ⓘ opens the metric's dialog,
TFD draws its gauges and classification report, ECCI its map of recent events by cluster,
and the ETA form rewrites distance and initial estimate when Random coordinates moves the
trip. Screenshots go to ``.coelho/screenshots/metrics-<page>*.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from coelho.domains import REGISTRY
from coelho.domains.eta import haversine_km
from dash_app import ids
from tests.browser import dom
from tests.browser.conftest import LiveStack
from tests.browser.dom import wait_until

DOMAINS = ("tfd", "eta", "ecci")
# A metric whose dialog each page test opens (one per domain, a different kind each time).
OPENED = {"tfd": "MCC", "eta": "TimeRollingMAE", "ecci": "RollingSilhouette"}

_FIGURE = """
const host = document.getElementById(arguments[0]);
const gd = host && host.querySelector('.js-plotly-plot');
const t = gd && gd.data && gd.data[0];
if (!t) return null;
return {type: t.type, value: t.value === undefined ? null : t.value,
        rows: t.y ? t.y.length : 0, text: t.text || null,
        notes: ((gd.layout && gd.layout.annotations) || []).map(a => a.text),
        drawn: host.querySelectorAll(arguments[1]).length};
"""

_DIALOG = """
const open = document.querySelector('.modal.show');
if (!open) return null;
return {title: open.querySelector('.modal-title').innerText,
        body: open.querySelector('.modal-body').innerText,
        links: Array.from(open.querySelectorAll('.modal-body a')).map(a => a.href)};
"""


def figure(driver: Any, cid: dict[str, Any], drawn: str) -> dict[str, Any] | None:
    """The first trace of a graph and how many ``drawn`` SVG nodes it rendered."""
    return driver.execute_script(_FIGURE, dom.dom_id(cid), drawn)  # type: ignore[no-any-return]


def _open(driver: Any, stack: LiveStack, page: str) -> None:
    dom.open_page(driver, stack.dash, f"/{page}", ids.part(page, ids.PREDICT))
    headline = REGISTRY[page].headline_metric
    value = ids.metric_part(page, ids.METRIC_VALUE, headline)
    wait_until(lambda: dom.text(driver, value) not in ("", "—"), timeout=30,
               what=f"{page}: the {headline} card's value")  # fmt: skip


@pytest.mark.parametrize("page", DOMAINS)
def test_brw101_every_metric_has_a_card_and_an_info_dialog(
    stack: LiveStack, driver: Any, screenshots: Path, page: str
) -> None:
    dom.console_errors(driver)
    _open(driver, stack, page)
    domain = REGISTRY[page]
    specs = domain.metric_specs()
    reported = set(stack.status(page)["metrics"])
    for spec in specs:
        assert dom.element(driver, ids.metric_part(page, ids.METRIC_INFO, spec.name)), spec.name
        assert dom.element(driver, ids.metric(page, spec.name)), spec.name
    assert reported <= {s.name for s in specs}, "the writer reports a metric the page lacks"
    # Every metric the writer has published so far shows a value, not a dash.
    for name in reported:
        shown = dom.text(driver, ids.metric_part(page, ids.METRIC_VALUE, name))
        assert shown not in ("", "—"), f"{page}: {name} shows no value"

    chosen = next(s for s in specs if s.name == OPENED[page])
    dom.click(driver, ids.metric_part(page, ids.METRIC_INFO, chosen.name))
    dialog = wait_until(lambda: driver.execute_script(_DIALOG), timeout=10,
                        what=f"{page}: the {chosen.name} dialog")  # fmt: skip
    assert dialog["title"] == chosen.label
    for fact in ("What it means here", "Formula", "Range", "Best value", "River docs"):
        assert fact in dialog["body"], fact
    assert chosen.formula in dialog["body"]
    assert dialog["links"] == [chosen.docs]
    dom.settle(driver, 0.5)
    driver.save_screenshot(str(screenshots / f"metrics-{page}-dialog.png"))
    driver.execute_script("document.querySelector('.modal.show .btn-close').click()")
    wait_until(lambda: driver.execute_script(_DIALOG) is None, timeout=10,
               what="the dialog to close")  # fmt: skip

    if page == "tfd":
        for spec in (s for s in specs if s.gauge):
            gauge = wait_until(
                lambda s=spec: (f := figure(driver, ids.metric_part(page, ids.METRIC_GAUGE,
                                s.name), "g.angular")) and f["value"] is not None and f,
                timeout=30, what=f"the {spec.name} gauge",
            )  # fmt: skip
            assert gauge["type"] == "indicator" and gauge["drawn"] >= 1
            low = -1.0 if spec.low is None else spec.low
            assert low <= gauge["value"] <= (spec.high or 1.0)
        report = wait_until(
            lambda: (f := figure(driver, ids.panel_figure(page, "report"), "g.heatmaplayer"))
            and f["type"] == "heatmap" and f,
            timeout=30, what="the classification report",
        )  # fmt: skip
        assert report["rows"] == 4 and report["drawn"] >= 1
        learned = stack.learned(page)
        supports = [int(text.replace(",", "")) for text in report["notes"]]
        assert supports[2] == supports[0] + supports[1] and 0 < supports[2] <= learned
        confusion = figure(driver, ids.panel_figure(page, "confusion"), "g.heatmaplayer")
        assert confusion and confusion["type"] == "heatmap"
        gauges = dom.element(driver, ids.metric_part(page, ids.METRIC_GAUGE, "MCC"))
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", gauges)
        dom.settle(driver, 0.5)
        driver.save_screenshot(str(screenshots / "metrics-tfd-gauges-report.png"))
    if page == "ecci":
        located = ids.panel_figure(page, "locations")
        wait_until(lambda: dom.graph_points(driver, located) > 0, timeout=60,
                   what="recent events on the customer location map")  # fmt: skip
    dom.settle(driver, 1.0)
    driver.save_screenshot(str(screenshots / f"metrics-{page}.png"))
    assert dom.console_errors(driver) == []


def test_brw102_random_coordinates_rewrite_distance_and_estimate(
    stack: LiveStack, driver: Any, screenshots: Path
) -> None:
    page = "eta"
    dom.console_errors(driver)
    _open(driver, stack, page)
    before = dom.form_values(driver, page)
    dom.click(driver, ids.part(page, ids.RANDOM_POINTS))

    def rewritten() -> dict[str, Any] | None:
        now = dom.changed_form(driver, page, before)
        trip = [float(now[p]) for p in ("origin.lat", "origin.lon", "destination.lat",
                                         "destination.lon")]  # fmt: skip
        distance = haversine_km({"lat": trip[0], "lon": trip[1]},
                                {"lat": trip[2], "lon": trip[3]})  # fmt: skip
        ok = float(now["estimated_distance_km"]) == pytest.approx(round(distance, 2))
        return now if ok else None

    after = wait_until(rewritten, timeout=30, what="the distance field to follow the points")
    kept = [
        p
        for p in before
        if p
        not in (
            "origin.lat",
            "origin.lon",
            "destination.lat",
            "destination.lon",
            "estimated_distance_km",
            "initial_estimated_travel_time_seconds",
        )
    ]
    assert {p: after[p] for p in kept} == {p: before[p] for p in kept}, "only the trip moved"
    # 40 km/h is 90 s per km; the field shows the distance to 10 m, the estimate uses it whole.
    estimate = max(60.0, float(after["estimated_distance_km"]) * 90.0)
    assert abs(int(after["initial_estimated_travel_time_seconds"]) - estimate) <= 1.0
    assert after["timestamp"] and after["timestamp@time"], "date and time inputs are filled"
    dom.settle(driver, 1.0)
    driver.save_screenshot(str(screenshots / "metrics-eta-form.png"))
    assert dom.console_errors(driver) == []
