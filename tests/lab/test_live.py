from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from slolab.lab.live import watch
from slolab.slo import conventions as c
from tests.slo.fake_prometheus import FakePrometheus, alerts, vector

SLOS = Path(__file__).resolve().parents[2] / "slos.yaml"


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    server = FakePrometheus().start()

    def route(path: str, params: dict[str, str]):
        if path == "/api/v1/alerts":
            return alerts()
        labels = {"__name__": c.RULE_BUDGET_REMAINING, c.LABEL_SLO: "tasks-availability"}
        return vector((labels, 0.25))

    server.route = route
    try:
        yield server
    finally:
        server.stop()


def test_live_table_shows_slos_and_stops_when_the_lab_breaks(prom: FakePrometheus) -> None:
    class Broken(Exception):
        pass

    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        if len(calls) > 2:
            raise Broken("tasks exited")

    console = Console(width=200, record=True)
    with pytest.raises(Broken):
        watch(prom.url, check=check, console=console, refresh=0.01, slos_path=SLOS)
    text = console.export_text()
    assert len(calls) == 3
    assert "tasks-availability" in text and "25.0%" in text
