"""Training data: scikit-learn's bundled breast-cancer (classification) and diabetes (regression) sets, split
before anything is fitted."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split

FloatMatrix = npt.NDArray[np.float64]
IntVector = npt.NDArray[np.int64]
Targets = npt.NDArray[Any]  # class indices (int64) or continuous values (float64)


@dataclass(frozen=True)
class Dataset:
    name: str
    feature_names: list[str]
    class_labels: list[str]
    features: FloatMatrix
    target: Targets
    task: str = "classification"

    @property
    def digest(self) -> str:
        """sha256 over feature names, values and target (int64 class indices, or float64 values for a
        regression set): changes when the data does."""
        h = hashlib.sha256()
        h.update("\x1f".join(self.feature_names).encode())
        h.update(np.ascontiguousarray(self.features, dtype=np.float64).tobytes())
        target_type = np.float64 if self.task == "regression" else np.int64
        h.update(np.ascontiguousarray(self.target, dtype=target_type).tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class Split:
    train_x: FloatMatrix
    test_x: FloatMatrix
    train_y: Targets
    test_y: Targets


def load_dataset(name: str = "breast_cancer") -> Dataset:
    if name == "diabetes":
        # The raw values (age in years, sex 1/2, BMI, blood pressure, six serum measures), not scikit-learn's
        # pre-scaled copy: scaling is the pipeline's job, fitted on the training split only.
        raw = load_diabetes(scaled=False)
        return Dataset(
            name=name,
            feature_names=[str(n) for n in raw.feature_names],
            class_labels=[],
            features=np.asarray(raw.data, dtype=np.float64),
            target=np.asarray(raw.target, dtype=np.float64),
            task="regression",
        )
    if name != "breast_cancer":
        raise ValueError(f"unknown dataset {name!r}")
    bunch = load_breast_cancer()
    return Dataset(
        name=name,
        feature_names=[str(n) for n in bunch.feature_names],
        class_labels=[str(n) for n in bunch.target_names],
        features=np.asarray(bunch.data, dtype=np.float64),
        target=np.asarray(bunch.target, dtype=np.int64),
    )


def split_dataset(data: Dataset, test_size: float, random_state: int) -> Split:
    train_x, test_x, train_y, test_y = train_test_split(
        data.features,
        data.target,
        test_size=test_size,
        random_state=random_state,
        stratify=data.target if data.task == "classification" else None,
    )
    return Split(train_x=train_x, test_x=test_x, train_y=train_y, test_y=test_y)
