"""Reports delivered: a PDF with the charts, a Slack incoming webhook, e-mail over SMTP.

- PDF: fpdf2 (pure Python, installs from PyPI alone; no system libraries as
  WeasyPrint's pango would need). The charts are the report's own inline SVG,
  which fpdf2 draws as vectors.
- Slack: one POST of ``{"text": ...}`` to an incoming webhook.
- E-mail: ``smtplib`` with STARTTLS (refused without it unless switched off),
  login when a user is set; the HTML report as the body, markdown as the
  plain-text part, the PDF attached.

Settings come from the environment (README, "Configuration"); each secret
also from a file (``*_FILE``) so it never sits in a crontab or a process list.
"""

from __future__ import annotations

import io
import os
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import httpx

from slolab.slo.report.analysis import Report
from slolab.slo.report.html import to_html
from slolab.slo.report.markdown import to_markdown
from slolab.slo.report.svg import chart_svgs
from slolab.slo.report.text import facts, summary_table
from slolab.slo.views import percent

__all__ = [
    "DeliveryError",
    "EmailSettings",
    "pdf_bytes",
    "send_email",
    "send_slack",
    "slack_text",
    "slack_webhook_url",
    "write_pdf",
]

ENV_SLACK = "SLOLAB_SLACK_WEBHOOK_URL"


class DeliveryError(RuntimeError):
    """A report could not be delivered; the message says where and why."""


