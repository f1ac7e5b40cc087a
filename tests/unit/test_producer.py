"""The producer's knobs, pace, metrics server and connect retry, without a Kafka broker."""

from __future__ import annotations

import inspect
import io
import math
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from prometheus_client import generate_latest

from coelho import cli
from coelho.domains import REGISTRY, get
from coelho.errors import KafkaUnavailable
from coelho.producer import connect, parser
from coelho.producer_metrics import ProducerMetrics
from coelho.producer_options import chosen_options, pace, progress_bar


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_declared_options_match_the_generator_defaults(key: str) -> None:
    """Each option is a keyword of the generator with the declared default, so the options
    cannot drift from what the generator does."""
    domain = get(key)
    params = inspect.signature(domain.generator).parameters
    for option in domain.generator_options:
        assert params[option.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[option.name].default == option.default, option.name


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_explicit_defaults_reproduce_the_seeded_stream(key: str) -> None:
    domain = get(key)
    defaults = {o.name: o.default for o in domain.generator_options}
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    plain = domain.generate(seed=5, start=start)
    explicit = domain.generate(seed=5, start=start, options=defaults)
    assert [plain.next_event() for _ in range(200)] == [explicit.next_event() for _ in range(200)]


def binomial_tolerance(p: float, n: int, sigmas: float = 4.0) -> float:
    return sigmas * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("p", [0.002, 0.05, 0.3])
def test_fraud_ratio_gauge_follows_the_fraud_probability(p: float) -> None:
    domain = get("tfd")
    generator = domain.generate(seed=11, options={"fraud_probability": p})
    n = 20_000
    labels = [generator.next_event()["is_fraud"] for _ in range(n)]
    (gauge,) = domain.producer_gauges
    ratio = gauge.read(generator)
    assert ratio == sum(labels) / n  # the gauge counts what was generated
    assert abs(ratio - p) <= binomial_tolerance(p, n)


def test_eta_and_ecci_options_change_their_streams() -> None:
    eta = get("eta").generate(seed=2, options={"incident_probability": 1.0})
    assert all(eta.next_event()["debug_incident_delay_seconds"] >= 300 for _ in range(50))
    calm = get("eta").generate(seed=2, options={"incident_probability": 0.0})
    assert all(calm.next_event()["debug_incident_delay_seconds"] == 0 for _ in range(500))
    slow = get("ecci").generate(seed=2, options={"event_rate_per_minute": 6})
    intervals = [slow.next_interval() for _ in range(500)]
    assert 9.0 < sum(intervals) / len(intervals) < 11.0  # 6/min: 10 s apart on average


def test_bad_options_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="--fraud-probability must be >= 0.0 and <= 1.0"):
        get("tfd").options({"fraud_probability": 1.5})
    with pytest.raises(ValueError, match="no generator option 'incident_probability'"):
        get("tfd").options({"incident_probability": 0.1})
    args = parser().parse_args(["tfd", "--bootstrap", "x", "--incident-probability", "0.1"])
    with pytest.raises(ValueError, match="--incident-probability is not an option of tfd"):
        chosen_options(args, "tfd")


def test_both_command_lines_offer_every_domain_option() -> None:
    for domain in REGISTRY.values():
        for option in domain.generator_options:
            value = str(option.minimum + 0.5)
            via_cli = cli.parser().parse_args(["produce", domain.key, option.flag, value])
            via_module = parser().parse_args([domain.key, "--bootstrap", "x", option.flag, value])
            for args in (via_cli, via_module):
                assert chosen_options(args, domain.key) == {option.name: float(value)}


def test_a_bounded_run_is_unthrottled_unless_a_rate_is_given() -> None:
    assert pace(count=1000, rate=None) == 0.0
    assert pace(count=1000, rate=50.0) == 50.0
    assert pace(count=None, rate=None) is None  # endless (coelho up, the cluster): seed pace
    with pytest.raises(ValueError, match="--rate must be >= 0"):
        pace(count=10, rate=-1.0)


def test_progress_bar_prints_a_line_per_tenth_off_a_terminal() -> None:
    out = io.StringIO()
    show = progress_bar(1000, out)
    for done in range(0, 1001, 50):
        show(done)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("[" + "#" * 30 + "] 1000/1000")


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_metrics_server_reports_readiness_and_domain_gauges() -> None:
    domain = get("ecci")
    metrics = ProducerMetrics(domain, domain.topic)
    server = metrics.serve(0)
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert get_status(base + "/health/liveness") == 200
        assert get_status(base + "/health/readiness") == 503
        metrics.set_connected(True)
        assert get_status(base + "/health/readiness") == 200
        generator = domain.generate(seed=1)
        for _ in range(300):
            generator.next_event()
        metrics.observe_generator(generator)
        with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.close()
    sessions = generator.active_sessions()
    assert sessions > 0
    assert f'coelho_producer_active_sessions{{domain="ecci"}} {float(sessions)}' in text
    assert "coelho_producer_messages_sent_total" in text
    assert "coelho_producer_fraud_ratio" not in text  # a gauge of another domain


def test_connect_retries_then_fails_naming_the_bootstrap() -> None:
    metrics = ProducerMetrics(get("tfd"), "t")
    with pytest.raises(
        KafkaUnavailable, match=r"--bootstrap 127.0.0.1:1: Kafka unreachable .* after 3 attempts"
    ):
        connect("127.0.0.1:1", "t", "c", metrics, retries=2, interval=0.05, timeout=0.3)
    text = generate_latest(metrics.registry).decode()
    assert 'coelho_producer_connection_retries_total{domain="tfd"} 3.0' in text
    assert 'coelho_producer_connected{domain="tfd"} 0.0' in text


def test_the_producer_exposes_the_metric_contract_of_rules_and_dashboards() -> None:
    from tests.cluster import contract

    text = ""
    for key in ("tfd", "ecci"):
        metrics = ProducerMetrics(get(key), get(key).topic)
        metrics.acknowledged(0.0, 512)
        metrics.error(TimeoutError("test"))
        text += generate_latest(metrics.registry).decode()
    labels: dict[str, set[frozenset[str]]] = {}
    for line in text.splitlines():
        if line.startswith("coelho_producer_"):
            name, _, rest = line.partition("{")
            keys = frozenset(pair.split("=")[0] for pair in rest.split("}")[0].split(","))
            labels.setdefault(name, set()).add(keys)
    wanted = {name for name in contract.METRICS if name.startswith("coelho_producer_")}
    assert wanted <= set(labels), wanted - set(labels)
    for name in wanted:
        assert labels[name] == {contract.METRICS[name]}, name
