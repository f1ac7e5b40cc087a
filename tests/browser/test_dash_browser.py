"""The dashboard in real headless Chromium against a running local stack (marker ``browser``).

Every wait is bounded; the only traffic is loopback (checked from the browser's own network
log); events are produced in bounded batches. Screenshots of every page are left in
``.coelho/screenshots/`` for a reviewer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from coelho.domains import REGISTRY
from dash_app import ids
from dash_app.components import fields
from tests.browser import dom
from tests.browser.conftest import REPO, LiveStack
from tests.browser.dom import wait_until

DOMAINS = ("tfd", "eta", "ecci")
PAGES = {"/": ids.HOME_CARDS, **{f"/{d}": ids.part(d, ids.TRAINING_STATUS) for d in DOMAINS},
         **{f"/{d}/batch": ids.BATCH_TRAIN for d in DOMAINS}}  # fmt: skip


def _open(driver: Any, stack: LiveStack, page: str) -> None:
    dom.open_page(driver, stack.dash, f"/{page}", ids.part(page, ids.PREDICT))
    wait_until(lambda: "events learned" in dom.text(driver, ids.part(page, ids.TRAINING_STATUS)),
               timeout=30, what=f"{page}: training status line")  # fmt: skip


def _request(page: str, values: dict[str, Any]) -> dict[str, Any]:
    """The predict request a user's own client would send for these form values."""
    domain = REGISTRY[page]
    specs = dict(fields.form_fields(domain))
    typed = {p: (v if v != "" or p in specs and specs[p].kind == "bool" else None)
             for p, v in values.items()}  # fmt: skip
    return domain.validate_request(fields.to_event(domain, typed))


def test_brw001_pages_load_without_console_errors_over_loopback_only(
    stack: LiveStack, driver: Any, screenshots: Path
) -> None:
    dom.console_errors(driver)
    dom.request_hosts(driver)
    for path, ready in PAGES.items():
        dom.open_page(driver, stack.dash, path, ready)
        dom.settle(driver, 2.0)
        if path == "/":
            wait_until(lambda: dom.text(driver, ids.HOME_CARDS).count("events learned") == 3,
                       timeout=30, what="three domain cards")  # fmt: skip
            cards = dom.text(driver, ids.HOME_CARDS)
            for domain in DOMAINS:
                assert f"learn-{domain}: ready" in cards and f"predict-{domain}: ready" in cards
            driver.save_screenshot(str(screenshots / "home.png"))
            menu = driver.execute_script(
                "return Array.from(document.querySelectorAll('#nav a[href]')).map(a => a.href)"
            )
            for name in ("mlflow", "prometheus", "predict-tfd"):
                assert any(href.startswith(stack.services[name]) for href in menu), name
        assert dom.console_errors(driver) == [], f"console errors on {path}"
        dashboard = stack.dash.removeprefix("http://")
        assert dom.request_hosts(driver) <= {dashboard}, f"{path} reached beyond the dashboard"


@pytest.mark.parametrize("page", DOMAINS)
def test_brw002_randomize_fills_every_field(stack: LiveStack, driver: Any, page: str) -> None:
    from selenium.webdriver.common.keys import Keys

    _open(driver, stack, page)
    domain = REGISTRY[page]
    specs = dict(fields.form_fields(domain))
    numbers = [p for p, s in specs.items() if s.kind in ("int", "float") and not s.nullable][:2]
    for path in numbers:  # empty two inputs first: Randomize must fill them again
        box = dom.element(driver, ids.field(page, path))
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
    assert all(dom.form_values(driver, page)[p] == "" for p in numbers)
    before = dom.form_values(driver, page)
    dom.click(driver, ids.part(page, ids.RANDOMIZE))
    after = dom.changed_form(driver, page, before)
    assert all(after[p] for p in numbers), f"{page}: Randomize left {numbers} empty"
    inputs, dates = fields.input_ids(page, domain)
    assert set(after) == {i["path"] for i in inputs + dates}, "one input per request field"
    assert {d["path"] for d in dates} | {i["path"] for i in inputs} >= set(specs)
    for path, spec in specs.items():
        if not spec.nullable and spec.kind != "bool":
            assert after[path] != "", f"{page}: {path} left empty"
    _request(page, after)  # the filled form is a valid request
    assert dom.console_errors(driver) == []


def _shown_result(driver: Any, page: str) -> str:
    if page == "tfd":
        return dom.text(driver, ids.page_id(page, "verdict"))
    if page == "eta":
        return str(driver.execute_script(
            "const gd = document.getElementById(arguments[0]).querySelector('.js-plotly-plot');"
            "return gd && gd.data && gd.data.length === 2 ? gd.data[1].value : '';",
            ids.page_id(page, "eta-numbers"),
        ))  # fmt: skip
    shown = dom.text(driver, ids.page_id(page, "cluster"))
    return shown if "Predicted cluster" in shown else ""


@pytest.mark.parametrize("page", DOMAINS)
def test_brw003_predict_shows_the_predict_functions_answer(
    stack: LiveStack, driver: Any, screenshots: Path, page: str
) -> None:
    _open(driver, stack, page)
    before = dom.form_values(driver, page)
    dom.click(driver, ids.part(page, ids.RANDOMIZE))
    values = dom.changed_form(driver, page, before)
    version = stack.checkpointed(page)  # no event in flight: the answer cannot move
    url = stack.services[f"predict-{page}"]
    wait_until(lambda: requests.post(f"{url}/?model=live", json=_request(page, values),
                                     timeout=30).json()["model"]["version"] == version,
               timeout=30, what=f"predict-{page} to serve version {version}")  # fmt: skip
    dom.click(driver, ids.part(page, ids.PREDICT))
    shown = wait_until(lambda: _shown_result(driver, page), timeout=60,
                       what=f"{page}: a prediction on the page")  # fmt: skip
    assert dom.text(driver, ids.part(page, ids.RESULT_ALERT)) == ""
    assert dom.form_values(driver, page) == values, "the form changed after it was read"
    # The same request, sent the way a user's own client would, gives the same answer.
    answer = requests.post(f"{url}/?model=live", json=_request(page, values), timeout=30).json()
    assert answer["model"]["version"] == version
    if page == "tfd":
        assert f"fraud {answer['fraud_probability']:.1%}" in shown
        assert ("NOT FRAUD" in shown) is (not answer["is_fraud"])
    elif page == "eta":
        assert float(shown) == pytest.approx(answer["eta_minutes"])
        assert "km" in dom.text(driver, ids.page_id(page, "trip"))
        assert dom.graph_points(driver, ids.page_id(page, "map")) == 2  # origin -> destination
        drawn = wait_until(lambda: dom.map_layers(driver, ids.page_id(page, "map")), timeout=30,
                           what="MapLibre to draw the trip")  # fmt: skip
        assert "line" in drawn and "circle" in drawn, drawn  # route line and markers
    else:
        assert f"cluster {answer['cluster']}" in shown.lower().replace("\n", " ")
        for chart in ("behaviour", "samples", "distribution"):
            wait_until(lambda c=chart: dom.graph_points(driver, ids.page_id(page, c)) > 0,
                       timeout=30, what=f"the ECCI {chart} chart")  # fmt: skip
    # The info block re-renders from the answer (with the live model's lag, in events and
    # milliseconds) once the result store has it.
    info = wait_until(lambda: (lambda t: t if "behind the log" in t else None)(
        dom.text(driver, ids.part(page, ids.MODEL_INFO))), timeout=30,
        what="the answering model's lag in the info block")  # fmt: skip
    assert "live" in info and str(answer["model"]["version"]) in info
    dom.settle(driver, 1.5)
    driver.save_screenshot(str(screenshots / f"{page}.png"))
    assert dom.console_errors(driver) == []


