"""A training request: the CloudEvent the dashboard and ``coelho train`` send to the Broker.

``type`` is ``coelho.batch.train.requested`` (the Trigger ``train`` routes it to the JobSink),
``source`` is who asked (``coelho.cli``, ``coelho.dash``), ``id`` a fresh UUID (a JobSink makes
one Job per (source, id), so both must be valid label values), the extension ``domain`` names
the domain, and ``data`` is ``{"domain", "max_rows"?, "sample_frac"?}``.

``submit`` records the request as ``queued`` (so its requester can follow it from the first
moment) and POSTs it to the Broker's ingress (``COELHO_BROKER_URL``: the emulator's
``/coelho/coelho`` locally, ``kafka-broker-ingress`` on the cluster).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from coelho import domains
from coelho.errors import BrokerUnavailable, InvalidEvent

EVENT_TYPE = "coelho.batch.train.requested"
SOURCES = ("coelho.cli", "coelho.dash", "coelho.test")


@dataclass(frozen=True)
class TrainRequest:
    domain: str
    max_rows: int | None = None
    sample_frac: float | None = None
    request_id: str = ""
    source: str = "coelho.cli"

    @classmethod
    def new(cls, domain: str, max_rows: int | None = None, sample_frac: float | None = None,
            source: str = "coelho.cli") -> TrainRequest:  # fmt: skip
        """A checked request with a fresh id (``InvalidEvent``/``UnknownDomain`` otherwise)."""
        return cls.from_data({"domain": domain, "max_rows": max_rows, "sample_frac": sample_frac},
                             str(uuid.uuid4()), source)  # fmt: skip

    @classmethod
    def from_data(cls, data: Any, request_id: str, source: str) -> TrainRequest:
        """Validate ``data``: a known domain with a batch model, at most one size option."""
        if not isinstance(data, dict):
            raise InvalidEvent("data", "expected an object {domain, max_rows?, sample_frac?}")
        key = data.get("domain")
        if not isinstance(key, str) or not key:
            raise InvalidEvent("data.domain", "is required")
        domain = domains.get(key)  # UnknownDomain names the known ones
        if domain.batch is None or not domain.table:
            raise InvalidEvent("data.domain", f"{key!r} has no batch model")
        max_rows, frac = data.get("max_rows"), data.get("sample_frac")
        if max_rows is not None and frac is not None:
            raise InvalidEvent("data.sample_frac", "give max_rows or sample_frac, not both")
        if max_rows is not None and (
            isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1
        ):
            raise InvalidEvent("data.max_rows", f"expected a whole number >= 1, got {max_rows!r}")
        if frac is not None and (
            isinstance(frac, bool) or not isinstance(frac, int | float) or not math.isfinite(frac)
            or not 0 < frac <= 1
        ):  # fmt: skip
            raise InvalidEvent("data.sample_frac", f"expected a number in (0, 1], got {frac!r}")
        return cls(key, max_rows, None if frac is None else float(frac), request_id, source)

    @classmethod
    def from_cloudevent(cls, event: Any) -> TrainRequest:
        from coelho.events import payload

        attrs = event.get_attributes()
        if attrs.get("type") != EVENT_TYPE:
            raise InvalidEvent("type", f"expected {EVENT_TYPE}, got {attrs.get('type')!r}")
        return cls.from_data(payload(event), str(attrs["id"]), str(attrs["source"]))

    @property
    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"domain": self.domain}
        if self.max_rows is not None:
            out["max_rows"] = self.max_rows
        if self.sample_frac is not None:
            out["sample_frac"] = self.sample_frac
        return out

    def describe(self) -> str:
        if self.max_rows is not None:
            return f"the newest {self.max_rows:,} rows"
        if self.sample_frac is not None:
            return f"a {self.sample_frac:.0%} sample of the rows"
        return "every row"

    def headers(self) -> dict[str, str]:
        """Binary-mode CloudEvent headers."""
        return {"ce-specversion": "1.0", "ce-type": EVENT_TYPE, "ce-source": self.source,
                "ce-id": self.request_id, "ce-domain": self.domain,
                "Content-Type": "application/json"}  # fmt: skip


def submit(client: Any, broker_url: str, request: TrainRequest) -> None:
    """Record ``request`` as queued, then send it; a refused send is recorded as failed."""
    from coelho.batch.status import record

    record(client, request.request_id, request.domain, "queued",
           f"sent to the Broker: train on {request.describe()}")  # fmt: skip
    try:
        send(broker_url, request)
    except BrokerUnavailable as exc:
        record(client, request.request_id, request.domain, "failed", str(exc))
        raise


def send(broker_url: str, request: TrainRequest, timeout: float = 10.0) -> None:
    """POST the request to the Broker ingress; ``BrokerUnavailable`` says why it failed."""
    body = json.dumps(request.data).encode()
    http = urllib.request.Request(broker_url, data=body, headers=request.headers(),
                                  method="POST")  # fmt: skip
    try:
        with urllib.request.urlopen(http, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise BrokerUnavailable(
            f"the Broker at {broker_url} answered {exc.code}: {detail}"
        ) from None
    except OSError as exc:
        raise BrokerUnavailable(f"the Broker at {broker_url} is unreachable: {exc}") from None
    if status // 100 != 2:
        raise BrokerUnavailable(f"the Broker at {broker_url} answered {status}")
