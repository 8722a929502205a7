"""The base of the tests' small fake HTTP services (a Stripe that fails, answers oddly, ...)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """Answers JSON and logs nothing (a test reads what its fake received, not stderr)."""

    def send_json(self, status: int, body: Any) -> None:
        self.send_body(status, json.dumps(body).encode())

    def send_body(self, status: int, data: bytes, content_type: str = "application/json") -> None:
        """`data` as given, even when it is not the JSON its Content-Type says (a forged service)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass
