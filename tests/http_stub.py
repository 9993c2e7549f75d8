"""A helper for the tests' local HTTP stand-ins (127.0.0.1 only)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


def send_json(handler: BaseHTTPRequestHandler, reply: Any, status: int = 200) -> None:
    """Answer with ``reply`` as JSON (or as given, when it is already bytes)."""
    payload = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
