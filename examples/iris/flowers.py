"""Real models on real data: the iris flowers, scaled by one node and classified by two others.

Every node trains at construction on the iris data set that ships inside scikit-learn (150
flowers, 4 measurements in cm, 3 species), so nothing is downloaded at run time. numpy arrays
travel between the nodes in braid's binary codec, not as JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from braid.authoring import node

MEASUREMENTS = ("sepal length", "sepal width", "petal length", "petal width")
SPECIES = tuple(str(name) for name in load_iris().target_names)  # setosa, versicolor, virginica


def _training_data() -> tuple[np.ndarray, np.ndarray]:
    """The 150 flowers, standardised exactly as the scaler node standardises requests."""
    iris = load_iris()
    return StandardScaler().fit_transform(iris.data), iris.target


class Scaler:
    """Standardises measurements with the training set's means and deviations."""

    def __init__(self) -> None:
        self.scaler = StandardScaler().fit(load_iris().data)

    def transform(self, flowers: list[list[float]]) -> np.ndarray:
        rows = np.asarray(flowers, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(MEASUREMENTS):
            raise ValueError(
                f"expected a list of flowers, each [{', '.join(MEASUREMENTS)}] in cm; "
                f"got an array of shape {list(rows.shape)}"
            )
        return np.asarray(self.scaler.transform(rows))


@node(resources={"cpu": "1", "memory": "512Mi"})
class Classifier:
    """A classifier trained at construction: ``kind`` is "logistic" or "forest"."""

    def __init__(self, kind: str, trees: int = 100) -> None:
        features, species = _training_data()
        if kind == "logistic":
            self.model: Any = LogisticRegression(max_iter=1000)
        elif kind == "forest":
            self.model = RandomForestClassifier(n_estimators=trees, random_state=0)
        else:
            raise ValueError(f'unknown kind "{kind}"; use "logistic" or "forest"')
        self.model.fit(features, species)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba(features))


def soft_vote(probabilities: list[np.ndarray]) -> list[dict[str, Any]]:
    """Averages the classifiers' probabilities: one species and confidence per flower."""
    mean = np.mean(np.stack(probabilities), axis=0)
    votes = [np.argmax(each, axis=1) for each in probabilities]
    return [
        {
            "species": SPECIES[int(np.argmax(row))],
            "confidence": round(float(np.max(row)), 3),
            "unanimous": len({int(vote[index]) for vote in votes}) == 1,
        }
        for index, row in enumerate(mean)
    ]
