"""Deliver one CloudEvent to one URL the way the Knative Kafka data plane does.

Retryable: network errors, timeouts, 404, 408, 409, 429 and >= 500; any other status is final.
``retry`` counts retries after the first attempt; retry ``n`` (from 1) waits
``delay * n`` (linear) or ``delay * 2**n`` (exponential). A 2xx answer to a Trigger delivery
succeeds only with an empty body or a valid CloudEvent (the reply); a non-empty non-CloudEvent
body is a failed delivery. When retries are exhausted the event goes to the dead-letter sink with
``knativeerrordest``/``knativeerrorcode``/``knativeerrordata`` and ``kne-*`` response headers as
extensions; if that fails too, or there is none, the event is logged and dropped.
"""

from __future__ import annotations

import base64
import http.client
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from coelho.eventing.cloudevent import Event, from_http, to_binary, to_structured
from coelho.eventing.stats import Counters
from coelho.eventing.transport import HttpResponse, Transport

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({404, 408, 409, 429})
ERROR_DATA_LIMIT = 1024
DEFAULT_TIMEOUT = 600.0  # the Kafka data plane's default per-request timeout
_EXTENSION_NAME = re.compile(r"^[a-z0-9]+$")


def is_retryable(status: int | None) -> bool:
    """None stands for a network error or timeout."""
    return status is None or status >= 500 or status in RETRYABLE_STATUSES


