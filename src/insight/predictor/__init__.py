"""Classical prediction: a cross-validated scikit-learn pipeline, tracked in MLflow, served."""
