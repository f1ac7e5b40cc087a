"""Estimated Time of Arrival: regression of trip duration in the Houston metro area.

The seed's model learned from the generator's ``debug_*`` factors, which are the target's own
ingredients (a leak). Here they stay in the event, marked ``role="debug"``, and no pipeline
reads them. The drift switch simulates road works: average speed falls from 40 to 30 km/h and
bad weather becomes four times as likely.
"""

from __future__ import annotations

import math
import operator
import random
import uuid
from datetime import datetime
from functools import partial
from typing import Any

from coelho.domains import eta_metrics
from coelho.domains.base import (
    Clock,
    Domain,
    Event,
    Features,
    GeneratorOption,
    GuardSpec,
    ModelSpec,
    SeededGenerator,
)
from coelho.domains.batch import BatchSpec
from coelho.domains.common import LAT_RANGE, LON_RANGE
from coelho.domains.schema import FieldSpec, point

AVG_SPEED_KMH = 40.0
WEATHER = ("Clear", "Clouds", "Rain", "Heavy Rain", "Fog", "Thunderstorm")
WEATHER_WEIGHTS = (0.60, 0.15, 0.10, 0.05, 0.05, 0.05)
BAD_WEATHER_FACTOR = {
    "Rain": (1.1, 1.4),
    "Heavy Rain": (1.3, 1.8),
    "Fog": (1.2, 1.6),
    "Thunderstorm": (1.4, 2.0),
}
VEHICLE_TYPES = ("Sedan", "SUV", "Hatchback", "Motorcycle", "Van")
DRIVERS = tuple(f"driver_{i}" for i in range(1000, 5001))
VEHICLES = tuple(f"vehicle_{i}" for i in range(100, 1000))


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("trip_id", "str", role="id"),
    FieldSpec("driver_id", "str", choices=DRIVERS, role="context"),
    FieldSpec("vehicle_id", "str", choices=VEHICLES, role="context"),
    FieldSpec("timestamp", "timestamp"),
    point("origin"),
    point("destination"),
    FieldSpec("estimated_distance_km", "float", minimum=0, maximum=20_000),
    FieldSpec("weather", "str", choices=WEATHER),
    FieldSpec("temperature_celsius", "float", minimum=-60, maximum=60),
    FieldSpec("day_of_week", "int", minimum=0, maximum=6),
    FieldSpec("hour_of_day", "int", minimum=0, maximum=23),
    FieldSpec("driver_rating", "float", minimum=0, maximum=5),
    FieldSpec("vehicle_type", "str", choices=VEHICLE_TYPES),
    FieldSpec("initial_estimated_travel_time_seconds", "int", minimum=0, maximum=10_000_000),
    FieldSpec("simulated_actual_travel_time_seconds", "int", minimum=0, maximum=10_000_000,
              role="target"),
    FieldSpec("debug_traffic_factor", "float", role="debug"),
    FieldSpec("debug_weather_factor", "float", role="debug"),
    FieldSpec("debug_incident_delay_seconds", "int", role="debug"),
    FieldSpec("debug_driver_factor", "float", role="debug"),
)  # fmt: skip


def haversine_km(a: dict[str, float], b: dict[str, float]) -> float:
    """Great-circle distance in km (R = 6371 km, as the seed).

    >>> round(haversine_km({"lat": 29.76, "lon": -95.37}, {"lat": 29.99, "lon": -95.34}), 2)
    25.74
    """
    lat1, lat2 = math.radians(a["lat"]), math.radians(b["lat"])
    dlat, dlon = lat2 - lat1, math.radians(b["lon"] - a["lon"])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def derive(event: Event) -> dict[str, Any]:
    """The fields a producer computes from others, for a form to rewrite when they change:
    distance and the 40 km/h initial estimate (the producer's, without its ±10 % noise) from
    the coordinates, day of week and hour from the timestamp. An input that is missing or
    not a number leaves its dependants out.

    >>> derive({"origin": {"lat": 29.76, "lon": -95.37}, "destination": {"lat": 29.99,
    ...         "lon": -95.34}, "timestamp": "2026-03-02T07:30:00+00:00"})
    {'estimated_distance_km': 25.74, 'initial_estimated_travel_time_seconds': 2316, \
'day_of_week': 0, 'hour_of_day': 7}
    """
    out: dict[str, Any] = {}
    try:
        distance = haversine_km(event["origin"], event["destination"])
    except (KeyError, TypeError):
        pass
    else:
        out["estimated_distance_km"] = round(distance, 2)
        out["initial_estimated_travel_time_seconds"] = max(60, int(distance / AVG_SPEED_KMH * HOUR))
    try:
        when = datetime.fromisoformat(event["timestamp"])
    except (KeyError, TypeError, ValueError):
        return out
    out["day_of_week"], out["hour_of_day"] = when.weekday(), when.hour
    return out


