"""OpenSLO v1 <-> slos.yaml (``slolab slo convert``): lossless round trips, the
spec's field reference as examples, and a refusal by name for what does not map."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from slolab import cli
from slolab.lab.config import repo_root
from slolab.slo import openslo
from slolab.slo.model import from_spec
from slolab.slo.spec import load_spec, parse_spec

ROOT = repo_root()
EXAMPLES = sorted((ROOT / "docs" / "examples" / "openslo").glob("*.yaml"))
SPECS = [
    ROOT / "slos.yaml",
    *sorted((ROOT / "tests" / "slo" / "golden").glob("in-*.yaml")),
    *sorted((ROOT / "tests" / "slo" / "validate" / "good").glob("*.yaml")),
]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_round_trip_is_lossless(path: Path) -> None:
    spec = load_spec(path)
    exported = openslo.to_openslo(spec, source=path.name)
    kinds = {d["kind"] for d in yaml.safe_load_all(exported.text)}
    assert {"DataSource", "Service", "SLO", "AlertPolicy"} <= kinds
    back = openslo.from_openslo([(exported.text, "exported.yaml")])
    assert back.warnings == []
    assert parse_spec(back.text) == spec


def test_export_names_each_workbook_condition_with_its_windows() -> None:
    docs = list(yaml.safe_load_all(openslo.to_openslo(load_spec(ROOT / "slos.yaml")).text))
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "AlertPolicy"}
    page = policies["slolab-page-1h-30d"]["spec"]["conditions"][0]
    assert page["spec"]["severity"] == "critical"
    assert page["spec"]["condition"] == {
        "kind": "burnrate", "op": "gt", "threshold": 14.4,
        "lookbackWindow": "1h", "alertAfter": "0m",
    }  # fmt: skip
    assert page["metadata"]["annotations"]["slolab.dev/short-window"] == "5m"
    # A 1-day SLO's 3-day condition scales to 2h24m: one number and one unit in OpenSLO.
    day = policies["slolab-ticket-2h24m-1d"]["spec"]["conditions"][0]["spec"]["condition"]
    assert day["lookbackWindow"] == "144m"
    accuracy = next(d for d in docs if d["metadata"]["name"] == "predictor-accuracy")
    refs = [p["alertPolicyRef"] for p in accuracy["spec"]["alertPolicies"]]
    # 14.4x cannot fire at 85% (14.4 x 15% > 100%): left out, as in the rules.
    assert "slolab-page-2m-1d" not in refs and "slolab-page-12m-1d" in refs


def _converted(path: Path) -> dict:
    result = openslo.from_openslo([(path.read_text(), path.name)])
    spec = parse_spec(result.text)
    from_spec(spec)  # the alert conditions must be possible too
    return {"spec": spec, "warnings": result.warnings}


def test_examples_cover_every_openslo_kind() -> None:
    kinds = set()
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            kinds.add(doc["kind"])
            for item in doc["spec"].get("alertPolicies", []):
                kinds.add(item.get("kind"))
    assert kinds >= set(openslo._BODIES)


def test_example_with_references_converts() -> None:
    out = _converted(ROOT / "docs/examples/openslo/checkout-availability.yaml")
    (slo,) = out["spec"].slos
    assert slo.sli.ratio.errors == 'http_requests_total{job="checkout", code=~"5.."}'
    assert (slo.objective, slo.period, slo.owner, slo.labels) == (
        99.9, "30d", "checkout-team", {"tier": "1"},
    )  # fmt: skip
    text = "\n".join(out["warnings"])
    # what slolab does on its own is said, not dropped silently
    assert "notificationTargets are not converted" in text
    assert "6x over 6h, 3x over 1d" in text


def test_example_latency_from_a_bucket_over_count_ratio() -> None:
    (slo,) = _converted(ROOT / "docs/examples/openslo/search-latency.yaml")["spec"].slos
    assert slo.sli.latency.histogram == "search_duration_seconds"
    assert slo.sli.latency.selector == 'job="search"'
    assert (slo.sli.latency.threshold_seconds, slo.period, slo.objective) == (0.25, "7d", 99)


def test_example_threshold_metric() -> None:
    (slo,) = _converted(ROOT / "docs/examples/openslo/queue-depth.yaml")["spec"].slos
    th = slo.sli.threshold
    assert (th.expr, th.op, th.value) == ('sum(mail_queue_messages{job="mail"})', "<", 1000)
    assert (slo.period, slo.objective) == ("1d", 99.5)


SLO_DOC = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: api
  annotations:
    slolab.dev/owner: team
    slolab.dev/review: '{"last_review": "2026-12-01"}'
spec:
  description: API answers
  service: api
  indicator:
    metadata: {name: api-errors}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'http_total{code="500"}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: http_total}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
"""


def _edit(old: str, new: str) -> str:
    assert old in SLO_DOC, old
    return SLO_DOC.replace(old, new)


