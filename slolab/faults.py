"""Fault injection shared by both services: state, admin handler and gauges.

The state lives in a small JSON file so that every worker of a service
(gunicorn forks several) sees the same faults; each request costs one
``stat()`` and the file is only re-read when it changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from slolab.contract import (
    FAULT_HELP,
    FAULT_LIMITS,
    FAULT_METRIC,
    FAULTS,
    SERVICES,
    Fault,
    faults_of,
)

__all__ = [
    "ALLOWED",
    "FaultController",
    "FaultUpdate",
    "Faults",
    "bearer_ok",
    "feedback_token",
    "parse_faults_env",
]

log = logging.getLogger(__name__)

ALLOWED: dict[str, frozenset[str]] = {
    service: frozenset(f.name for f in faults_of(service)) for service in SERVICES
}
FAULT_FIELDS = tuple(f.name for f in FAULTS)
MAX_BODY = 4096


def _field_type(fault: Fault) -> type:
    return {"ratio": float, "milliseconds": int, "switch": bool}[fault.kind]


def _field(fault: Fault, default: Any) -> Any:
    low, high = FAULT_LIMITS.get(fault.kind, (None, None))
    return Field(default, ge=low, le=high, description=fault.description)


class _FaultsBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def active(self) -> dict[str, bool]:
        return {name: bool(getattr(self, name)) for name in FAULT_FIELDS}

    def any_active(self) -> bool:
        return any(self.active().values())


# Both models are built from the catalogue (slolab.contract.FAULTS): a fault, its
# type, range and description are declared there once.
Faults = create_model(
    "Faults",
    __base__=_FaultsBase,
    __doc__="The faults active in a service; all off by default.",
    **{f.name: (_field_type(f), _field(f, _field_type(f)())) for f in FAULTS},
    expires_at=(float | None, Field(None, description="unix time when these faults switch off")),
)

FaultUpdate = create_model(
    "FaultUpdate",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Body of ``PUT /admin/faults``: only the fields given change.",
    **{f.name: (_field_type(f) | None, _field(f, None)) for f in FAULTS},
    expires_in_s=(float | None, Field(None, gt=0, le=86_400)),
)


def parse_faults_env(value: str) -> dict[str, Any]:
    """Parse ``SLOLAB_FAULTS`` ("error_rate=0.2,latency_ms=300,store_outage=true")."""
    update: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"SLOLAB_FAULTS: expected name=value, got {item!r}")
        update[key.strip()] = raw.strip()
    return update


def bearer_ok(authorization: str | None, token: str | None) -> bool:
    """Whether ``Authorization`` carries ``Bearer <token>`` (constant-time comparison)."""
    if not token or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def feedback_token(env: Mapping[str, str]) -> str | None:
    """The credential of ground-truth feedback (tasks -> predictor ``/feedback``).

    ``SLOLAB_FEEDBACK_TOKEN``, else one derived from ``SLOLAB_ADMIN_TOKEN`` (an HMAC:
    the service that holds it cannot work back to the admin token); None without
    either, and feedback is then refused.
    """
    explicit = env.get("SLOLAB_FEEDBACK_TOKEN", "").strip()
    if explicit:
        return explicit
    admin = env.get("SLOLAB_ADMIN_TOKEN", "").strip()
    if not admin:
        return None
    return hmac.new(admin.encode(), b"slolab feedback", hashlib.sha256).hexdigest()


_gauge_lock = threading.Lock()
_gauge: Gauge | None = None


def _fault_gauge() -> Gauge:
    # Created once per process: a second registration would raise.
    global _gauge
    with _gauge_lock:
        if _gauge is None:
            _gauge = Gauge(
                FAULT_METRIC,
                FAULT_HELP,
                ["fault"],
                multiprocess_mode="livemostrecent",
            )
        return _gauge


class FaultController:
    """Reads, changes and applies a service's faults."""

    def __init__(
        self,
        service: str,
        allowed: set[str] | frozenset[str],
        state_dir: Path,
        admin_token: str | None,
    ) -> None:
        unknown = set(allowed) - set(FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault names: {sorted(unknown)}")
        self.service = service
        self.allowed = frozenset(allowed)
        self.path = Path(state_dir) / f"{service}-faults.json"
        self.admin_token = admin_token or None
        self._lock = threading.RLock()
        self._mtime: int | None = None
        self._faults = Faults()
        self._rng = random.Random()
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self._publish(self._faults)

    @classmethod
    def from_env(cls, service: str, allowed: set[str] | frozenset[str] | None = None):
        """Build from SLOLAB_STATE_DIR, SLOLAB_ADMIN_TOKEN and SLOLAB_FAULTS."""
        state_dir = os.environ.get("SLOLAB_STATE_DIR") or os.path.join(
            tempfile.gettempdir(), f"slolab-{service}"
        )
        ctl = cls(
            service,
            ALLOWED[service] if allowed is None else allowed,
            Path(state_dir),
            os.environ.get("SLOLAB_ADMIN_TOKEN"),
        )
        # Only a fresh state applies the start-up faults: a worker restarted by
        # gunicorn must not undo what an operator switched since.
        initial = os.environ.get("SLOLAB_FAULTS", "").strip()
        if initial and not ctl.path.exists():
            ctl.update(parse_faults_env(initial))
        return ctl

    # -- state ---------------------------------------------------------------

    def current(self) -> Faults:
        """Return the faults in force now (re-reading the shared file if it changed)."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:  # no file, or no folder (gone, replaced, unreadable): no faults
            mtime = None
        if mtime != self._mtime:
            with self._lock:
                self._faults = self._read() if mtime is not None else Faults()
                self._mtime = mtime
                self._publish(self._faults)
        faults = self._faults
        if faults.expires_at is not None and time.time() >= faults.expires_at:
            self.clear()
            return Faults()
        return faults

    def _read(self) -> Faults:
        try:
            return Faults.model_validate_json(self.path.read_bytes())
        except (OSError, ValidationError) as exc:
            # A torn or hand-edited file must not take the service down.
            log.warning("ignoring unreadable fault file %s: %s", self.path, exc)
            return Faults()

    def _write(self, faults: Faults) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            tmp.write_text(faults.model_dump_json())
            os.replace(tmp, self.path)  # atomic: readers never see half a file
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def _publish(self, faults: Faults) -> None:
        gauge = _fault_gauge()
        for name, on in faults.active().items():
            if name in self.allowed:
                gauge.labels(fault=name).set(1 if on else 0)

    def update(self, changes: dict[str, Any]) -> Faults:
        """Apply a partial update (validated); raise ValueError naming the problem."""
        not_here = sorted(set(changes) - self.allowed - {"expires_in_s"})
        if not_here:
            known = set(FAULT_FIELDS) | {"expires_in_s"}
            what = "not available in" if set(not_here) <= known else "unknown to"
            raise ValueError(
                f"fault(s) {', '.join(not_here)} {what} {self.service} "
                f"(allowed: {', '.join(sorted(self.allowed))}, expires_in_s)"
            )
        try:
            upd = FaultUpdate.model_validate(changes)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "body"
            raise ValueError(f"{field}: {err['msg']}") from None
        with self._lock:
            base = self.current().model_dump()
            base.update(upd.model_dump(exclude_none=True, exclude={"expires_in_s"}))
            base["expires_at"] = time.time() + upd.expires_in_s if upd.expires_in_s else None
            faults = Faults.model_validate(base)
            self._write(faults)
        log.warning(
            "faults changed for %s: %s", self.service, faults.model_dump(exclude_defaults=True)
        )
        return self.current()

    def reset(self) -> None:
        """Forget the shared state (a fresh start of the whole service)."""
        self.path.unlink(missing_ok=True)
        self._mtime = None

    def clear(self) -> Faults:
        """Switch every fault off."""
        with self._lock:
            self._write(Faults())
        return self.current() if self.path.exists() else Faults()

    # -- applying ------------------------------------------------------------

    def should_fail(self) -> bool:
        rate = self.current().error_rate
        return rate > 0 and self._rng.random() < rate

    def delay_seconds(self) -> float:
        return self.current().latency_ms / 1000.0

    # -- admin surface -------------------------------------------------------

    def authorized(self, authorization: str | None) -> bool:
        return bearer_ok(authorization, self.admin_token)

    def view(self) -> dict[str, Any]:
        faults = self.current()
        return {
            "service": self.service,
            "faults": {k: v for k, v in faults.model_dump().items() if k in self.allowed},
            "expires_at": faults.expires_at,
            "active": sorted(k for k, on in faults.active().items() if on and k in self.allowed),
        }

    def handle_admin(
        self, method: str, authorization: str | None, body: bytes | None
    ) -> tuple[int, dict[str, Any]]:
        """Serve ``/admin/faults`` for any web framework: returns (status, JSON body)."""
        if not self.admin_token:
            return 404, {"error": "admin surface disabled: SLOLAB_ADMIN_TOKEN is not set"}
        if not self.authorized(authorization):
            return 401, {"error": "missing or invalid bearer token"}
        method = method.upper()
        if method == "GET":
            return 200, self.view()
        if method == "DELETE":
            try:
                self.clear()
            except OSError as exc:
                return 503, self._unwritable(exc)
            return 200, self.view()
        if method not in {"PUT", "POST", "PATCH"}:
            return 405, {"error": f"method {method} not allowed"}
        if body is not None and len(body) > MAX_BODY:
            return 413, {"error": f"body larger than {MAX_BODY} bytes"}
        try:
            changes = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return 400, {"error": "body is not valid JSON"}
        if not isinstance(changes, dict):
            return 422, {"error": "body must be a JSON object of fault settings"}
        try:
            self.update(changes)
        except ValueError as exc:
            return 422, {"error": str(exc)}
        except OSError as exc:
            return 503, self._unwritable(exc)
        return 200, self.view()

    def _unwritable(self, exc: OSError) -> dict[str, Any]:
        log.warning("fault state not saved in %s: %s", self.path.parent, exc)
        reason = exc.strerror or type(exc).__name__
        return {"error": f"fault state not writable in {self.path.parent}: {reason}"}
