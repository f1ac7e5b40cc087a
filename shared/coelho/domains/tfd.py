"""Transaction Fraud Detection: binary classification of card transactions.

Events reproduce the seed producer (about 1 % fraud, fraud shifts amount, CVV, billing match,
category, payment method and account age). The drift switch turns fraud into card testing:
triple the fraud rate, and fraudsters move to small amounts and digital goods.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import datetime
from typing import Any

from coelho.domains import tfd_metrics
from coelho.domains.base import (
    Clock,
    Domain,
    Event,
    Features,
    GeneratorOption,
    GuardSpec,
    ModelSpec,
    ProducerGauge,
    SeededGenerator,
)
from coelho.domains.batch import BatchSpec
from coelho.domains.common import BROWSERS, OPERATING_SYSTEMS
from coelho.domains.reports import confusion_reports
from coelho.domains.schema import FieldSpec, point

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "BRL")
CATEGORIES = (
    "electronics", "clothing", "groceries", "travel", "services",
    "digital_goods", "luxury_items", "gambling", "other",
)  # fmt: skip
RISKY_CATEGORIES = ("electronics", "luxury_items", "digital_goods", "gambling")
TRANSACTION_TYPES = ("purchase", "withdrawal", "transfer", "payment", "deposit")
PAYMENT_METHODS = ("credit_card", "debit_card", "paypal", "bank_transfer", "crypto")
MERCHANTS = tuple(f"merchant_{i}" for i in range(1, 201))
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
)

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("transaction_id", "str", role="id"),
    FieldSpec("user_id", "str", role="id"),
    FieldSpec("timestamp", "timestamp", role="context"),
    FieldSpec(
        "amount", "float", minimum=0, maximum=1_000_000, description="Amount (currency units)"
    ),
    FieldSpec("currency", "str", choices=CURRENCIES),
    FieldSpec("merchant_id", "str", choices=MERCHANTS),
    FieldSpec("product_category", "str", choices=CATEGORIES),
    FieldSpec("transaction_type", "str", choices=TRANSACTION_TYPES),
    FieldSpec("payment_method", "str", choices=PAYMENT_METHODS),
    point("location", role="context"),
    FieldSpec("ip_address", "str", role="context"),
    FieldSpec(
        "device_info",
        "object",
        fields=(
            FieldSpec("os", "str", choices=OPERATING_SYSTEMS),
            FieldSpec("browser", "str", choices=BROWSERS),
        ),
    ),
    FieldSpec("user_agent", "str", role="context"),
    FieldSpec(
        "account_age_days", "int", minimum=0, maximum=36_500, description="Account age (days)"
    ),
    FieldSpec("cvv_provided", "bool"),
    FieldSpec("billing_address_match", "bool"),
    FieldSpec("is_fraud", "int", minimum=0, maximum=1, role="target"),
)

NUMERIC = ("amount", "log_amount", "account_age_days", "cvv_provided", "billing_address_match",
           "hour")  # fmt: skip
CATEGORICAL = ("currency", "merchant_id", "product_category", "transaction_type",
               "payment_method", "os", "browser", "weekday")  # fmt: skip


def features(event: Event) -> Features:
    """Model inputs: amounts, account signals and categories; never ids, IP or user agent."""
    when = datetime.fromisoformat(event["timestamp"])
    return {
        "amount": event["amount"],
        "log_amount": math.log1p(event["amount"]),
        "account_age_days": event["account_age_days"],
        "cvv_provided": float(event["cvv_provided"]),
        "billing_address_match": float(event["billing_address_match"]),
        "hour": when.hour,
        "currency": event["currency"],
        "merchant_id": event["merchant_id"],
        "product_category": event["product_category"],
        "transaction_type": event["transaction_type"],
        "payment_method": event["payment_method"],
        "os": event["device_info"]["os"],
        "browser": event["device_info"]["browser"],
        "weekday": str(when.weekday()),
    }


# Standardized values are clipped at 10 standard deviations: the first missing CVV after
# 10,000 present ones is 100 deviations out. 10, not 3: a 6,000 fraud among 250 purchases is
# 40 deviations out, and clipping it at 3 measurably hid the fraud signal.
Z_CLIP = 10.0


def _logistic() -> Any:
    """Clipped running z-scores + one-hot → LogisticRegression inside RandomUnderSampler.

    The log loss has a bounded gradient, so this model cannot explode the way a squared loss
    does; the clip bounds what one unusual value can do to a weight."""
    from river import compose, imblearn, linear_model, optim

    from coelho.features import OneHot, Standardize

    numeric = compose.Select(*NUMERIC) | Standardize(clip=Z_CLIP)
    encode = numeric + (compose.Select(*CATEGORICAL) | OneHot())
    classifier = linear_model.LogisticRegression(optimizer=optim.SGD(0.05))
    return encode | imblearn.RandomUnderSampler(classifier, desired_dist={0: 0.8, 1: 0.2}, seed=42)


ARF_PARAMS: dict[str, Any] = {
    "n_models": 10, "max_features": "sqrt", "lambda_value": 6, "grace_period": 50,
    "delta": 0.01, "tau": 0.05, "leaf_prediction": "nba", "nb_threshold": 0,
    "binary_split": False, "min_branch_fraction": 0.01, "max_share_to_split": 0.99,
    "max_size": 100.0, "memory_estimate_period": 2_000_000, "merit_preprune": True,
    "disable_weighted_vote": False, "split_criterion": "info_gain", "seed": 42,
}  # fmt: skip


def _arf() -> Any:
    """The seed's model: RandomUnderSampler(ARFClassifier) balanced 50/50."""
    from river import drift, forest, imblearn, metrics

    arf = forest.ARFClassifier(
        metric=metrics.ROCAUC(),
        drift_detector=drift.ADWIN(delta=0.002),
        warning_detector=drift.ADWIN(delta=0.01),
        **ARF_PARAMS,
    )
    return imblearn.RandomUnderSampler(arf, desired_dist={0: 0.5, 1: 0.5}, seed=42)


