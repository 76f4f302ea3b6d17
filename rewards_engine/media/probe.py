"""What a received video file is, checked by decoding it: ``analyse(path)``.

The verification job calls ``analyse`` on an upload it holds as a local file. It either
returns the file's ``VideoFacts`` (its SHA-256, size, duration, resolution, frame
count and rate, codec, and perceptual hashes) or raises ``MediaRejected`` with a stable
``reason``:

- ``not_a_video``: empty, not a container FFmpeg opens among ``CONTAINERS``, or no
  video stream in it;
- ``undecodable``: a video stream whose frames do not decode (no decoder, or the
  decoder fails on the data);
- ``truncated``: the file ends mid-stream (an MP4's boxes, a Matroska segment or an
  AVI's RIFF chunks claim more bytes than the file has, or the demuxer flags the last
  packet as cut), or the container says N frames / N seconds and the packets or the
  decoded frames stop well short of that (by more than 2 frames or 5 %, 0.5 s or 5 %);
- ``bad_resolution``: width or height zero, below 64 or above 8192 pixels;
- ``too_few_frames``: fewer than two frames decode.

A PyAV or FFmpeg error of any kind becomes one of these reasons; it never escapes as
another exception. The file itself must be readable: ``OSError`` from opening or
reading it (missing, no permission) is the caller's storage problem, not a verdict on
the video, and propagates.

How much is read and decoded:

1. the whole file once, in 1 MiB chunks, for the SHA-256 (never the whole file in
   memory), and the sizes of its top-level boxes (MP4/MOV), segment (Matroska/WebM)
   or RIFF chunks (AVI);
2. the video stream's packets once, without decoding (no pixels): their count, the
   time they span and where the key frames are;
3. about one frame a second, at most ``max_frames_sampled``, spread over the whole
   duration (the middle of each of n equal slices). In a container with an index (MP4,
   Matroska, AVI) the decoder seeks to the key frame before each sample and decodes
   forward from there; when the next sample lies within the group of pictures being
   decoded it just goes on. Groups of pictures between samples are never decoded.
   MPEG-TS/PS (no index: FFmpeg seeks by byte guesses) and untimed streams are
   decoded in one pass, only the sampled frames converted. The frames after the last
   sample are decoded too, so the end of the video is known to decode.

MPEG-TS declares no length: a TS file cut short is indistinguishable from a shorter
recording (compare the duration with what the donor claimed).

The sampled frames, each scaled (area average) so that the longer side is 512 pixels
(the size PDQ's reference tools hash at, here applied up as well as down so every
resolution of the same footage is hashed alike), are converted to PDQ's luminance and
averaged pixel by pixel; the video's PDQ hash (and the 64-bit hash) is that of the
mean image (see ``rewards_engine.media.pdq``). Why the mean: it is one hash for the
whole video, comparable with one Hamming distance (no set matching as vPDQ's), and
re-encoding, resizing or a change of frame rate moves each sampled frame's content
very little, so a re-upload stays within PDQ's match distance (31 of 256 bits), while
another recording's mean differs as much as unrelated images do (about 128). The
price: footage that pans or moves a lot averages to a soft image of low PDQ quality,
and a video rotated by its metadata (a phone held upright) is hashed as stored, so a
copy with the rotation applied to its pixels does not match.

FFmpeg logs what it finds wrong in a damaged file on stderr (``av.logging`` sets the
level, for the whole process).
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Final, Literal, ParamSpec, TypeVar

import av
import numpy as np
import numpy.typing as npt

from rewards_engine.media import pdq

Reason = Literal["not_a_video", "undecodable", "truncated", "bad_resolution", "too_few_frames"]
REASONS: Final = frozenset(
    {"not_a_video", "undecodable", "truncated", "bad_resolution", "too_few_frames"}
)

MIN_SIDE, MAX_SIDE = 64, 8192  # pixels
MIN_FRAMES = 2
HASH_SIDE = 512  # the longer side of a frame as hashed, the size PDQ's tools hash at
# FFmpeg demuxers a video may be read with (their short names): the containers cameras
# and phones write. Others (HLS and concat playlists, image sequences...) can make
# FFmpeg open further files, so they are refused outright.
CONTAINERS: Final = ("mov", "matroska", "avi", "mpegts", "mpeg", "flv")
_OPEN_OPTIONS: Final = {"format_whitelist": ",".join(CONTAINERS), "protocol_whitelist": "file"}
_CHUNK = 1 << 20
# "Well short": the packets or frames end before the declared end by more than this.
_SHORT_FRAMES = (2, 0.05)  # frames, share of the declared count
_SHORT_STREAM_S = (0.5, 0.05)  # seconds, share: the video stream's own duration
_SHORT_CONTAINER_S = (1.0, 0.10)  # the container's (it may cover a longer audio track)
_PYAV_ERRORS = (av.FFmpegError, OSError, EOFError, ValueError, RuntimeError, MemoryError)


class MediaRejected(Exception):
    """The file is not a video the engine accepts; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: Reason = reason
        self.detail = detail


