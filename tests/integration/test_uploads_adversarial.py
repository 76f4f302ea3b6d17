"""Uploads under attack and under trouble: verifications racing erasure, each other and
their leases; a video that breaks the verifier; a store that fails; URLs used again
after their claim was decided; late and replayed calls. Every scenario ends with
nothing paid twice, no destroyed key made again and no object left behind.

The fixtures and helpers are those of test_uploads.py (both stores: the embedded one
and S3 through moto's server)."""

from __future__ import annotations

import contextlib
import hashlib
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rewards_engine.domain.uploads import sealed_key
from rewards_engine.models import Campaign, Clip, ClipClaim, DonorVideoKey
from rewards_engine.providers.storage import LocalVideoStore
from rewards_engine.runtime import Runtime
from rewards_engine.services import ledger, privacy, uploads, verification
from tests.integration import test_uploads as base
from tests.integration.test_uploads import claim, claim_row, complete, donate_video, upload
from tests.support.factories import body, clip, consenting_donor
from tests.support.videos import make_video

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

# test_uploads.py's fixtures, by name: both stores, the runtime on them, a donor, videos.
s3_endpoint, store_url, env, ada, videos = (
    base.s3_endpoint, base.store_url, base.env, base.ada, base.videos
)  # fmt: skip

DAY_AND_A_BIT = timedelta(hours=26)  # past a claim's 24 hours and the sweep's grace


def stored_objects(rt: Runtime) -> set[str]:
    """Every object the store holds, and every upload still open (as ``upload:<key>``)."""
    store: Any = rt.video_store
    if isinstance(store, LocalVideoStore):
        found = {
            str(path.relative_to(store.root))
            for path in store.root.rglob("*")
            if path.is_file() and not path.relative_to(store.root).parts[0].startswith(".")
        }
        for folder in (store.root / ".uploads").iterdir():
            manifest = folder / "manifest.json"
            if manifest.exists():
                found.add("upload:" + manifest.read_text())
        return found
    prefix = store.prefix + "/"
    listed = store.client.list_objects_v2(Bucket=store.bucket)
    found = {o["Key"].removeprefix(prefix) for o in listed.get("Contents", [])}
    pending = store.client.list_multipart_uploads(Bucket=store.bucket)
    found |= {"upload:" + u["Key"].removeprefix(prefix) for u in pending.get("Uploads", [])}
    return found


def kept_videos(rt: Runtime) -> set[str]:
    """What the clips say the engine keeps."""
    with rt.db.read() as session:
        return {
            key
            for key in session.scalars(
                select(Clip.storage_key).where(
                    Clip.storage_key.is_not(None),  # type: ignore[union-attr]
                    Clip.video_deleted_at.is_(None),  # type: ignore[union-attr]
                )
            )
            if key is not None
        }


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def lease(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.uploads.verify_lease_s + 1)


@pytest.mark.parametrize("moment", ["measuring", "sealing"])
def test_an_erasure_during_verification_leaves_no_video_and_no_key(
    env: dict[str, Any],
    ada: dict[str, str],
    videos: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    moment: str,
) -> None:
    """The donor is erased while their video is being checked: the verification must not
    make the destroyed data key again, nor store a sealed copy nobody will delete."""
    rt, client = env["runtime"], env["client"]
    donate_video(env, ada, videos["genuine"])
    assert client.delete("/v1/me", headers=ada).status_code == 202
    store: Any = rt.video_store
    if moment == "measuring":
        real_analyse = verification.measuring.analyse

        def analyse(path: str) -> Any:
            privacy.run_erasures(rt)
            return real_analyse(path)

        monkeypatch.setattr(verification.measuring, "analyse", analyse)
    else:
        real_put = store.put

        def put(key: str, source: Any, *, content_type: str) -> Any:
            privacy.run_erasures(rt)
            return real_put(key, source, content_type=content_type)

        monkeypatch.setattr(store, "put", put)
    report = verification.verify_uploads(rt)
    assert not report.decided
    with rt.db.read() as session:
        assert session.scalars(select(DonorVideoKey)).all() == []  # not made again
        assert session.scalars(select(Clip)).all() == []
        left = session.scalars(select(ClipClaim)).all()  # until its URL is dead
        assert [(c.status, c.reason, c.video_sha256) for c in left] == [
            ("expired", "donor_erased", "")
        ]
    assert stored_objects(rt) == set()


