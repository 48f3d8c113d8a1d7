from pathlib import Path

import pytest

from slolab.serve import build_command, prepare_env


def test_tasks_runs_granian_with_fresh_multiprocess_dir(tmp_path: Path) -> None:
    mp = tmp_path / "mp"
    mp.mkdir()
    (mp / "counter_123.db").write_text("stale")
    (mp / "notes.txt").write_text("not prometheus_client's")
    env = prepare_env(
        "tasks", {"SLOLAB_STATE_DIR": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": str(mp)}
    )
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(mp)
    assert [p.name for p in mp.iterdir()] == ["notes.txt"]
    argv = build_command("tasks", {**env, "TASKS_PORT": "9998", "TASKS_WORKERS": "3"})
    assert argv[1:5] == ["-m", "slolab.granian_serve", "--interface", "wsgi"]
    assert argv[argv.index("--port") + 1] == "9998"
    assert argv[argv.index("--workers") + 1] == "3"
    assert "--respawn-failed-workers" in argv
    assert argv[-1] == "slolab.services.tasks.wsgi:app"


def test_tasks_server_limits_come_from_the_environment() -> None:
    argv = build_command(
        "tasks",
        {"TASKS_HEADER_TIMEOUT_S": "2.5", "TASKS_MAX_HEADER_BYTES": "32768",
         "TASKS_THREADS": "8", "TASKS_KEEPALIVE": "off"},
    )  # fmt: skip
    assert argv[argv.index("--http1-header-read-timeout") + 1] == "2500"
    assert argv[argv.index("--http1-buffer-size") + 1] == "32768"
    assert argv[argv.index("--blocking-threads") + 1] == "8"
    assert "--no-http1-keep-alive" in argv


def test_tasks_takes_a_crowd_of_connections_by_default(monkeypatch) -> None:
    """granian's defaults (backlog 1,024, half per worker) locked new clients out behind
    ~1,024 held connections (tests/reliability/test_slow_clients.py)."""
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _: (65536, 65536))
    argv = build_command("tasks", {})
    assert argv[argv.index("--backlog") + 1] == "4096"
    assert argv[argv.index("--backpressure") + 1] == "4096"
    argv = build_command("tasks", {"TASKS_BACKLOG": "2048", "TASKS_MAX_CONNECTIONS": "300"})
    assert argv[argv.index("--backlog") + 1] == "2048"
    assert argv[argv.index("--backpressure") + 1] == "300"
    # A worker holds no more connections than its open file limit allows.
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 1024))
    assert build_command("tasks", {})[argv.index("--backpressure") + 1] == "960"


def test_serve_raises_the_soft_file_limit_to_the_hard_one(monkeypatch) -> None:
    import resource

    from slolab.serve import raise_file_limit

    calls = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 524288))
    monkeypatch.setattr(resource, "setrlimit", lambda which, limits: calls.append(limits))
    assert raise_file_limit() == 524288
    assert calls == [(524288, 524288)]


def test_tasks_on_gunicorn_on_request() -> None:
    argv = build_command("tasks", {"TASKS_SERVER": "gunicorn"})
    assert argv[1:5] == ["-m", "gunicorn", "-c", "python:slolab.services.tasks.gunicorn_conf"]
    assert argv[-1] == "slolab.services.tasks.wsgi:app"


def test_gunicorn_has_no_shared_control_socket() -> None:
    from slolab.services.tasks import gunicorn_conf

    assert gunicorn_conf.control_socket_disable is True


def test_predictor_single_worker_keeps_exemplars(tmp_path: Path) -> None:
    env = prepare_env(
        "predictor", {"SLOLAB_STATE_DIR": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": "x"}
    )
    assert "PROMETHEUS_MULTIPROC_DIR" not in env
    argv = build_command("predictor", {**env, "PREDICTOR_PORT": "9999"})
    assert argv[argv.index("--port") + 1] == "9999"
    assert argv[argv.index("--loop") + 1] == "uvloop"
    # httptools, with header limits (services/predictor/server.py)
    assert argv[argv.index("--http") + 1].endswith(":GuardedHttpToolsProtocol")


def test_predictor_several_workers_go_multiprocess(tmp_path: Path) -> None:
    env = prepare_env("predictor", {"SLOLAB_STATE_DIR": str(tmp_path), "PREDICTOR_WORKERS": "3"})
    assert Path(env["PROMETHEUS_MULTIPROC_DIR"]).is_dir()
    argv = build_command("predictor", env)
    assert argv[argv.index("--workers") + 1] == "3"


def test_fresh_start_forgets_previous_faults(tmp_path: Path) -> None:
    (tmp_path / "tasks-faults.json").write_text('{"error_rate": 1}')
    prepare_env("tasks", {"SLOLAB_STATE_DIR": str(tmp_path)})
    assert not (tmp_path / "tasks-faults.json").exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PREDICTOR_PORT", "http"),
        ("PREDICTOR_PORT", "70000"),
        ("PREDICTOR_WORKERS", "many"),
        ("PREDICTOR_WORKERS", "0"),
        ("TASKS_SERVER", "waitress"),
        ("TASKS_HEADER_TIMEOUT_S", "forever"),
        ("TASKS_MAX_HEADER_BYTES", "100"),
        ("TASKS_KEEPALIVE", "maybe"),
        ("TASKS_REUSEPORT", "yes"),
        ("TASKS_BACKLOG", "10"),
        ("TASKS_MAX_CONNECTIONS", "lots"),
    ],
)
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        build_command(name.split("_", 1)[0].lower(), {name: value})


def test_unknown_service() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        build_command("frontend", {})
