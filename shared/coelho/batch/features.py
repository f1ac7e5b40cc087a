"""The scikit-learn preprocessing of a domain, derived from its inputs (``coelho.batch.frame``).

One ``ColumnTransformer`` with its blocks in a fixed order, so the position of every output
column is known before fitting:

1. categorical columns: ordinal codes (``BatchSpec.encoding == "ordinal"``, one column each,
   for trees that split on categories natively) or one-hot columns (``"onehot"``, for
   distance-based models); the categories are the ``FieldSpec`` choices, so codes are stable
   across runs, and a value outside them (or missing) is NaN (ordinal) or all zeros (one-hot);
2. time features of every timestamp (hour, weekday);
3. numeric columns: for trees (ordinal encoding) their quantile bins with NaN kept (trees
   handle missing values; see ``transform.Quantize`` for the measured reason); otherwise
   missing values filled with 0 plus a "was missing" indicator (ECCI's price and quantity
   are null for searches), standardized when ``BatchSpec.scale``.

``pipeline`` puts it in front of the domain's estimator; an ordinal-coded estimator that can
split on categories (``categorical_features``) is told which columns are categorical.
"""

from __future__ import annotations

from typing import Any

from coelho.batch.frame import Column, columns
from coelho.domains import Domain


def by_kind(domain: Domain) -> dict[str, list[Column]]:
    found: dict[str, list[Column]] = {"categorical": [], "timestamp": [], "numeric": []}
    for column in columns(domain):
        found[column.kind].append(column)
    return found


def preprocessor(domain: Domain) -> Any:
    """An unfitted ``ColumnTransformer`` for the domain's inputs (blocks as in the module doc)."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    from coelho.batch.transform import Quantize, TimeFeatures

    spec = domain.batch
    assert spec is not None, f"{domain.key} has no batch model"
    kinds = by_kind(domain)
    blocks: list[tuple[str, Any, list[str]]] = []
    categorical = kinds["categorical"]
    if categorical:
        choices = [list(c.choices) for c in categorical]
        if spec.encoding == "onehot":
            encoder: Any = OneHotEncoder(categories=choices, handle_unknown="ignore",
                                         sparse_output=False)  # fmt: skip
        else:
            encoder = OrdinalEncoder(
                categories=choices,
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
            )
        blocks.append(("categorical", encoder, [c.name for c in categorical]))
    if kinds["timestamp"]:
        blocks.append(("time", TimeFeatures(), [c.name for c in kinds["timestamp"]]))
    if kinds["numeric"]:
        names = [c.name for c in kinds["numeric"]]
        if spec.encoding == "ordinal":
            blocks.append(("numeric", Quantize(), names))
        else:
            steps: list[tuple[str, Any]] = [
                ("impute", SimpleImputer(strategy="constant", fill_value=0.0, add_indicator=True))
            ]
            if spec.scale:
                steps.append(("scale", StandardScaler()))
            blocks.append(("numeric", Pipeline(steps), names))
    return ColumnTransformer(blocks, remainder="drop", verbose_feature_names_out=False)


def estimator(domain: Domain) -> Any:
    """The domain's fresh estimator, told its categorical columns when it can use them."""
    spec = domain.batch
    assert spec is not None, f"{domain.key} has no batch model"
    model = spec.build()
    count = len(by_kind(domain)["categorical"])
    if spec.encoding == "ordinal" and count and "categorical_features" in model.get_params():
        model.set_params(categorical_features=list(range(count)))
    return model


def pipeline(domain: Domain, fitted_preprocessor: Any, fitted_model: Any) -> Any:
    """The servable model: preprocessing then estimator, both already fitted."""
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", fitted_preprocessor), ("model", fitted_model)])