def is_rush_hour(day_of_week: int, hour: int) -> bool:
    return day_of_week < 5 and (6 <= hour <= 9 or 16 <= hour <= 19)


def features(event: Event) -> Features:
    """Distance and time features, plus their products with the contexts that scale a trip's
    duration (rush hour, weekend, weather, driver), so a linear model can express
    ``duration ≈ distance × factors``. No ``debug_*`` field is read."""
    distance = haversine_km(event["origin"], event["destination"])
    base = distance / AVG_SPEED_KMH * 3600.0
    rush = float(is_rush_hour(event["day_of_week"], event["hour_of_day"]))
    weekend = float(event["day_of_week"] >= 5)
    x: Features = {
        "distance_km": distance,
        "base_seconds": base,
        "initial_estimate": float(event["initial_estimated_travel_time_seconds"]),
        "base_x_rush": base * rush,
        "base_x_weekend": base * weekend,
        "base_x_rating": base * event["driver_rating"],
        "rush": rush,
        "weekend": weekend,
        "hour": float(event["hour_of_day"]),
        "temperature": event["temperature_celsius"],
        "driver_rating": event["driver_rating"],
    }
    for weather in WEATHER[2:]:
        x[f"base_x_{weather}"] = base * (event["weather"] == weather)
    x["weather"] = event["weather"]
    x["vehicle_type"] = event["vehicle_type"]
    return x


NUMERIC = (
    "distance_km", "base_seconds", "initial_estimate", "base_x_rush", "base_x_weekend",
    "base_x_rating", "rush", "weekend", "hour", "temperature", "driver_rating",
    *(f"base_x_{w}" for w in WEATHER[2:]),
)  # fmt: skip
CATEGORICAL = ("weather", "vehicle_type")
HOUR = 3600.0
# The unit of each numeric feature (the value that becomes 1.0), from what the quantities
# physically are: durations in hours, distances in 100 km (the bounding box's diagonal),
# a rating out of 5. Scaling by these instead of running statistics keeps a feature that was
# zero for 10,000 trips (the weekend interaction on a weekday) at 0-3 when it first moves.
UNITS: dict[str, float] = {
    "distance_km": 100.0, "base_seconds": HOUR, "initial_estimate": HOUR,
    "base_x_rush": HOUR, "base_x_weekend": HOUR, "base_x_rating": 5 * HOUR,
    "rush": 1.0, "weekend": 1.0, "hour": 24.0, "temperature": 60.0, "driver_rating": 5.0,
    **{f"base_x_{w}": HOUR for w in WEATHER[2:]},
}  # fmt: skip
# Inputs saturate at 3 units (a 120 km, 3-hour base trip): a trip across the globe is a valid
# event, and it must not drag every weight with it.
CLIP = 3.0
LINEAR_PARAMS: dict[str, Any] = {
    "scaling": "fixed units, clipped at 3", "optimizer": "AdaGrad(0.1)", "intercept_lr": 0.01,
    "clip_gradient": 1.0, "target_unit": "hours",
}  # fmt: skip


def _in_hours(regressor: Any) -> Any:
    from river import compose

    return compose.TargetTransformRegressor(
        regressor, func=partial(operator.mul, 1 / HOUR), inverse_func=partial(operator.mul, HOUR)
    )


def _linear() -> Any:
    """Features in physical units → LinearRegression(AdaGrad) on hours (see the README).

    Three bounds make one event unable to wreck the model: inputs are scaled by fixed units
    and clipped at 3; the loss gradient is clipped at 1 hour; AdaGrad's step on a weight is
    at most its learning rate, and a feature that was zero for most trips (weekend, rush hour,
    rare weather) keeps a large step, so it is learned as soon as it appears."""
    from river import compose, linear_model, optim

    from coelho.features import OneHot, Scale

    numeric = compose.Select(*NUMERIC) | Scale(UNITS, CLIP)
    encode = numeric + (compose.Select(*CATEGORICAL) | OneHot())
    regressor = linear_model.LinearRegression(
        optimizer=optim.AdaGrad(0.1), intercept_lr=0.01, clip_gradient=1.0
    )
    return encode | _in_hours(regressor)


