"""A store of recent traces in one SQLite file, bounded in bytes (the native lab's Jaeger).

The lab's OTLP receiver (:mod:`slolab.lab.otlp`) writes decoded spans here; the
browser dashboard (:mod:`slolab.web.traces`) reads the same file read-only from
its own process. Nothing here knows the demo: any OTLP exporter's spans fit.

Bounded on disk and in memory: every span is stored as one row of capped size
(attribute values, attribute and event counts are truncated), and when the
rows' total passes ``max_bytes`` the oldest whole traces are deleted until it
is ``EVICT_TO`` of the bound again. SQLite reuses the freed pages, so the file
stays near the bound instead of growing; its write-ahead log is held to 1/16 of it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_MAX_BYTES",
    "STATUS_ERROR",
    "Span",
    "TraceQuery",
    "TraceReader",
    "TraceStore",
    "spans_from_otlp",
]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
EVICT_TO = 0.9  # evict down to this share of the bound: evictions come in batches
MAX_VALUE_CHARS = 1024  # an attribute value longer than this is cut (a stack trace, a body)
MAX_ATTRIBUTES = 64
MAX_EVENTS = 16
STATUS_ERROR = 2  # OTLP Status.code: 0 unset, 1 ok, 2 error
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT NOT NULL,
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status INTEGER NOT NULL,
    detail TEXT NOT NULL,  -- JSON: status message, attributes, events (capped)
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_trace ON spans (trace_id);
-- One row per trace, kept up to date as its spans arrive: the list and the counts
-- read this instead of grouping every stored span at each poll.
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    arrival INTEGER NOT NULL,  -- the batch its first span came in: eviction order
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    spans INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    size INTEGER NOT NULL,
    services TEXT NOT NULL  -- ",tasks,predictor,"
);
CREATE INDEX IF NOT EXISTS traces_start ON traces (start_ns);
CREATE INDEX IF NOT EXISTS traces_arrival ON traces (arrival);
"""

_UPSERT_TRACE = f"""
INSERT INTO traces (trace_id, arrival, start_ns, end_ns, spans, errors, size, services)
VALUES (?, ?, ?, ?, 1, ? = {STATUS_ERROR}, ?, ',' || ? || ',')
ON CONFLICT (trace_id) DO UPDATE SET
    start_ns = min(start_ns, excluded.start_ns),
    end_ns = max(end_ns, excluded.end_ns),
    spans = spans + 1,
    errors = errors + excluded.errors,
    size = size + excluded.size,
    services = CASE WHEN instr(services, excluded.services) > 0 THEN services
               ELSE services || substr(excluded.services, 2) END
"""


@dataclass(frozen=True)
class Span:
    """One span, as stored: ids in lowercase hex, times in Unix nanoseconds."""

    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root
    service: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status: int
    status_message: str = ""
    attributes: Mapping[str, Any] | None = None
    events: tuple[Mapping[str, Any], ...] = ()

    def detail_json(self) -> str:
        return json.dumps(
            {
                "status_message": self.status_message[:MAX_VALUE_CHARS],
                "attributes": _capped(self.attributes or {}),
                "events": [_event(e) for e in self.events[:MAX_EVENTS]],
            },
            separators=(",", ":"),
        )


def _event(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": str(e.get("name", ""))[:MAX_VALUE_CHARS],
        "time_ns": int(e.get("time_ns", 0)),
        "attributes": _capped(e.get("attributes") or {}),
    }


def _capped(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in list(attrs.items())[:MAX_ATTRIBUTES]:
        if isinstance(value, str):
            value = value[:MAX_VALUE_CHARS]
        elif isinstance(value, list | tuple):
            value = [v[:MAX_VALUE_CHARS] if isinstance(v, str) else v for v in value[:32]]
        out[str(key)[:256]] = value
    return out


def _any_value(v: Any) -> Any:
    """An OTLP AnyValue as plain JSON (bytes as hex, nested lists and maps kept)."""
    field = v.WhichOneof("value")
    if field is None:
        return None
    if field == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if field == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    if field == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, field)


def _otlp_event(e: Any) -> dict[str, Any]:
    attrs = {kv.key: _any_value(kv.value) for kv in e.attributes}
    return {"name": e.name, "time_ns": int(e.time_unix_nano), "attributes": attrs}


