"""E-Commerce Customer Interactions: online clustering of session events with DBSTREAM.

Events come from the seed's session state machine (at most 500 live sessions, 15-minute
timeout, 70 % chance to continue a session). The drift switch makes shoppers decisive:
product-focused sessions add to cart and buy far more often, with higher prices.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from coelho.domains import ecci_metrics
from coelho.domains.base import (
    Clock,
    Domain,
    Event,
    Features,
    GeneratorOption,
    ModelSpec,
    ProducerGauge,
    SeededGenerator,
)
from coelho.domains.batch import BatchSpec
from coelho.domains.common import BROWSERS, LAT_RANGE, LON_RANGE, OPERATING_SYSTEMS
from coelho.domains.reports import cluster_reports
from coelho.domains.schema import FieldSpec, point

EVENT_TYPES = ("page_view", "add_to_cart", "purchase", "search", "leave_review")
CATEGORIES = (
    "Electronics", "Fashion & Apparel", "Home & Garden", "Beauty & Personal Care",
    "Sports & Outdoors", "Books", "Grocery & Gourmet Food", "Automotive", "Toys & Games",
    "Computers", "Pet Supplies", "Health & Household",
)  # fmt: skip
REFERRERS = (
    "direct", "google.com", "facebook.com", "amazon.com", "instagram.com", "twitter.com",
    "youtube.com", "tiktok.com", "pinterest.com", "reddit.com", "linkedin.com", "bing.com",
    "yahoo.com", "email_campaign", "affiliate_link",
)  # fmt: skip
DEVICE_TYPES = ("Mobile", "Desktop", "Tablet")
PRODUCTS = tuple(f"prod_{i}" for i in range(1000, 1101))
WORDS = ("wireless", "organic", "kids", "running", "gift", "smart", "leather", "vintage",
         "portable", "eco", "pro", "mini", "deluxe", "outdoor", "classic")  # fmt: skip
MAX_SESSIONS = 500
SESSION_TIMEOUT = timedelta(minutes=15)

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("event_id", "str", role="id"),
    FieldSpec("customer_id", "str", role="id"),
    FieldSpec("session_id", "str", role="id"),
    FieldSpec("timestamp", "timestamp", role="context"),
    FieldSpec("event_type", "str", choices=EVENT_TYPES),
    FieldSpec("product_id", "str", nullable=True, choices=PRODUCTS),
    FieldSpec("product_category", "str", nullable=True, choices=CATEGORIES),
    FieldSpec("price", "float", nullable=True, minimum=0, maximum=1_000_000),
    FieldSpec("quantity", "int", nullable=True, minimum=0, maximum=1000),
    FieldSpec("page_url", "str", role="context"),
    FieldSpec("referrer_url", "str", nullable=True, choices=REFERRERS),
    FieldSpec(
        "device_info",
        "object",
        fields=(
            FieldSpec("device_type", "str", choices=DEVICE_TYPES),
            FieldSpec("browser", "str", choices=BROWSERS),
            FieldSpec("os", "str", choices=OPERATING_SYSTEMS),
        ),
    ),
    point("location", role="context"),
    FieldSpec("time_on_page_seconds", "int", minimum=0, maximum=86_400),
    FieldSpec("search_query", "str", nullable=True, role="context"),
    FieldSpec("session_event_sequence", "int", minimum=1, maximum=100_000),
)

NUMERIC = ("price", "quantity", "time_on_page_seconds", "session_event_sequence")
CATEGORICAL = ("event_type", "product_category", "device_type", "referrer_url")
# Features the dashboard's "cluster behaviour" and analytics charts can break clusters down by.
PROFILE_FEATURES = ("event_type", "product_category", "referrer_url", "quantity",
                    "time_on_page_seconds", "session_event_sequence", "device_type",
                    "browser", "os")  # fmt: skip


def features(event: Event) -> Features:
    """Numbers (missing price/quantity mean 0) and the session's categorical context."""
    return {
        "price": event["price"] or 0.0,
        "quantity": float(event["quantity"] or 0),
        "time_on_page_seconds": float(event["time_on_page_seconds"]),
        "session_event_sequence": float(event["session_event_sequence"]),
        "event_type": event["event_type"],
        "product_category": event["product_category"],
        "device_type": event["device_info"]["device_type"],
        "referrer_url": event["referrer_url"],
    }


def profile(event: Event) -> dict[str, Any]:
    """The values of ``PROFILE_FEATURES`` for one event (device fields flattened)."""
    flat = {**event, **event["device_info"]}
    return {name: flat[name] for name in PROFILE_FEATURES}


# The unit of each number (the value that becomes 1.0) and a clip at 3 units. Fixed, not
# running statistics: DBSTREAM's micro-clusters live in the scaled space, and a scale that
# moves (the first add-to-cart after thousands of page views gave quantity a z-score of
# about 30) strands every existing micro-cluster in a space that no longer exists.
UNITS: dict[str, float] = {"price": 1000.0, "quantity": 2.0, "time_on_page_seconds": 120.0,
                           "session_event_sequence": 10.0}  # fmt: skip