@dataclass(frozen=True)
class VideoFacts:
    sha256: str  # hex of the file's bytes
    size_bytes: int
    duration_s: float
    width: int
    height: int
    frames: int  # as the container counts them, else the packets counted
    fps: float
    codec: str  # FFmpeg's decoder name: h264, hevc, mpeg4, vp9...
    pdq: str  # 64 hex characters: PDQ of the sampled frames' mean luminance
    pdq_quality: int  # 0..100; below 50 the picture is near featureless
    perceptual_hash: int  # signed 64-bit, as Clip.perceptual_hash stores it


def analyse(path: str | Path, *, max_frames_sampled: int = 16) -> VideoFacts:
    """The facts of the video at ``path``, or ``MediaRejected`` (see the module)."""
    if max_frames_sampled < MIN_FRAMES:
        raise ValueError(f"max_frames_sampled must be at least {MIN_FRAMES}")
    path = Path(path)
    digest, size = file_sha256(path)
    if size == 0:
        raise MediaRejected("not_a_video", "the file is empty")
    if _ends_inside_a_box(path, size):
        raise MediaRejected("truncated", "the file ends inside its last box")
    try:
        container = av.open(str(path), options=dict(_OPEN_OPTIONS))
    except _PYAV_ERRORS as error:
        raise MediaRejected("not_a_video", f"no container FFmpeg reads: {error}") from None
    with container:
        if not container.streams.video:
            raise MediaRejected("not_a_video", "the container holds no video stream")
        stream = container.streams.video[0]
        width, height, codec = _geometry(stream)
        index = _guarded("truncated", _scan, container, stream)
        declared = _declared(container, stream, index)
        if index.packets == 0:
            raise MediaRejected("too_few_frames", "the video stream holds no frame")
        duration = declared.seconds if declared.seconds is not None else index.span_s
        fps = declared.fps or (index.packets / duration if duration > 0 else 0.0)
        sampled = _guarded("undecodable", _sample, container, stream, index, duration, fps,
                           max_frames_sampled)  # fmt: skip
    if sampled.decoded == 0:
        raise MediaRejected("undecodable", "no frame decodes")
    if sampled.decoded < MIN_FRAMES:
        raise MediaRejected("too_few_frames", f"{sampled.decoded} frame decodes")
    end = index.start_s + duration
    if sampled.missed or sampled.last_time_s < end - _allowance(declared, duration, fps):
        raise MediaRejected(
            "truncated", f"decoding stops at {sampled.last_time_s:.2f} s of {duration:.2f} s"
        )
    mean = sampled.luma_sum / sampled.count
    hashed = pdq.hash_luma(mean)
    return VideoFacts(
        sha256=digest,
        size_bytes=size,
        duration_s=round(duration, 3),
        width=width,
        height=height,
        frames=declared.frames or index.packets,
        fps=round(fps, 3),
        codec=codec,
        pdq=hashed.hex,
        pdq_quality=hashed.quality,
        perceptual_hash=hashed.hash64,
    )


def file_sha256(path: Path) -> tuple[str, int]:
    """The SHA-256 (hex) and size of the file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# --- the container ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Index:
    """The video stream's packets, read without decoding."""

    packets: int
    start_s: float  # the earliest presentation time
    span_s: float  # from the start to the end of the last packet
    keyframes: tuple[int, ...]  # presentation times in stream.time_base, ascending
    timed: bool  # every packet had a presentation time


@dataclass(frozen=True)
class _Declared:
    """What the container says, before anything was decoded."""

    frames: int  # 0: unknown
    seconds: float | None
    seconds_from_stream: bool  # the video stream's own duration, not the container's
    fps: float  # 0.0: unknown


def _geometry(stream: av.VideoStream) -> tuple[int, int, str]:
    context = stream.codec_context
    if context is None or context.codec is None:
        raise MediaRejected("undecodable", "no decoder for the video stream")
    width, height = context.width, context.height
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise MediaRejected("bad_resolution", f"{width} x {height}")
    return width, height, context.codec.name