def spans_from_otlp(request: Any) -> tuple[list[Span], int]:
    """Spans of an ``ExportTraceServiceRequest``, and how many were rejected.

    A span without a 16-byte trace id and an 8-byte span id cannot be placed in a
    trace: it is rejected (counted), the rest of the batch is kept.
    """
    spans: list[Span] = []
    rejected = 0
    for rs in request.resource_spans:
        service = "unknown_service"
        for kv in rs.resource.attributes:
            if kv.key == "service.name":
                service = str(_any_value(kv.value))[:256]
        for ss in rs.scope_spans:
            for s in ss.spans:
                if len(s.trace_id) != 16 or len(s.span_id) != 8 or not any(s.trace_id):
                    rejected += 1
                    continue
                spans.append(
                    Span(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex() if len(s.parent_span_id) == 8 else "",
                        service=service,
                        name=s.name[:MAX_VALUE_CHARS],
                        kind=int(s.kind),
                        start_ns=int(s.start_time_unix_nano),
                        end_ns=max(int(s.end_time_unix_nano), int(s.start_time_unix_nano)),
                        status=int(s.status.code),
                        status_message=s.status.message,
                        attributes={kv.key: _any_value(kv.value) for kv in s.attributes},
                        events=tuple(_otlp_event(e) for e in list(s.events)[:MAX_EVENTS]),
                    )
                )
    return spans, rejected


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # WAL: the dashboard's process reads while the receiver writes.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # recent traces: a lost last batch is fine
        conn.executescript(_SCHEMA)
    conn.row_factory = sqlite3.Row
    return conn


