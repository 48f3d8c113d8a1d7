"""The dashboard app served by uvicorn in a thread on a free port (the browser tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slolab.lab.procs import free_port


@contextmanager
def served(app: Any, ready_within: float = 20) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (ending in ``/``)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_within
    while not server.started:
        assert thread.is_alive(), "the dashboard's server stopped while starting"
        assert time.monotonic() < deadline, "dashboard did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
