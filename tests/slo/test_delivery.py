"""Report delivery: PDF with charts, Slack webhook and SMTP+STARTTLS, all on loopback."""

from __future__ import annotations

import json
import re
import ssl
import zlib
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as email_policy

import pytest

from slolab.cli import main
from slolab.lab.httpserve import BackgroundHTTPServer, QuietHandler
from slolab.lab.procs import free_port
from slolab.slo import delivery as d
from slolab.slo.report.analysis import Report, analyse
from tests.slo.fake_prometheus import matrix

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def report(toolkit_slos):
    step, start = timedelta(hours=6), END - timedelta(days=30)
    times = [start.timestamp() + step.total_seconds() * (i + 1) for i in range(120)]
    total = dict.fromkeys(times, 1000.0)
    good = {t: 1000.0 - (100.0 if i in (10, 11) else 0.0) for i, t in enumerate(times)}
    r = analyse(toolkit_slos[0], start, END, step, good, total)
    return Report(END, "http://prometheus.test", (r,), incidents=())


def _streams(pdf: bytes) -> bytes:
    out = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return b"\n".join(out)


def test_pdf_holds_the_tables_and_both_charts(report, tmp_path):
    path = d.write_pdf(report, tmp_path / "r.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    text = _streams(data)
    assert b"(SLI per 6h) Tj" in text and b"(Error budget left) Tj" in text  # the SVG charts
    assert b"tasks-availability" in text and b"Recommendations" in text
    assert b"No page or ticket fired" in text
    assert b" l " in text  # chart lines drawn as vectors


class _Receiver(QuietHandler):
    bodies: list[bytes] = []
    status = 200

    def do_POST(self) -> None:
        self.bodies.append(self.read_body())
        self.reply(self.status, b"ok" if self.status == 200 else b"no_such_hook", "text/plain")


@pytest.fixture
def webhook():
    _Receiver.bodies, _Receiver.status = [], 200
    with BackgroundHTTPServer(_Receiver) as server:
        yield f"{server.base_url}/services/T000/B000/secret"


def test_slack_webhook(report, webhook):
    d.send_slack(report, webhook)
    (body,) = _Receiver.bodies
    text = json.loads(body)["text"]
    assert "*tasks-availability* MISSED: SLI 99.833%" in text and "budget left -66.7%" in text
    _Receiver.status = 404
    with pytest.raises(d.DeliveryError, match="answered 404") as exc:
        d.send_slack(report, webhook)
    assert "secret" not in str(exc.value)  # the webhook path is the credential


def test_settings_from_env_and_files(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    env = {"SLOLAB_SMTP_HOST": "mail.test", "SLOLAB_SMTP_USER": "bot@test",
           "SLOLAB_SMTP_PASSWORD_FILE": str(secret),
           "SLOLAB_REPORT_TO": "a@test, b@test"}  # fmt: skip
    s = d.EmailSettings.from_env(env)
    assert (s.host, s.port, s.password, s.recipients, s.sender, s.starttls) == (
        "mail.test", 587, "s3cret", ("a@test", "b@test"), "bot@test", True)  # fmt: skip
    assert "s3cret" not in repr(s)
    with pytest.raises(d.DeliveryError, match="SLOLAB_SMTP_HOST"):
        d.EmailSettings.from_env({})
    with pytest.raises(d.DeliveryError, match="recipients"):
        d.EmailSettings.from_env({"SLOLAB_SMTP_HOST": "x"})
    with pytest.raises(d.DeliveryError, match="cannot read"):
        d.EmailSettings.from_env({**env, "SLOLAB_SMTP_PASSWORD_FILE": str(tmp_path / "none")})


@pytest.fixture
def smtp_server(tmp_path):
    """aiosmtpd on loopback: STARTTLS required before AUTH, certificate from a test CA."""
    trustme = pytest.importorskip("trustme")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    class Handler:
        messages: list[tuple[str, list[str], bytes]] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
            return "250 OK"

    def authenticate(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"bot", b"pw"))

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            tls_context=context, require_starttls=True,
                            authenticator=authenticate, auth_require_tls=True)  # fmt: skip
    controller.start()
    yield controller, handler, ca_file
    controller.stop()


def test_email_over_starttls_with_login(report, smtp_server):
    controller, handler, ca_file = smtp_server
    settings = d.EmailSettings("127.0.0.1", "bot@test", ("sre@test",), port=controller.port,
                               username="bot", password="pw", ca_file=str(ca_file))  # fmt: skip
    d.send_email(report, settings)
    ((sender, rcpts, raw),) = handler.messages
    assert sender == "bot@test" and rcpts == ["sre@test"]
    msg = message_from_bytes(raw, policy=email_policy)
    assert msg["Subject"] == "SLO report 2026-11-23: 1 SLOs, 1 missed"
    types = [part.get_content_type() for part in msg.walk()]
    assert "text/plain" in types and "text/html" in types and "application/pdf" in types
    pdf = next(p for p in msg.walk() if p.get_content_type() == "application/pdf")
    assert pdf.get_content().startswith(b"%PDF-")

    untrusted = d.EmailSettings("127.0.0.1", "bot@test", ("sre@test",), port=controller.port,
                                username="bot", password="pw")  # fmt: skip
    with pytest.raises(d.DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        d.send_email(report, untrusted)  # the system CAs do not know the test CA
    assert len(handler.messages) == 1


def test_cli_report_send_by_email_and_slack(fake_prom, toolkit_slos_file, smtp_server, webhook,
                                            monkeypatch, tmp_path, capsys):  # fmt: skip
    controller, handler, ca_file = smtp_server
    password = tmp_path / "smtp-password"
    password.write_text("pw")
    for key, value in {
        "SLOLAB_SMTP_HOST": "127.0.0.1", "SLOLAB_SMTP_PORT": str(controller.port),
        "SLOLAB_SMTP_USER": "bot", "SLOLAB_SMTP_PASSWORD_FILE": str(password),
        "SLOLAB_SMTP_CA_FILE": str(ca_file), "SLOLAB_REPORT_TO": "sre@test",
        "SLOLAB_SLACK_WEBHOOK_URL": webhook,
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    fake_prom.route = lambda path, params: matrix()
    argv = ["slo", "report", "-f", str(toolkit_slos_file), "--prometheus", fake_prom.url,
            "--calendar", "month", "--end", END.isoformat(), "--send"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "sent the report by e-mail to sre@test" in out and "sent the report by Slack" in out
    assert len(handler.messages) == 1 and len(_Receiver.bodies) == 1
    _Receiver.status = 500
    assert main(argv) == 1  # cron sees the failure
    assert "answered 500" in capsys.readouterr().err

    out_pdf = tmp_path / "r.pdf"
    assert main([*argv[:-1], "--format", "pdf", "-o", str(out_pdf)]) == 0
    assert out_pdf.read_bytes().startswith(b"%PDF-")
