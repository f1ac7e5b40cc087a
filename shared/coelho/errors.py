"""Every error the platform raises on purpose, and the HTTP status it maps to.

CoelhoError
├── InvalidEvent        400  a field of an event or request is missing or wrong
├── NotACloudEvent      400  the request is not a CloudEvent in binary or structured mode
├── QueryRefused        400  SQL that is not one SELECT, or hit a lakehouse query limit
├── UnknownDomain       404  no domain of that name in the registry
├── TableNotFound       404  no lakehouse table of that name, or it holds no data yet
├── NotEnoughData       422  the table cannot train and judge a batch model (says why)
├── StateTampered       500  a state blob failed its HMAC check and was not unpickled
├── ModelNotReady       503  no model state exists yet for the domain
├── ModelDiverged       503  the model's answer is not finite or far outside its physical range
├── KafkaUnavailable    503  a producer could not reach Kafka within its connect retries
├── BrokerUnavailable   503  the Broker did not accept a training request (down, or an error)
└── Refused             409  the operation would serve or promote an unhealthy model
"""

from __future__ import annotations


class CoelhoError(Exception):
    """Base class; ``status`` is the HTTP status a function answers with."""

    status: int = 500

    def to_dict(self) -> dict[str, str]:
        return {"error": type(self).__name__, "message": str(self)}


class InvalidEvent(CoelhoError):
    """A field is missing, mistyped or out of range; ``field`` names it (dotted path)."""

    status = 400

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "field": self.field}


class NotACloudEvent(CoelhoError):
    status = 400


class QueryRefused(CoelhoError):
    """The SQL was not run, or was stopped: the message says why (coelho.lakehouse.sql)."""

    status = 400


class UnknownDomain(CoelhoError):
    status = 404


class TableNotFound(CoelhoError):
    status = 404


class NotEnoughData(CoelhoError):
    status = 422


class StateTampered(CoelhoError):
    status = 500


class ModelNotReady(CoelhoError):
    status = 503


class ModelDiverged(CoelhoError):
    status = 503


class KafkaUnavailable(CoelhoError):
    status = 503


class Refused(CoelhoError):
    status = 409


class BrokerUnavailable(CoelhoError):
    """The Broker did not accept a training request (down, or answered an error)."""

    status = 503