def _scan(container: av.container.InputContainer, stream: av.VideoStream) -> _Index:
    base = stream.time_base or Fraction(1, 90000)
    packets, first, end = 0, math.inf, -math.inf
    keyframes: list[int] = []
    timed, cut = True, False
    for packet in container.demux(stream):
        if packet.size == 0:  # the demuxer's end-of-stream marker
            continue
        packets += 1
        cut = packet.is_corrupt  # the last one flagged: the file ends inside it
        pts = packet.pts
        if pts is None:
            timed = False
            continue
        first = min(first, pts)
        end = max(end, pts + max(packet.duration or 0, 0))
        if packet.is_keyframe:
            keyframes.append(pts)
    if cut:
        raise MediaRejected("truncated", "the file ends inside the last packet")
    if packets == 0:
        return _Index(0, 0.0, 0.0, (), False)
    if not math.isfinite(first):
        return _Index(packets, 0.0, 0.0, (), False)
    return _Index(
        packets=packets,
        start_s=float(first * base),
        span_s=float((end - first) * base),
        keyframes=tuple(sorted(keyframes)),
        timed=timed and bool(keyframes),
    )


def _declared(
    container: av.container.InputContainer, stream: av.VideoStream, index: _Index
) -> _Declared:
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    frames = max(stream.frames, 0)
    if stream.duration and stream.time_base:
        seconds: float | None = float(stream.duration * stream.time_base)
        from_stream = True
    elif container.duration:
        seconds, from_stream = container.duration / av.time_base, False
    else:
        seconds, from_stream = None, False
    declared = _Declared(frames, seconds, from_stream, fps)
    if frames and index.packets < frames - _tolerance(_SHORT_FRAMES, frames):
        raise MediaRejected("truncated", f"{index.packets} packets of {frames} frames")
    if seconds is not None and index.span_s < seconds - _allowance(declared, seconds, fps):
        raise MediaRejected("truncated", f"packets span {index.span_s:.2f} s of {seconds:.2f} s")
    return declared


def _tolerance(rule: tuple[float, float], total: float) -> float:
    floor, share = rule
    return max(floor, share * total)


def _allowance(declared: _Declared, seconds: float, fps: float) -> float:
    """How far short of ``seconds`` the packets or frames may end: a frame's length
    (the last frame starts one frame before the end) plus the tolerance."""
    rule = _SHORT_STREAM_S if declared.seconds_from_stream else _SHORT_CONTAINER_S
    return (1 / fps if fps > 0 else 0.0) + _tolerance(rule, seconds)


# --- decoding ----------------------------------------------------------------------------


@dataclass
class _Sampled:
    luma_sum: npt.NDArray[np.float64]
    count: int = 0  # frames in the sum
    decoded: int = 0  # frames out of the decoder, sampled or not
    last_time_s: float = -math.inf
    missed: bool = False  # decoding ended before a sample's time


def _sample(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    index: _Index,
    duration: float,
    fps: float,
    max_frames: int,
) -> _Sampled:
    """The sampled frames' luminance, summed: about one a second, at most
    ``max_frames``, the middle of each of n equal slices of the duration.

    Seeks to the key frame before a sample when the container has an index to seek by
    (MP4/MOV, Matroska/WebM, AVI) and every packet is timed; should that decode nothing
    at some sample (a seek that misses), it decodes the whole stream once instead, as
    it does for the other containers (MPEG-TS and PS seek by byte guesses)."""
    size = _fit(stream.codec_context.width, stream.codec_context.height)
    count = min(max_frames, max(MIN_FRAMES, round(duration)))
    targets = [index.start_s + (k + 0.5) * duration / count for k in range(count)]
    if index.timed and _indexed(container):
        result = _walk(container, stream, index, targets, fps, size, seek=True)
        if result.decoded and not result.missed:
            return result
    return _walk(container, stream, index, targets, fps, size, seek=False)


def _indexed(container: av.container.InputContainer) -> bool:
    return bool(set(container.format.name.split(",")) & {"mov", "matroska", "avi"})


