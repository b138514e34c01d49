"""Plots logged with each training run: people would rather look than read."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, PredictionErrorDisplay, RocCurveDisplay  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from insight.predictor.data import Split  # noqa: E402


def save_confusion_matrix(pipeline: Pipeline, split: Split, labels: list[str], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_estimator(
        pipeline, split.test_x, split.test_y, display_labels=labels, ax=ax, colorbar=False
    )
    ax.set_title("Test split confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_roc_curve(pipeline: Pipeline, split: Split, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    RocCurveDisplay.from_estimator(pipeline, split.test_x, split.test_y, ax=ax)
    ax.plot([0, 1], [0, 1], linestyle="--", linewidth=1, color="grey")
    ax.set_title("Test split ROC curve")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_predicted_vs_actual(pipeline: Pipeline, split: Split, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    PredictionErrorDisplay.from_estimator(pipeline, split.test_x, split.test_y, kind="actual_vs_predicted", ax=ax)
    ax.set_title("Test split: predicted vs actual")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_residuals(pipeline: Pipeline, split: Split, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    PredictionErrorDisplay.from_estimator(pipeline, split.test_x, split.test_y, kind="residual_vs_predicted", ax=ax)
    ax.set_title("Test split: residuals")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
