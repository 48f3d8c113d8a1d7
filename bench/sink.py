"""An OTLP/HTTP endpoint that accepts spans and throws them away (export cost, no collector)."""

from __future__ import annotations

import threading

from slolab.lab.httpserve import BackgroundHTTPServer, QuietHandler

__all__ = ["DiscardingSink"]


class DiscardingSink(BackgroundHTTPServer):
    """Answers every POST with 200 and an empty protobuf body; counts bytes and batches.

    Nothing is decoded: a real collector runs elsewhere, so only the services' side
    of exporting (serialising, compressing, posting) should cost CPU here.
    """

    def __init__(self) -> None:
        self.batches = 0
        self.bytes = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

            def do_POST(self) -> None:
                size = len(self.read_body())
                with sink._lock:
                    sink.batches += 1
                    sink.bytes += size
                # An empty ExportTraceServiceResponse.
                self.reply(200, b"", "application/x-protobuf")

        super().__init__(Handler)
        self.endpoint = self.base_url
