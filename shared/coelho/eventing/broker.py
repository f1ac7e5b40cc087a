"""The in-process Broker: fan an event out to every matching Trigger, take replies back in.

Events from a KafkaSource are dispatched synchronously (the caller learns when every matching
Trigger has delivered, dead-lettered or dropped it, which is what offset commits wait for).
Replies and PingSource events are published asynchronously on a shared pool; pool tasks never
wait on other pool tasks, so the pool cannot deadlock. The Kafka broker has no TTL loop guard;
the emulator still drops a reply chain after ``MAX_REPLY_HOPS`` generations (MT broker's limit)
so a Trigger that matches its own replies cannot spin forever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from coelho.eventing import model as m
from coelho.eventing.cloudevent import Event
from coelho.eventing.delivery import Deliverer, DeliveryPlan
from coelho.eventing.filters import trigger_matches
from coelho.eventing.stats import Counters

log = logging.getLogger(__name__)
MAX_REPLY_HOPS = 255


@dataclass(frozen=True)
class Route:
    """A Trigger bound to its resolved delivery plan."""

    trigger: m.Trigger
    plan: DeliveryPlan
    counters: Counters = field(default_factory=Counters, compare=False)

    @property
    def name(self) -> str:
        return f"{self.trigger.meta.namespace}/{self.trigger.meta.name}"


class InProcessBroker:
    def __init__(
        self, broker: m.Broker, routes: Sequence[Route], deliverer: Deliverer, pool: Executor
    ) -> None:
        self.broker = broker
        self.routes = tuple(routes)
        self._deliverer = deliverer
        self._pool = pool
        self.counters = Counters()

    @property
    def name(self) -> str:
        return f"{self.broker.meta.namespace}/{self.broker.meta.name}"

    def matching(self, event: Event) -> list[Route]:
        return [r for r in self.routes if trigger_matches(r.trigger, event.attrs)]

    def dispatch(self, event: Event, counters: Sequence[Counters] = ()) -> bool:
        """Deliver to every matching Trigger and wait; False if any delivery was abandoned."""
        self.counters.add("records")
        routes = self.matching(event)
        if not routes:
            return True
        extra = [self._pool.submit(self._deliver, r, event, counters) for r in routes[1:]]
        first = self._deliver(routes[0], event, counters)
        return all([f.result() for f in extra]) and first

    def publish(self, event: Event) -> None:
        """Route an event that did not come from Kafka (a reply, a ping), asynchronously."""
        try:
            self._pool.submit(self._publish_now, event)
        except RuntimeError:  # pool shut down: the emulator is stopping
            log.debug("broker %s stopping, event %s not published", self.name, event.attrs["id"])

    def _publish_now(self, event: Event) -> None:
        self.counters.add("records")
        for route in self.matching(event):
            self._deliver(route, event, ())

    def _deliver(self, route: Route, event: Event, counters: Sequence[Counters]) -> bool:
        result = self._deliverer.deliver(event, route.plan, (route.counters, *counters))
        if result.reply is not None:
            reply = result.reply
            reply.hops = event.hops + 1
            if reply.hops > MAX_REPLY_HOPS:
                log.warning(
                    "broker %s: dropped reply %s of Trigger %s after %d generations (reply loop?)",
                    self.name,
                    reply.attrs.get("id"),
                    route.name,
                    MAX_REPLY_HOPS,
                )
            else:
                self.publish(reply)
        return result.outcome.done
