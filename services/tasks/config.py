"""Settings of the tasks service, read from the environment when the app is built."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from slolab.contract import PORTS
from slolab.envconfig import env_float, env_int
from slolab.faults import feedback_token

__all__ = ["DB_FILE_ID", "Settings", "format_file_id"]

# Set by `slolab serve` (slolab.services.tasks.store.pin_database), read by every worker.
DB_FILE_ID = "TASKS_DB_FILE_ID"
DEFAULT_PREDICTOR_URL = f"http://127.0.0.1:{PORTS['predictor']}"


def _default_db_path(env: Mapping[str, str]) -> Path:
    # Beside the fault state of the service (the same folder slolab.faults uses).
    state = env.get("SLOLAB_STATE_DIR") or os.path.join(tempfile.gettempdir(), "slolab-tasks")
    return Path(state) / "tasks.sqlite3"


def format_file_id(file_id: tuple[int, int]) -> str:
    return f"{file_id[0]}:{file_id[1]}"


def _file_id(text: str) -> tuple[int, int]:
    """``DEV:INO`` (as :func:`format_file_id` writes it) as a pair of ints."""
    dev, sep, ino = text.partition(":")
    if not (sep and dev.isdigit() and ino.isdigit()):
        raise ValueError(f"expected DEV:INO (set by slolab serve), got {text!r}")
    return int(dev), int(ino)


@dataclass(frozen=True)
class Settings:
    """Everything the tasks app can be configured with (see ``from_env``)."""

    db_path: Path
    mongo_url: str | None = None
    mongo_db: str = "slolab"
    store_timeout: float = 1.0
    predictor_url: str = DEFAULT_PREDICTOR_URL
    predictor_timeout: float = 0.3
    max_body_bytes: int = 64 * 1024
    feedback_token: str | None = None  # sent with ground truth to the predictor
    # (st_dev, st_ino) of the SQLite file pinned by `slolab serve` before the workers start.
    db_file_id: tuple[int, int] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build from TASKS_DB_PATH, MONGO_URL, TASKS_MONGO_DB, TASKS_STORE_TIMEOUT,
        PREDICTOR_URL, PREDICTOR_TIMEOUT, TASKS_MAX_BODY_BYTES, SLOLAB_FEEDBACK_TOKEN
        (else derived from SLOLAB_ADMIN_TOKEN) and TASKS_DB_FILE_ID; raise ValueError
        naming a malformed one."""
        env = os.environ if env is None else env
        predictor_url = (env.get("PREDICTOR_URL") or DEFAULT_PREDICTOR_URL).strip().rstrip("/")
        if not predictor_url.startswith(("http://", "https://")):
            raise ValueError(f"PREDICTOR_URL must be an http(s) URL, got {predictor_url!r}")
        db_path = env.get("TASKS_DB_PATH", "").strip()
        file_id = env.get(DB_FILE_ID, "").strip()
        try:
            db_file_id = _file_id(file_id) if file_id else None
        except ValueError as exc:
            raise ValueError(f"{DB_FILE_ID}: {exc}") from None
        return cls(
            db_path=Path(db_path) if db_path else _default_db_path(env),
            mongo_url=env.get("MONGO_URL", "").strip() or None,
            mongo_db=env.get("TASKS_MONGO_DB", "").strip() or "slolab",
            store_timeout=env_float(env, "TASKS_STORE_TIMEOUT", 1.0, 0.05, 60.0),
            predictor_url=predictor_url,
            predictor_timeout=env_float(env, "PREDICTOR_TIMEOUT", 0.3, 0.01, 30.0),
            max_body_bytes=env_int(env, "TASKS_MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024),
            feedback_token=feedback_token(env),
            db_file_id=db_file_id,
        )
