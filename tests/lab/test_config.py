from pathlib import Path

import pytest

from slolab.contract import COMPONENT_PORTS
from slolab.lab.config import LabConfig, Ports
from slolab.lab.procs import DEFAULT_READY_TIMEOUT


def test_defaults_are_the_contract_ports():
    cfg = LabConfig.from_env({})
    assert cfg.ports.as_dict() == {name: port for name, (port, _) in COMPONENT_PORTS.items()}
    assert cfg.ports.tasks == 8081 and cfg.ports.prometheus == 9090  # the documented ones
    assert cfg.lab_dir.name == ".lab"
    assert (cfg.load, cfg.scenario, cfg.reset, cfg.locust_ui) == (True, "steady", False, True)
    assert cfg.scrape_interval is None and cfg.evaluation_interval is None


def test_environment_overrides(tmp_path):
    env = {
        "LAB_DIR": str(tmp_path / "lab"),
        "PROMETHEUS_PORT": "19090",
        "SCENARIO": "spike",
        "LOAD": "0",
        "RESET": "1",
        "LAB_HEADLESS": "1",
        "SLOLAB_ADMIN_TOKEN": "secret",
    }
    cfg = LabConfig.from_env(env)
    assert cfg.lab_dir == (tmp_path / "lab").resolve()
    assert cfg.ports.prometheus == 19090
    assert (cfg.scenario, cfg.load, cfg.reset, cfg.locust_ui) == ("spike", False, True, False)
    assert cfg.with_token().admin_token == "secret"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TASKS_PORT": "http"}, "TASKS_PORT must be a TCP port number"),
        ({"LOCUST_PORT": "70000"}, "LOCUST_PORT must be a TCP port number"),
        (
            {"SCENARIO": "tsunami"},
            r"SCENARIO must be a load shape \(steady, .*\) or a game "
            r"day \(.*tasks-outage.*\), got 'tsunami'",
        ),
        ({"RESET": "maybe"}, "RESET must be 1 or 0"),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        LabConfig.from_env(env)


def test_scenario_names_a_load_shape_or_a_game_day():
    assert LabConfig(scenario="spike").gameday is None
    day = LabConfig(scenario="tasks-outage").gameday
    assert day is not None and day.name == "tasks-outage.yaml" and day.is_file()


def test_a_token_is_generated_per_session_when_unset():
    a, b = LabConfig(admin_token="").with_token(), LabConfig(admin_token="").with_token()
    assert len(a.admin_token) >= 32 and a.admin_token != b.admin_token


def test_urls_use_the_configured_host_and_ports():
    cfg = LabConfig(ports=Ports(prometheus=1234), lab_dir=Path("/tmp/x"))
    assert cfg.url("prometheus") == "http://127.0.0.1:1234"
    assert cfg.alert_webhook_url == "http://127.0.0.1:9097/alerts"
    assert LabConfig(webhook_url="http://h/x").alert_webhook_url == "http://h/x"


def test_the_lab_waits_for_readiness_as_long_as_the_tests_and_bench_do():
    assert LabConfig.from_env({}).ready_timeout == DEFAULT_READY_TIMEOUT
    assert LabConfig.from_env({"SLOLAB_READY_TIMEOUT": "300"}).ready_timeout == 300
    with pytest.raises(ValueError, match="SLOLAB_READY_TIMEOUT must be a number"):
        LabConfig.from_env({"SLOLAB_READY_TIMEOUT": "later"})


def test_trace_settings_from_the_environment():
    cfg = LabConfig.from_env({})
    assert (cfg.traces, cfg.otlp_endpoint) == ("auto", None)
    assert cfg.ports.otlp == 4318 and cfg.ports.jaeger == 16686  # Jaeger's own ports
    cfg = LabConfig.from_env(
        {
            "LAB_TRACES": "Store",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "LAB_TRACE_STORE_MB": "8",
            "LAB_OTLP_MAX_BATCH_MB": "0.5",
        }
    )
    assert (cfg.traces, cfg.otlp_endpoint) == ("store", "http://collector:4318")
    assert (cfg.trace_store_bytes, cfg.otlp_max_batch_bytes) == (8 << 20, 512 << 10)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LAB_TRACES": "zipkin"}, "LAB_TRACES must be one of auto, store, jaeger, off"),
        ({"LAB_TRACE_STORE_MB": "lots"}, "LAB_TRACE_STORE_MB must be a size in MB"),
        ({"LAB_OTLP_MAX_BATCH_MB": "0"}, "LAB_OTLP_MAX_BATCH_MB must be a size in MB"),
    ],
)
def test_bad_trace_settings_are_named(env, message):
    with pytest.raises(ValueError, match=message):
        LabConfig.from_env(env)
