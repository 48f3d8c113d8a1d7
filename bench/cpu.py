"""CPU per request that repeats: configurations interleaved, one request at a time.

At saturation, CPU per request on 2 shared cores does not repeat (issue 26: up to
35 points between two quiet runs): wrk and the services fight for the cores, a
worker's threads for its GIL, and neighbours' load comes and goes between one
configuration's round and the next. Here:

- one request in flight (a keep-alive connection per configuration, this process
  the client): no queueing, no GIL hand-offs, the same work as a request's own;
- the services pinned to the last CPU, this process to the others
  (``bench.run._pinned``), so the client never takes the services' core;
- the configurations interleaved in slices of ``SLICE`` requests within each
  round, the order reversed every other slice: each sees the same machine over the
  round, whatever a neighbour does meanwhile;
- per round, each configuration's CPU (its services' process trees, /proc) and
  requests; the figure pools the rounds, its interval comes from the spread of
  the rounds' ratios to ``off`` (bench.report.cpu_extra), and a configuration
  stays in the rounds until that interval is narrow enough
  (bench.report.cpu_precise).
"""

from __future__ import annotations

import http.client
import json
import re
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from slolab.wrk import LUA

__all__ = ["SLICE", "Client", "Served", "body_maker", "clients", "interleave"]

# Seconds of one configuration's requests before the next one's: short against a
# neighbour's bursts, long against the caches the previous configuration left cold.
SLICE = 0.1


def _titles() -> list[str]:
    """The titles slolab/lua/create_task.lua sends: one list for both clients."""
    text = (LUA / "create_task.lua").read_text()
    block = re.search(r"local titles = \{(.*?)\}", text, re.S)
    if block is None:
        raise ValueError("slolab/lua/create_task.lua: no `local titles = {...}` list")
    return re.findall(r'"([^"]*)"', block.group(1))


def body_maker(lua: str | None) -> Callable[[int], bytes | None]:
    """The n-th request body of a workload, as its wrk script (slolab/lua/NAME.lua) makes it."""
    if lua == "predict":
        return lambda n: json.dumps({
            "title_length": 10 + n % 60, "urgent_words": n % 3, "due_in_days": n % 14,
            "estimated_hours": (n % 16) / 2 + 0.5,
        }).encode()  # fmt: skip
    if lua == "create_task":
        titles = _titles()
        return lambda n: json.dumps({
            "title": f"{titles[n % len(titles)]} #{n}", "due_in_days": n % 14,
            "estimated_hours": (n % 16) / 2 + 0.5,
        }).encode()  # fmt: skip
    if lua is None:
        return lambda n: None
    raise ValueError(f"no request body known for slolab/lua/{lua}.lua")


class Client:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, url: str, path: str, lua: str | None) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        self.path = path
        self.body = body_maker(lua)
        self.method = "GET" if lua is None else "POST"
        self.n = 0

    def send(self) -> int:
        """One request; its status."""
        self.n += 1
        body = self.body(self.n)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(self.method, self.path, body, headers)
        resp = self.conn.getresponse()
        resp.read()
        return resp.status

    def close(self) -> None:
        self.conn.close()


@dataclass
class Served:
    """What one configuration answered in one round."""

    requests: int
    errors: int
    seconds: float  # time spent sending its requests
    cpu_s: float  # its services' CPU over the round
    latencies_ms: list[float]

    def percentile(self, q: float) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else float("nan")
        return statistics.quantiles(self.latencies_ms, n=100)[int(q) - 1]


def interleave(
    clients: dict[str, Client], cpu: dict[str, Callable[[], float]], seconds: float
) -> dict[str, Served]:
    """One round: each configuration about ``seconds`` of requests, in interleaved slices."""
    modes = list(clients)
    served = {m: Served(0, 0, 0.0, 0.0, []) for m in modes}
    before = {m: cpu[m]() for m in modes}
    deadline = time.monotonic() + seconds * len(modes)
    flip = False
    while time.monotonic() < deadline:
        for mode in reversed(modes) if flip else modes:
            client, s = clients[mode], served[mode]
            start = time.perf_counter()
            until = start + SLICE
            t0 = start
            while t0 < until:
                status = client.send()
                s.latencies_ms.append(1e3 * (time.perf_counter() - t0))
                s.requests += 1
                s.errors += status >= 400
                t0 = time.perf_counter()
            s.seconds += t0 - start
        flip = not flip
    for mode in modes:
        served[mode].cpu_s = cpu[mode]() - before[mode]
    return served


@contextmanager
def clients(urls: dict[str, str], path: str, lua: str | None) -> Iterator[dict[str, Client]]:
    """A connection per configuration, closed at the end."""
    with ExitStack() as stack:
        made = {}
        for mode, url in urls.items():
            made[mode] = Client(url, path, lua)
            stack.callback(made[mode].close)
        yield made
