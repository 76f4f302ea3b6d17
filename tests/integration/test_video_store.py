"""The video store's contract, run against both stores over real HTTP.

- The embedded store (a folder in ``tmp_path``) receives its uploads through the real
  routes of ``api/resources/storage.py``, served on a loopback port.
- The S3 store is the real boto3 against moto's server mode (``ThreadedMotoServer``)
  on a loopback port (``tests/support/s3.py``): presigned URLs are sent with
  ``requests``, as an app would.
- Where nginx is installed, deploy/nginx-rewards-engine.conf runs in front of the
  embedded store's upload route, to show its body limit and streaming fit the store.

Where moto stands in for S3, each test names the AWS behaviour it imitates. Moto does
not verify presigned-URL signatures or their expiry (moto/s3/responses.py compares
only metadata given in the query string), so what S3 refuses by signature (another
Content-Type or length, an expired URL: sigv4-query-string-auth) is shown against S3
by what the URL signs, and the refusal itself against the embedded store; a body of
another size is refused by the store at completion too, which moto does show.

Parts are 64 KiB here (``tests/support/s3.py``: S3's 5 MiB minimum lowered in moto
through S3_UPLOAD_PART_MIN_SIZE, to match), so multipart uploads of several parts stay
small.

There is no download URL to test: kept videos are sealed per donor, so the store's
bytes are ciphertext, and donors get theirs through ``GET /v1/videos/<token>``
(tests/integration/test_uploads.py).
"""

from __future__ import annotations

import hashlib
import http.client
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask

from api.context import EXTENSION
from api.errors import register_error_handlers
from api.resources import storage as storage_routes
from rewards_engine.clock import FixedClock
from rewards_engine.config import Settings
from rewards_engine.providers.storage import (
    LocalVideoStore,
    UploadRefused,
    UploadTarget,
    VideoStore,
    open_store,
)
from rewards_engine.providers.storage.base import (
    DEFAULT_PART_SIZE,
    MAX_URL_LIFETIME,
    part_size_for,
    plan_parts,
)
from rewards_engine.providers.storage.s3 import S3VideoStore
from rewards_engine.runtime import Runtime
from tests.support.processes import serving
from tests.support.s3 import PART, moto_server, s3_client
from tests.support.slow_clients import nginx_binary, nginx_in_front

BUCKET = "videos"
SECRET = b"test-video-store-secret-" + b"s" * 16
MP4 = "video/mp4"
pytestmark = pytest.mark.timeout(120)


def video(size: int) -> bytes:
    return random.Random(size).randbytes(size)