def backoff_delay(policy: str, delay: float, retry_number: int) -> float:
    """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
    if policy == "linear":
        return delay * retry_number
    return delay * 2**retry_number


@dataclass(frozen=True)
class DeliveryPlan:
    """Where and how to deliver: the resolved egress config of one Trigger or sink."""

    url: str
    retry: int = 0
    backoff_policy: str = "exponential"
    backoff_delay: float = 1.0
    timeout: float = DEFAULT_TIMEOUT
    dead_letter_url: str | None = None
    structured: bool = False
    expects_reply: bool = True  # False: the response body is ignored (sinks, dead letters)
    invalid_reply_retryable: bool = False  # MT broker: a non-CE 2xx body becomes a 502

    def delays(self) -> list[float]:
        return [
            backoff_delay(self.backoff_policy, self.backoff_delay, n)
            for n in range(1, self.retry + 1)
        ]


class Outcome(StrEnum):
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"
    DROPPED = "dropped"
    ABANDONED = "abandoned"  # stopped before finishing: not done, so not committed

    @property
    def done(self) -> bool:
        return self is not Outcome.ABANDONED


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    attempts: int
    status: int | None = None
    reply: Event | None = None


@dataclass(frozen=True)
class _Attempt:
    ok: bool
    retryable: bool
    status: int | None = None
    response: HttpResponse | None = None
    reply: Event | None = None
    error: str | None = None


class _ThrottledLog:
    """At most one warning per key per interval, so a failing subscriber cannot flood stderr."""

    def __init__(self, interval: float = 5.0) -> None:
        self._interval = interval
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            last, suppressed = self._last.get(key, (float("-inf"), 0))
            if now - last < self._interval:
                self._last[key] = (last, suppressed + 1)
                return
            self._last[key] = (now, 0)
        suffix = f" ({suppressed} similar suppressed)" if suppressed else ""
        log.warning(message + suffix, *args)


def dead_letter_event(event: Event, target: str, attempt: _Attempt) -> Event:
    """The original event plus the knativeerror* extensions and ``kne-*`` response headers."""
    extensions = {"knativeerrordest": target}
    if attempt.status is not None:
        extensions["knativeerrorcode"] = str(attempt.status)
    response = attempt.response
    if response is not None:
        if response.body:
            data = base64.b64encode(response.body[:ERROR_DATA_LIMIT]).decode("ascii")
            extensions["knativeerrordata"] = data
        for name, value in response.headers.items():
            extension = name[4:]
            if name.startswith("kne-") and _EXTENSION_NAME.match(extension):
                extensions[extension] = value
    return event.with_extensions(extensions)


class Deliverer:
    """Sends events with retries; ``sleep(seconds) -> bool`` is injectable (False = stop now)."""

    def __init__(
        self,
        transport: Transport | None = None,
        *,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.transport = transport or Transport()
        self.stopping = threading.Event()
        self._sleep = sleep or (lambda seconds: not self.stopping.wait(seconds))
        self._log = _ThrottledLog()

    def deliver(
        self, event: Event, plan: DeliveryPlan, counters: Sequence[Counters] = ()
    ) -> DeliveryResult:
        """Deliver, retry, dead-letter; never raises for delivery failures."""
        encode = to_structured if plan.structured else to_binary
        headers, body = encode(event)
        sent = self._send(plan.url, headers, body, plan, plan.expects_reply, counters)
        if sent is None:
            return self._count(DeliveryResult(Outcome.ABANDONED, 0), counters)
        attempt, attempts = sent
        if attempt.ok:
            if attempt.reply is not None:
                for c in counters:
                    c.add("replies")
            result = DeliveryResult(Outcome.DELIVERED, attempts, attempt.status, attempt.reply)
            return self._count(result, counters)
        reason = attempt.error or f"HTTP {attempt.status}"
        if plan.dead_letter_url is None:
            self._log.warning(
                plan.url,
                "dropped %s after %d attempt(s) to %s: %s (no dead-letter sink)",
                event.attrs.get("id"),
                attempts,
                plan.url,
                reason,
            )
            return self._count(DeliveryResult(Outcome.DROPPED, attempts, attempt.status), counters)
        dls_headers, dls_body = encode(dead_letter_event(event, plan.url, attempt))
        dls_plan = replace(plan, url=plan.dead_letter_url, dead_letter_url=None)
        dls = self._send(dls_plan.url, dls_headers, dls_body, dls_plan, False, counters)
        if dls is None:
            return self._count(DeliveryResult(Outcome.ABANDONED, attempts), counters)
        if dls[0].ok:
            result = DeliveryResult(Outcome.DEAD_LETTERED, attempts, attempt.status)
            return self._count(result, counters)
        self._log.warning(
            plan.dead_letter_url,
            "dropped %s: %s failed (%s) and its dead-letter sink %s failed too (%s)",
            event.attrs.get("id"),
            plan.url,
            reason,
            plan.dead_letter_url,
            dls[0].error or f"HTTP {dls[0].status}",
        )
        return self._count(DeliveryResult(Outcome.DROPPED, attempts, attempt.status), counters)

    @staticmethod
    def _count(result: DeliveryResult, counters: Sequence[Counters]) -> DeliveryResult:
        for c in counters:
            c.add(result.outcome.value)
        return result

    def _send(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        plan: DeliveryPlan,
        expects_reply: bool,
        counters: Sequence[Counters],
    ) -> tuple[_Attempt, int] | None:
        """Attempt + retries; returns (last attempt, attempts) or None if stopped meanwhile."""
        retry = 0
        while True:
            attempt = self._attempt(url, headers, body, plan, expects_reply)
            if attempt.ok:
                return attempt, retry + 1
            if self.stopping.is_set():
                return None
            if not attempt.retryable or retry >= plan.retry:
                return attempt, retry + 1
            retry += 1
            for c in counters:
                c.add("retries")
            if not self._sleep(backoff_delay(plan.backoff_policy, plan.backoff_delay, retry)):
                return None

    def _attempt(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        plan: DeliveryPlan,
        expects_reply: bool,
    ) -> _Attempt:
        try:
            response = self.transport.post(url, headers, body, plan.timeout)
        except (OSError, http.client.HTTPException) as exc:
            return _Attempt(ok=False, retryable=True, error=f"{type(exc).__name__}: {exc}")
        status = response.status
        if 200 <= status < 300:
            if not expects_reply:
                return _Attempt(ok=True, retryable=False, status=status, response=response)
            reply = None
            if response.body or "ce-specversion" in response.headers:
                reply = from_http(response.headers, response.body)
                if reply is None:
                    return _Attempt(
                        ok=False,
                        retryable=plan.invalid_reply_retryable,
                        status=status,
                        response=response,
                        error=f"HTTP {status} with a non-empty body that is not a CloudEvent",
                    )
            return _Attempt(ok=True, retryable=False, status=status, response=response, reply=reply)
        return _Attempt(ok=False, retryable=is_retryable(status), status=status, response=response)