# The seed producer's command line (its defaults); the producer offers each as an option.
OPTIONS = (
    GeneratorOption("fraud_probability", 0.01, "share of transactions that are fraud "
                    "(tripled after --drift-after)", maximum=1.0),
    GeneratorOption("high_value_fraud_probability", 0.8,
                    "share of frauds with a high amount (300-6000)", maximum=1.0),
    GeneratorOption("cvv_missing_probability", 0.05, "share of transactions without a CVV",
                    maximum=1.0),
    GeneratorOption("billing_mismatch_probability", 0.1,
                    "share of transactions whose billing address does not match", maximum=1.0),
    GeneratorOption("account_age_years_limit", 5, "oldest account, in years", minimum=1,
                    maximum=99),
)  # fmt: skip


class TfdGenerator(SeededGenerator):
    """The seed producer's distributions, driven by a seeded ``random.Random``."""

    def __init__(
        self,
        rng: random.Random,
        drift_after: int | None,
        clock: Clock,
        *,
        fraud_probability: float = 0.01,
        high_value_fraud_probability: float = 0.8,
        cvv_missing_probability: float = 0.05,
        billing_mismatch_probability: float = 0.1,
        account_age_years_limit: float = 5,
    ) -> None:
        super().__init__(rng, drift_after, clock)
        self.fraud_probability = fraud_probability
        self.high_value = high_value_fraud_probability
        self.cvv_present = 1.0 - cvv_missing_probability
        self.billing_match = 1.0 - billing_mismatch_probability
        self.max_age_days = int(365 * account_age_years_limit)
        self.frauds = 0

    def fraud_ratio(self) -> float:
        """Share of fraud among the events generated so far (the producer's gauge)."""
        return self.frauds / self.count if self.count else 0.0

    def next_interval(self) -> float:
        return self.rng.uniform(0.05, 0.5)

    def next_event(self) -> Event:
        r = self.rng
        drifted = self._advance()
        p_fraud = min(1.0, 3 * self.fraud_probability) if drifted else self.fraud_probability
        is_fraud = r.random() < p_fraud
        self.frauds += is_fraud
        high_value = 0.2 if drifted else self.high_value
        if is_fraud:
            amount = r.uniform(300, 6000) if r.random() < high_value else r.uniform(1, 50)
        else:
            amount = r.uniform(5, 500)
        category = r.choice(CATEGORIES)
        payment = r.choice(PAYMENT_METHODS)
        age = r.randint(0, self.max_age_days)
        cvv = r.random() < self.cvv_present
        billing = r.random() < self.billing_match
        if is_fraud:
            if r.random() < (0.6 if drifted else 0.2):
                category = "digital_goods" if drifted else r.choice(RISKY_CATEGORIES)
            if r.random() < 0.1:
                payment = r.choice(("crypto", "credit_card"))
            if r.random() < 0.15:
                age = r.randint(0, 30)
            if r.random() < 0.4:
                cvv = False
            if r.random() < 0.3:
                billing = False
        else:
            if not cvv and r.random() < 0.9:
                cvv = True
            if not billing and r.random() < 0.8:
                billing = True
        return {
            "transaction_id": str(uuid.UUID(int=r.getrandbits(128), version=4)),
            "user_id": str(uuid.UUID(int=r.getrandbits(128), version=4)),
            "timestamp": self.clock().isoformat(),
            "amount": round(amount, 2),
            "currency": r.choice(CURRENCIES),
            "merchant_id": f"merchant_{r.randint(1, 200)}",
            "product_category": category,
            "transaction_type": r.choice(TRANSACTION_TYPES),
            "payment_method": payment,
            "location": {
                "lat": round(r.uniform(-90, 90), 6),
                "lon": round(r.uniform(-180, 180), 6),
            },
            "ip_address": ".".join(str(r.randint(1, 254)) for _ in range(4)),
            "device_info": {"os": r.choice(OPERATING_SYSTEMS), "browser": r.choice(BROWSERS)},
            "user_agent": r.choice(USER_AGENTS),
            "account_age_days": age,
            "cvv_provided": cvv,
            "billing_address_match": billing,
            "is_fraud": int(is_fraud),
        }


