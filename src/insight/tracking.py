"""MLflow wiring shared by training and evaluation: SQLite by default, a server by setting."""

from __future__ import annotations

import os
from pathlib import Path

from insight.config import TrackingSettings
from insight.errors import TrackingUnavailable

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# MLflow's HTTP defaults retry for minutes; an unreachable server should fail fast and clearly.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")


def configure_tracking(settings: TrackingSettings, experiment: str | None = None) -> str:
    """Point MLflow at the configured store and return the experiment id.

    The artifact location is set explicitly: MLflow's default is ``./mlruns`` of
    whatever directory the process happens to run in.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = settings.uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    name = experiment or settings.experiment
    try:
        found = mlflow.get_experiment_by_name(name)
        if found is not None:
            experiment_id = str(found.experiment_id)
        else:
            location = settings.artifact_location
            if "://" in location:
                artifact_uri = location
            else:
                Path(location).mkdir(parents=True, exist_ok=True)
                artifact_uri = Path(location).resolve().as_uri()
            experiment_id = str(mlflow.create_experiment(name, artifact_location=artifact_uri))
        mlflow.set_experiment(experiment_id=experiment_id)
    except MlflowException as exc:
        raise TrackingUnavailable(f"MLflow tracking at {uri} failed: {exc.message}") from exc
    except OSError as exc:
        raise TrackingUnavailable(f"MLflow tracking at {uri} is unreachable: {exc}") from exc
    return experiment_id
