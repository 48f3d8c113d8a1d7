"""Both services on real servers: the predictor, and tasks pointed at it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.reliability.services import Service, run_service

__all__ = ["run_pair"]


@contextmanager
def run_pair(
    state: Path, *, predictor: Mapping[str, str] = {}, tasks: Mapping[str, str] = {}
) -> Iterator[dict[str, Service]]:
    """Start the predictor (no periodic retraining), then tasks; stop tasks first."""
    with (
        run_service("predictor", state, PREDICTOR_RETRAIN_INTERVAL_S="0", **predictor) as pred,
        run_service("tasks", state, PREDICTOR_URL=pred.url, **tasks) as task_svc,
    ):
        yield {"tasks": task_svc, "predictor": pred}
