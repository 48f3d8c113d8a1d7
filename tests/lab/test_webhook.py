import httpx

from slolab.lab.webhook import AlertReceiver, format_notification

PAYLOAD = {
    "receiver": "pagerduty",
    "status": "firing",
    "groupLabels": {"slo": "tasks-availability"},
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "SLOErrorBudgetBurnPage",
                "slo": "tasks-availability",
                "severity": "critical",
            },
            "annotations": {"summary": "tasks-availability burns its budget"},
        }
    ],
}


def test_receiver_keeps_notifications_and_calls_back():
    seen = []
    with AlertReceiver(on_notification=seen.append) as rcv:
        resp = httpx.post(rcv.url, json=PAYLOAD, timeout=5)
        assert resp.status_code == 200
        note = rcv.wait_for(lambda n: n.has(status="firing", slo="tasks-availability"), 5)
        assert note is not None and note.receiver == "pagerduty"
        assert seen == [note]
        assert rcv.wait_for(lambda n: n.has(status="resolved"), 0.2) is None


def test_receiver_rejects_what_is_not_json():
    with AlertReceiver() as rcv:
        resp = httpx.post(rcv.url, content=b"not json", timeout=5)
        assert resp.status_code == 400
        assert rcv.notifications == []


def test_format_marks_pages():
    with AlertReceiver() as rcv:
        httpx.post(rcv.url, json=PAYLOAD, timeout=5)
        line = format_notification(rcv.notifications[0])
    assert "FIRING" in line and "PAGE" in line and "slo=tasks-availability" in line
    assert "-> pagerduty" in line


def test_format_stamps_iso_8601_utc_with_offset():
    from dataclasses import replace
    from datetime import UTC, datetime

    with AlertReceiver() as rcv:
        httpx.post(rcv.url, json=PAYLOAD, timeout=5)
        received = rcv.notifications[0]
    at = replace(received, received_at=1_795_000_000.75)
    stamp = format_notification(at).split(" ", 1)[0]
    assert stamp == "2026-11-18T11:06:40+00:00"
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0
    assert parsed == datetime.fromtimestamp(1_795_000_000, UTC)
