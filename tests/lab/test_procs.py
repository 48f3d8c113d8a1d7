import os
import socket
import sys
import time

import pytest

from slolab.lab.procs import (
    DEFAULT_READY_TIMEOUT,
    READY_TIMEOUT_ENV,
    NotReadyError,
    PortBusyError,
    Supervisor,
    check_ports,
    free_port,
    port_is_free,
    ready_timeout,
    service_env,
    spawn,
    stop,
    wait_ready,
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours still "exists": look at its state.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for_file(path, timeout=10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


def test_stop_reaches_the_children_of_a_process(tmp_path):
    sup = Supervisor(tmp_path / "logs", stop_timeout=5)
    child_pid_file = tmp_path / "child.pid"
    # The shell forks a child and waits: like gunicorn and its workers.
    sup.start("parent", ["sh", "-c", f"sleep 60 & echo $! > {child_pid_file}; wait"])
    child = int(_wait_for_file(child_pid_file))
    parent = sup.get("parent").pid
    assert _alive(child) and _alive(parent)
    sup.stop()
    assert not _alive(parent)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    assert sup.procs == []


def test_a_process_ignoring_sigterm_is_killed_after_the_timeout(tmp_path):
    sup = Supervisor(tmp_path / "logs", stop_timeout=0.5)
    ready = tmp_path / "ready"
    code = (
        "import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f"pathlib.Path({str(ready)!r}).write_text('1'); time.sleep(60)"
    )
    proc = sup.start("stubborn", [sys.executable, "-c", code])
    _wait_for_file(ready)
    started = time.monotonic()
    sup.stop()
    assert time.monotonic() - started < 5
    assert proc.popen.returncode == -9


def test_output_goes_to_the_log_file_named_after_the_process(tmp_path):
    sup = Supervisor(tmp_path / "logs")
    proc = sup.start("talker", [sys.executable, "-c", "print('hello from talker')"])
    proc.popen.wait(timeout=10)
    assert "hello from talker" in (tmp_path / "logs" / "talker.log").read_text()
    assert sup.dead() == [proc]
    sup.stop()


def test_wait_ready_names_the_component_and_log_when_it_exits(tmp_path):
    sup = Supervisor(tmp_path / "logs")
    sup.start("broken", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])
    with pytest.raises(NotReadyError) as err:
        sup.wait_ready("broken", "http://127.0.0.1:9/", timeout=10)
    msg = str(err.value)
    assert "broken exited with code 3" in msg
    assert str(tmp_path / "logs" / "broken.log") in msg
    assert "boom" in msg
    sup.stop()


def test_wait_ready_times_out_with_a_clear_error(tmp_path, unused_tcp_port):
    sup = Supervisor(tmp_path / "logs", stop_timeout=2)
    sup.start("silent", [sys.executable, "-c", "import time; time.sleep(30)"])
    with pytest.raises(NotReadyError, match=r"silent was not ready at .* after 1s"):
        sup.wait_ready("silent", f"http://127.0.0.1:{unused_tcp_port}/readyz", timeout=1)
    sup.stop()


def test_wait_ready_returns_once_the_url_answers(tmp_path, unused_tcp_port):
    sup = Supervisor(tmp_path / "logs", stop_timeout=2)
    sup.start(
        "web",
        [sys.executable, "-m", "http.server", str(unused_tcp_port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
    )
    took = sup.wait_ready("web", f"http://127.0.0.1:{unused_tcp_port}/", timeout=20)
    assert 0 < took < 20
    sup.stop()


def test_unknown_executable_is_a_clear_error(tmp_path):
    sup = Supervisor(tmp_path / "logs")
    with pytest.raises(NotReadyError, match="nope: cannot start /nonexistent/binary"):
        sup.start("nope", ["/nonexistent/binary"])


def test_busy_port_is_named_with_the_variable_that_moves_it(unused_tcp_port):
    with socket.socket() as s:
        s.bind(("127.0.0.1", unused_tcp_port))
        s.listen()
        assert not port_is_free(unused_tcp_port)
        with pytest.raises(PortBusyError) as err:
            check_ports({"prometheus": unused_tcp_port}, {"prometheus": "PROMETHEUS_PORT"})
    assert f"port {unused_tcp_port} (prometheus) is already in use" in str(err.value)
    assert "PROMETHEUS_PORT" in str(err.value)
    assert port_is_free(unused_tcp_port)


def test_the_same_port_twice_is_refused(unused_tcp_port):
    with pytest.raises(PortBusyError, match="configured twice"):
        check_ports({"a": unused_tcp_port, "b": unused_tcp_port}, {"a": "A", "b": "B"})


# -- the harness without a Supervisor (tests, bench, soak, backfill) ---------------


def test_free_port_can_be_bound_and_differs_from_a_taken_one():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = free_port()
        assert port != taken.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # raises if it was not free


def test_ready_timeout_is_generous_and_moved_by_one_variable():
    assert ready_timeout({}) == DEFAULT_READY_TIMEOUT >= 120
    assert ready_timeout({READY_TIMEOUT_ENV: "300"}) == 300
    assert ready_timeout({READY_TIMEOUT_ENV: " "}) == DEFAULT_READY_TIMEOUT
    with pytest.raises(ValueError, match="SLOLAB_READY_TIMEOUT must be a number, got 'soon'"):
        ready_timeout({READY_TIMEOUT_ENV: "soon"})
    with pytest.raises(ValueError, match="SLOLAB_READY_TIMEOUT must be between"):
        ready_timeout({READY_TIMEOUT_ENV: "0"})


def test_every_wait_without_its_own_limit_takes_the_shared_one(tmp_path, monkeypatch):
    monkeypatch.setenv(READY_TIMEOUT_ENV, "1")
    proc = spawn("silent", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "l")
    try:
        started = time.monotonic()
        with pytest.raises(NotReadyError, match=r"silent was not ready at .* after 1s"):
            proc.wait_ready(f"http://127.0.0.1:{free_port()}/readyz")
        assert time.monotonic() - started < 10
    finally:
        proc.stop(timeout=2)
    assert proc.exited() == -15


def test_a_spawned_process_that_exits_fails_the_wait_at_once_with_its_log(tmp_path):
    log = tmp_path / "logs" / "broken.log"
    proc = spawn("broken", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], log)
    started = time.monotonic()
    with pytest.raises(NotReadyError, match=r"(?s)broken exited with code 3.*boom"):
        wait_ready(proc, f"http://127.0.0.1:{free_port()}/", timeout=60)
    assert time.monotonic() - started < 30
    assert log.read_text() == "boom\n"  # no header line: some tests read every line as JSON


def test_stop_reaches_the_children_of_a_spawned_process_and_usage_counts_them(tmp_path):
    child_pid_file = tmp_path / "child.pid"
    proc = spawn(
        "parent",
        ["sh", "-c", f"sleep 60 & echo $! > {child_pid_file}; wait"],
        tmp_path / "parent.log",
    )
    child = int(_wait_for_file(child_pid_file))
    cpu, rss, count = proc.usage()
    assert count == 2 and rss > 0 and cpu >= 0
    stop([proc], timeout=5)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child) and proc.exited() is not None


def test_service_env_inherits_no_service_setting(tmp_path, monkeypatch):
    for name, value in {"OTEL_TRACES_SAMPLER": "always_off", "SLOLAB_FAULTS": "error_rate=1",
                        "TASKS_PORT": "8081", "PREDICTOR_URL": "http://x",
                        "PROMETHEUS_MULTIPROC_DIR": "/tmp/x", "MONGO_URL": "mongodb://x",
                        "HARNESS_TEST_KEEP": "kept"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    env = service_env("tasks", tmp_path / "state", LOG_LEVEL="WARNING", TASKS_WORKERS="1")
    assert env["HARNESS_TEST_KEEP"] == "kept"  # PATH, HOME and the like stay
    ours = {k for k in env if k.startswith(("OTEL_", "SLOLAB_", "TASKS_", "PREDICTOR_",
                                             "PROMETHEUS_", "MONGO_"))}  # fmt: skip
    assert ours == {"TASKS_HOST", "TASKS_PORT", "SLOLAB_STATE_DIR", "TASKS_WORKERS"}
    assert env["TASKS_HOST"] == "127.0.0.1" and env["TASKS_PORT"] != "8081"
    assert env["SLOLAB_STATE_DIR"] == str(tmp_path / "state") and env["LOG_LEVEL"] == "WARNING"
    assert service_env("predictor", tmp_path, port=1234)["PREDICTOR_PORT"] == "1234"