POLICY = """\
  alertPolicies:
    - kind: AlertPolicy
      metadata: {name: p}
      spec:
        conditions:
          - kind: AlertCondition
            metadata: {name: c}
            spec:
              severity: %s
              condition: {kind: burnrate, op: %s, threshold: %s, lookbackWindow: %s%s}
"""


def _policy(severity="page", op="gt", threshold="14.4", window="1h", extra="") -> str:
    return SLO_DOC + POLICY % (severity, op, threshold, window, extra)


# (name, document, text on the line the error must name, words the message must contain)
BAD = [
    ("v1alpha", _edit("openslo/v1", "openslo/v1alpha"), "apiVersion",
     "SLO 'api': apiVersion: 'openslo/v1alpha' is not supported"),
    ("unknown-kind", _edit("kind: SLO", "kind: Budget"), "kind: Budget",
     "kind: 'Budget' is not an OpenSLO v1 kind"),
    ("unknown-field", _edit("  service: api", "  service: api\n  team: x"), "team: x",
     "spec.team: unknown field"),
    ("calendar", _edit("{duration: 30d, isRolling: true}",
                       "{duration: 1M, calendar: {startTime: 2026-01-01 00:00:00, "
                       "timeZone: UTC}}"), "duration: 1M",
     "spec.timeWindow[0].calendar: calendar-aligned windows are not supported"),
    ("month", _edit("duration: 30d", "duration: 1M"), "duration: 1M",
     "spec.timeWindow[0].duration: '1M': a rolling month"),
    ("period", _edit("duration: 30d", "duration: 14d"), "duration: 14d",
     "'14d' is not a supported period (30d, 28d, 7d, 1d)"),
    ("two-objectives", _edit("[{target: 0.99}]", "[{target: 0.99}, {target: 0.9}]"),
     "objectives:", "spec.objectives: 2 objectives: slolab has one objective per SLO"),
    ("raw-ratio", _edit("counter: true", "rawType: failure\n        raw: {metricSource: "
                        "{type: Prometheus, spec: {query: x}}}"), "raw:",
     "ratioMetric.raw: precomputed ratios"),
    ("ratio-timeslices", _edit("Occurrences", "RatioTimeslices"), "budgetingMethod",
     "RatioTimeslices with a ratioMetric"),
    ("datadog", _edit("{type: Prometheus, spec: {query: http_total}}",
                      "{type: Datadog, spec: {query: http_total}}"), "Datadog",
     "total.metricSource.type: 'Datadog': slolab reads Prometheus only"),
    ("not-a-selector", _edit("query: http_total}", "query: 'histogram_quantile(0.9, x)'}"),
     "histogram_quantile", "give a series selector"),
    ("grouped-sum", _edit("query: http_total}", "query: 'sum by (pod) (rate(x[5m]))'}"),
     "sum by", "sums over all series"),
    ("no-owner", _edit("    slolab.dev/owner: team\n", ""), "annotations:",
     "metadata.annotations.slolab.dev/owner: required"),
    ("two-label-values", _edit("  annotations:", "  labels: {team: [a, b]}\n  annotations:"),
     "labels:", "metadata.labels.team: 2 values"),
    ("not-workbook", _policy(threshold="2"), "condition: {",
     "conditions[0].spec.condition: burn rate 2x over 1h is not a condition slolab generates "
     "for a 30d period at 99% (the Workbook's: 14.4x over 1h, 6x over 6h"),
    ("severity-swapped", _policy(severity="ticket"), "severity:",
     "spec.severity: 'ticket': slolab's 14.4x over 1h condition is a critical alert"),
    ("alert-after", _policy(extra=", alertAfter: 5m"), "condition: {",
     "condition.alertAfter: '5m': slolab's burn alerts have no for:"),
    ("below", _policy(op="lt"), "condition: {", "condition.op: 'lt': a burn-rate alert fires"),
    ("unknown-severity", _policy(severity="sev1"), "severity:", "'sev1': slolab has page"),
    ("bad-short-window", _policy().replace("metadata: {name: c}",
                                           "metadata: {name: c, annotations: "
                                           "{slolab.dev/short-window: 10m}}"), "short-window",
     "conditions[0].metadata.annotations.slolab.dev/short-window: '10m': the short window "
     "of this condition is 5m"),
    ("duplicate-key", _edit("  service: api", "  service: api\n  service: web"),
     "service: web", "invalid YAML: duplicate key 'service'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "marker", "words"), BAD, ids=[b[0] for b in BAD])
def test_what_does_not_map_is_refused_by_name(name, text, marker, words) -> None:
    line = next(n for n, t in enumerate(text.splitlines(), 1) if marker in t)
    with pytest.raises(openslo.ConvertError) as exc:
        openslo.from_openslo([(text, "in.yaml")])
    message = str(exc.value)
    assert message.startswith(f"in.yaml:{line}:"), message
    assert words in message, message


def test_missing_reference() -> None:
    text = SLO_DOC.replace(
        textwrap.indent(
            "indicator:\n  metadata: {name: api-errors}\n  spec:\n    ratioMetric:\n"
            "      counter: true\n"
            "      bad: {metricSource: {type: Prometheus, spec: "
            "{query: 'http_total{code=\"500\"}'}}}\n"
            "      total: {metricSource: {type: Prometheus, spec: {query: http_total}}}\n",
            "  ",
        ),
        "  indicatorRef: nowhere\n",
    )
    assert "indicatorRef: nowhere" in text
    with pytest.raises(openslo.ConvertError, match=r"in.yaml:\d+: SLO 'api': spec.indicatorRef: "
                       "no SLI named 'nowhere'"):  # fmt: skip
        openslo.from_openslo([(text, "in.yaml")])


def test_file_wide_settings_must_agree_between_slos() -> None:
    spec = load_spec(ROOT / "slos.yaml")
    text = openslo.to_openslo(spec).text
    docs = list(yaml.safe_load_all(text))
    second = [d for d in docs if d["kind"] == "SLO"][1]
    second["metadata"]["annotations"]["slolab.dev/policy"] = '{"min_coverage": 0}'
    with pytest.raises(openslo.ConvertError, match="differs between SLOs"):
        openslo.from_openslo([(yaml.safe_dump_all(docs), "x.yaml")])


def test_exact_sli_annotation_must_describe_the_indicator() -> None:
    docs = list(yaml.safe_load_all(openslo.to_openslo(load_spec(ROOT / "slos.yaml")).text))
    latency = next(d for d in docs if d["metadata"]["name"] == "tasks-latency")
    latency["metadata"]["annotations"]["slolab.dev/sli"] = latency["metadata"]["annotations"][
        "slolab.dev/sli"
    ].replace('"threshold_seconds": 0.5', '"threshold_seconds": 1.0')
    with pytest.raises(openslo.ConvertError, match=r"slolab\.dev/sli: does not describe"):
        openslo.from_openslo([(yaml.safe_dump_all(docs), "x.yaml")])


def test_threshold_operators_openslo_lacks_are_refused_on_export() -> None:
    spec = parse_spec(
        textwrap.dedent("""\
            slos:
              - name: up
                service: api
                description: d
                owner: o
                sli: {threshold: {expr: up, op: "==", value: 1}}
                objective: 99
                review: {last_review: 2026-12-01}
            """)
    )
    with pytest.raises(openslo.ConvertError, match="'==': OpenSLO's operators are lt, lte"):
        openslo.to_openslo(spec)


def test_cli_both_ways(tmp_path, capsys) -> None:
    out = tmp_path / "openslo.yaml"
    assert cli.main(["slo", "convert", "--to", "openslo", "-f", str(ROOT / "slos.yaml"),
                     "-o", str(out)]) == 0  # fmt: skip
    back = tmp_path / "slos.yaml"
    assert cli.main(["slo", "convert", "--from", "openslo", str(out), "-o", str(back)]) == 0
    assert load_spec(back) == load_spec(ROOT / "slos.yaml")
    assert cli.main(["slo", "validate", "-f", str(back)]) == 0


def test_cli_errors_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SLO_DOC.replace("duration: 30d", "duration: 1M"))
    assert cli.main(["slo", "convert", "--from", "openslo", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:18: SLO 'api': spec.timeWindow[0].duration" in err
    assert cli.main(["slo", "convert", "--from", "openslo", str(tmp_path / "none.yaml")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_cli_from_openslo_needs_no_slo_file(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("SLOLAB_SLO_FILE", raising=False)
    monkeypatch.chdir(tmp_path)  # no slos.yaml here or above
    example = ROOT / "docs/examples/openslo/queue-depth.yaml"
    assert cli.main(["slo", "convert", "--from", "openslo", str(example)]) == 0
    assert "mail-queue-depth" in capsys.readouterr().out


def test_further_periods_travel_as_an_annotation() -> None:
    """OpenSLO has one timeWindow: the first period; the others ride in slolab.dev/periods."""
    spec = load_spec(ROOT / "tests" / "slo" / "golden" / "in-windows.yaml")
    docs = list(yaml.safe_load_all(openslo.to_openslo(spec).text))
    slo = next(d for d in docs if d["metadata"]["name"] == "orders-availability")
    assert slo["spec"]["timeWindow"] == [{"duration": "7d", "isRolling": True}]
    assert slo["metadata"]["annotations"][openslo.A_PERIODS] == '["1d"]'
    slo["metadata"]["annotations"][openslo.A_PERIODS] = '"1d"'
    with pytest.raises(openslo.ConvertError, match=r"slolab\.dev/periods: a JSON list"):
        openslo.from_openslo([(yaml.safe_dump_all(docs), "x.yaml")])
    slo["metadata"]["annotations"][openslo.A_PERIODS] = '["7d"]'  # the timeWindow again
    with pytest.raises(openslo.ConvertError, match="periods: 7d is listed twice"):
        openslo.from_openslo([(yaml.safe_dump_all(docs), "x.yaml")])