def test_brw004_invalid_input_is_named_before_any_call(stack: LiveStack, driver: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    def calls() -> float:
        text = requests.get(f"{stack.services['predict-eta']}/metrics", timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("coelho_predict_requests_total{")
        )

    _open(driver, stack, "eta")
    made = calls()
    box = dom.element(driver, ids.field("eta", "driver_rating"))
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("7")  # the schema's maximum is 5
    dom.click(driver, ids.part("eta", ids.PREDICT))
    alert = wait_until(lambda: dom.text(driver, ids.part("eta", ids.FORM_ALERT)), timeout=30,
                       what="the form alert")  # fmt: skip
    assert "driver_rating" in alert and "Driver rating" in alert
    dom.settle(driver, 1.0)
    assert calls() == made, "an invalid form must not reach the predict function"


def test_brw005_metric_charts_gain_points_while_events_flow(stack: LiveStack, driver: Any) -> None:
    _open(driver, stack, "eta")
    graph = ids.metric("eta", "MAE")
    wait_until(lambda: dom.graph_points(driver, graph) > 0, timeout=30, what="MAE points")
    start = dom.graph_points(driver, graph)
    learned = stack.learned("eta")
    producer = threading.Thread(target=stack.produce, args=("eta", 400, 100.0), daemon=True)
    producer.start()
    wait_until(lambda: dom.graph_points(driver, graph) >= start + 2, timeout=60,
               what="the MAE chart to gain points")  # fmt: skip
    producer.join(timeout=60)
    assert not producer.is_alive()
    stack.settle("eta")
    assert stack.learned("eta") >= learned + 400
    assert dom.console_errors(driver) == []


def test_brw006_training_toggle_pauses_and_resuming_loses_no_event(
    stack: LiveStack, driver: Any, screenshots: Path
) -> None:
    _open(driver, stack, "tfd")
    switch = ids.part("tfd", ids.TRAINING_SWITCH)
    assert dom.element(driver, switch).is_selected(), "training starts switched on"
    dom.click(driver, switch)
    wait_until(lambda: stack.emulator_source("tfd")["paused"], timeout=30,
               what="the emulator to pause KafkaSource tfd")  # fmt: skip
    assert "paused" in dom.text(driver, ids.part("tfd", ids.TRAINING_FEEDBACK))
    paused_at = stack.settle("tfd")  # in-flight events finish; then nothing moves
    sent = stack.produce("tfd", 300)
    assert stack.records("tfd") == paused_at + sent
    wait_until(lambda: "paused" in dom.text(driver, ids.part("tfd", ids.TRAINING_STATUS)),
               timeout=30, what="the status line to say paused")  # fmt: skip
    time.sleep(3.0)  # a bounded window in which a consuming source would have moved
    assert stack.learned("tfd") == paused_at, "learning went on while paused"
    driver.save_screenshot(str(screenshots / "tfd-paused.png"))
    dom.click(driver, switch)
    wait_until(lambda: not stack.emulator_source("tfd")["paused"], timeout=30,
               what="the emulator to resume KafkaSource tfd")  # fmt: skip
    total = stack.settle("tfd")
    assert total == paused_at + sent
    assert stack.learned("tfd") == total, "every record learned exactly once after resuming"
    assert stack.status("tfd")["dead_lettered"] == 0
    assert dom.console_errors(driver) == []


def test_brw007_coelho_status_lists_the_dashboard(stack: LiveStack) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "coelho.cli", "status", "--json"], env=stack.env, cwd=REPO,
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout)["services"]["dash"] == stack.dash
    assert requests.get(stack.dash, timeout=10).status_code == 200


