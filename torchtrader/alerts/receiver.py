"""A loopback webhook receiver: what an apprise ``json://127.0.0.1:PORT`` URL delivers to.

For tests and for trying a bot's alert settings by hand; it records every POSTed JSON payload.

    with WebhookReceiver() as hook:
        send_alert([hook.url], title="t", body="b", kind="fill")
        hook.wait_for(1)[0]["title"]  # "t"
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 (a free port) that keeps the JSON bodies it is sent.

    ``status`` is the HTTP status it answers with: set it to 500 to play a failing webhook.
    """

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.payloads: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver._arrived:
                    receiver.paths.append(self.path)
                    receiver.payloads.append(json.loads(raw or b"{}"))
                    receiver._arrived.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test output is no place for an access log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The apprise URL that delivers here."""
        return f"json://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """The payloads once at least ``count`` arrived (or what arrived within ``timeout_s``)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.payloads) >= count, timeout=timeout_s)
            return list(self.payloads)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
