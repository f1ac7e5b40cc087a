"""Unit tests of coelho.serving: source selection, hot reload and its staleness bound."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from coelho.domains import get
from coelho.errors import InvalidEvent, ModelNotReady
from coelho.learning import OnlineModel
from coelho.serving import LiveSource, RegistrySource, Selector, Served
from coelho.state.checkpoint import dumps, sign
from coelho.state.keys import Keys
from tests.helpers import same_prediction

KEY = b"unit-test-key"


class FakeRedis:
    """Just the hash commands the live source uses, with a call log (fakes: unit tests only)."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[bytes, bytes]] = {}
        self.calls: list[str] = []
        self.down = False

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise redis.ConnectionError("connection refused (fake)")

    def register_script(self, source: str) -> Any:
        return lambda **kwargs: None

    def hmget(self, key: str, fields: list[str]) -> list[bytes | None]:
        self._check("hmget")
        stored = self.hashes.get(key, {})
        return [stored.get(f.encode()) for f in fields]

    def hgetall(self, key: str) -> dict[bytes, bytes]:
        self._check("hgetall")
        return dict(self.hashes.get(key, {}))

    def put_checkpoint(self, domain: str, model: Any, version: int, mac: str | None = None) -> None:
        blob = dumps(model)
        self.hashes[Keys(domain).checkpoint] = {
            b"blob": blob, b"mac": (mac or sign(blob, KEY)).encode(), b"position": b"1-0",
            b"version": str(version).encode(), b"saved_at": str(time.time()).encode(),
            b"bytes": str(len(blob)).encode(), b"events_learned": b"0",
        }  # fmt: skip


def trained(domain: str, n: int, seed: int = 7) -> OnlineModel:
    model = OnlineModel.create(domain)
    events = get(domain).produce(seed=seed)
    for i in range(n):
        model.learn(next(events), (get(domain).topic, 0, i))
    return model


def probe(domain: str, seed: int = 99) -> dict[str, Any]:
    return get(domain).validate_request(next(get(domain).produce(seed=seed)))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, Selector("live")),
        ("", Selector("live")),
        ("live", Selector("live")),
        ("  Champion ", Selector("champion")),
        ("latest", Selector("latest")),
        ("3", Selector("version", 3)),
        ("v12", Selector("version", 12)),
        ("version=7", Selector("version", 7)),
    ],
)
def test_selector_parses_every_documented_form(raw: str | None, expected: Selector) -> None:
    assert Selector.parse(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "best", "version=x", "3.5"])
def test_selector_rejects_anything_else_naming_the_model_field(raw: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        Selector.parse(raw)
    assert caught.value.field == "model"


def test_live_source_is_not_ready_until_a_checkpoint_exists() -> None:
    fake = FakeRedis()
    live = LiveSource(fake, "tfd", KEY, staleness=0.0)  # type: ignore[arg-type]
    with pytest.raises(ModelNotReady, match="no model for tfd yet"):
        live.current()
    fake.put_checkpoint("tfd", trained("tfd", 30), version=1)
    assert live.current().version == 1


def test_live_source_reloads_only_when_the_version_moved() -> None:
    fake = FakeRedis()
    fake.put_checkpoint("eta", trained("eta", 40), version=1)
    live = LiveSource(fake, "eta", KEY, staleness=0.0)  # type: ignore[arg-type]
    first = live.current()
    for _ in range(5):
        assert live.current() is first
    assert fake.calls.count("hgetall") == 1, "an unchanged version must not reload the blob"
    newer = trained("eta", 80)
    fake.put_checkpoint("eta", newer, version=2)
    served = live.current()
    assert served.version == 2
    assert same_prediction(served.predict(probe("eta")), newer.predict(probe("eta")))
    assert fake.calls.count("hgetall") == 2


def test_version_is_checked_at_most_once_per_staleness_window() -> None:
    fake = FakeRedis()
    fake.put_checkpoint("tfd", trained("tfd", 30), version=1)
    live = LiveSource(fake, "tfd", KEY, staleness=3600.0)  # type: ignore[arg-type]
    live.current()
    fake.put_checkpoint("tfd", trained("tfd", 60), version=2)
    for _ in range(20):
        assert live.current().version == 1
    assert fake.calls.count("hmget") == 1
    live._next_check = 0.0  # the window elapsed
    assert live.current().version == 2


def test_big_models_reload_in_the_background_while_the_old_one_answers() -> None:
    fake = FakeRedis()
    fake.put_checkpoint("ecci", trained("ecci", 200), version=1)
    live = LiveSource(fake, "ecci", KEY, staleness=0.0, inline_bytes=0)  # type: ignore[arg-type]
    assert live.current().version == 1  # the first load is always synchronous
    gate = threading.Event()
    original = live._load

    def slow_load() -> Any:
        gate.wait(10)
        return original()

    live._load = slow_load  # type: ignore[method-assign]
    fake.put_checkpoint("ecci", trained("ecci", 300), version=2)
    assert live.current().version == 1, "the request must not wait for the background reload"
    gate.set()
    live.wait_for_background()
    assert live.current().version == 2


def test_redis_outage_keeps_serving_the_loaded_model() -> None:
    fake = FakeRedis()
    fake.put_checkpoint("tfd", trained("tfd", 30), version=4)
    live = LiveSource(fake, "tfd", KEY, staleness=0.0)  # type: ignore[arg-type]
    assert live.current().version == 4
    fake.down = True
    assert live.current().version == 4


def test_redis_outage_before_any_model_is_a_clear_503() -> None:
    fake = FakeRedis()
    fake.down = True
    live = LiveSource(fake, "tfd", KEY, staleness=0.0)  # type: ignore[arg-type]
    with pytest.raises(ModelNotReady, match="redis unavailable"):
        live.current()


def test_a_tampered_checkpoint_is_never_served() -> None:
    fake = FakeRedis()
    fake.put_checkpoint("tfd", trained("tfd", 30), version=1, mac="0" * 64)
    live = LiveSource(fake, "tfd", KEY, staleness=0.0)  # type: ignore[arg-type]
    with pytest.raises(ModelNotReady, match="HMAC does not verify"):
        live.current()


def test_registry_source_caches_versions_and_re_resolves_aliases() -> None:
    models = {1: trained("tfd", 20), 2: trained("tfd", 40)}
    champion = {"version": 1}
    loads: list[Selector] = []

    def loader(domain: str, selector: Selector) -> Served:
        loads.append(selector)
        number = selector.version if selector.source == "version" else champion["version"]
        assert number is not None
        return Served(models[number], selector.source, number, 1.0)

    source = RegistrySource("tfd", KEY, loader=loader)
    assert source.current(Selector("version", 2)).version == 2
    assert source.current(Selector("version", 2)).source == "version"
    assert len(loads) == 1, "a registered version is immutable: loaded once"
    assert source.current(Selector("champion")).version == 1
    champion["version"] = 2
    assert source.current(Selector("champion")).version == 1, "alias cached within its TTL"
    source._aliases["champion"] = (0.0, 1)  # the TTL elapsed
    served = source.current(Selector("champion"))
    assert (served.version, served.source) == (2, "champion")
    assert served.model is models[2]
