"""The review app's HTTP server: the standard library's ``ThreadingHTTPServer``.

Measured here: about 1 ms per JSON request (starlette + uvicorn 0.5 ms), both far below the
150 ms a next sample may take, so no dependency is added; video seeking needs ranges, which
``_send_file`` serves.

Safe by default:

- it binds 127.0.0.1; another address needs a token, then asked of every request (a
  ``?token=`` on the page's address sets a cookie);
- it answers only its own routes, and sends files only from under the run's output
  (resolved, so no ``..`` or symlink leads out); clips are named by a hash, never by text;
- the page sets every text from a clip as text, never as markup;
- a write needs the page's token in a header, a JSON body and, when the browser says
  where it comes from, the page's own origin; a decision's label must be in the label set;
- a ``Host`` other than the server's own is refused (DNS rebinding).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from merr_factory.curation.review_log import DecisionLog, ReviewLogError, SampleReview
from merr_factory.dataset.entry import ExportEntry
from merr_factory.review.queue import ORDERS, QueueFilter, QueueRow, ordered, queue_row

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_HEADER = "X-Review-Token"
COOKIE = "review_token"
MAX_BODY = 256 * 1024
CHUNK = 256 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
ACTIONS = ("accept", "reject", "relabel", "edit")


class Refused(Exception):
    """A request the app will not serve: its status and a one-line reason."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class SampleView:
    """What the page shows beyond the export entry: cues from other records, and where
    the clip's playable copy and the peak frame are (None: not available)."""

    face_box: list[float | None] | None = None
    prosody: dict[str, Any] = field(default_factory=dict)
    clip: Path | None = None
    frame: Path | None = None


