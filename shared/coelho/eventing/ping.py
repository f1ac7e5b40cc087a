"""PingSource: emit ``dev.knative.sources.ping`` events on a cron schedule.

Each tick fires at the start of a matching minute in the source's time zone (the system zone
when ``timezone`` is unset) plus a random 0-500 ms jitter, as the mtping adapter does. A failed
tick is logged and lost (Knative: "Event is lost"); ticks missed while stopped are not replayed.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from coelho.eventing.cloudevent import Event
from coelho.eventing.cron import parse_cron
from coelho.eventing.model import PING_EVENT_TYPE, PingSource

log = logging.getLogger(__name__)


def ping_event(source: PingSource, now: datetime | None = None) -> Event:
    """The event of one tick (a fresh random id each time)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    attrs = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"/apis/v1/namespaces/{source.meta.namespace}/pingsources/{source.meta.name}",
        "type": PING_EVENT_TYPE,
        "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if source.data is not None and source.content_type:
        attrs["datacontenttype"] = source.content_type
    attrs.update(source.ce_overrides)
    return Event(attrs, source.data)


class PingRunner:
    """One thread per PingSource; ``send`` delivers the event (to a URL or into a broker)."""

    def __init__(
        self,
        source: PingSource,
        send: Callable[[Event], None],
        stop: threading.Event,
        *,
        jitter: float = 0.5,
    ) -> None:
        self.source = source
        self.name = f"{source.meta.namespace}/{source.meta.name}"
        self.schedule = parse_cron(source.schedule)
        self.zone: tzinfo = (
            zoneinfo.ZoneInfo(source.timezone)
            if source.timezone
            else datetime.now().astimezone().tzinfo or UTC
        )
        self.ticks = 0
        self._send = send
        self._stop = stop
        self._jitter = jitter
        self._thread = threading.Thread(
            target=self._run, name=f"eventing-ping-{self.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def next_fire(self, now: datetime | None = None) -> datetime:
        """The next firing time (aware, in the source's zone)."""
        return self.schedule.next_after((now or datetime.now(UTC)).astimezone(self.zone))

    def fire(self) -> None:
        """Emit one tick now (also used by tests)."""
        self.ticks += 1
        try:
            self._send(ping_event(self.source))
        except Exception:
            log.exception("PingSource %s: tick failed, event lost", self.name)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(UTC)
            delay = (self.next_fire(now) - now).total_seconds() + random.uniform(0, self._jitter)
            if self._stop.wait(max(delay, 0.0)):
                return
            self.fire()
