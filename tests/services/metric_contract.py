"""Check one /metrics text against the metric families slolab/contract.py promises."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from slolab.contract import metrics_of


def assert_exposes_contract(service: str, text: str) -> None:
    """Every family of ``service`` is in ``text`` with its type and exactly its labels."""
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for metric in metrics_of(service):
        # the parser names a counter's family without its _total suffix
        base = metric.name.removesuffix("_total") if metric.type == "counter" else metric.name
        assert base in families, metric.name
        family = families[base]
        assert family.type == metric.type, metric.name
        samples = [s for s in family.samples if s.name.startswith(metric.name)]
        assert samples, f"{metric.name}: no sample"
        for sample in samples:
            assert set(sample.labels) - {"le"} == set(metric.labels), (metric.name, sample)