def test_brw008_sql_page_runs_a_template_and_shows_rows(
    stack: LiveStack, driver: Any, screenshots: Path
) -> None:
    """Archive now (instead of waiting for the minute's tick), then on /tfd/sql: pick a
    template, Run, and the query function's rows appear with the shown / total counter; a
    DELETE comes back as the function's refusal."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    body = {"task": "archive", "domains": ["tfd"]}
    headers = {"ce-specversion": "1.0", "ce-type": "dev.knative.sources.ping",
               "ce-source": "browser-test", "ce-id": str(time.time()),
               "content-type": "application/json"}  # fmt: skip
    report = requests.post(f"{stack.services['archive']}/?wait=1", json=body, headers=headers,
                           timeout=120).json()  # fmt: skip
    archived = report["tfd"]["table_rows"]
    assert archived >= 600, report
    dom.open_page(driver, stack.dash, "/tfd/sql", ids.SQL_RUN)
    dom.console_errors(driver)
    dom.element(driver, ids.SQL_TEMPLATE).click()
    option = wait_until(
        lambda: next((o for o in driver.find_elements(By.CSS_SELECTOR, ".Select-option, "
                      "[class*='option']") if o.text == "Fraud by merchant"), None),
        timeout=10, what="the template list",
    )  # fmt: skip
    option.click()
    wait_until(lambda: "GROUP BY merchant_id" in dom.element(driver, ids.SQL_EDITOR)
               .get_attribute("value"), timeout=10, what="the template in the editor")  # fmt: skip
    dom.click(driver, ids.SQL_RUN)

    def shown() -> str | None:
        text = dom.text(driver, ids.SQL_COUNTER)
        return text if " shown / " in text else None

    counter = wait_until(shown, timeout=30, what="the result counter")
    assert "50 shown / 50 rows" in counter and " ms" in counter, counter
    cells = driver.find_elements(By.CSS_SELECTOR, f"#{ids.SQL_TABLE} td.dash-cell")
    assert any(c.text.startswith("merchant_") for c in cells)
    first_column = driver.find_elements(By.CSS_SELECTOR, f"#{ids.SQL_TABLE} td.dash-cell.column-0")
    assert len(first_column) == 20, "one page of 20 rows"
    # The table's own filter (first column): fewer shown, same total.
    box = driver.find_elements(By.CSS_SELECTOR, f"#{ids.SQL_TABLE} th.dash-filter input")[0]
    box.send_keys("merchant_1" + Keys.ENTER)

    def narrowed() -> str | None:
        text = dom.text(driver, ids.SQL_COUNTER)
        return None if text.startswith("50 shown") else text

    filtered = wait_until(narrowed, timeout=10, what="the filter")
    assert " shown / 50 rows" in filtered, filtered
    headers_text = dom.text(driver, ids.SQL_TABLE)
    assert "fraud_pct" in headers_text and "transactions" in headers_text
    driver.save_screenshot(str(screenshots / "tfd-sql.png"))
    # Total rows through the same page: the table holds exactly what was archived.
    dom.click(driver, ids.SQL_CLEAR)  # empties the editor and the result
    wait_until(lambda: "Run a query" in dom.text(driver, ids.SQL_COUNTER), timeout=10,
               what="Clear")  # fmt: skip
    editor = dom.element(driver, ids.SQL_EDITOR)
    assert editor.get_attribute("value") == ""
    editor.send_keys("SELECT count(*) AS n FROM data")
    dom.click(driver, ids.SQL_RUN)
    wait_until(lambda: "1 shown / 1 rows" in dom.text(driver, ids.SQL_COUNTER), timeout=30,
               what="the count")  # fmt: skip
    assert str(archived) in dom.text(driver, ids.SQL_TABLE)
    dom.click(driver, ids.SQL_CLEAR)
    wait_until(lambda: editor.get_attribute("value") == "", timeout=10, what="Clear")
    editor.send_keys("DELETE FROM data")
    dom.click(driver, ids.SQL_RUN)
    refusal = wait_until(lambda: dom.text(driver, ids.SQL_ALERT) or None, timeout=30,
                         what="the refusal")  # fmt: skip
    assert "refused" in refusal and "got DELETE" in refusal, refusal
    assert dom.console_errors(driver) == []


_BATCH_FIGURES = """
const host = document.getElementById(arguments[0]);
return host ? Array.from(host.querySelectorAll('.js-plotly-plot'))
  .map(gd => (gd.data || []).reduce((n, t) => n + ((t.x || t.z || []).length), 0)) : [];
