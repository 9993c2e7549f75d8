"""The review app over HTTP: what it serves, what it refuses, what it writes."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from merr_factory.config import load_config
from merr_factory.curation.review_log import read_log
from merr_factory.review.app import ReviewError, run_review
from merr_factory.run.workspace import open_workspace

from .conftest import Served, serve


def request(
    served: Served,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    address = urlsplit(served.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    data = None if body is None else json.dumps(body).encode()
    connection.request(method, path, body=data, headers=headers or {})
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def write(served: Served, body: object, **headers: str) -> tuple[int, dict]:
    sent = {"Content-Type": "application/json", "X-Review-Token": served.app.token} | headers
    status, _, data = request(served, "POST", "/api/decision", body, sent)
    return status, json.loads(data)


def test_the_page_carries_its_token_and_a_strict_policy(served: Served) -> None:
    status, headers, page = request(served, "GET", "/")
    assert status == 200 and served.app.token in page.decode()
    policy = headers["Content-Security-Policy"]
    assert "script-src 'nonce-" in policy and "default-src 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert b"__CONFIG__" not in page and b"__NONCE__" not in page


def test_the_queue_starts_where_the_annotator_stopped(served: Served) -> None:
    status, _, data = request(served, "GET", "/api/sample?order=id")
    first = json.loads(data)
    assert status == 200 and first["count"] == 6 and first["pos"] == 0
    assert write(served, {"sample_id": first["sample"]["sample_id"], "action": "reject"})[0] == 200
    again = json.loads(request(served, "GET", "/api/sample?order=id")[2])
    assert again["pos"] == 1 and again["done"] == 1
    served.app.log.undo()


@pytest.mark.parametrize(
    "path",
    [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/clip?id=../../../../etc/passwd",
        "/frame?id=..%2F..%2F..%2Fetc%2Fpasswd",
        "/frame?id=%2Fetc%2Fpasswd",
        "/stages/peak/sample_00000001/peak_frame.jpg",
        "/config.yaml",
    ],
)
def test_no_path_leads_to_a_file_it_does_not_own(served: Served, path: str) -> None:
    status, _, body = request(served, "GET", path)
    assert status == 404 and b"root:" not in body


def test_a_symlinked_file_out_of_the_output_is_refused(served: Served, tmp_path: Path) -> None:
    entry = next(e for e in served.app.entries if e.peak_frame is not None)
    frame = served.output / entry.peak_frame.path
    assert request(served, "GET", f"/frame?id={entry.sample_id}")[0] == 200
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"secret")
    saved = frame.with_name("saved.jpg")
    frame.rename(saved)
    try:
        os.symlink(secret, frame)
        status, _, body = request(served, "GET", f"/frame?id={entry.sample_id}")
        assert status == 404 and b"secret" not in body
    finally:
        frame.unlink()
        saved.rename(frame)


def test_writes_come_only_from_the_page(served: Served) -> None:
    body = {"sample_id": served.app.entries[0].sample_id, "action": "reject"}
    before = len(read_log(served.app.log.path))
    no_token = request(served, "POST", "/api/decision", body, {"Content-Type": "application/json"})
    assert no_token[0] == 403
    assert write(served, body, **{"X-Review-Token": "guess"})[0] == 403
    assert write(served, body, Origin="http://evil.example")[0] == 403
    assert write(served, body, **{"Content-Type": "application/x-www-form-urlencoded"})[0] == 415
    assert request(served, "GET", "/", headers={"Host": "evil.example:80"})[0] == 403
    assert len(read_log(served.app.log.path)) == before  # nothing refused was written


def test_a_label_outside_the_label_set_is_refused(served: Served) -> None:
    sample = served.app.entries[0].sample_id
    before = len(read_log(served.app.log.path))
    status, error = write(served, {"sample_id": sample, "action": "relabel", "label": "disgust"})
    assert status == 400 and "label set" in error["error"]
    assert write(served, {"sample_id": "nope", "action": "reject"})[0] == 400
    assert write(served, {"sample_id": sample, "action": "delete"})[0] == 400
    assert len(read_log(served.app.log.path)) == before
    status, saved = write(served, {"sample_id": sample, "action": "relabel", "label": "sad"})
    assert status == 200 and saved["review"]["label"] == "sad"
    decision = read_log(served.app.log.path)[-1]
    assert (decision.sample_id, decision.action, decision.label) == (sample, "relabel", "sad")
    served.app.log.undo()


def test_clips_are_served_as_playable_copies_with_ranges(served: Served) -> None:
    avi = next(e for e in served.app.entries if e.video_path.endswith(".avi"))
    status, headers, whole = request(served, "GET", f"/clip?id={avi.sample_id}")
    assert status == 200 and headers["Content-Type"] == "video/mp4" and whole[4:8] == b"ftyp"
    status, headers, part = request(
        served, "GET", f"/clip?id={avi.sample_id}", headers={"Range": "bytes=100-199"}
    )
    assert status == 206 and part == whole[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    copies = list((served.output / "review" / "media").iterdir())
    assert all(avi.sample_id not in path.name for path in copies)  # named by a hash


def test_another_address_needs_a_token(exported: Path) -> None:
    workspace = open_workspace(load_config(exported))
    with pytest.raises(ReviewError, match="needs --token"):
        run_review(workspace, "ann", "0.0.0.0", 0, None, print)
    for served in serve(exported):
        served.app.require_token = True  # what a non-loopback bind sets
        assert request(served, "GET", "/")[0] == 401
        assert request(served, "GET", "/api/sample")[0] == 401
        status, headers, _ = request(served, "GET", f"/?token={served.app.token}")
        assert status == 200 and "HttpOnly" in headers["Set-Cookie"]
        cookie = headers["Set-Cookie"].split(";")[0]
        assert request(served, "GET", "/api/sample", headers={"Cookie": cookie})[0] == 200