CLIP = 3.0
# λ = 0.002: a micro-cluster's weight halves every 500 events. The seed's 0.05 (a half-life
# of 20 events) forgot every other behaviour during a burst of one event type, and the model
# fell to one or two clusters.
DBSTREAM_LIGHT = {"clustering_threshold": 1.0, "fading_factor": 0.002, "cleanup_interval": 2,
                  "intersection_factor": 0.3, "minimum_weight": 1.0}  # fmt: skip
DBSTREAM_SEED = {"clustering_threshold": 1.5, "fading_factor": 0.05, "cleanup_interval": 4,
                 "intersection_factor": 0.5, "minimum_weight": 1.0}  # fmt: skip


def _dbstream_numeric() -> Any:
    """DBSTREAM on numbers in fixed units: categories with no cluster signal fragment it."""
    from river import cluster, compose

    from coelho.features import Scale

    return compose.Select(*NUMERIC) | Scale(UNITS, CLIP) | cluster.DBSTREAM(**DBSTREAM_LIGHT)


def _dbstream_seed() -> Any:
    """The seed's DBSTREAM parameters over numbers in fixed units plus one-hot categories."""
    from river import cluster, compose

    from coelho.features import OneHot, Scale

    encode = (compose.Select(*NUMERIC) | Scale(UNITS, CLIP)) + (
        compose.Select(*CATEGORICAL) | OneHot()
    )
    return encode | cluster.DBSTREAM(**DBSTREAM_SEED)


@dataclass
class _Session:
    session_id: str
    customer_id: str
    device: dict[str, str]
    location: dict[str, float]
    referrer: str
    last_seen: datetime
    sequence: int = 0
    product: tuple[str, str] | None = None


# The seed producer's command line (its defaults); the producer offers each as an option.
OPTIONS = (
    GeneratorOption("event_rate_per_minute", 600, "mean events per minute at the producer's "
                    "own pace (no --rate)", minimum=1, maximum=600_000),
)  # fmt: skip


class EcciGenerator(SeededGenerator):
    """The seed's session state machine, seeded; sessions time out on the event clock."""

    def __init__(
        self,
        rng: random.Random,
        drift_after: int | None,
        clock: Clock,
        *,
        event_rate_per_minute: float = 600,
    ) -> None:
        super().__init__(rng, drift_after, clock)
        self.sessions: dict[str, _Session] = {}
        self.mean_interval = 60.0 / event_rate_per_minute

    def active_sessions(self) -> int:
        """Sessions kept (stale ones go at the next purge): the producer's gauge."""
        return len(self.sessions)

    def next_interval(self) -> float:
        # The seed: gauss(0.1, 0.03) at 600 events/min, a 30 % spread around the mean.
        mean = self.mean_interval
        return max(0.001, self.rng.gauss(mean, 0.3 * mean))

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _session(self, now: datetime) -> tuple[_Session, bool]:
        r = self.rng
        if r.random() < 0.01:
            self.sessions = {k: s for k, s in self.sessions.items()
                             if now - s.last_seen < SESSION_TIMEOUT}  # fmt: skip
        live = [s for s in self.sessions.values() if now - s.last_seen < SESSION_TIMEOUT]
        if live and (r.random() < 0.7 or len(self.sessions) >= MAX_SESSIONS):
            return r.choice(live), False
        session = _Session(
            session_id=self._uuid(),
            customer_id=self._uuid(),
            device={
                "device_type": r.choice(DEVICE_TYPES),
                "browser": r.choice(BROWSERS),
                "os": r.choice(OPERATING_SYSTEMS),
            },  # fmt: skip
            location={
                "lat": round(r.uniform(*LAT_RANGE), 3),
                "lon": round(r.uniform(*LON_RANGE), 3),
            },  # fmt: skip
            referrer=r.choice(REFERRERS),
            last_seen=now,
        )
        self.sessions[session.session_id] = session
        return session, True

    def _event_type(self, session: _Session, first: bool, drifted: bool) -> str:
        r = self.rng
        if first:
            return "page_view" if r.random() < 0.8 else "search"
        if session.product is not None and r.random() < (0.8 if drifted else 0.4):
            kind = r.choices(("add_to_cart", "page_view", "leave_review"), (0.6, 0.35, 0.05))[0]
            if kind == "add_to_cart" and r.random() < (0.6 if drifted else 0.3):
                return "purchase"
            return kind
        return r.choices(("page_view", "search", "add_to_cart"), (0.6, 0.2, 0.2))[0]

    def next_event(self) -> Event:
        r = self.rng
        drifted = self._advance()
        now = self.clock()
        session, first = self._session(now)
        session.sequence += 1
        session.last_seen = now
        kind = self._event_type(session, first, drifted)
        product_id = category = price = quantity = query = None
        if kind == "search":
            words = r.sample(WORDS, r.randint(1, 4))
            query = " ".join(words)
            url = f"https://example.com/search?q={'+'.join(words)}"
            seconds = r.randint(5, 60)
        else:
            if session.product is None or r.random() < 0.3:
                session.product = (f"prod_{r.randint(1000, 1100)}", r.choice(CATEGORIES))
            product_id, category = session.product
            price = round(r.uniform(500, 2500) if drifted else r.uniform(5, 2500), 2)
            if kind in ("add_to_cart", "purchase"):
                quantity = r.randint(1, 4)
            seconds = r.randint(30, 180) if kind == "purchase" else r.randint(5, 300)
            slug = category.lower().replace(" & ", "-").replace(" ", "-")
            url = f"https://example.com/{slug}/{product_id}"
        return {
            "event_id": self._uuid(),
            "customer_id": session.customer_id,
            "session_id": session.session_id,
            "timestamp": now.isoformat(),
            "event_type": kind,
            "product_id": product_id,
            "product_category": category,
            "price": price,
            "quantity": quantity,
            "page_url": url,
            "referrer_url": session.referrer if first else None,
            "device_info": dict(session.device),
            "location": dict(session.location),
            "time_on_page_seconds": seconds,
            "search_query": query,
            "session_event_sequence": session.sequence,
        }


