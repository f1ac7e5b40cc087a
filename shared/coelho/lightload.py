"""Unpickle a model for serving without importing what a prediction does not need.

A checkpoint pickles the whole ``OnlineModel``, prequential metrics included. Unpickling a
River metric imports ``river.metrics`` (and with it ``scipy.stats``): about 0.15 s for the
linear pipelines and 0.6 s for DBSTREAM, all on a predict function's cold start, for objects a
prediction never reads. So the serving loader stands in a placeholder for every class of
``river.metrics`` and ``river.stats`` and keeps its state untouched.

Safety net: after loading, no placeholder may be reachable from ``model.pipeline``, the only
part a prediction or a replica's ``learn(score=False)`` (coelho.replica) touches. Otherwise (a
pipeline that holds a metric, as the forests do) the blob is unpickled again the normal way;
a prediction therefore never meets a placeholder. Only the pipeline is walked: the metrics'
states and the cluster analytics hold thousands of values, and walking them took 12-90 ms
per load, on every re-base of a predict replica. The served model must not be used to read or
update metrics, nor to score.
"""

from __future__ import annotations

import hmac
import io
import pickle
from typing import Any

from coelho.errors import StateTampered
from coelho.state.checkpoint import _LOAD_LOCK, _gc_paused, sign

# coelho.windows: the bounded windowed metrics, which import river.metrics.
DEFERRED_MODULES = ("river.metrics", "river.stats", "coelho.windows")


class Placeholder:
    """Stands in for an object of a deferred class; keeps the pickled state as given."""

    _target: tuple[str, str] = ("", "")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # a class called by a REDUCE opcode: arguments are not kept

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state

    def __repr__(self) -> str:
        return f"<not loaded for serving: {'.'.join(self._target)}>"


class _ServingUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.placeholders: list[Placeholder] = []
        self._classes: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if not module.startswith(DEFERRED_MODULES):
            return super().find_class(module, name)
        key = (module, name)
        if key not in self._classes:
            created = self.placeholders

            def new(cls: type, *args: Any, **kwargs: Any) -> Placeholder:
                obj = object.__new__(cls)
                created.append(obj)
                return obj

            self._classes[key] = type(name, (Placeholder,), {"_target": key, "__new__": new})
        return self._classes[key]


def _reachable_placeholders(root: Any) -> set[int]:
    """Ids of the placeholders reachable from ``root`` through containers and attributes."""
    found: set[int] = set()
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(obj))
        if isinstance(obj, Placeholder):
            found.add(id(obj))
            stack.append(obj.__dict__.get("_state"))
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
        else:
            try:
                stack.extend(iter(obj))  # deques and other iterables
            except TypeError:
                pass
    return found


def loads_for_serving(blob: bytes, mac: str, key: bytes, what: str) -> Any:
    """Verify ``mac`` then unpickle ``blob`` with deferred metrics (see the module doc)."""
    if not hmac.compare_digest(sign(blob, key), mac):
        raise StateTampered(f"{what}: HMAC does not verify; refusing to unpickle")
    with _LOAD_LOCK, _gc_paused():
        unpickler = _ServingUnpickler(blob)
        model = unpickler.load()
        if unpickler.placeholders and _reachable_placeholders(getattr(model, "pipeline", model)):
            return pickle.loads(blob)  # the pipeline itself holds a metric: load it all
        return model
