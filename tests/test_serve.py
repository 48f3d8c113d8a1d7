from pathlib import Path

import pytest

from slolab.serve import build_command, prepare_env


def test_tasks_runs_gunicorn_with_fresh_multiprocess_dir(tmp_path: Path) -> None:
    mp = tmp_path / "mp"
    mp.mkdir()
    (mp / "counter_123.db").write_text("stale")
    env = prepare_env(
        "tasks", {"SLOLAB_STATE_DIR": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": str(mp)}
    )
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(mp)
    assert list(mp.iterdir()) == []
    argv = build_command("tasks", env)
    assert argv[1:4] == ["-m", "gunicorn", "-c"]
    assert "services.tasks.wsgi:app" in argv


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
    ("env", "message"),
    [
        ({"PREDICTOR_PORT": "http"}, "PREDICTOR_PORT"),
        ({"PREDICTOR_PORT": "70000"}, "PREDICTOR_PORT"),
        ({"PREDICTOR_WORKERS": "many"}, "PREDICTOR_WORKERS"),
        ({"PREDICTOR_WORKERS": "0"}, "PREDICTOR_WORKERS"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_command("predictor", env)


def test_unknown_service() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        build_command("frontend", {})
