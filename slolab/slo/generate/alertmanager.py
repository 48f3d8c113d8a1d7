"""Alertmanager configuration: routes by severity, grouping per SLO, inhibition.

- ``alertmanager.yml``: critical → PagerDuty, warning → Slack,
  and every alert also → the webhook. The PagerDuty routing key and the Slack
  webhook URL are read from files (``routing_key_file``, ``api_url_file``,
  both supported by Alertmanager 0.25) in a mounted secrets directory, so no
  secret is ever committed; with the files absent only those two receivers
  fail (and are counted in ``alertmanager_notifications_failed_total``).
The native lab renders its own copy of this file with every receiver
redirected to its webhook (``slolab.lab.render``), so there is no offline
variant: ``alertmanager.local.yml``, written by earlier versions, is removed
as obsolete.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slolab.slo import conventions as c
from slolab.slo.generate.output import GenerateOptions, Output, header, to_yaml
from slolab.slo.model import SLO

__all__ = ["OUTPUT", "PRODUCTION_PATH", "config", "render"]

PRODUCTION_PATH = "alertmanager/alertmanager.yml"
_OBSOLETE_LOCAL_PATH = "alertmanager/alertmanager.local.yml"
PAGERDUTY_KEY_FILE = "pagerduty-routing-key"
SLACK_URL_FILE = "slack-webhook-url"

_GROUPING = {
    "group_by": ["alertname", c.LABEL_SLO, c.LABEL_SERVICE],
    "group_wait": "30s",
    "group_interval": "5m",
    "repeat_interval": "4h",
}


def _webhook(options: GenerateOptions) -> dict[str, Any]:
    return {
        "name": "webhook",
        "webhook_configs": [{"url": options.webhook_url, "send_resolved": True}],
    }


def _inhibit() -> list[dict[str, Any]]:
    # A page already says the SLO is burning: its ticket would be noise.
    return [
        {
            "source_matchers": [f'alertname="{c.ALERT_PAGE}"', f'severity="{c.SEVERITY_PAGE}"'],
            "target_matchers": [
                f'alertname="{c.ALERT_TICKET}"',
                f'severity="{c.SEVERITY_TICKET}"',
            ],
            "equal": [c.LABEL_SLO],
        }
    ]


def config(options: GenerateOptions, production: bool) -> dict[str, Any]:
    """The Alertmanager configuration as a dict."""
    route: dict[str, Any] = {"receiver": "webhook", **_GROUPING}
    receivers = [_webhook(options)]
    if production:
        secrets = options.secrets_dir.rstrip("/")
        route["routes"] = [
            # continue: the catch-all below also sends every alert to the webhook.
            {
                "receiver": "pagerduty",
                "matchers": [f'severity="{c.SEVERITY_PAGE}"'],
                "repeat_interval": "1h",
                "continue": True,
            },
            {
                "receiver": "slack",
                "matchers": [f'severity="{c.SEVERITY_TICKET}"'],
                "repeat_interval": "12h",
                "continue": True,
            },
            {"receiver": "webhook"},
        ]
        receivers += [
            {
                "name": "pagerduty",
                "pagerduty_configs": [
                    {
                        "routing_key_file": f"{secrets}/{PAGERDUTY_KEY_FILE}",
                        "severity": "{{ .CommonLabels.severity }}",
                        "description": "{{ .CommonAnnotations.summary }}",
                        "details": {
                            "description": "{{ .CommonAnnotations.description }}",
                            "runbook_url": "{{ .CommonAnnotations.runbook_url }}",
                        },
                        "send_resolved": True,
                    }
                ],
            },
            {
                "name": "slack",
                "slack_configs": [
                    {
                        "api_url_file": f"{secrets}/{SLACK_URL_FILE}",
                        "title": "{{ .CommonAnnotations.summary }}",
                        "text": "{{ .CommonAnnotations.description }}",
                        "title_link": "{{ .CommonAnnotations.runbook_url }}",
                        "send_resolved": True,
                    }
                ],
            },
        ]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": route,
        "inhibit_rules": _inhibit(),
        "receivers": receivers,
    }


def render(slos: Sequence[SLO], options: GenerateOptions) -> dict[str, str]:
    del slos  # routing is by labels, the same for every SLO
    prod_note = [
        f"Secrets: {options.secrets_dir}/{PAGERDUTY_KEY_FILE} and "
        f"{options.secrets_dir}/{SLACK_URL_FILE} (mounted, never committed).",
    ]
    return {PRODUCTION_PATH: to_yaml(config(options, True), header(options, prod_note))}


OUTPUT = Output(
    name="alertmanager",
    render=render,
    owns=(PRODUCTION_PATH, _OBSOLETE_LOCAL_PATH),
    description="Alertmanager routes",
)