# -- servers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 on a free loopback port, started once for the module."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def bucket_client(moto_endpoint: str) -> Any:
    client = s3_client(moto_endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


@dataclass
class Embedded:
    url: str
    runtime: Runtime


@pytest.fixture(scope="module")
def embedded_server() -> Iterator[Embedded]:
    """The storage routes on a loopback port, in an app of their own: the full app's
    request guard reads every body before a route sees it (see the last tests)."""
    app = Flask("video-store-tests")
    register_error_handlers(app)
    app.register_blueprint(storage_routes.blp, url_prefix="/v1")
    runtime = Runtime(settings=Settings(environment="test"))
    app.extensions[EXTENSION] = runtime
    with serving(app) as url:
        yield Embedded(url, runtime)


@pytest.fixture
def store_clock() -> FixedClock:
    # The real time: S3 signs with it, so that the engine's expiry and S3's agree.
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(params=["embedded", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, store_clock: FixedClock) -> VideoStore:
    if request.param == "embedded":
        served: Embedded = request.getfixturevalue("embedded_server")
        local = LocalVideoStore(
            tmp_path / "videos",
            secret=SECRET,
            public_url=served.url,
            clock=store_clock,
            part_size=PART,
        )
        served.runtime.video_store = local  # type: ignore[misc]  # the test's store
        return local
    client = request.getfixturevalue("bucket_client")
    return S3VideoStore(client, BUCKET, f"t-{uuid.uuid4().hex}", clock=store_clock, part_size=PART)


# -- an app's side ---------------------------------------------------------------------


def put(url: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.put(url, data=body, headers=headers or {}, timeout=30)


def send_parts(target: UploadTarget, data: bytes, numbers: list[int] | None = None) -> None:
    for part in target.parts:
        if numbers is None or part.number in numbers:
            start = (part.number - 1) * target.parts[0].size
            answer = put(part.url, data[start : start + part.size], target.headers)
            assert answer.status_code == 200, answer.text


def cut_short(url: str, headers: dict[str, str], body: bytes, sent: int) -> bytes:
    """PUT ``body`` announcing its full length, send ``sent`` bytes of it and stop, as
    an app killed mid-upload; answer what the server says once it has given up."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"PUT {target} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
    lines += ["Connection: close", "", ""]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode() + body[:sent])
        sock.shutdown(socket.SHUT_WR)  # the rest never comes
        answer = b""
        while chunk := sock.recv(65536):  # until the server closes: it is done with it
            answer += chunk
    return answer


def read(store: VideoStore, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()


def signed(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def refused(answer: requests.Response, status: int, reason: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == status and body["error"] == reason, body


def later(store: VideoStore, **delta: float) -> datetime:
    return store.clock.now() + timedelta(**delta)  # type: ignore[attr-defined]  # both have one


# -- the contract, for both stores -----------------------------------------------------


def test_a_small_video_is_one_put_and_completes_once_or_twice(store: VideoStore) -> None:
    data = video(1000)
    target = store.upload_target(
        "c1/d1/small.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(store, hours=1)
    )
    assert target.url and target.upload_id is None and target.parts == []
    assert target.method == "PUT"
    assert target.headers == {"Content-Type": MP4, "Content-Length": "1000"}
    with pytest.raises(UploadRefused) as nothing:  # not uploaded yet
        store.complete_upload("c1/d1/small.mp4", None, size_bytes=len(data))
    assert nothing.value.reason == "upload_missing"

    answer = put(target.url, data, target.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    stored = store.complete_upload("c1/d1/small.mp4", None, size_bytes=len(data))
    assert (stored.key, stored.size, stored.content_type) == ("c1/d1/small.mp4", 1000, MP4)
    assert store.complete_upload("c1/d1/small.mp4", None, size_bytes=len(data)) == stored
    assert store.stat("c1/d1/small.mp4") == stored
    assert read(store, "c1/d1/small.mp4") == data


def test_a_body_of_another_size_never_completes(store: VideoStore) -> None:
    """The embedded store refuses at the PUT: longer 413, shorter 400. S3 refuses at the
    PUT too, as Content-Length is signed (403 SignatureDoesNotMatch); moto does not
    check signatures and takes the body, and then completion refuses it."""
    data = video(1000)
    target = store.upload_target(
        "sized.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(store, hours=1)
    )
    assert target.url
    for body, status, reason in (
        (data + b"x", 413, "body_too_large"),
        (data[:-1], 400, "size_mismatch"),
    ):
        answer = put(target.url, body, {"Content-Type": MP4})
        if isinstance(store, S3VideoStore):
            assert "content-length" in signed(target.url)["X-Amz-SignedHeaders"].split(";")
            assert answer.status_code == 200  # moto: S3 itself answers 403 here
        else:
            refused(answer, status, reason)
        with pytest.raises(UploadRefused) as no:
            store.complete_upload("sized.mp4", None, size_bytes=len(data))
        assert no.value.reason == ("size_mismatch" if answer.ok else "upload_missing")


def test_another_content_type_is_refused(store: VideoStore) -> None:
    data = video(500)
    target = store.upload_target(
        "typed.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(store, hours=1)
    )
    assert target.url
    if isinstance(store, S3VideoStore):
        assert "content-type" in signed(target.url)["X-Amz-SignedHeaders"].split(";")
        pytest.skip(
            "S3 refuses this PUT (403 SignatureDoesNotMatch: Content-Type is a signed header, "
            "sigv4-query-string-auth); moto does not verify presigned signatures"
        )
    refused(put(target.url, data, {"Content-Type": "video/webm"}), 415, "wrong_content_type")
    refused(put(target.url, data, {}), 415, "wrong_content_type")
    assert store.stat("typed.mp4") is None


def test_urls_expire_and_live_at_most_seven_days(store: VideoStore) -> None:
    now = store.clock.now()  # type: ignore[attr-defined]  # both stores have one
    data = video(300)
    target = store.upload_target(
        "late.mp4", size_bytes=300, content_type=MP4, expires_at=now + timedelta(minutes=10)
    )
    assert target.url and target.expires_at == now + timedelta(minutes=10)
    week = store.upload_target(
        "late.mp4", size_bytes=300, content_type=MP4, expires_at=now + timedelta(days=30)
    )
    assert week.expires_at == now + MAX_URL_LIFETIME  # SigV4's cap, for both stores
    with pytest.raises(ValueError, match="not in the future"):
        store.upload_target("late.mp4", size_bytes=300, content_type=MP4, expires_at=now)
    if isinstance(store, S3VideoStore):
        assert signed(target.url)["X-Amz-Expires"] == "600"
        assert week.url and signed(week.url)["X-Amz-Expires"] == "604800"
        pytest.skip(
            "S3 refuses an expired URL (403 AccessDenied, 'Request has expired'); "
            "moto does not check X-Amz-Expires"
        )
    store.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]  # a FixedClock
    refused(put(target.url, data, target.headers), 403, "url_expired")
    assert put(week.url or "", data, week.headers).status_code == 200  # a fresh URL works


def test_a_large_video_goes_in_parts_and_completes_once_or_twice(store: VideoStore) -> None:
    data = video(3 * PART + 1000)
    target = store.upload_target(
        "c1/big.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(store, hours=1)
    )
    assert target.url is None and target.upload_id
    assert [(p.number, p.size) for p in target.parts] == [
        (1, PART),
        (2, PART),
        (3, PART),
        (4, 1000),
    ]
    assert store.uploaded_parts("c1/big.mp4", target.upload_id) == []
    send_parts(target, data, [4, 2, 3, 1])  # in any order
    received = store.uploaded_parts("c1/big.mp4", target.upload_id)
    assert [(n, size) for n, _etag, size in received] == [
        (1, PART),
        (2, PART),
        (3, PART),
        (4, 1000),
    ]
    assert all(len(etag) == 32 and '"' not in etag for _n, etag, _size in received)

    stored = store.complete_upload("c1/big.mp4", target.upload_id, size_bytes=len(data))
    assert (stored.size, stored.content_type) == (len(data), MP4)
    assert read(store, "c1/big.mp4") == data
    # S3 forgets a completed upload (NoSuchUpload): completing again finds the object.
    assert store.complete_upload("c1/big.mp4", target.upload_id, size_bytes=len(data)) == stored
    with pytest.raises(UploadRefused) as gone:
        store.uploaded_parts("c1/big.mp4", target.upload_id)
    assert gone.value.reason == "upload_missing"


def test_a_part_cut_short_is_resumed_with_fresh_urls(store: VideoStore) -> None:
    data = video(3 * PART + 7)
    first = store.upload_target(
        "resumed.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(store, minutes=5)
    )
    assert first.upload_id
    send_parts(first, data, [1])
    part = first.parts[1]
    answer = cut_short(part.url, first.headers, data[PART : 2 * PART], PART // 2)
    assert answer.startswith(b"HTTP/1.1 400") or answer == b""  # the server gave up on it
    assert [n for n, _e, _s in store.uploaded_parts("resumed.mp4", first.upload_id)] == [1]

    # The app comes back later: its URLs expired; the same upload gets fresh ones.
    store.clock.advance(timedelta(minutes=6))  # type: ignore[attr-defined]  # a FixedClock
    again = store.upload_target(
        "resumed.mp4",
        size_bytes=len(data),
        content_type=MP4,
        expires_at=later(store, hours=1),
        upload_id=first.upload_id,
    )
    assert again.upload_id == first.upload_id
    assert [(p.number, p.size) for p in again.parts] == [(p.number, p.size) for p in first.parts]
    done = {n for n, _e, _s in store.uploaded_parts("resumed.mp4", first.upload_id)}
    send_parts(again, data, [p.number for p in again.parts if p.number not in done])
    stored = store.complete_upload("resumed.mp4", first.upload_id, size_bytes=len(data))
    assert stored.size == len(data) and read(store, "resumed.mp4") == data


def test_completing_with_a_part_missing_is_refused_and_the_upload_stays_open(
    store: VideoStore,
) -> None:
    data = video(2 * PART + 10)
    target = store.upload_target(
        "holey.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(store, hours=1)
    )
    assert target.upload_id
    send_parts(target, data, [1, 3])  # the last one too: only its count says 2 is missing
    with pytest.raises(UploadRefused) as missing:
        store.complete_upload("holey.mp4", target.upload_id, size_bytes=len(data))
    assert missing.value.reason == "part_missing" and "2" in str(missing.value)
    assert store.stat("holey.mp4") is None
    send_parts(target, data, [1, 2])  # part 1 again: a resent part replaces itself
    assert store.complete_upload("holey.mp4", target.upload_id, size_bytes=len(data)).size == len(
        data
    )
    assert read(store, "holey.mp4") == data


def test_completing_with_the_last_parts_missing_is_refused(store: VideoStore) -> None:
    data = video(3 * PART)
    target = store.upload_target(
        "short.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(store, hours=1)
    )
    assert target.upload_id
    send_parts(target, data, [1, 2])  # parts 1 and 2 alone would assemble a shorter video
    with pytest.raises(UploadRefused) as missing:
        store.complete_upload("short.mp4", target.upload_id, size_bytes=len(data))
    assert missing.value.reason == "part_missing"
    assert store.stat("short.mp4") is None
    if isinstance(store, LocalVideoStore):
        # The embedded store knows the size an upload was planned for; S3 does not
        # (which is why the caller must give it: the claim's size, never the parts').
        with pytest.raises(UploadRefused) as other_size:
            store.complete_upload("short.mp4", target.upload_id, size_bytes=2 * PART)
        assert other_size.value.reason == "size_mismatch"


def test_abort_removes_the_parts_and_any_object(store: VideoStore) -> None:
    data = video(2 * PART + 1)
    target = store.upload_target(
        "dropped.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(store, hours=1)
    )
    assert target.upload_id
    send_parts(target, data, [1, 2])
    store.abort_upload("dropped.mp4", target.upload_id)
    with pytest.raises(UploadRefused) as gone:
        store.uploaded_parts("dropped.mp4", target.upload_id)
    assert gone.value.reason == "upload_missing"
    # S3: "After a multipart upload is aborted, no additional parts can be uploaded using
    # that upload ID" (AbortMultipartUpload): 404 NoSuchUpload. moto refuses it too, but
    # with a 500 of its own; the embedded store answers 404 upload_missing.
    late = put(target.parts[2].url, data[2 * PART :])
    if isinstance(store, LocalVideoStore):
        refused(late, 404, "upload_missing")
    assert not late.ok
    with pytest.raises(UploadRefused):
        store.uploaded_parts("dropped.mp4", target.upload_id)
    with pytest.raises(UploadRefused) as nothing:
        store.complete_upload("dropped.mp4", target.upload_id, size_bytes=len(data))
    assert nothing.value.reason == "upload_missing"
    store.abort_upload("dropped.mp4", target.upload_id)  # again: nothing to do

    single = store.upload_target(
        "kept.mp4", size_bytes=10, content_type=MP4, expires_at=later(store, hours=1)
    )
    assert put(single.url or "", data[:10], single.headers).status_code == 200
    store.abort_upload("kept.mp4", None)
    assert store.stat("kept.mp4") is None
    store.abort_upload("kept.mp4", None)


def test_put_stat_open_and_an_idempotent_delete(store: VideoStore, tmp_path: Path) -> None:
    data = video(PART + 5)  # more than a part: S3's managed transfer may split it
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    with source.open("rb") as stream:
        stored = store.put("fixtures/one.mp4", stream, content_type=MP4)
    assert (stored.key, stored.size, stored.content_type) == ("fixtures/one.mp4", len(data), MP4)
    assert read(store, "fixtures/one.mp4") == data
    store.delete("fixtures/one.mp4")
    store.delete("fixtures/one.mp4")
    assert store.stat("fixtures/one.mp4") is None
    with pytest.raises(FileNotFoundError):
        read(store, "fixtures/one.mp4")


@pytest.mark.parametrize(
    "key",
    ["../escape.mp4", "a/../../escape.mp4", "/etc/passwd", "a//b.mp4", "a/./b.mp4",
     ".uploads/x", "a/.meta", "", "a\\..\\b", "a\x00b", "a/", "x" * 1025],
)  # fmt: skip
def test_keys_that_could_leave_the_store_are_refused(store: VideoStore, key: str) -> None:
    expires = later(store, hours=1)
    calls = [
        lambda: store.upload_target(key, size_bytes=10, content_type=MP4, expires_at=expires),
        lambda: store.stat(key),
        lambda: store.delete(key),
        lambda: store.complete_upload(key, None, size_bytes=10),
        lambda: store.abort_upload(key, None),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()


# -- the embedded store's own routes ---------------------------------------------------


@pytest.fixture
def embedded(embedded_server: Embedded, tmp_path: Path, store_clock: FixedClock) -> LocalVideoStore:
    local = LocalVideoStore(
        tmp_path / "videos",
        secret=SECRET,
        public_url=embedded_server.url,
        clock=store_clock,
        part_size=PART,
    )
    embedded_server.runtime.video_store = local  # type: ignore[misc]  # the test's store
    return local


def test_a_token_not_signed_for_this_use_is_refused(embedded: LocalVideoStore) -> None:
    expires = later(embedded, hours=1)
    target = embedded.upload_target("t.mp4", size_bytes=4, content_type=MP4, expires_at=expires)
    assert target.url
    body = target.url.rpartition("/")[2].partition(".")[0]
    forged = target.url.replace(body, body[:-2] + ("AA" if body[-2:] != "AA" else "BB"))
    refused(put(forged, b"abcd", target.headers), 403, "bad_signature")
    refused(put(target.url + "x", b"abcd", target.headers), 403, "bad_signature")
    refused(
        put(target.url.rsplit("/", 1)[0] + "/%E2%82%AC.x", b"abcd", target.headers),
        403,
        "bad_signature",
    )
    # Another engine's secret signs nothing here.
    other = LocalVideoStore(
        embedded.root, secret=b"another-secret-" * 2, public_url="", clock=embedded.clock
    )
    stranger = other.upload_target("t.mp4", size_bytes=4, content_type=MP4, expires_at=expires)
    refused(
        put(
            target.url.rsplit("/", 1)[0] + "/" + (stranger.url or "").rsplit("/", 1)[1],
            b"abcd",
            target.headers,
        ),
        403,
        "bad_signature",
    )
    # A token this engine signed for something else than an upload does not upload.
    other_use = embedded._sign({"a": "get", "k": "t.mp4", "e": int(expires.timestamp())})
    elsewhere = target.url.rsplit("/", 1)[0] + "/" + other_use
    refused(put(elsewhere, b"abcd", target.headers), 403, "bad_signature")
    assert embedded.stat("t.mp4") is None


def test_a_killed_put_leaves_no_half_object_and_is_sent_again(embedded: LocalVideoStore) -> None:
    data = video(50_000)
    target = embedded.upload_target(
        "k.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(embedded, hours=1)
    )
    assert target.url
    answer = cut_short(target.url, target.headers, data, 20_000)
    assert answer.startswith(b"HTTP/1.1 400")
    assert embedded.stat("k.mp4") is None
    assert list((embedded.root / ".tmp").iterdir()) == []  # no half body kept either
    assert put(target.url, data, target.headers).status_code == 200
    assert read(embedded, "k.mp4") == data


def test_a_chunked_body_longer_than_signed_stops_at_one_byte_past(
    embedded: LocalVideoStore,
) -> None:
    target = embedded.upload_target(
        "c.mp4", size_bytes=100, content_type=MP4, expires_at=later(embedded, hours=1)
    )
    chunks = iter([b"x" * 60, b"y" * 60, b"z" * 60])  # no Content-Length: chunked
    refused(put(target.url or "", chunks, {"Content-Type": MP4}), 413, "body_too_large")
    assert embedded.stat("c.mp4") is None and list((embedded.root / ".tmp").iterdir()) == []


def test_a_part_of_an_upload_given_up_is_refused(embedded: LocalVideoStore) -> None:
    data = video(2 * PART)
    target = embedded.upload_target(
        "g.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(embedded, hours=1)
    )
    assert target.upload_id
    embedded.abort_upload("g.mp4", target.upload_id)
    refused(put(target.parts[0].url, data[:PART]), 404, "upload_missing")
    assert list((embedded.root / ".uploads").iterdir()) == []


def test_the_upload_route_answers_404_when_videos_go_to_s3(embedded_server: Embedded) -> None:
    embedded_server.runtime.video_store = S3VideoStore(  # type: ignore[misc]  # the test's store
        s3_client("http://127.0.0.1:9"),
        BUCKET,  # never called: the route refuses first
    )
    refused(put(f"{embedded_server.url}/v1/storage/uploads/abc.def", b"x"), 404, "not_found")


def test_the_embedded_store_plans_parts_like_s3() -> None:
    assert plan_parts(10, 4) == [4, 4, 2] and plan_parts(8, 4) == [4, 4]
    # 10,000 parts at most (qfacts): a 100 GiB video gets parts of 11 MiB, not 8.
    assert part_size_for(100 * 1024**3, 8 * 1024**2) == 11 * 1024**2
    assert len(plan_parts(100 * 1024**3, 11 * 1024**2)) <= 10_000


# -- S3 only: what boto3 signs and what moto imitates ----------------------------------


def test_s3_refuses_to_assemble_parts_under_its_minimum(bucket_client: Any) -> None:
    """S3: parts are 5 MiB to 5 GiB but the last, and a smaller part fails at completion
    with EntityTooSmall (qfacts.html); moto imitates it, with its minimum lowered."""
    small = S3VideoStore(bucket_client, BUCKET, f"t-{uuid.uuid4().hex}", part_size=PART // 2)
    data = video(PART + 10)
    target = small.upload_target(
        "tiny-parts.mp4",
        size_bytes=len(data),
        content_type=MP4,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    assert target.upload_id and len(target.parts) == 3
    send_parts(target, data)
    with pytest.raises(UploadRefused) as too_small:
        small.complete_upload("tiny-parts.mp4", target.upload_id, size_bytes=len(data))
    assert too_small.value.reason == "part_too_small"


def test_open_store_reads_storage_url(
    moto_endpoint: str, bucket_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = {"instance_dir": tmp_path, "secret": SECRET, "public_url": "http://videos.example"}
    default = open_store("", **common)
    assert isinstance(default, LocalVideoStore) and default.root == (tmp_path / "videos").resolve()
    relative = open_store("file:media/videos", **common)
    assert (
        isinstance(relative, LocalVideoStore)
        and relative.root == (tmp_path / "media/videos").resolve()
    )
    absolute = open_store(f"file://{tmp_path}/abs%20olute", **common)
    assert (
        isinstance(absolute, LocalVideoStore)
        and absolute.root == (tmp_path / "abs olute").resolve()
    )
    for wrong in (
        "ftp://host/x",
        "file://elsewhere/x",
        "file:",
        "s3://videos/p?endpoint=x",
        "s3:///p",
    ):
        with pytest.raises(ValueError):
            open_store(wrong, **common)

    # Credentials from the environment, as boto3 reads them anywhere.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    prefix = f"t-{uuid.uuid4().hex}"
    s3 = open_store(
        f"s3://{BUCKET}/{prefix}/v?endpoint_url={moto_endpoint}&region=eu-west-1", **common
    )
    assert isinstance(s3, S3VideoStore) and (s3.bucket, s3.prefix) == (BUCKET, f"{prefix}/v")
    target = s3.upload_target(
        "one.mp4", size_bytes=3, content_type=MP4, expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    assert target.url and target.url.startswith(f"{moto_endpoint}/{BUCKET}/{prefix}/v/one.mp4?")
    assert "/eu-west-1/s3/aws4_request" in signed(target.url)["X-Amz-Credential"]
    assert put(target.url, b"abc", target.headers).status_code == 200
    listed = bucket_client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    assert [o["Key"] for o in listed] == [f"{prefix}/v/one.mp4"]


# -- behind deploy/'s nginx -------------------------------------------------------------


def announced(url: str, method: str, length: int) -> int:
    """The status answered to a request that announces a body of ``length`` bytes and
    sends none of it: what nginx says of the Content-Length alone."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.putrequest(method, parts.path)
        connection.putheader("Content-Type", MP4)
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.skipif(
    nginx_binary() is None,
    reason="no nginx here (dev.py test installs Debian's nginx when run as root)",
)
def test_behind_deploys_nginx_an_upload_takes_a_whole_part_and_no_more(
    embedded_server: Embedded, tmp_path: Path, store_clock: FixedClock
) -> None:
    """deploy/nginx-rewards-engine.conf keeps bodies to the API's 2 MiB, but for the
    embedded store's upload route: a part, or a single PUT up to the store's multipart
    threshold, of the store STORAGE_URL really opens (8 MiB each)."""
    with nginx_in_front(urlsplit(embedded_server.url).netloc, tmp_path / "nginx") as base:
        local = open_store(
            f"file://{tmp_path}/videos",
            instance_dir=tmp_path,
            secret=SECRET,
            public_url=base,
            clock=store_clock,
        )
        assert isinstance(local, LocalVideoStore)
        assert local.part_size == local.multipart_threshold == DEFAULT_PART_SIZE == 8 * 1024**2
        embedded_server.runtime.video_store = local  # type: ignore[misc]  # the test's store
        data = video(DEFAULT_PART_SIZE + 1)
        expires = later(local, hours=1)
        target = local.upload_target(
            "n/parts.mp4", size_bytes=len(data), content_type=MP4, expires_at=expires
        )
        assert [p.size for p in target.parts] == [DEFAULT_PART_SIZE, 1]
        assert all(p.url.startswith(f"{base}/v1/storage/uploads/") for p in target.parts)
        send_parts(target, data)
        done = local.complete_upload("n/parts.mp4", target.upload_id, size_bytes=len(data))
        assert done.size == len(data) and read(local, "n/parts.mp4") == data

        single = local.upload_target(
            "n/one.mp4", size_bytes=DEFAULT_PART_SIZE, content_type=MP4, expires_at=expires
        )
        assert single.url and single.url.startswith(base)
        answer = put(single.url, data[:DEFAULT_PART_SIZE], single.headers)
        assert answer.status_code == 200, answer.text
        assert read(local, "n/one.mp4") == data[:DEFAULT_PART_SIZE]

        # Past 8 MiB nginx refuses the upload before the engine reads a byte of it;
        # anywhere else the API's 2 MiB still holds.
        assert announced(single.url, "PUT", DEFAULT_PART_SIZE + 1) == 413
        assert announced(f"{base}/v1/submissions", "POST", 2 * 1024**2 + 1) == 413

        # Buffered, as every body: a slow app holds nginx, never an engine worker. The
        # engine sees nothing of a part the app is still sending.
        slow = local.upload_target(
            "n/slow.mp4", size_bytes=DEFAULT_PART_SIZE, content_type=MP4, expires_at=expires
        )
        parts = urlsplit(slow.url or "")
        head = (
            f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {MP4}\r\n"
            f"Content-Length: {DEFAULT_PART_SIZE}\r\n\r\n"
        )
        spool = local.root / ".tmp"
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall(head.encode() + data[: 3 * 1024**2])
            time.sleep(1)  # proves an absence: a streamed body would reach the engine by now
            assert not list(spool.glob("body-*"))
        assert local.stat("n/slow.mp4") is None  # cut short: nothing kept


# -- through the full app ---------------------------------------------------------------


def test_through_the_app_an_upload_is_received(
    app: Flask, runtime: Runtime, tmp_path: Path
) -> None:
    local = LocalVideoStore(tmp_path / "videos", secret=SECRET, public_url="", clock=runtime.clock)
    runtime.video_store = local  # the test's store
    data = video(3 * 1024 * 1024)  # over the API's 2 MiB body limit, as a part is
    target = local.upload_target(
        "b.mp4",
        size_bytes=len(data),
        content_type=MP4,
        expires_at=runtime.clock.now() + timedelta(minutes=1),
    )
    answer = app.test_client().put(target.url, data=data, headers=target.headers)
    assert answer.status_code == 200, answer.get_json()
    assert local.complete_upload("b.mp4", None, size_bytes=len(data)).size == len(data)


def test_one_part_sent_by_several_threads_at_once_stays_whole(
    embedded: LocalVideoStore,
) -> None:
    data = video(2 * PART)
    target = embedded.upload_target(
        "race.mp4", size_bytes=len(data), content_type=MP4, expires_at=later(embedded, hours=1)
    )
    assert target.upload_id
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(put(target.parts[0].url, data[:PART]).status_code)
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 4
    assert embedded.uploaded_parts("race.mp4", target.upload_id)[0][1:] == (
        hashlib.md5(data[:PART]).hexdigest(),
        PART,
    )