@dataclass
class ReviewApp:
    root: Path  # the run's output folder; nothing outside it is served
    entries: Sequence[ExportEntry]  # sorted by id; at scale read when asked for (app.py)
    label_set: tuple[str, ...]
    log: DecisionLog
    view: Any  # (entry, what) -> SampleView parts: the workspace's record reader (cli)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    require_token: bool = False  # every request, not only writes (a non-loopback bind)
    rows: list[QueueRow] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    # per filter: its order, and the same indexes as a set (what is decided in it)
    _queues: dict[QueueFilter, tuple[list[int], frozenset[int]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        if not self.rows:  # else given, one per entry: the queue's cache (queue.py)
            self.rows = [queue_row(entry) for entry in self.entries]
        self.index = {row.sample_id: i for i, row in enumerate(self.rows)}

    def queue(self, chosen: QueueFilter) -> list[int]:
        return self._queue(chosen)[0]

    def _queue(self, chosen: QueueFilter) -> tuple[list[int], frozenset[int]]:
        with self._lock:
            if chosen not in self._queues:
                if len(self._queues) > 32:
                    self._queues.clear()
                kept = ordered(self.rows, chosen)
                self._queues[chosen] = (kept, frozenset(kept))
            return self._queues[chosen]

    def inside(self, path: Path | None) -> Path:
        """``path`` if it is a file under the output folder, symlinks resolved; else 404."""
        if path is None:
            raise Refused(HTTPStatus.NOT_FOUND, "no such file")
        real = path.resolve()
        if not real.is_relative_to(self.root) or not real.is_file():
            raise Refused(HTTPStatus.NOT_FOUND, "no such file")
        return real

    # -- the API ------------------------------------------------------------------------------
    def sample(self, params: dict[str, str]) -> dict[str, Any]:
        chosen = queue_filter(params, self.label_set)
        queue, members = self._queue(chosen)
        reviews = self.log.reviews()
        if "pos" in params:
            pos = _integer(params["pos"], "pos")
        else:  # where this annotator stopped: the first sample without a verdict
            pos = next((p for p, i in enumerate(queue) if not _decided(reviews, self.rows[i])), 0)
        result: dict[str, Any] = {
            "count": len(queue),
            "pos": pos,
            # by the decisions, not the queue: a request costs no pass over 100,000 rows
            "done": sum(
                1
                for sample_id, review in reviews.items()
                if review.verdict is not None and self.index.get(sample_id, -1) in members
            ),
            "population": chosen.population(),
        }
        if not 0 <= pos < len(queue):
            return result | {"sample": None}
        entry = self.entries[queue[pos]]
        result["sample"] = self.describe(entry, reviews.get(entry.sample_id))
        return result

    def describe(self, entry: ExportEntry, review: SampleReview | None) -> dict[str, Any]:
        view = self.view(entry, "cues")
        return {
            "sample_id": entry.sample_id,
            "name": entry.name,
            "label": entry.label,
            "label_source": entry.label_source,
            "votes": entry.votes,
            "tier": entry.tier,
            "reasons": [reason.message or reason.code for reason in entry.reasons],
            "peak_time": entry.peak_time,
            "peak_index": entry.peak_index,
            "fps": entry.fps,
            "width": entry.width,
            "height": entry.height,
            "face_box": view.face_box,
            "peak_aus": entry.peak_AU_list,
            "aus": [
                [au, phrase]
                for au, phrase in zip(entry.AU_list, entry.visual_prior_list, strict=False)
            ],
            "tone": entry.tone,
            "tone_phrase": entry.tone_phrase,
            "prosody": view.prosody,
            "transcript": entry.transcript,
            "language": entry.language,
            "caption": entry.caption,
            "reasoning": entry.smp_reason_caption or "",
            "has_frame": entry.peak_frame is not None,
            "review": None if review is None else review.__dict__,
        }

    def decide(self, body: dict[str, Any]) -> dict[str, Any]:
        sample_id = body.get("sample_id")
        if not isinstance(sample_id, str) or sample_id not in self.index:
            raise Refused(HTTPStatus.BAD_REQUEST, "unknown sample_id")
        action = body.get("action")
        if action not in ACTIONS:
            raise Refused(HTTPStatus.BAD_REQUEST, f"action must be one of {', '.join(ACTIONS)}")
        entry = self.entries[self.index[sample_id]]
        fields: dict[str, Any] = {}
        if action in ("accept", "relabel"):
            label = body.get("label") or (entry.label if action == "accept" else None)
            if label not in self.label_set:
                raise Refused(HTTPStatus.BAD_REQUEST, "the label must be one of the label set")
            fields["label"] = label
        if action == "edit":
            for name in ("reasoning", "transcript"):
                text = body.get(name)
                if text is not None and not isinstance(text, str):
                    raise Refused(HTTPStatus.BAD_REQUEST, f"{name} must be text")
                fields[name] = text
        queue = body.get("queue")
        if action != "edit" and isinstance(queue, dict):
            chosen = queue_filter({k: str(v) for k, v in queue.items()}, self.label_set)
            fields["audit"] = chosen.population() if chosen.order == "audit" else None
        try:
            decision = self.log.append(sample_id, action, **fields)
        except ReviewLogError as error:
            raise Refused(HTTPStatus.BAD_REQUEST, str(error)) from None
        review = self.log.reviews().get(sample_id)
        return {"seq": decision.seq, "review": None if review is None else review.__dict__}

    def undo(self) -> dict[str, Any]:
        undone = self.log.undo()
        return {"sample_id": None if undone is None else undone.sample_id}


def _decided(reviews: dict[str, SampleReview], row: QueueRow) -> bool:
    review = reviews.get(row.sample_id)
    return review is not None and review.verdict is not None


def _integer(text: str, name: str) -> int:
    if not re.fullmatch(r"-?\d{1,9}", text):
        raise Refused(HTTPStatus.BAD_REQUEST, f"{name} must be a number")
    return int(text)


def queue_filter(params: dict[str, str], label_set: tuple[str, ...]) -> QueueFilter:
    order = params.get("order") or "disagree"
    if order not in ORDERS:
        raise Refused(HTTPStatus.BAD_REQUEST, f"order must be one of {', '.join(ORDERS)}")
    label = params.get("label", "")
    if label and label not in label_set:
        raise Refused(HTTPStatus.BAD_REQUEST, "label filter outside the label set")
    tier = params.get("tier", "")
    if tier not in ("", "fine", "coarse", "rejected"):
        raise Refused(HTTPStatus.BAD_REQUEST, "tier must be fine, coarse or rejected")
    return QueueFilter(
        tier=tier,
        label=label,
        disagree=params.get("disagree", "") in ("1", "true"),
        order=order,  # type: ignore[arg-type]
        seed=_integer(params.get("seed") or "0", "seed"),
    )


# -- HTTP -------------------------------------------------------------------------------------
def page_html(app: ReviewApp, nonce: str) -> bytes:
    template = resources.files(__package__).joinpath("templates/review.html").read_text("utf-8")
    config = {
        "token": app.token,
        "labels": list(app.label_set),
        "annotator": app.log.annotator,
        "total": len(app.entries),
    }
    data = json.dumps(config).replace("<", "\\u003c").replace(">", "\\u003e")
    return template.replace("__NONCE__", nonce).replace("__CONFIG__", data).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    app: ReviewApp  # set on the subclass ``serve`` makes
    allowed_hosts: frozenset[str] = frozenset()
    protocol_version = "HTTP/1.1"
    server_version = "merr-review"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle(self._get)

    def do_HEAD(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _handle(self, route: Any) -> None:
        try:
            if self.headers.get("Host", "") not in self.allowed_hosts:
                raise Refused(HTTPStatus.FORBIDDEN, "unexpected Host header")
            route(urlsplit(self.path))
        except Refused as refused:
            self._send_json({"error": str(refused)}, refused.status)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _params(self, query: str) -> dict[str, str]:
        return {name: values[-1] for name, values in parse_qs(query).items()}

    def _authorised(self, params: dict[str, str]) -> bool:
        given = self.headers.get(TOKEN_HEADER) or params.get("token")
        if not given:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            given = cookie[COOKIE].value if COOKIE in cookie else ""
        return hmac.compare_digest(given.encode(), self.app.token.encode())

    def _get(self, url: Any) -> None:
        params = self._params(url.query)
        if self.app.require_token and not self._authorised(params):
            raise Refused(HTTPStatus.UNAUTHORIZED, "a token is needed: open the address printed")
        if url.path == "/":
            nonce = secrets.token_urlsafe(16)
            cookie = f"{COOKIE}={self.app.token}; HttpOnly; SameSite=Strict; Path=/"
            self._send(page_html(self.app, nonce), "text/html; charset=utf-8", nonce, cookie)
        elif url.path == "/api/sample":
            self._send_json(self.app.sample(params))
        elif url.path in ("/clip", "/frame"):
            entry = self._entry(params.get("id", ""))
            view = self.app.view(entry, url.path[1:])
            path = self.app.inside(view.clip if url.path == "/clip" else view.frame)
            kind = "video/mp4" if url.path == "/clip" else "image/jpeg"
            self._send_file(path, kind)
        else:
            raise Refused(HTTPStatus.NOT_FOUND, "no such page")

    def _entry(self, sample_id: str) -> ExportEntry:
        index = self.app.index.get(sample_id)
        if index is None:
            raise Refused(HTTPStatus.NOT_FOUND, "no such sample")
        return self.app.entries[index]

    def _post(self, url: Any) -> None:
        if not hmac.compare_digest(
            (self.headers.get(TOKEN_HEADER) or "").encode(), self.app.token.encode()
        ):
            raise Refused(HTTPStatus.FORBIDDEN, "writes come only from the review page")
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc not in self.allowed_hosts:
            raise Refused(HTTPStatus.FORBIDDEN, "writes come only from the review page")
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON")
        length = _integer(self.headers.get("Content-Length") or "0", "Content-Length")
        if not 0 <= length <= MAX_BODY:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Refused(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise Refused(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        if url.path == "/api/decision":
            self._send_json(self.app.decide(body))
        elif url.path == "/api/undo":
            self._send_json(self.app.undo())
        else:
            raise Refused(HTTPStatus.NOT_FOUND, "no such page")

    # -- responses --------------------------------------------------------------------------
    def _headers(self, status: HTTPStatus, kind: str, length: int, nonce: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        script = f"'nonce-{nonce}'" if nonce else "'none'"
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'none'; script-src {script}; style-src 'unsafe-inline'; "
            "img-src 'self'; media-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        )

    def _send(self, data: bytes, kind: str, nonce: str = "", cookie: str = "") -> None:
        self._headers(HTTPStatus.OK, kind, len(data), nonce)
        self.send_header("Cache-Control", "no-store")
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_json(self, value: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        data = json.dumps(value, ensure_ascii=False).encode("utf-8")
        self._headers(status, "application/json; charset=utf-8", len(data))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_file(self, path: Path, kind: str) -> None:
        size = path.stat().st_size
        start, end = 0, size - 1
        status = HTTPStatus.OK
        wanted = RANGE.match(self.headers.get("Range") or "")
        if wanted and any(wanted.groups()) and size:
            first, last = wanted.groups()
            if first:
                start, end = int(first), min(int(last), size - 1) if last else size - 1
            else:
                start = max(0, size - int(last))
            if start > end or start >= size:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = HTTPStatus.PARTIAL_CONTENT
        self._headers(status, kind, end - start + 1)
        self.send_header("Accept-Ranges", "bytes")
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        with path.open("rb") as handle:
            handle.seek(start)
            left = end - start + 1
            while left > 0 and (data := handle.read(min(CHUNK, left))):
                self.wfile.write(data)
                left -= len(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("review: connection from %s ended early", client_address, exc_info=True)


def make_server(app: ReviewApp, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server for ``app`` (not yet serving); a non-loopback ``host`` asks every request for
    the token."""
    app.require_token = app.require_token or host not in LOOPBACK
    handler = type("ReviewHandler", (Handler,), {"app": app})
    server = _Server((host, port), handler)
    bound = server.server_address[1]
    names = {host, *(LOOPBACK if host in LOOPBACK else ())}
    handler.allowed_hosts = frozenset(
        f"[{name}]:{bound}" if ":" in name else f"{name}:{bound}" for name in names
    )
    return server