def _walk(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    index: _Index,
    targets: list[float],
    fps: float,
    size: tuple[int, int],
    *,
    seek: bool,
) -> _Sampled:
    """Decode from the start, taking the first frame at or after each target time;
    with ``seek``, jump to the key frame before a target rather than decode up to it
    when that key frame lies ahead of the last decoded frame. Then decode to the end."""
    width, height = size
    result = _Sampled(np.zeros((height, width), np.float64))
    base = stream.time_base or Fraction(1, 90000)
    step = 1 / fps if fps > 0 else 0.04
    container.seek(0)  # rewind: the scan, or a first attempt, read to the end
    frames = container.decode(stream)
    for target in targets:
        if seek:
            at = bisect.bisect_right(index.keyframes, target / base) - 1
            keyframe = index.keyframes[max(0, at)]
            if at > 0 and keyframe * base > result.last_time_s:
                container.seek(keyframe, stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
        for frame in frames:
            result.decoded += 1
            result.last_time_s = _time_of(frame, result.last_time_s, index.start_s, step)
            if result.last_time_s >= target - 1e-6:
                _add(result, frame, width, height)
                break
        else:
            result.missed = True
            return result
    for frame in frames:  # the rest: the end of the video decodes too
        result.decoded += 1
        result.last_time_s = _time_of(frame, result.last_time_s, index.start_s, step)
    return result


def _time_of(frame: av.VideoFrame, previous: float, start: float, step: float) -> float:
    """The frame's presentation time, or one frame after the previous one's."""
    if frame.time is not None:
        return frame.time
    return start if previous == -math.inf else previous + step


def _add(result: _Sampled, frame: av.VideoFrame, width: int, height: int) -> None:
    rgb = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
    result.luma_sum += pdq.luminance(np.asarray(rgb, np.uint8))
    result.count += 1


def _fit(width: int, height: int) -> tuple[int, int]:
    """The size the frames are hashed at: the longer side 512, the aspect kept."""
    scale = HASH_SIDE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


P = ParamSpec("P")
T = TypeVar("T")


def _guarded(reason: Reason, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``call``, with a PyAV or FFmpeg error turned into ``MediaRejected(reason)``."""
    try:
        return call(*args, **kwargs)
    except MediaRejected:
        raise
    except _PYAV_ERRORS as error:
        raise MediaRejected(reason, f"{type(error).__name__}: {error}") from None


# --- the file's own structure ------------------------------------------------------------

_BMFF_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_SEGMENT_ID = b"\x18\x53\x80\x67"


def _ends_inside_a_box(path: Path, size: int) -> bool:
    """An MP4/MOV whose top-level boxes, a Matroska/WebM whose segment or an AVI whose
    RIFF chunks claim more bytes than the file has: the file ends mid-stream. Other
    files: False."""
    with path.open("rb") as file:
        head = file.read(12)
        if head[:4] == _EBML_MAGIC:
            return _matroska_cut_short(file, size)
        if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            return _riff_cut_short(file, size)
        if len(head) >= 8 and head[4:8] in _BMFF_FIRST_BOXES:
            return _bmff_cut_short(file, size)
    return False


def _bmff_cut_short(file: BinaryIO, size: int) -> bool:
    offset = 0
    while offset < size:
        file.seek(offset)
        header = file.read(16)
        if len(header) < 8:
            return True  # a box header cut in two
        box_size = int.from_bytes(header[:4], "big")
        if box_size == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return True
            box_size = int.from_bytes(header[8:16], "big")
        elif box_size == 0:  # the box runs to the end of the file, whatever its length
            return False
        if box_size < 8:
            return False  # malformed, not cut: the demuxer will say
        if offset + box_size > size:
            return True
        offset += box_size
    return False


def _riff_cut_short(file: BinaryIO, size: int) -> bool:
    """RIFF chunks (an AVI; OpenDML files over 1 GiB hold several), each an id, a
    little-endian 32-bit size and the data, padded to an even length."""
    offset = 0
    while offset < size:
        file.seek(offset)
        header = file.read(8)
        if len(header) < 8:
            return True
        end = offset + 8 + int.from_bytes(header[4:8], "little")
        if end > size:
            return True
        offset = end + (end & 1)
    return False


def _matroska_cut_short(file: BinaryIO, size: int) -> bool:
    file.seek(4)
    header_size = _read_vint(file)
    if header_size is None:
        return True
    file.seek(file.tell() + header_size)
    if file.read(4) != _SEGMENT_ID:
        return False
    segment_size = _read_vint(file, unknown=-1)
    if segment_size is None:
        return True
    return segment_size >= 0 and file.tell() + segment_size > size


def _read_vint(file: BinaryIO, unknown: int | None = None) -> int | None:
    """An EBML variable-length size; ``unknown`` for the all-ones "unknown size"; None
    when the file ends inside it."""
    first = file.read(1)
    if not first:
        return None
    length = 9 - first[0].bit_length()  # the leading zeros, plus one
    if not 1 <= length <= 8:
        return 0
    rest = file.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = first[0] & (0xFF >> length)
    for byte in rest:
        value = value << 8 | byte
    return unknown if unknown is not None and value == (1 << (7 * length)) - 1 else value