# The Delta table of archived events (the seed roadmap's name) and the SQL page's templates.
TABLE = "transactions"
SQL_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("Sample rows", "SELECT * FROM data LIMIT 100"),
    ("Fraud cases", "SELECT * FROM data WHERE is_fraud = 1 ORDER BY timestamp DESC LIMIT 100"),
    ("High value (> 1,000)",
     "SELECT * FROM data WHERE amount > 1000 ORDER BY amount DESC LIMIT 100"),
    ("Fraud by merchant", "SELECT merchant_id, count(*) AS transactions, sum(is_fraud) AS frauds, "
     "round(avg(is_fraud) * 100, 2) AS fraud_pct FROM data GROUP BY merchant_id "
     "ORDER BY frauds DESC LIMIT 50"),
    ("Fraud by transaction type", "SELECT transaction_type, count(*) AS transactions, "
     "sum(is_fraud) AS frauds, round(avg(is_fraud) * 100, 2) AS fraud_pct FROM data "
     "GROUP BY transaction_type ORDER BY fraud_pct DESC"),
    ("Row count", "SELECT count(*) AS row_count FROM data"),
)  # fmt: skip


def _batch_classifier() -> Any:
    """Shallow boosted trees with classes weighted by inverse frequency (1 % fraud): measured
    on seeded data, depth 3 held ROC AUC 0.91-0.98 where unbounded depth overfit the few
    frauds (0.87-0.89 at 8,000 rows)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        class_weight="balanced", max_iter=150, learning_rate=0.05, max_depth=3,
        l2_regularization=1.0, early_stopping=False, random_state=42,
    )  # fmt: skip


# The batch model (coelho.batch): trained from the Delta table, judged on the newest 20 %.
BATCH = BatchSpec(
    build=_batch_classifier,
    headline="roc_auc",
    higher_is_better=True,
    metric_groups=(
        ("Primary", ("recall", "precision", "f1", "f2")),
        ("Ranking", ("roc_auc", "average_precision")),
        ("Secondary", ("accuracy", "balanced_accuracy", "mcc", "cohen_kappa", "jaccard",
                       "geometric_mean")),
        ("Calibration", ("log_loss", "brier", "d2_log_loss", "d2_brier")),
    ),
    diagnostics=("confusion_matrix", "roc", "precision_recall", "calibration",
                 "threshold_sweep", "permutation_importance"),
    summary="HistGradientBoostingClassifier (depth 3, balanced class weights) on amounts, "
    "account signals, ordinal-coded categories and the hour and weekday of the timestamp",
)  # fmt: skip

DOMAIN = Domain(
    key="tfd",
    title="Transaction Fraud Detection",
    topic="transaction_fraud_detection",
    task="binary",
    fields=FIELDS,
    event_id="transaction_id",
    record_key="transaction_id",
    target="is_fraud",
    features=features,
    models={
        "logreg": ModelSpec(
            "logreg",
            "Standardized numbers (clipped at 10σ) + one-hot categories → "
            "LogisticRegression(SGD 0.05) inside RandomUnderSampler (80/20)",
            _logistic,
            {
                "optimizer": "SGD(0.05)",
                "z_clip": Z_CLIP,
                "desired_dist": "{0: 0.8, 1: 0.2}",
                "seed": 42,
            },  # fmt: skip
        ),
        "arf": ModelSpec(
            "arf",
            "The seed's RandomUnderSampler(ARFClassifier, 50/50) on raw features",
            _arf,
            {**ARF_PARAMS, "desired_dist": "{0: 0.5, 1: 0.5}"},
        ),
    },
    default_model="logreg",
    metrics=tfd_metrics.metrics,
    headline_metric="ROCAUC",
    generator=TfdGenerator,
    seed_rate=1 / 0.275,
    generator_options=OPTIONS,
    producer_gauges=(
        ProducerGauge(
            "fraud_ratio", "Share of fraud among the transactions sent", TfdGenerator.fraud_ratio
        ),
    ),  # fmt: skip
    summary="Real-time fraud detection",
    table=TABLE,
    sql_templates=SQL_TEMPLATES,
    # A probability is in [0, 1]; a model whose ROC AUC over the last 5,000 transactions fell
    # 0.25 below the champion's ranks frauds little better than chance.
    guard=GuardSpec(
        prediction_range=(0.0, 1.0), metric="RollingROCAUC", max_drop=0.25, metric_after=5_000
    ),  # fmt: skip
    reports=confusion_reports({0: "legitimate", 1: "fraud"}),
    counters=tfd_metrics.COUNTERS,
    class_names=("legit", "fraud"),
    batch=BATCH,
)