ARF_PARAMS: dict[str, Any] = {
    "n_models": 10, "max_features": "sqrt", "aggregation_method": "median", "lambda_value": 6,
    "disable_weighted_vote": True, "grace_period": 50, "delta": 0.01, "tau": 0.05,
    "leaf_prediction": "adaptive", "model_selector_decay": 0.95, "min_samples_split": 5,
    "binary_split": False, "max_size": 500.0, "seed": 42,
}  # fmt: skip


def _arf() -> Any:
    """The seed's ARFRegressor, on the same leak-free features, scaled and in hours."""
    from river import compose, drift, forest, linear_model, metrics, optim

    from coelho.features import Scale

    # The adaptive leaves fit a linear model: on raw seconds (or on running z-scores that
    # explode on a first weekend) it diverges, so the leaves get bounded inputs, hours and a
    # clipped gradient too.
    leaf = linear_model.LinearRegression(
        optimizer=optim.SGD(0.05), intercept_lr=0.01, clip_gradient=1.0
    )
    arf = forest.ARFRegressor(
        metric=metrics.MAE(),
        drift_detector=drift.ADWIN(delta=0.002),
        warning_detector=drift.ADWIN(delta=0.01),
        leaf_model=leaf,
        **ARF_PARAMS,
    )
    return compose.Select(*NUMERIC) | Scale(UNITS, CLIP) | _in_hours(arf)


# The seed producer's command line (its defaults); the producer offers each as an option.
OPTIONS = (
    GeneratorOption("bad_weather_probability", 0.1, "chance that rain-like weather slows a "
                    "trip (x4 after --drift-after)", maximum=1.0),
    GeneratorOption("incident_probability", 0.02, "chance of a 5-30 min incident on a trip",
                    maximum=1.0),
    GeneratorOption("heavy_traffic_multiplier", 2.0, "worst rush-hour traffic factor",
                    minimum=1.3, maximum=10.0),
)  # fmt: skip


class EtaGenerator(SeededGenerator):
    """The seed producer's trips; timestamps and traffic follow the (possibly synthetic) clock."""

    def __init__(
        self,
        rng: random.Random,
        drift_after: int | None,
        clock: Clock,
        *,
        bad_weather_probability: float = 0.1,
        incident_probability: float = 0.02,
        heavy_traffic_multiplier: float = 2.0,
    ) -> None:
        super().__init__(rng, drift_after, clock)
        self.bad_weather = bad_weather_probability
        self.incident = incident_probability
        self.heavy_traffic = heavy_traffic_multiplier

    def next_interval(self) -> float:
        return self.rng.uniform(0.1, 1.0)

    def _point(self) -> dict[str, float]:
        return {
            "lat": round(self.rng.uniform(*LAT_RANGE), 6),
            "lon": round(self.rng.uniform(*LON_RANGE), 6),
        }

    def next_event(self) -> Event:
        r = self.rng
        drifted = self._advance()
        now: datetime = self.clock()
        origin, destination = self._point(), self._point()
        while (
            abs(origin["lat"] - destination["lat"]) < 0.001
            and abs(origin["lon"] - destination["lon"]) < 0.001
        ):
            destination = self._point()
        distance = haversine_km(origin, destination)
        speed = 30.0 if drifted else AVG_SPEED_KMH
        base = distance / speed * 3600.0
        weather = r.choices(WEATHER, WEATHER_WEIGHTS)[0]
        rating = round(r.uniform(3.5, 5.0), 1)
        day, hour = now.weekday(), now.hour
        if is_rush_hour(day, hour):
            traffic = r.uniform(1.3, self.heavy_traffic)
        elif day >= 5:
            traffic = r.uniform(0.8, 1.2)
        else:
            traffic = r.uniform(0.9, 1.4)
        weather_factor = 1.0
        bad = min(1.0, 4 * self.bad_weather) if drifted else self.bad_weather
        if r.random() < bad and weather in BAD_WEATHER_FACTOR:
            weather_factor = r.uniform(*BAD_WEATHER_FACTOR[weather])
        incident = r.randint(300, 1800) if r.random() < self.incident else 0
        driver_factor = 1 - (rating - 4.5) * 0.05
        actual = base * traffic * weather_factor * driver_factor + incident + r.uniform(-60, 60)
        return {
            "trip_id": str(uuid.UUID(int=r.getrandbits(128), version=4)),
            "driver_id": f"driver_{r.randint(1000, 5000)}",
            "vehicle_id": f"vehicle_{r.randint(100, 999)}",
            "timestamp": now.isoformat(),
            "origin": origin,
            "destination": destination,
            "estimated_distance_km": round(distance, 2),
            "weather": weather,
            "temperature_celsius": round(r.uniform(15, 30), 1),
            "day_of_week": day,
            "hour_of_day": hour,
            "driver_rating": rating,
            "vehicle_type": r.choice(VEHICLE_TYPES),
            "initial_estimated_travel_time_seconds": max(
                60, int(distance / AVG_SPEED_KMH * 3600 * r.uniform(0.9, 1.1))
            ),
            "simulated_actual_travel_time_seconds": max(60, int(actual)),
            "debug_traffic_factor": round(traffic, 2),
            "debug_weather_factor": round(weather_factor, 2),
            "debug_incident_delay_seconds": incident,
            "debug_driver_factor": round(driver_factor, 2),
        }