def _setting(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """``$NAME``, else the content of the file ``$NAME_FILE``, else ``default``."""
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DeliveryError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return default


# --- PDF ---------------------------------------------------------------------------------

# Written as escapes: em/en dash, multiplication, division, minus, >=, <=, ellipsis, quotes.
_LATIN1 = str.maketrans({
    "\u2014": "-", "\u2013": "-", "\u00d7": "x", "\u00f7": "/", "\u2212": "-", "\u2265": ">=",
    "\u2264": "<=", "\u2026": "...", "\u2019": "'", "\u201c": '"', "\u201d": '"',
})  # fmt: skip


def _text(value: str) -> str:
    # The PDF core fonts are Latin-1: map the few other characters reports use.
    return value.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def pdf_bytes(report: Report) -> bytes:
    """The report as a PDF: summary table, then per SLO its facts, charts and findings."""
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.cell(0, 10, "SLO report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=9)
    pdf.cell(0, 6, _text(f"Generated {report.generated_at:%Y-%m-%d %H:%M UTC} from "
                         f"{report.source}"), new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    head, rows = summary_table(report)
    pdf.set_font("helvetica", size=8)
    with pdf.table(text_align="LEFT") as table:
        for values in [head, *rows]:
            row = table.row()
            for v in values:
                row.cell(_text(v))
    charts = chart_svgs(report)
    for r in report.slos:
        pdf.add_page()
        pdf.set_font("helvetica", "B", 13)
        pdf.cell(0, 8, _text(r.slo.name), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=9)
        pdf.multi_cell(0, 5, _text(f"{r.slo.description} (owner: {r.slo.owner})"),
                       new_x="LMARGIN", new_y="NEXT")  # fmt: skip
        for fact in facts(r):
            pdf.multi_cell(0, 5, _text(f"- {fact}"), new_x="LMARGIN", new_y="NEXT")
        y = pdf.get_y() + 2
        for i, svg in enumerate(charts[r.slo.name]):
            pdf.image(io.BytesIO(svg.encode()), x=10 + i * 140, y=y, w=135)
        pdf.set_y(y + 62)
        pdf.set_font("helvetica", "B", 10)
        pdf.cell(0, 6, f"Violations: {len(r.violations)}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=9)
        for v in r.violations[:20]:
            line = (f"- {v.start:%Y-%m-%d %H:%M} to {v.end:%Y-%m-%d %H:%M} UTC: worst SLI "
                    f"{percent(v.worst_sli)}, "
                    f"budget spent {percent(v.budget_spent, 1)}")  # fmt: skip
            pdf.cell(0, 5, _text(line), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", "B", 10)
        pdf.cell(0, 6, "Recommendations", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=9)
        for rec in r.recommendations:
            pdf.multi_cell(0, 5, _text(f"- {rec}"), new_x="LMARGIN", new_y="NEXT")
    if report.incidents is not None:
        from slolab.slo.report.incidents import SUMMARY_HEAD, summary_rows

        pdf.add_page()
        pdf.set_font("helvetica", "B", 13)
        pdf.cell(0, 8, "Incidents", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=9)
        if not report.incidents:
            pdf.cell(0, 6, "No page or ticket fired in the report's window.")
        else:
            pdf.set_font("helvetica", size=8)
            with pdf.table(text_align="LEFT") as table:
                for values in [SUMMARY_HEAD, *summary_rows(report.incidents)]:
                    row = table.row()
                    for v in values:
                        row.cell(_text(v))
    return bytes(pdf.output())


def write_pdf(report: Report, path: Path) -> Path:
    path.write_bytes(pdf_bytes(report))
    return path


# --- Slack -------------------------------------------------------------------------------


def slack_webhook_url(env: Mapping[str, str] | None = None) -> str:
    url = _setting(os.environ if env is None else env, ENV_SLACK)
    if not url:
        raise DeliveryError(f"no Slack webhook: set {ENV_SLACK} or {ENV_SLACK}_FILE")
    return url


def slack_text(report: Report) -> str:
    """Slack mrkdwn: one line per SLO, then the incidents."""
    lines = [f"*SLO report* ({report.generated_at:%Y-%m-%d %H:%M} UTC)"]
    for r in report.slos:
        sli, left = percent(r.sli), percent(r.budget_remaining, 1)
        mark = {"met": "OK", "missed": "MISSED", "no data": "NO DATA"}[r.status]
        lines.append(f"• *{r.slo.name}* {mark}: SLI {sli} (objective "
                     f"{percent(r.slo.objective, None)}), budget left {left}, "
                     f"{len(r.violations)} violation(s)")  # fmt: skip
    if report.incidents:
        lines.append(f"*Incidents:* {len(report.incidents)}")
        lines += [f"• {i.id} ({i.severity}): {', '.join(i.slos)}" for i in report.incidents]
    return "\n".join(lines)


def send_slack(report: Report, url: str, timeout: float = 10.0) -> None:
    """POST the summary to a Slack incoming webhook; raise DeliveryError on failure."""
    where = re.sub(r"(https?://[^/]+).*", r"\1/…", url)  # never print the secret path
    try:
        resp = httpx.post(url, json={"text": slack_text(report)}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"Slack webhook at {where}: {exc}") from None
    if resp.status_code != 200:
        raise DeliveryError(f"Slack webhook at {where} answered {resp.status_code}: "
                            f"{resp.text[:200]}")  # fmt: skip


# --- e-mail -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailSettings:
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    ca_file: str | None = None  # a private CA (tests, internal relays); else the system's
    timeout: float = 30.0

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, recipients: Sequence[str] | None = None
    ) -> EmailSettings:
        """From ``SLOLAB_SMTP_*`` and ``SLOLAB_REPORT_TO``; secrets also from ``*_FILE``."""
        env = os.environ if env is None else env
        host = _setting(env, "SLOLAB_SMTP_HOST")
        if not host:
            raise DeliveryError("no SMTP server: set SLOLAB_SMTP_HOST")
        to = list(recipients) if recipients else [
            a.strip() for a in (_setting(env, "SLOLAB_REPORT_TO") or "").split(",") if a.strip()
        ]  # fmt: skip
        if not to:
            raise DeliveryError("no recipients: set SLOLAB_REPORT_TO (comma-separated)")
        user = _setting(env, "SLOLAB_SMTP_USER")
        port = _setting(env, "SLOLAB_SMTP_PORT", "587") or "587"
        if not port.isdigit():
            raise DeliveryError(f"SLOLAB_SMTP_PORT: {port!r} is not a port number")
        starttls = (_setting(env, "SLOLAB_SMTP_STARTTLS", "1") or "1").lower()
        return cls(
            host=host,
            port=int(port),
            sender=_setting(env, "SLOLAB_SMTP_FROM") or user or f"slolab@{host}",
            recipients=tuple(to),
            username=user,
            password=_setting(env, "SLOLAB_SMTP_PASSWORD"),
            starttls=starttls not in ("0", "false", "no", "off"),
            ca_file=_setting(env, "SLOLAB_SMTP_CA_FILE"),
        )


def message(report: Report, settings: EmailSettings) -> EmailMessage:
    msg = EmailMessage()
    missed = sum(r.status == "missed" for r in report.slos)
    msg["Subject"] = (f"SLO report {report.generated_at:%Y-%m-%d}: {len(report.slos)} SLOs, "
                      f"{missed} missed")  # fmt: skip
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients)
    msg.set_content(to_markdown(report))
    msg.add_alternative(to_html(report), subtype="html")
    msg.add_attachment(pdf_bytes(report), maintype="application", subtype="pdf",
                       filename=f"slo-report-{report.generated_at:%Y-%m-%d}.pdf")  # fmt: skip
    return msg


def send_email(report: Report, settings: EmailSettings) -> None:
    """Send the report; STARTTLS before any login; raise DeliveryError on failure."""
    where = f"SMTP server {settings.host}:{settings.port}"
    msg = message(report, settings)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            smtp.ehlo()
            if settings.starttls:
                if not smtp.has_extn("starttls"):
                    hint = "set SLOLAB_SMTP_STARTTLS=0 only for a local relay"
                    raise DeliveryError(f"{where} does not offer STARTTLS ({hint})")
                smtp.starttls(context=ssl.create_default_context(cafile=settings.ca_file))
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(msg)
    except DeliveryError:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"{where}: {exc}") from None
