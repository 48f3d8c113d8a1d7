"""deploy/kubernetes checked offline: schemas, the kustomize build, hardening, shared facts."""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from slolab.contract import JOBS, PORTS
from tests.kubernetes.manifests import (
    BASE,
    DEPLOY,
    KIND_OVERLAY,
    ROOT,
    build,
    kubectl,
    of_kind,
    raw_resources,
    resource_files,
    validate,
    workloads,
)

needs_kubectl = pytest.mark.skipif(
    kubectl() is None,
    reason="kubectl not installed: kustomize build not checked (the files are, one by one)",
)
# workload -> its docker-compose.yml service (same image, memory, hardening)
COMPOSE_TWIN = {
    "tasks": "tasks",
    "predictor": "predictor",
    "mongo": "mongo",
    "alert-receiver": "alert-receiver",
    "dashboard": "dashboard",
    "blackbox": "blackbox",
    "jaeger": "jaeger",
    "locust-master": "locust-master",
    "locust-worker": "locust-worker-1",
}


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return raw_resources()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


@pytest.fixture(scope="module")
def dotenv() -> dict[str, str]:
    lines = (ROOT / ".env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = _pod(workload)["containers"]
    return container


def _mib(quantity: str) -> int:
    m = re.fullmatch(r"(\d+)(Mi|m)", quantity)
    assert m, quantity
    return int(m[1])


def test_every_file_of_the_base_is_listed():
    listed = set(resource_files(BASE))
    on_disk = {p.resolve() for p in BASE.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert on_disk == listed


def test_every_manifest_validates_offline(resources):
    kinds = {r["kind"] for r in resources}
    assert {"Deployment", "StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap",
            "ServiceMonitor", "Probe", "PrometheusRule", "AlertmanagerConfig"} <= kinds  # fmt: skip
    problems = [p for r in resources for p in validate(r)]
    assert problems == []


@pytest.mark.parametrize(
    ("kind", "name", "edit", "expected"),
    [
        ("Deployment", "tasks", lambda r: _container(r).update(securityContex={}),
         "'securityContex' was unexpected"),
        ("ServiceMonitor", "tasks", lambda r: r["spec"]["endpoints"][0].update(intervall="5s"),
         "'intervall' was unexpected"),
        ("Probe", "blackbox-tasks", lambda r: r["spec"].update(module=5), "not of type 'string'"),
        ("PrometheusRule", "slo-tasks",
         lambda r: r["spec"]["groups"][0]["rules"][0].update(exprr="up"),
         "'exprr' was unexpected"),
        ("AlertmanagerConfig", "slolab-slo",
         lambda r: r["spec"]["route"]["routes"][0]["matchers"][0].update(matchType="=="),
         "'==' is not one of"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)  # fmt: skip
def test_validation_rejects_a_broken_resource(resources, kind, name, edit, expected):
    broken = copy.deepcopy(of_kind(resources, kind)[name])
    edit(broken)
    problems = validate(broken)
    assert any(expected in p for p in problems), problems


@needs_kubectl
def test_kind_overlay_builds_and_validates():
    built = build(KIND_OVERLAY)
    assert [p for r in built for p in validate(r)] == []
    assert {r["metadata"].get("namespace") for r in built if r["kind"] != "Namespace"} == {"slolab"}
    # the generated resources are in, and the receiver URL is the namespaced one
    assert {"slo-tasks", "slo-predictor"} <= set(of_kind(built, "PrometheusRule"))
    (routes,) = of_kind(built, "AlertmanagerConfig").values()
    webhook = routes["spec"]["receivers"][0]
    assert webhook["name"] == "webhook"
    assert webhook["webhookConfigs"][0]["url"].startswith("http://alert-receiver.slolab.svc:")
    secret_names = {
        ref["name"]
        for receiver in routes["spec"]["receivers"]
        for key in ("pagerdutyConfigs", "slackConfigs")
        for cfg in receiver.get(key, [])
        for ref in (cfg.get("routingKey"), cfg.get("apiURL"))
        if ref
    }
    assert secret_names <= set(of_kind(built, "Secret")), "the config would be dropped"


def test_workloads_are_hardened_like_compose(resources):
    found = workloads(resources)
    assert set(found) == set(COMPOSE_TWIN)
    for name, w in found.items():
        pod, container = _pod(w), _container(w)
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["capabilities"] == {"drop": ["ALL"]}, name
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert limits["memory"] == requests["memory"], name  # never overcommitted
    (ns,) = of_kind(resources, "Namespace").values()
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_memory_images_and_args_follow_compose(resources, compose, dotenv):
    for name, w in workloads(resources).items():
        twin = compose[COMPOSE_TWIN[name]]
        container = _container(w)
        assert _mib(container["resources"]["limits"]["memory"]) == _mib(twin["mem_limit"]), name
        image_var = re.fullmatch(r"\$\{(\w+)\}", twin.get("image", "${SLOLAB_IMAGE}"))
        assert image_var, name
        assert container["image"] == dotenv[image_var[1]], name
    mongo = _container(workloads(resources)["mongo"])
    assert mongo["args"] == compose["mongo"]["command"]


def test_services_probe_readyz_and_healthz(resources):
    for name in ("tasks", "predictor"):
        container = _container(workloads(resources)[name])
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_ports_and_job_names_follow_the_contract(resources):
    services = of_kind(resources, "Service")
    ports = {(s, p["name"]): p["port"] for s, svc in services.items() for p in svc["spec"]["ports"]}
    assert ports[("tasks", "http")] == PORTS["tasks"]
    assert ports[("predictor", "http")] == PORTS["predictor"]
    assert ports[("blackbox", "http")] == PORTS["blackbox"]
    assert ports[("locust-master", "web")] == PORTS["locust"]
    assert ports[("jaeger", "otlp-http")] == PORTS["otlp-http"]
    assert ports[("jaeger", "otlp-grpc")] == PORTS["otlp-grpc"]
    assert ports[("jaeger", "ui")] == PORTS["jaeger-ui"]
    env = {e["name"]: e.get("value") for e in _container(workloads(resources)["tasks"])["env"]}
    assert env["TASKS_PORT"] == str(PORTS["tasks"])
    assert env["PREDICTOR_URL"] == f"http://predictor:{PORTS['predictor']}"
    # a ServiceMonitor's job label is its Service's name
    monitors = of_kind(resources, "ServiceMonitor")
    assert JOBS["tasks"] in monitors and JOBS["tasks"] in services
    assert JOBS["predictor"] in monitors and JOBS["predictor"] in services
    probes = of_kind(resources, "Probe")
    assert probes["blackbox-tasks"]["spec"]["jobName"] == JOBS["blackbox-tasks"]
    assert probes["blackbox-predictor"]["spec"]["jobName"] == JOBS["blackbox-predictor"]
    namespace = yaml.safe_load((BASE / "kustomization.yaml").read_text())["namespace"]
    for probe in probes.values():
        assert probe["spec"]["prober"]["url"] == f"blackbox.{namespace}.svc:{PORTS['blackbox']}"
    assert probes["blackbox-tasks"]["spec"]["targets"]["staticConfig"]["static"] == [
        f"http://tasks:{PORTS['tasks']}/api/tasks"
    ]


def test_every_blackbox_job_of_prometheus_has_its_probe(resources):
    """Each uptime SLI compose scrapes through blackbox (prometheus/prometheus.yml) is a
    Probe here: same job, module, target and interval, else its SLO has no data."""
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]
            if j.get("metrics_path") == "/probe"}  # fmt: skip
    assert {"blackbox-tasks", "blackbox-predictor"} <= set(jobs)
    probes = {p["spec"]["jobName"]: p["spec"] for p in of_kind(resources, "Probe").values()}
    assert set(probes) == set(jobs)
    for name, job in jobs.items():
        spec = probes[name]
        assert [spec["module"]] == job["params"]["module"], name
        (static,) = job["static_configs"]
        assert spec["targets"]["staticConfig"]["static"] == static["targets"], name
        assert spec["interval"] == job.get("scrape_interval", config["global"]["scrape_interval"])


def test_service_monitors_select_a_service_port(resources):
    services = of_kind(resources, "Service")
    for name, monitor in of_kind(resources, "ServiceMonitor").items():
        wanted = monitor["spec"]["selector"]["matchLabels"]
        chosen = [s for s in services.values()
                  if wanted.items() <= s["metadata"].get("labels", {}).items()]  # fmt: skip
        assert len(chosen) == 1, name
        port_names = {p["name"] for p in chosen[0]["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names, name


def test_tasks_scales_out_behind_a_disruption_budget(resources):
    tasks = workloads(resources)["tasks"]
    assert tasks["spec"]["replicas"] >= 3
    (pdb,) = of_kind(resources, "PodDisruptionBudget").values()
    assert pdb["spec"]["selector"] == tasks["spec"]["selector"]
    assert pdb["spec"]["maxUnavailable"] < tasks["spec"]["replicas"]
    # MongoDB, not a per-pod SQLite file, once there is more than one pod
    env = {e["name"]: e.get("value") for e in _container(tasks)["env"]}
    assert env["MONGO_URL"].startswith("mongodb://mongo:")
    mongo = workloads(resources)["mongo"]
    assert mongo["kind"] == "StatefulSet" and mongo["spec"]["volumeClaimTemplates"]


def test_admin_token_comes_from_a_secret_and_otlp_from_a_configmap(resources):
    for name in ("tasks", "predictor"):
        container = _container(workloads(resources)[name])
        token = next(e for e in container["env"] if e["name"] == "SLOLAB_ADMIN_TOKEN")
        assert token["valueFrom"]["secretKeyRef"]["name"] == "slolab-admin"
        # absent Secret: unset, so derived from the admin token (as compose's empty default)
        feedback = next(e for e in container["env"] if e["name"] == "SLOLAB_FEEDBACK_TOKEN")
        ref = {"name": "slolab-feedback", "key": "token", "optional": True}
        assert feedback["valueFrom"]["secretKeyRef"] == ref
        assert {"configMapRef": {"name": "slolab-config"}} in container["envFrom"]
    config = of_kind(resources, "ConfigMap")["slolab-config"]["data"]
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://jaeger:{PORTS['otlp-http']}"
    assert not of_kind(resources, "Secret"), "no secret is committed in the base"


@pytest.mark.parametrize(
    ("configmap", "key", "source"),
    [("blackbox-config", "blackbox.yml", "blackbox/blackbox.yml"),
     ("jaeger-config", "config.yaml", "jaeger/config.yaml")],
)  # fmt: skip
def test_config_copies_equal_the_stack_files(resources, configmap, key, source):
    assert of_kind(resources, "ConfigMap")[configmap]["data"][key] == (ROOT / source).read_text()


def test_locust_workers_load_the_repository_scenarios(resources):
    found = workloads(resources)
    for name in ("locust-master", "locust-worker"):
        pod = _pod(found[name])
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["loadgen"]["configMap"]["name"] == "slolab-loadgen"
        args = _container(found[name])["args"]
        assert args[:2] == ["-f", "/mnt/locust/loadgen/locustfile.py"]
    assert (ROOT / "loadgen" / "locustfile.py").is_file()
    assert found["locust-worker"]["spec"]["replicas"] >= 2


def test_kube_prometheus_stack_values_select_our_resources():
    values = yaml.safe_load((DEPLOY / "kube-prometheus-stack-values.yaml").read_text())
    spec = values["prometheus"]["prometheusSpec"]
    for selector in ("ruleSelectorNilUsesHelmValues", "serviceMonitorSelectorNilUsesHelmValues",
                     "probeSelectorNilUsesHelmValues"):  # fmt: skip
        assert spec[selector] is False, selector
    # the SLO rules sum the namespace away: alerts must not need a namespace matcher
    am = values["alertmanager"]["alertmanagerSpec"]
    assert am["alertmanagerConfigMatcherStrategy"] == {"type": "None"}
    # the longest SLO period fits in the retention
    assert spec["retention"] == "35d"
    uids = {d["uid"] for d in values["grafana"]["additionalDataSources"]}
    assert "jaeger" in uids


def test_docs_paths_exist():
    text = (ROOT / "docs" / "kubernetes.md").read_text()
    paths = set(re.findall(r"deploy/kubernetes[\w./-]*\w", text))
    assert {"deploy/kubernetes/overlays/kind",
            "deploy/kubernetes/kube-prometheus-stack-values.yaml"} <= paths  # fmt: skip
    assert [p for p in paths if not (ROOT / p).exists()] == []


def test_locustfile_imports_from_a_configmap_mount(resources, tmp_path):
    """A ConfigMap volume holds symlinks into a hidden ..data folder: the
    locustfile's own sys.path trick then misses the package; PYTHONPATH must not."""
    # not imported here: locust's gevent patching must not reach this process
    if importlib.util.find_spec("locust") is None:
        pytest.skip("locust not installed (the loadgen extra)")
    worker = workloads(resources)["locust-worker"]
    container = _container(worker)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "loadgen"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mount_dir = tmp_path / mount["mountPath"].lstrip("/")
    data = mount_dir / "..2026_11_26_00_00_00.000000000"
    data.mkdir(parents=True)
    (mount_dir / "..data").symlink_to(data.name)
    for source in sorted((ROOT / "loadgen").glob("*.py")):  # what --from-file=loadgen/ takes
        (data / source.name).write_text(source.read_text())
        (mount_dir / source.name).symlink_to(f"..data/{source.name}")
    locustfile = tmp_path / container["args"][1].lstrip("/")
    code = ("import importlib.util as u, sys; s = u.spec_from_file_location('lf', sys.argv[1]); "
            "s.loader.exec_module(u.module_from_spec(s))")  # fmt: skip
    run_env = {**os.environ, "PYTHONPATH": str(tmp_path / env["PYTHONPATH"].lstrip("/"))}
    proc = subprocess.run([sys.executable, "-c", code, str(locustfile)], cwd=tmp_path,
                          env=run_env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_the_receiver_patch_targets_the_generated_config(resources):
    # checked without kustomize too: a renamed config would leave the compose URL in
    from slolab.slo.generate.kubernetes import ALERTMANAGER_CONFIG_NAME

    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    (patch,) = [p for p in kustomization["patches"]
                if p["target"]["kind"] == "AlertmanagerConfig"]  # fmt: skip
    assert patch["target"]["name"] == ALERTMANAGER_CONFIG_NAME
    assert ALERTMANAGER_CONFIG_NAME in of_kind(resources, "AlertmanagerConfig")
    ops = yaml.safe_load(patch["patch"])
    assert ops[0] == {"op": "test", "path": "/spec/receivers/0/name", "value": "webhook"}
    (routes,) = of_kind(resources, "AlertmanagerConfig").values()
    assert routes["spec"]["receivers"][0]["name"] == "webhook"


@pytest.mark.parametrize("name", ["tasks", "predictor", "jaeger"])
def test_service_settings_equal_compose(resources, compose, name):
    container = _container(workloads(resources)[name])
    env = {e["name"]: e.get("value") for e in container.get("env", []) if "value" in e}
    for ref in container.get("envFrom", []):
        env.update(of_kind(resources, "ConfigMap")[ref["configMapRef"]["name"]]["data"])
    # the tokens come from Secrets; HEALTHCHECK_URL is for Docker's healthcheck only
    secrets = {e["name"] for e in container.get("env", []) if "valueFrom" in e}
    wanted = {k: v for k, v in compose[name]["environment"].items()
              if k not in secrets and k != "HEALTHCHECK_URL"}  # fmt: skip
    assert {k: env.get(k) for k in wanted} == wanted
    # only compose's credentials are taken from Secrets, and they default to empty there
    assert all(compose[name]["environment"][k] == f"${{{k}:-}}" for k in secrets), secrets


def test_dashboard_reads_the_operators_prometheus_and_the_slo_file(resources, compose):
    """As compose's dashboard, except Prometheus: the operator's, in its own namespace."""
    dashboard = workloads(resources)["dashboard"]
    container = _container(dashboard)
    env = {e["name"]: e.get("value") for e in container["env"]}
    twin = compose["dashboard"]
    assert container["args"] == twin["command"]
    for key in ("SLOLAB_SLO_FILE", "JAEGER_URL"):  # trace links: the port-forwarded UI
        assert env[key] == twin["environment"][key], key
    assert urlsplit(env["PROMETHEUS_URL"]).hostname == "prometheus-operated.monitoring.svc"
    (mount,) = [m for m in container["volumeMounts"]
                if env["SLOLAB_SLO_FILE"].startswith(m["mountPath"] + "/")]  # fmt: skip
    volume = next(v for v in _pod(dashboard)["volumes"] if v["name"] == mount["name"])
    # slos.yaml itself (docs/kubernetes.md: kubectl create configmap --from-file=slos.yaml)
    assert volume["configMap"]["name"] == "slolab-slos"
    assert env["SLOLAB_SLO_FILE"].rsplit("/", 1)[1] == "slos.yaml"
    port = int(twin["command"][twin["command"].index("--port") + 1])
    assert of_kind(resources, "Service")["dashboard"]["spec"]["ports"][0]["port"] == port


def _seconds(duration: str) -> int:
    m = re.fullmatch(r"(\d+)s", duration)
    assert m, duration
    return int(m[1])


def _compose_health_target(service: dict[str, Any]) -> tuple[str, int, str | None]:
    """What a compose healthcheck asks: ("http", port, path) or ("tcp", port, None)."""
    test = " ".join(service["healthcheck"]["test"])
    if "slolab-healthcheck" in test:  # our image's check GETs $HEALTHCHECK_URL
        url = service["environment"]["HEALTHCHECK_URL"]
    elif tcp := re.search(r"/dev/tcp/[\w.]+/(\d+)", test):
        return ("tcp", int(tcp[1]), None)
    else:
        found = re.search(r"http://[^\s'\"]+", test)
        assert found, test
        url = found[0]
    parts = urlsplit(url)
    assert parts.port, url
    return ("http", parts.port, parts.path)


def _probe_target(container: dict[str, Any], probe: dict[str, Any]) -> tuple[str, int, str | None]:
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    kind = "http" if "httpGet" in probe else "tcp"
    action = probe["httpGet"] if kind == "http" else probe["tcpSocket"]
    port = ports.get(action["port"], action["port"])
    return (kind, port, action.get("path"))


def test_readiness_probes_check_what_compose_healthchecks_check(resources, compose):
    checked = set()
    for name, w in workloads(resources).items():
        twin = compose[COMPOSE_TWIN[name]]
        container = _container(w)
        if "healthcheck" not in twin:
            assert "readinessProbe" not in container, name
            continue
        health, probe = twin["healthcheck"], container["readinessProbe"]
        assert _probe_target(container, probe) == _compose_health_target(twin), name
        # Kubernetes' defaults (1 s timeout) are stricter than compose's checks
        assert probe["periodSeconds"] == _seconds(health["interval"]), name
        assert probe["timeoutSeconds"] == _seconds(health["timeout"]), name
        assert probe["failureThreshold"] == health["retries"], name
        if "startupProbe" in container and "start_period" in health:
            startup = container["startupProbe"]
            budget = startup["periodSeconds"] * startup["failureThreshold"]
            assert budget >= _seconds(health["start_period"]), name
        checked.add(name)
    assert {"tasks", "predictor", "mongo", "alert-receiver", "jaeger"} <= checked


def test_grafana_values_follow_compose(compose):
    grafana = yaml.safe_load((DEPLOY / "kube-prometheus-stack-values.yaml").read_text())["grafana"]
    memory = grafana["resources"]
    assert memory["requests"]["memory"] == memory["limits"]["memory"]
    assert _mib(memory["limits"]["memory"]) == _mib(compose["grafana"]["mem_limit"])
    env = compose["grafana"]["environment"]
    assert env["GF_PLUGINS_PREINSTALL_DISABLED"] == "true"
    assert grafana["grafana.ini"]["plugins"]["preinstall_disabled"] is True


def test_docs_state_the_memory_the_base_requests(resources):
    total = sum(
        w["spec"]["replicas"] * _mib(_container(w)["resources"]["requests"]["memory"])
        for w in workloads(resources).values()
    )
    text = " ".join((ROOT / "docs" / "kubernetes.md").read_text().split())
    assert f"the base requests {total} MiB" in text
