"""Which MLflow store a command writes to, decided without importing MLflow (planning and ``--dry-run`` import
nothing that writes, and MLflow writes its telemetry settings on import)."""

from __future__ import annotations

import os

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def resolve_tracking_uri(uri: str | None) -> str:
    """``--tracking-uri`` if given, else ``$MLFLOW_TRACKING_URI``, else a SQLite file in the working directory."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        # Absolute path so every process (and a later `actrec report`) sees the same file.
        uri = "sqlite:///" + os.path.abspath(uri[len("sqlite:///") :])
    return uri