# The Delta table of archived events (the seed roadmap's name) and the SQL page's templates.
TABLE = "trips"
SQL_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("Sample rows", "SELECT * FROM data LIMIT 100"),
    ("Slowest trips", "SELECT trip_id, driver_id, weather, estimated_distance_km, "
     "simulated_actual_travel_time_seconds FROM data "
     "ORDER BY simulated_actual_travel_time_seconds DESC LIMIT 100"),
    ("Travel time by weather", "SELECT weather, count(*) AS trips, "
     "round(avg(simulated_actual_travel_time_seconds)) AS avg_seconds, "
     "round(avg(simulated_actual_travel_time_seconds / nullif(estimated_distance_km, 0))) "
     "AS seconds_per_km FROM data GROUP BY weather ORDER BY avg_seconds DESC"),
    ("Travel time by vehicle type", "SELECT vehicle_type, count(*) AS trips, "
     "round(avg(simulated_actual_travel_time_seconds)) AS avg_seconds FROM data "
     "GROUP BY vehicle_type ORDER BY avg_seconds DESC"),
    ("Trips by hour of day", "SELECT hour_of_day, count(*) AS trips, "
     "round(avg(simulated_actual_travel_time_seconds)) AS avg_seconds FROM data "
     "GROUP BY hour_of_day ORDER BY hour_of_day"),
    ("Row count", "SELECT count(*) AS row_count FROM data"),
)  # fmt: skip


def _batch_regressor() -> Any:
    """Boosted trees on seconds: they find distance x traffic x weather without the products
    the linear River model needs spelled out."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        max_iter=200, learning_rate=0.1, max_leaf_nodes=31, l2_regularization=1.0,
        early_stopping=False, random_state=42,
    )  # fmt: skip


# The batch model (coelho.batch): trained from the Delta table, judged on the newest 20 %.
# driver_id/vehicle_id are context (thousands of ids, no signal); debug_* never are features.
BATCH = BatchSpec(
    build=_batch_regressor,
    headline="mae",
    higher_is_better=False,
    metric_groups=(
        ("Errors (seconds)", ("mae", "rmse", "median_ae", "max_error", "mse")),
        ("Goodness of fit", ("r2", "explained_variance", "d2_absolute", "d2_pinball",
                             "d2_tweedie")),
        ("Relative errors (%)", ("mape", "smape")),
    ),
    diagnostics=("predicted_vs_actual", "residuals", "permutation_importance"),
    summary="HistGradientBoostingRegressor on coordinates, distance, the producer's initial "
    "estimate, weather, rating, vehicle type and the hour and weekday",
)  # fmt: skip

DOMAIN = Domain(
    key="eta",
    title="Estimated Time of Arrival",
    topic="estimated_time_of_arrival",
    task="regression",
    fields=FIELDS,
    event_id="trip_id",
    record_key="trip_id",
    target="simulated_actual_travel_time_seconds",
    features=features,
    models={
        "linear": ModelSpec(
            "linear",
            "Haversine distance × rush-hour/weekend/weather/driver interactions in fixed "
            "units, clipped → LinearRegression(AdaGrad 0.1, clipped gradient) on hours",
            _linear,
            LINEAR_PARAMS,
        ),
        "arf": ModelSpec(
            "arf",
            "The seed's ARFRegressor (median, MAE) on leak-free features in fixed units",
            _arf,
            {**ARF_PARAMS, "leaf_model": "LinearRegression(SGD 0.05, clip_gradient 1)"},
        ),
    },
    default_model="linear",
    metrics=eta_metrics.metrics,
    headline_metric="MAE",
    generator=EtaGenerator,
    seed_rate=1 / 0.55,
    generator_options=OPTIONS,
    summary="Delivery time prediction",
    derive=derive,
    table=TABLE,
    sql_templates=SQL_TEMPLATES,
    # A trip lasts between 0 s and a day; a model three times worse than the champion over
    # the last 1,000 trips is not one to serve.
    guard=GuardSpec(prediction_range=(0.0, 86_400.0), metric="RollingMAE", max_ratio=3.0),
    batch=BATCH,
)