"""


def test_brw009_batch_page_trains_shows_progress_metrics_and_figures(
    stack: LiveStack, driver: Any, screenshots: Path
) -> None:
    """Archive eta now, then on /eta/batch: Train on its rows -> the progress bar moves through
    the stages to Done (the job runs in the emulator's JobSink) -> the run's metric cards, the
    River-vs-batch table and the diagnostics' Plotly figures are drawn from MLflow."""
    body = {"task": "archive", "domains": ["eta"]}
    headers = {"ce-specversion": "1.0", "ce-type": "dev.knative.sources.ping",
               "ce-source": "browser-test", "ce-id": f"batch-{time.time()}",
               "content-type": "application/json"}  # fmt: skip
    report = requests.post(f"{stack.services['archive']}/?wait=1", json=body, headers=headers,
                           timeout=120).json()  # fmt: skip
    assert report["eta"]["table_rows"] >= 600, report
    dom.open_page(driver, stack.dash, "/eta/batch", ids.BATCH_TRAIN)
    rows = dom.element(driver, ids.BATCH_ROWS)
    rows.clear()
    rows.send_keys("600")
    dom.click(driver, ids.BATCH_TRAIN)
    stages: set[str] = set()

    def finished() -> str | None:
        line = dom.text(driver, ids.BATCH_STAGE)
        stages.add(line.split(" · ")[0])
        return line if line.startswith(("Done", "Failed", "Stopped")) else None

    final = wait_until(finished, timeout=300, what="the training to end", interval=0.2)
    assert final.startswith("Done") and "registered eta-batch version" in final, final
    assert stages & {"Loading data", "Training", "Evaluating", "Logging to MLflow"}, stages
    assert "Training requested" not in dom.text(driver, ids.BATCH_FEEDBACK)  # the job took it
    bar = driver.find_element("css selector", f"#{ids.BATCH_PROGRESS} .progress-bar")
    assert bar.get_attribute("aria-valuenow") == "100"
    wait_until(lambda: "★" in dom.text(driver, ids.BATCH_RUN), timeout=60,
               what="the new run, starred as the best")  # fmt: skip

    def card_values() -> list[str] | None:
        from selenium.common.exceptions import StaleElementReferenceException

        try:  # the cards are redrawn when the run list refreshes
            found = [c.text for c in driver.find_elements("css selector", ".coelho-batch-metric")]
        except StaleElementReferenceException:
            return None
        return found if found and all(v not in ("", "—") for v in found[:4]) else None

    wait_until(card_values, timeout=60, what="the metric cards with values")
    assert "R²" in dom.text(driver, ids.BATCH_METRICS)
    compare = wait_until(lambda: dom.text(driver, ids.BATCH_COMPARE) or None, timeout=30,
                         what="River vs batch")  # fmt: skip
    assert "MAE" in compare and "River" in compare, compare
    points = wait_until(
        lambda: [n for n in driver.execute_script(_BATCH_FIGURES, ids.BATCH_DIAGNOSTICS) if n > 0],
        timeout=60, what="diagnostic figures with data",
    )  # fmt: skip
    assert len(points) >= 2, points
    # A batch prediction from the page's own form, answered by the new version.
    dom.click(driver, ids.part(ids.batch_page("eta"), ids.BATCH_PREDICT))
    result = ids.part(ids.batch_page("eta"), ids.BATCH_RESULT)
    answered = wait_until(lambda: "Fill the form" not in (t := dom.text(driver, result))
                          and t.strip(), timeout=90, what="the batch prediction")  # fmt: skip
    driver.save_screenshot(str(screenshots / "eta-batch-predict.png"))
    assert "answered by eta-batch version" in answered, answered
    assert "HistGradientBoostingRegressor" in answered, answered
    assert dom.console_errors(driver) == []
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(screenshots / "eta-batch.png"))