def test_a_verifier_that_outlived_its_lease_leaves_no_sealed_copy_behind(
    env: dict[str, Any],
    ada: dict[str, str],
    videos: dict[str, Path],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run stalls past its lease; another takes the claim over and decides it (the same
    video again: a duplicate, whose video is not kept); the stalled run then finishes
    sealing. Its sealed copy must not stay behind."""
    rt = env["runtime"]
    donate_video(env, ada, videos["genuine"])
    verification.verify_uploads(rt)
    kept = kept_videos(rt)
    second = donate_video(env, ada, videos["genuine"])
    real_analyse = verification.measuring.analyse
    stalled: list[verification.VerificationReport] = []
    calls: list[str] = []

    def analyse(path: str) -> Any:
        calls.append(path)
        if len(calls) == 1:
            clock.advance(lease(rt))
            stalled.append(verification.verify_uploads(rt))  # the run that takes over
        return real_analyse(path)

    monkeypatch.setattr(verification.measuring, "analyse", analyse)
    report = verification.verify_uploads(rt)
    assert stalled[0].decided["duplicate"] == 1
    assert report.lost == 1 and not report.decided
    assert claim_row(env, second).status == "verified"
    assert stored_objects(rt) == kept
    assert ledger.verify(rt.db).ok


class Killed(BaseException):
    """The verifier's process dying on a video (FFmpeg running out of memory, a crash):
    nothing of the run's own code gets to run after it."""


def test_a_video_that_kills_the_verifier_costs_no_other_donors_claim_its_attempts(
    env: dict[str, Any],
    ada: dict[str, str],
    auth: Any,
    videos: dict[str, Path],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = env["runtime"]
    consenting_donor(rt, "bob")
    bob = dict(auth("bob"))
    poison = donate_video(env, ada, videos["other"])  # first in line
    genuine = donate_video(env, bob, videos["genuine"])
    real_analyse = verification.measuring.analyse
    poisonous = digest(videos["other"])

    def analyse(path: str) -> Any:
        if digest(path) == poisonous:
            raise Killed
        return real_analyse(path)

    monkeypatch.setattr(verification.measuring, "analyse", analyse)
    for _ in range(3):
        with pytest.raises(Killed):
            verification.verify_uploads(rt)
        clock.advance(lease(rt))
    verification.verify_uploads(rt)
    verification.verify_uploads(rt)
    assert claim_row(env, poison).reason == "unverifiable"
    row = claim_row(env, genuine)
    assert (row.status, row.reason) == ("verified", None)


def test_a_store_outage_during_verification_rejects_no_video(
    env: dict[str, Any],
    ada: dict[str, str],
    videos: dict[str, Path],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Half an hour of a store that does not answer is not three verdicts on the video:
    the genuine video is paid once the store is back, not refused as unverifiable."""
    rt = env["runtime"]
    claim_id = donate_video(env, ada, videos["genuine"])
    store: Any = rt.video_store

    def unreachable(key: str) -> Any:
        raise ConnectionError("the store does not answer")

    with monkeypatch.context() as patched:
        patched.setattr(store, "open", unreachable)
        for _ in range(3):
            with pytest.raises(ConnectionError):
                verification.verify_uploads(rt)
            clock.advance(lease(rt))
    report = verification.verify_uploads(rt)
    assert report.decided["accepted"] == 1
    assert claim_row(env, claim_id).status == "verified"


def test_a_deletion_that_fails_after_the_decision_is_done_again_by_the_sweep(
    env: dict[str, Any],
    ada: dict[str, str],
    videos: dict[str, Path],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The decision commits, then the store refuses to delete the plain upload: the
    video must not stay in the clear for good."""
    rt = env["runtime"]
    claim_id = donate_video(env, ada, videos["genuine"])
    store: Any = rt.video_store

    def refused(key: str) -> None:
        raise ConnectionError("the store does not answer")

    with monkeypatch.context() as patched:
        patched.setattr(store, "delete", refused)
        with contextlib.suppress(ConnectionError):  # the decision is committed either way
            verification.verify_uploads(rt)
    row = claim_row(env, claim_id)
    assert row.status == "verified"
    assert store.stat(row.storage_key) is not None  # still in the clear
    clock.advance(DAY_AND_A_BIT)
    uploads.expire_claims(rt)
    assert stored_objects(rt) == kept_videos(rt) == {sealed_key(row.storage_key)}


@pytest.mark.parametrize("outcome", ["verified", "rejected", "expired"])
def test_a_video_put_again_after_its_claim_was_decided_does_not_stay(
    env: dict[str, Any],
    ada: dict[str, str],
    videos: dict[str, Path],
    clock: Any,
    outcome: str,
) -> None:
    """An upload URL works until the claim's time ends, decided or not: a PUT after the
    decision (an app retrying, a PUT in flight when the claim expired) must not leave a
    video nobody will delete."""
    rt = env["runtime"]
    content = videos["genuine"].read_bytes()
    fields = {"duration_s": 12} if outcome == "rejected" else {}
    answer = claim(env, ada, videos["genuine"], **fields)
    claim_id = answer["claim_id"]
    if outcome == "expired":
        clock.advance(timedelta(hours=25))
        uploads.expire_claims(rt)
        # A PUT that started before the URL expired lands after the sweep.
        rt.video_store.put(
            claim_row(env, claim_id).storage_key, _bytes(content), content_type="video/mp4"
        )
    else:
        upload(env, answer["upload"], content)
        assert complete(env, ada, claim_id).status_code == 200
        verification.verify_uploads(rt)
        upload(env, answer["upload"], content)  # the app sends it again
    row = claim_row(env, claim_id)
    assert row.status == outcome
    assert rt.video_store.stat(row.storage_key) is not None
    clock.advance(DAY_AND_A_BIT)
    uploads.expire_claims(rt)
    assert stored_objects(rt) == kept_videos(rt)
    assert (sealed_key(row.storage_key) in kept_videos(rt)) == (outcome == "verified")


def _bytes(content: bytes) -> Any:
    return io.BytesIO(content)


def _multipart(rt: Runtime, content: bytes) -> None:
    """Make the store cut even a small video in parts (S3 parts: 64 KiB and up under moto)."""
    store: Any = rt.video_store
    store.multipart_threshold = 1024
    store.part_size = max(len(content) // 3 + 1, 64 * 1024)


def test_erasure_aborts_an_upload_in_parts_the_app_had_begun(
    env: dict[str, Any], ada: dict[str, str], clock: Any, tmp_path: Path
) -> None:
    rt, client = env["runtime"], env["client"]
    big = make_video(tmp_path / "long.mp4", seconds=8, size=(320, 240), seed=7)
    content = big.read_bytes()
    _multipart(rt, content)
    answer = claim(env, ada, big, duration_s=8)
    target = answer["upload"]
    assert target["multipart"] and len(target["parts"]) > 1
    first = target["parts"][0]
    upload_first = {**target, "parts": [first]}
    upload(env, upload_first, content[: first["size"]])
    assert any(key.startswith("upload:") for key in stored_objects(rt))
    assert client.delete("/v1/me", headers=ada).status_code == 202
    privacy.run_erasures(rt)
    assert stored_objects(rt) == set()


def test_a_video_an_app_sends_after_its_donor_was_erased_does_not_stay(
    env: dict[str, Any], ada: dict[str, str], videos: dict[str, Path], clock: Any
) -> None:
    """The donor erases their account while the app still has a video to send: its URL
    cannot be taken back, so what it delivers must be deleted when the URL is dead."""
    rt, client = env["runtime"], env["client"]
    answer = claim(env, ada, videos["genuine"])
    assert client.delete("/v1/me", headers=ada).status_code == 202
    privacy.run_erasures(rt)
    with rt.db.read() as session:
        [left] = session.scalars(select(ClipClaim)).all()
    assert (left.video_sha256, left.event_id, left.camera_id) == ("", "", "")
    upload(env, answer["upload"], videos["genuine"].read_bytes())  # the app, still sending
    assert stored_objects(rt) != set()
    clock.advance(DAY_AND_A_BIT)
    uploads.expire_claims(rt)
    assert stored_objects(rt) == set()
    with rt.db.read() as session:
        assert session.scalars(select(ClipClaim)).all() == []


def test_a_whole_video_completed_just_after_its_claim_expired_is_still_taken(
    env: dict[str, Any], ada: dict[str, str], videos: dict[str, Path], clock: Any
) -> None:
    """The sweep takes a video that arrived whole without the app's "done"; the app
    saying "done" a moment too late must not make it worse off."""
    rt = env["runtime"]
    answer = claim(env, ada, videos["genuine"])
    upload(env, answer["upload"], videos["genuine"].read_bytes())
    never_sent = claim(env, ada, videos["other"])
    clock.advance(timedelta(hours=24, seconds=1))
    done = complete(env, ada, answer["claim_id"])
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "uploaded"
    assert verification.verify_uploads(rt).decided["accepted"] == 1
    late = complete(env, ada, never_sent["claim_id"])  # nothing arrived: it expires
    assert (late.status_code, late.get_json()["error"]) == (409, "upload_expired")
    assert claim_row(env, never_sent["claim_id"]).status == "expired"


def test_a_submission_replayed_after_its_claims_expired_is_answered_not_a_500(
    env: dict[str, Any], ada: dict[str, str], videos: dict[str, Path], clock: Any
) -> None:
    content = videos["genuine"].read_bytes()
    payload = clip(
        video_sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        duration_s=3,
        recorded_at=(clock.now() - timedelta(hours=1)).isoformat(),
    )
    request = body(env["campaign"], [payload])
    headers = {**ada, "Idempotency-Key": "claim-once"}
    first = env["client"].post("/v1/submissions", json=request, headers=headers)
    assert first.status_code == 201
    claim_id = first.get_json()["clips"][0]["claim_id"]
    clock.advance(timedelta(hours=24, milliseconds=-500))  # half a second left
    shown = env["client"].get(f"/v1/uploads/{claim_id}", headers=ada)
    assert shown.status_code == 200, shown.get_json()
    clock.advance(timedelta(seconds=1))  # expired; the sweep has not run yet
    again = env["client"].post("/v1/submissions", json=request, headers=headers)
    assert again.status_code == 201, again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["clips"][0].get("upload") is None  # no URL that is dead already


def test_asking_for_an_upload_whose_parts_were_just_assembled_is_not_a_500(
    env: dict[str, Any], ada: dict[str, str], tmp_path: Path
) -> None:
    """The app polls its claim while its own "done" is being handled: the store has
    assembled the parts (the upload is gone) and the claim is not marked yet."""
    rt, client = env["runtime"], env["client"]
    big = make_video(tmp_path / "long.mp4", seconds=8, size=(320, 240), seed=7)
    content = big.read_bytes()
    _multipart(rt, content)
    answer = claim(env, ada, big, duration_s=8)
    upload(env, answer["upload"], content)
    row = claim_row(env, answer["claim_id"])
    rt.video_store.complete_upload(row.storage_key, row.upload_id, size_bytes=len(content))
    shown = client.get(f"/v1/uploads/{answer['claim_id']}", headers=ada)
    assert shown.status_code == 200, shown.get_json()
    done = complete(env, ada, answer["claim_id"])
    assert done.status_code == 200 and done.get_json()["status"] == "uploaded"


def test_a_clip_whose_video_is_not_kept_does_not_point_at_it(
    env: dict[str, Any], ada: dict[str, str], videos: dict[str, Path]
) -> None:
    """The same video twice: the second is a duplicate and its video is deleted, so its
    clip holds no storage reference, the export gives no link to it and the
    transparency report does not count it as stored."""
    rt, client = env["runtime"], env["client"]
    donate_video(env, ada, videos["genuine"])
    donate_video(env, ada, videos["genuine"])
    report = verification.verify_uploads(rt)
    assert (report.decided["accepted"], report.decided["duplicate"]) == (1, 1)
    with rt.db.read() as session:
        duplicate = session.scalars(select(Clip).where(Clip.status == "duplicate")).one()
    assert duplicate.storage_key is None and duplicate.video_deleted_at is not None
    exported = client.get("/v1/me/export", headers=ada).get_json()
    links = {c["status"]: c["video_url"] for c in exported["clips"]}
    assert links["duplicate"] is None and links["accepted"] is not None
    assert stored_objects(rt) == kept_videos(rt)


def test_a_video_replaced_by_a_larger_one_after_completion_is_refused_unread(
    env: dict[str, Any],
    ada: dict[str, str],
    videos: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The size is checked again on verification (docs/uploads.md): a store that does not
    hold a signed Content-Length to its word (moto, some S3-compatible servers) lets an
    app replace its completed video with a far larger body, which the verifier must not
    copy whole to its disk."""
    rt = env["runtime"]
    claim_id = donate_video(env, ada, videos["genuine"])
    row = claim_row(env, claim_id)
    rt.video_store.put(
        row.storage_key, _bytes(b"\0" * (row.size_bytes * 20)), content_type="video/mp4"
    )
    store: Any = rt.video_store
    real_open = store.open
    read: list[int] = []

    @contextlib.contextmanager
    def counted(key: str) -> Any:
        with real_open(key) as source:

            class Counting:
                def read(self, size: int = -1) -> bytes:
                    chunk: bytes = source.read(size)
                    read.append(len(chunk))
                    return chunk

            yield Counting()

    monkeypatch.setattr(store, "open", counted)
    report = verification.verify_uploads(rt)
    assert report.rejected["size_mismatch"] == 1
    assert sum(read) <= row.size_bytes + 1
    assert stored_objects(rt) == set()


def test_retention_deletes_the_claims_of_a_campaign_with_their_clips_metadata(
    env: dict[str, Any], ada: dict[str, str], videos: dict[str, Path], clock: Any
) -> None:
    """A claim holds what its clip holds (content hash, camera, event): retention must not
    keep it past the campaign's period, whatever became of the claim."""
    rt = env["runtime"]
    with rt.db.transaction() as uow:
        campaign = uow.session.get(Campaign, env["campaign"])
        assert campaign is not None
        campaign.retention_days = 30
    donate_video(env, ada, videos["genuine"])  # verified, paid
    donate_video(env, ada, videos["other"], duration_s=12)  # rejected
    claim(env, ada, videos["resized"])  # never sent: expires
    verification.verify_uploads(rt)
    clock.advance(timedelta(hours=25))
    uploads.expire_claims(rt)  # the third claim expires
    clock.advance(timedelta(days=30))
    uploads.expire_claims(rt)  # and every claim's final sweep is done
    report = privacy.apply_retention(rt)
    assert report["clips"] == 1
    with rt.db.read() as session:
        assert session.scalars(select(ClipClaim)).all() == []
        [scrubbed] = session.scalars(select(Clip)).all()
    assert scrubbed.storage_key is None and stored_objects(rt) == set()
    assert len(scrubbed.camera_id) == 64 and "CAM" not in scrubbed.camera_id  # salted serial


@pytest.mark.parametrize("assembled", [True, False])
def test_a_video_in_parts_that_arrived_whole_is_taken_when_its_claim_runs_out(
    env: dict[str, Any], ada: dict[str, str], clock: Any, tmp_path: Path, assembled: bool
) -> None:
    """Every part arrived (and, ``assembled``, the store even assembled them: a completion
    whose answer was lost, or whose claim could not be marked), but the app never said
    so: the sweep takes the video, as it takes a whole single PUT, instead of deleting
    it."""
    rt = env["runtime"]
    big = make_video(tmp_path / "long.mp4", seconds=8, size=(320, 240), seed=7)
    content = big.read_bytes()
    _multipart(rt, content)
    answer = claim(env, ada, big, duration_s=8)
    upload(env, answer["upload"], content)
    if assembled:
        row = claim_row(env, answer["claim_id"])
        rt.video_store.complete_upload(row.storage_key, row.upload_id, size_bytes=len(content))
    clock.advance(timedelta(hours=24, seconds=1))
    assert uploads.expire_claims(rt).completed == 1
    assert verification.verify_uploads(rt).decided["accepted"] == 1


def test_a_store_that_fails_at_expiry_expires_no_video_and_stops_no_other_claim(
    env: dict[str, Any],
    ada: dict[str, str],
    videos: dict[str, Path],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = env["runtime"]
    sent = claim(env, ada, videos["genuine"])
    upload(env, sent["upload"], videos["genuine"].read_bytes())
    never_sent = claim(env, ada, videos["other"])
    clock.advance(timedelta(hours=24, seconds=1))
    store: Any = rt.video_store
    real_complete, real_stat = store.complete_upload, store.stat
    sent_key = claim_row(env, sent["claim_id"]).storage_key

    def flaky_complete(key: str, upload_id: str | None, *, size_bytes: int) -> Any:
        if key == sent_key:
            raise ConnectionError("the store does not answer")
        return real_complete(key, upload_id, size_bytes=size_bytes)

    def flaky_stat(key: str) -> Any:
        if key == sent_key:
            raise ConnectionError("the store does not answer")
        return real_stat(key)

    with monkeypatch.context() as patched:
        patched.setattr(store, "complete_upload", flaky_complete)
        patched.setattr(store, "stat", flaky_stat)
        report = uploads.expire_claims(rt)
    assert (report.expired, report.completed, report.sweep_failed) == (1, 0, 1)
    assert claim_row(env, never_sent["claim_id"]).status == "expired"
    assert claim_row(env, sent["claim_id"]).status == "awaiting_upload"  # not judged
    assert uploads.expire_claims(rt).completed == 1  # the store is back


def test_a_video_the_store_keeps_failing_on_does_not_hold_up_the_others(
    env: dict[str, Any],
    ada: dict[str, str],
    videos: dict[str, Path],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given up for a pause after the store failed on it, a claim is not taken first again
    by every run (with as many such claims as a run takes, nothing else would be checked)."""
    rt = env["runtime"]
    stuck = donate_video(env, ada, videos["other"])  # first in line
    fine = donate_video(env, ada, videos["genuine"])
    store: Any = rt.video_store
    real_open = store.open
    stuck_key = claim_row(env, stuck).storage_key

    def failing(key: str) -> Any:
        if key == stuck_key:
            raise ConnectionError("the store fails on this object")
        return real_open(key)

    monkeypatch.setattr(store, "open", failing)
    with pytest.raises(ConnectionError):
        verification.verify_uploads(rt, limit=1)
    assert verification.verify_uploads(rt, limit=1).decided["accepted"] == 1
    assert claim_row(env, fine).status == "verified"
    row = claim_row(env, stuck)
    assert (row.status, row.attempts) == ("verifying", 0)  # paused, nothing counted


def test_a_store_that_fails_to_remove_an_expired_upload_stops_nothing(
    env: dict[str, Any],
    ada: dict[str, str],
    videos: dict[str, Path],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The claim expires (committed) and the store refuses to remove its partial upload:
    neither the sweep nor the app's late "done" fails for it, and the final sweep
    removes the upload once the store answers again."""
    rt = env["runtime"]
    first = claim(env, ada, videos["genuine"])
    second = claim(env, ada, videos["other"])
    clock.advance(timedelta(hours=24, seconds=1))
    store: Any = rt.video_store

    def refused(key: str, upload_id: str | None) -> None:
        raise ConnectionError("the store does not answer")

    with monkeypatch.context() as patched:
        patched.setattr(store, "abort_upload", refused)
        late = complete(env, ada, first["claim_id"])
        assert (late.status_code, late.get_json()["error"]) == (409, "upload_expired")
        assert uploads.expire_claims(rt).expired == 1
    assert claim_row(env, second["claim_id"]).status == "expired"
    rt.video_store.put(
        claim_row(env, second["claim_id"]).storage_key, _bytes(b"late"), content_type="video/mp4"
    )
    clock.advance(timedelta(hours=2))
    uploads.expire_claims(rt)
    assert stored_objects(rt) == set()