# The Delta table of archived events (the seed roadmap's name) and the SQL page's templates.
TABLE = "customer_interactions"
SQL_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("Sample rows", "SELECT * FROM data LIMIT 100"),
    ("Purchases", "SELECT * FROM data WHERE event_type = 'purchase' "
     "ORDER BY timestamp DESC LIMIT 100"),
    ("Events by type", "SELECT event_type, count(*) AS events FROM data "
     "GROUP BY event_type ORDER BY events DESC"),
    ("Revenue by category", "SELECT product_category, count(*) AS purchases, "
     "round(sum(price * quantity), 2) AS revenue FROM data WHERE event_type = 'purchase' "
     "GROUP BY product_category ORDER BY revenue DESC"),
    ("Sessions by device", "SELECT device_info_device_type AS device, "
     "count(DISTINCT session_id) AS sessions, round(avg(time_on_page_seconds), 1) "
     "AS avg_seconds_on_page FROM data GROUP BY device ORDER BY sessions DESC"),
    ("Row count", "SELECT count(*) AS row_count FROM data"),
)  # fmt: skip


def _batch_clusterer() -> Any:
    """KMeans; ``n_clusters`` is set by the K search (coelho.batch.train)."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=2, init="k-means++", n_init=5, max_iter=300, tol=1e-4,
                  algorithm="lloyd", random_state=42)  # fmt: skip


# The batch model (coelho.batch): KMeans on the same inputs as dbstream-seed, K searched 2-10.
# Product ids (101 values), browser, OS and the clock carry no cluster signal: one-hot columns
# of them only fragment the clusters.
BATCH = BatchSpec(
    build=_batch_clusterer,
    headline="silhouette",
    higher_is_better=True,
    metric_groups=(
        ("Cluster quality", ("silhouette", "calinski_harabasz", "davies_bouldin")),
        ("Structure", ("n_clusters", "inertia")),
    ),
    diagnostics=("k_search", "cluster_sizes", "pca_2d", "cluster_profiles"),
    encoding="onehot",
    scale=True,
    exclude=("product_id", "device_info.browser", "device_info.os", "timestamp"),
    summary="KMeans (k-means++, 5 inits) on standardized price, quantity, time on page and "
    "sequence plus one-hot event type, category, referrer and device; K by silhouette",
)  # fmt: skip

DOMAIN = Domain(
    key="ecci",
    title="E-Commerce Customer Interactions",
    topic="e_commerce_customer_interactions",
    task="clustering",
    fields=FIELDS,
    event_id="event_id",
    record_key="session_id",
    target=None,
    features=features,
    models={
        "dbstream": ModelSpec(
            "dbstream",
            "Price/quantity/time-on-page/sequence in fixed units → DBSTREAM(r=1.0, λ=0.002)",
            _dbstream_numeric,
            {**DBSTREAM_LIGHT, "units": UNITS, "clip": CLIP},
        ),
        "dbstream-seed": ModelSpec(
            "dbstream-seed",
            "The seed's DBSTREAM(r=1.5, λ=0.05, t_gap=4, α=0.5) over numbers + one-hot categories",
            _dbstream_seed,
            {**DBSTREAM_SEED, "units": UNITS, "clip": CLIP},
        ),
    },
    default_model="dbstream",
    metrics=ecci_metrics.metrics,
    headline_metric="Silhouette",
    generator=EcciGenerator,
    seed_rate=10.0,
    generator_options=OPTIONS,
    producer_gauges=(
        ProducerGauge(
            "active_sessions", "Sessions the generator keeps open", EcciGenerator.active_sessions
        ),
    ),  # fmt: skip
    summary="Customer clustering & analysis",
    table=TABLE,
    sql_templates=SQL_TEMPLATES,
    reports=cluster_reports(),
    counters=ecci_metrics.COUNTERS,
    location="location",
    batch=BATCH,
)