class TraceStore:
    """The writing side: add spans, evict the oldest traces beyond ``max_bytes``."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 64 * 1024:
            raise ValueError(f"a trace store needs at least 64 KiB, got {max_bytes} bytes")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._conn = _connect(self.path, readonly=False)
        # The write-ahead log counts against the disk too: checkpointed every
        # 1/16 of the bound and cut back to that size (SQLite's default lets it
        # reach 4 MB, and keeps it at its largest).
        wal = max(64 * 1024, max_bytes // 16)
        self._conn.execute(f"PRAGMA wal_autocheckpoint={wal // 4096}")
        self._conn.execute(f"PRAGMA journal_size_limit={wal}")
        total, last = self._conn.execute(
            "SELECT COALESCE(SUM(size), 0), COALESCE(MAX(arrival), 0) FROM traces"
        ).fetchone()
        self.bytes = int(total)  # a store kept from the last run counts from the start
        self._arrival = int(last)
        self.evicted_traces = 0

    def add(self, spans: Iterable[Span]) -> int:
        """Store ``spans`` in one transaction; return how many were stored."""
        rows = []
        for s in spans:
            detail = s.detail_json()
            size = len(detail) + len(s.name) + len(s.service) + 80  # ids, times, row overhead
            rows.append(
                (s.trace_id, s.span_id, s.parent_span_id, s.service[:256], s.name, s.kind,
                 s.start_ns, s.end_ns, s.status, detail, size)
            )  # fmt: skip
        if not rows:
            return 0
        with self._lock:
            self._arrival += 1
            with self._conn:
                self._conn.execute("BEGIN")
                self._conn.executemany(
                    "INSERT INTO spans (trace_id, span_id, parent_span_id, service, name, kind,"
                    " start_ns, end_ns, status, detail, size) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    rows,
                )
                self._conn.executemany(
                    _UPSERT_TRACE,
                    [(r[0], self._arrival, r[6], r[7], r[8], r[10], r[3]) for r in rows],
                )
            self.bytes += sum(r[-1] for r in rows)
            if self.bytes > self.max_bytes:
                self._evict()
        return len(rows)

    def _evict(self) -> None:
        """Delete the oldest whole traces until the rows fit in ``EVICT_TO`` of the bound."""
        target = self.max_bytes * EVICT_TO
        oldest = self._conn.execute("SELECT trace_id, size FROM traces ORDER BY arrival")
        doomed: list[tuple[str]] = []
        left = self.bytes
        for trace_id, size in oldest:
            if left <= target:
                break
            doomed.append((trace_id,))
            left -= size
        oldest.close()
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany("DELETE FROM spans WHERE trace_id = ?", doomed)
            self._conn.executemany("DELETE FROM traces WHERE trace_id = ?", doomed)
        self.bytes = left
        self.evicted_traces += len(doomed)

    def count(self) -> tuple[int, int]:
        """(traces, spans) stored."""
        with self._lock:
            row = self._conn.execute("SELECT COUNT(*), COALESCE(SUM(spans), 0) FROM traces")
            traces, spans = row.fetchone()
        return int(traces), int(spans)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@dataclass(frozen=True)
class TraceQuery:
    """Filters of the trace list; every field optional."""

    service: str | None = None  # a trace holding a span of this service
    status: str | None = None  # "error": a span with status ERROR; "ok": none
    min_ms: float | None = None  # trace duration bounds (first start to last end)
    max_ms: float | None = None
    limit: int = 50


class TraceReader:
    """The reading side (the dashboard's process): a read-only connection per query."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _open(self) -> Iterator[sqlite3.Connection | None]:
        # A file the receiver has not created yet reads as empty (None), not as an error.
        if not self.path.exists():
            yield None
            return
        with closing(_connect(self.path, readonly=True)) as conn:
            yield conn

    def recent(self, q: TraceQuery) -> list[dict[str, Any]]:
        """Newest traces first (by start), one summary row each."""
        where, args = [], []
        if q.service:
            where.append("instr(services, ?) > 0")
            args.append(f",{q.service},")
        if q.status == "error":
            where.append("errors > 0")
        elif q.status == "ok":
            where.append("errors = 0")
        if q.min_ms is not None:
            where.append("end_ns - start_ns >= ?")
            args.append(int(q.min_ms * 1e6))
        if q.max_ms is not None:
            where.append("end_ns - start_ns <= ?")
            args.append(int(q.max_ms * 1e6))
        sql = (
            "SELECT trace_id, start_ns, end_ns - start_ns AS dur, spans, errors, services"
            " FROM traces"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY start_ns DESC LIMIT ?"
        )
        out = []
        with self._open() as conn:
            if conn is None:
                return []
            rows = conn.execute(sql, [*args, max(1, min(q.limit, 500))]).fetchall()
            for r in rows:
                # The first span whose parent is not in the trace: its root, or what
                # stands in for it when the caller's side was not kept.
                root = conn.execute(
                    "SELECT service, name FROM spans s WHERE trace_id = ? AND NOT EXISTS"
                    " (SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id"
                    " AND p.span_id = s.parent_span_id) ORDER BY start_ns LIMIT 1",
                    (r["trace_id"],),
                ).fetchone()
                out.append(
                    {
                        "trace_id": r["trace_id"],
                        "start_ns": r["start_ns"],
                        "duration_ms": r["dur"] / 1e6,
                        "spans": r["spans"],
                        "errors": r["errors"],
                        "services": sorted(r["services"].strip(",").split(",")),
                        "root": f"{root['service']}: {root['name']}" if root else "",
                    }
                )
        return out

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """Every stored span of one trace, by start time; empty if unknown."""
        out: list[dict[str, Any]] = []
        with self._open() as conn:
            if conn is None:
                return out
            rows = conn.execute(
                "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns, seq",
                (trace_id.lower(),),
            ).fetchall()
        for r in rows:
            detail = json.loads(r["detail"])
            out.append(
                {
                    "trace_id": r["trace_id"],
                    "span_id": r["span_id"],
                    "parent_span_id": r["parent_span_id"],
                    "service": r["service"],
                    "name": r["name"],
                    "kind": KINDS.get(r["kind"], str(r["kind"])),
                    "start_ns": r["start_ns"],
                    "duration_ms": (r["end_ns"] - r["start_ns"]) / 1e6,
                    "error": r["status"] == STATUS_ERROR,
                    **detail,
                }
            )
        return out

    def counts(self) -> dict[str, int]:
        """Traces and spans stored."""
        with self._open() as conn:
            if conn is None:
                return {"traces": 0, "spans": 0}
            traces, spans = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(spans), 0) FROM traces"
            ).fetchone()
        return {"traces": int(traces), "spans": int(spans)}
