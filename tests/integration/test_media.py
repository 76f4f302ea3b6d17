"""``rewards_engine.media.analyse`` on real video files made with PyAV in a temporary
directory (tests/support/videos.py): the facts of a genuine clip, the hashes of a
re-encoded and of another clip, and each reason a file is rejected."""

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rewards_engine.media import (
    MATCH_DISTANCE,
    REASONS,
    MediaRejected,
    VideoFacts,
    analyse,
    hamming_64,
    hamming_256,
)
from tests.support import videos


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 3 s, 10 fps, 160 x 120 clip (seed 0), re-encodes of it and another clip."""
    folder = tmp_path_factory.mktemp("clips")
    clip = videos.make_video(folder / "clip.mp4")
    return {
        "clip": clip,
        "smaller": videos.reencode(clip, folder / "smaller.mp4", size=(128, 96)),
        "larger": videos.reencode(clip, folder / "larger.mp4", size=(320, 240), bitrate=200_000),
        "mpeg4": videos.reencode(clip, folder / "mpeg4.mkv", codec="mpeg4", bitrate=150_000),
        "other": videos.make_video(folder / "other.mp4", seed=1),
    }


def rejection(path: Path) -> str:
    with pytest.raises(MediaRejected) as caught:
        analyse(path)
    assert caught.value.reason in REASONS
    return caught.value.reason


def test_a_genuine_clip(clips: dict[str, Path]) -> None:
    facts = analyse(clips["clip"])
    data = clips["clip"].read_bytes()
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert facts.size_bytes == len(data)
    assert facts.duration_s == pytest.approx(3.0, abs=0.2)
    assert (facts.width, facts.height) == (160, 120)
    assert facts.fps == pytest.approx(10.0)
    assert facts.frames == 30
    assert facts.codec == {"libx264": "h264", "mpeg4": "mpeg4"}[videos.CODEC]
    assert len(facts.pdq) == 64 and int(facts.pdq, 16) >= 0
    assert 0 <= facts.pdq_quality <= 100
    assert -(2**63) <= facts.perceptual_hash < 2**63


@pytest.mark.parametrize(
    ("suffix", "seconds", "fps", "size"),
    [(".mkv", 4, 25, (320, 180)), (".ts", 2.5, 12, (96, 64)), (".mp4", 12, 5, (64, 64))],
)
def test_other_containers_and_shapes(
    tmp_path: Path, suffix: str, seconds: float, fps: int, size: tuple[int, int]
) -> None:
    """Matroska declares no stream duration (the container's is used), MPEG-TS is
    decoded in one pass (no index to seek by), a 12 s clip samples 12 frames."""
    path = videos.make_video(tmp_path / f"clip{suffix}", seconds=seconds, fps=fps, size=size)
    facts = analyse(path)
    assert facts.duration_s == pytest.approx(seconds, abs=0.2)
    assert (facts.width, facts.height) == size
    assert facts.fps == pytest.approx(fps)
    assert facts.frames == round(seconds * fps)


def test_sampling_fewer_frames_still_reads_the_whole_clip(clips: dict[str, Path]) -> None:
    few = analyse(clips["clip"], max_frames_sampled=2)
    assert few.frames == 30 and few.duration_s == pytest.approx(3.0, abs=0.2)
    assert hamming_256(few.pdq, analyse(clips["clip"]).pdq) <= MATCH_DISTANCE
    with pytest.raises(ValueError, match="at least 2"):
        analyse(clips["clip"], max_frames_sampled=1)


@pytest.mark.parametrize("variant", ["smaller", "larger", "mpeg4"])
def test_a_reencoded_clip_keeps_its_hashes(clips: dict[str, Path], variant: str) -> None:
    original, copy = analyse(clips["clip"]), analyse(clips[variant])
    assert copy.sha256 != original.sha256
    # Seen with libx264: PDQ 6 to 16 bits of 256 (4 to 18 for seeds 1 and 2), the 64-bit
    # hash 0 to 2 of 64.
    assert hamming_256(original.pdq, copy.pdq) <= MATCH_DISTANCE
    assert hamming_64(original.perceptual_hash, copy.perceptual_hash) <= 10


def test_another_clip_is_far(clips: dict[str, Path]) -> None:
    original, other = analyse(clips["clip"]), analyse(clips["other"])
    # Seen between seeds 0-7: 118 to 144 of 256 (unrelated images average 128), 24 to 38 of 64.
    assert hamming_256(original.pdq, other.pdq) > 2 * MATCH_DISTANCE
    assert hamming_64(original.perceptual_hash, other.perceptual_hash) > 16


def test_seeds_make_unrelated_clips(tmp_path: Path) -> None:
    facts = [
        analyse(videos.make_video(tmp_path / f"{seed}.mp4", seed=seed)) for seed in range(2, 6)
    ]
    for i, a in enumerate(facts):
        for b in facts[i + 1 :]:
            assert hamming_256(a.pdq, b.pdq) > 2 * MATCH_DISTANCE


def test_a_text_file_named_mp4_is_not_a_video(tmp_path: Path) -> None:
    assert rejection(videos.text_file_named_mp4(tmp_path / "clip.mp4")) == "not_a_video"


def test_an_empty_file_is_not_a_video(tmp_path: Path) -> None:
    empty = tmp_path / "clip.mp4"
    empty.touch()
    assert rejection(empty) == "not_a_video"


def test_a_playlist_is_not_opened(tmp_path: Path) -> None:
    """An HLS playlist would make FFmpeg open the files it names: refused unread."""
    clip = videos.make_video(tmp_path / "clip.mkv")
    playlist = tmp_path / "clip.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n{clip}\n#EXT-X-ENDLIST\n")
    with av.open(str(playlist)) as container:  # FFmpeg alone would read it as a video
        assert container.streams.video
    assert rejection(playlist) == "not_a_video"


def test_audio_alone_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 44100), np.float32), "fltp", "mono")
        frame.sample_rate, frame.pts = 44100, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert rejection(path) == "not_a_video"


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("kind", ["camera.mp4", "faststart.mp4", "clip.mkv", "clip.avi"])
def test_a_truncated_file(tmp_path: Path, kind: str, fraction: float) -> None:
    """Cut anywhere: an MP4 with its index at the end or at the start, Matroska, AVI."""
    whole = videos.make_video(
        tmp_path / kind, codec="mpeg4" if kind.endswith(".avi") else videos.CODEC,
        faststart=kind.startswith("faststart"),
    )  # fmt: skip
    cut = videos.truncate(whole, tmp_path / f"cut-{kind}", fraction)
    assert rejection(cut) in {"truncated", "undecodable"}


def test_a_truncated_file_says_truncated(tmp_path: Path) -> None:
    for kind in ("camera.mp4", "faststart.mp4", "clip.mkv"):
        whole = videos.make_video(tmp_path / kind, faststart=kind.startswith("faststart"))
        assert rejection(videos.truncate(whole, tmp_path / f"cut-{kind}", 0.5)) == "truncated"


def test_a_cut_found_by_the_packets(tmp_path: Path) -> None:
    """An MP4 whose data box says "to the end of the file" (size 0, as a recorder may
    leave it): the box sizes cannot tell it was cut; the index (30 frames) and the
    packets can, whether the cut falls inside a packet or between two."""
    data = bytearray(videos.make_video(tmp_path / "clip.mp4", faststart=True).read_bytes())
    at = data.index(b"mdat") - 4
    data[at : at + 4] = bytes(4)
    open_ended = tmp_path / "open-ended.mp4"
    open_ended.write_bytes(bytes(data))
    assert analyse(open_ended).frames == 30  # whole, it is fine
    with av.open(str(open_ended)) as container:
        starts = [packet.pos for packet in container.demux(video=0) if packet.size]
    for name, end in (("inside", starts[20] + 5), ("between", starts[20]), ("last", len(data) - 3)):
        cut = tmp_path / f"cut-{name}.mp4"
        cut.write_bytes(bytes(data[:end]))
        with pytest.raises(MediaRejected) as caught:
            analyse(cut)
        assert caught.value.reason == "truncated", name


def test_frames_that_do_not_decode(tmp_path: Path) -> None:
    """The container intact, the coded frames replaced by noise."""
    data = bytearray(videos.make_video(tmp_path / "clip.mp4", faststart=True).read_bytes())
    start = data.index(b"mdat") + 4
    noise = np.random.default_rng(7).integers(0, 256, len(data) - start, dtype=np.uint8)
    data[start:] = noise.tobytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    assert rejection(broken) == "undecodable"


@pytest.mark.parametrize("size", [(62, 48), (160, 48), (48, 160)])
def test_a_resolution_out_of_range(tmp_path: Path, size: tuple[int, int]) -> None:
    assert rejection(videos.make_video(tmp_path / "clip.mp4", size=size)) == "bad_resolution"


def test_a_single_frame(tmp_path: Path) -> None:
    path = videos.make_video(tmp_path / "clip.mp4", seconds=0.1)
    assert rejection(path) == "too_few_frames"


def test_damaged_files_are_rejected_never_raise_otherwise(tmp_path: Path) -> None:
    """Bytes overwritten at random places: a verdict or facts, never another error."""
    original = videos.make_video(tmp_path / "clip.mp4", faststart=True).read_bytes()
    rng = np.random.default_rng(11)
    outcomes: set[str] = set()
    for attempt in range(40):
        data = bytearray(original)
        for at in rng.integers(0, len(data), size=int(rng.integers(1, 40))):
            data[at] = int(rng.integers(0, 256))
        path = tmp_path / f"damaged-{attempt}.mp4"
        path.write_bytes(bytes(data))
        try:
            facts = analyse(path)
        except MediaRejected as rejected:
            assert rejected.reason in REASONS
            outcomes.add(rejected.reason)
        else:
            assert isinstance(facts, VideoFacts)
            outcomes.add("accepted")
    assert outcomes - {"accepted"}  # some damage is found


def test_a_reencode_with_another_frame_rate(tmp_path: Path) -> None:
    """Frames are sampled by time, not by number: 10 fps re-encoded at 25 fps matches."""
    clip = videos.make_video(tmp_path / "clip.mp4")
    faster = tmp_path / "faster.mp4"
    with av.open(str(clip)) as source, av.open(str(faster), "w") as target:
        stream = target.add_stream(videos.CODEC, rate=25)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        decoded = list(source.decode(video=0))
        for index in range(75):  # each source frame shown for 2.5 output frames
            frame = decoded[min(int(index / 2.5), len(decoded) - 1)].reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            target.mux(stream.encode(frame))
        target.mux(stream.encode(None))
    original, copy = analyse(clip), analyse(faster)
    assert copy.fps == pytest.approx(25.0)
    assert hamming_256(original.pdq, copy.pdq) <= MATCH_DISTANCE
