import os
import socket
import sys
import time

import pytest

from slolab.lab.procs import NotReadyError, PortBusyError, Supervisor, check_ports, port_is_free


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
