"""Verifying received videos: ``rewards_engine.media.analyse`` on 720p clips.

N clips of 10 s, 1280 x 720 at 30 fps, H.264 at about 3 Mbit/s with a key frame every
second (as phone and dashcam encoders write them; MPEG-4 Part 2 if PyAV's wheel cannot
encode H.264), made with tests/support/videos.py, each a different scene. Then:

1. each clip analysed once in this process, its CPU time split (inside the same calls) into
   the SHA-256 of the file, the container checks (box sizes, opening, the packet scan),
   decoding the sampled frames, converting them (scale, RGB, luminance) and the PDQ
   math on the mean image; the SHA-256 alone and the PDQ math alone are timed apart too;
2. all clips analysed by 1 and then 2 worker processes: clips per second, and the time
   the leader's 201,531 clips would take at that rate;
3. the storage those clips need: the mean bytes of a clip times 201,531;
4. a few longer clips (the leader's synthetic clips last 20-59 s, 40 s on average) to
   show how the cost grows with the length.

The files are in the page cache (just written): reading them from a disk or object
store comes on top.

    python -m benchmarks.verification [--clips 20] [--long-clips 3] [--folder DIR]

``--folder`` keeps the clips (``--make-only`` just makes them), so that on a shared
machine the timed part can wait for a quiet moment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import av
import numpy as np

from benchmarks.common import report
from benchmarks.ingest_leader import LEADER_CLIPS
from rewards_engine.media import analyse, pdq, probe
from tests.support import videos

SIZE, FPS, SECONDS, BITRATE = (1280, 720), 30, 10, 3_000_000
LONG_SECONDS = 40


def make_clip(args: tuple[Path, int, float]) -> int:
    path, seed, seconds = args
    videos.make_video(path, seconds=seconds, size=SIZE, fps=FPS, seed=seed, bitrate=BITRATE,
                      gop=FPS)  # fmt: skip
    return path.stat().st_size


def make_clips(folder: Path, count: int, seconds: float, first_seed: int) -> list[Path]:
    """The clips, made in two processes; those already in ``folder`` are kept."""
    paths = [folder / f"clip-{seconds:g}s-{first_seed + i:03d}.mp4" for i in range(count)]
    jobs = [(path, first_seed + i, seconds) for i, path in enumerate(paths)]
    missing = [job for job in jobs if not job[0].exists()]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        list(pool.map(make_clip, missing))
    return paths


PARTS = {
    "sha256": (probe, "file_sha256"),
    "box_check": (probe, "_ends_inside_a_box"),
    "packet_scan": (probe, "_scan"),
    "sampling": (probe, "_sample"),  # decoding, with the conversion inside
    "conversion": (probe, "_add"),
    "pdq_math": (pdq, "hash_luma"),
}


@contextmanager
def timed_parts() -> Iterator[dict[str, float]]:
    """CPU seconds spent in each part of ``analyse``, measured inside the calls."""
    spent = dict.fromkeys(PARTS, 0.0)
    originals = {name: getattr(module, attr) for name, (module, attr) in PARTS.items()}

    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.process_time() - started

        return timed

    for name, (module, attr) in PARTS.items():
        setattr(module, attr, wrap(name, originals[name]))
    try:
        yield spent
    finally:
        for name, (module, attr) in PARTS.items():
            setattr(module, attr, originals[name])


def bench_one_process(paths: list[Path]) -> dict[str, Any]:
    analyse(paths[0])  # imports and first-call costs out of the way
    times, cpu = [], []
    with timed_parts() as spent:
        for path in paths:
            started, cpu_started = time.perf_counter(), time.process_time()
            facts = analyse(path)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            assert facts.duration_s == SECONDS and facts.frames == SECONDS * FPS
    total = sum(cpu)
    ms = {name: 1000 * seconds / len(paths) for name, seconds in spent.items()}
    split = {
        "sha256": ms["sha256"],
        "container_checks": ms["box_check"] + ms["packet_scan"],
        "decoding_sampled_frames": ms["sampling"] - ms["conversion"],
        "frame_conversion": ms["conversion"],
        "pdq_math": ms["pdq_math"],
    }
    split["opening_and_the_rest"] = 1000 * total / len(paths) - sum(split.values())
    sha_alone = [_best(lambda p=path: probe.file_sha256(p)) for path in paths]
    mean_image = np.random.default_rng(0).random((288, 512)) * 255
    return {
        "ms_per_clip_mean": round(1000 * statistics.mean(times), 1),
        "ms_per_clip_median": round(1000 * statistics.median(times), 1),
        "ms_per_clip_max": round(1000 * max(times), 1),
        # CPU time: what a clip costs whatever else the machine is running
        "cpu_ms_per_clip_mean": round(1000 * statistics.mean(cpu), 1),
        "leader_cpu_hours": round(LEADER_CLIPS * statistics.mean(cpu) / 3600, 1),
        "cpu_ms_split": {name: round(value, 2) for name, value in split.items()},
        "sha256_alone_ms": round(1000 * statistics.mean(sha_alone), 2),
        "sha256_alone_mb_per_s": round(
            sum(p.stat().st_size for p in paths) / sum(sha_alone) / 1e6, 0
        ),
        "pdq_math_alone_ms": round(1000 * _best(lambda: pdq.hash_luma(mean_image)), 2),
        "frames_sampled_per_clip": SECONDS,
    }


def _best(
    call: Callable[[], object], repeat: int = 3, clock: Callable[[], float] = time.perf_counter
) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = clock()
        call()
        best = min(best, clock() - started)
    return best


def _analyse(path: Path) -> int:
    return analyse(path).size_bytes


def bench_processes(paths: list[Path], workers: int, rounds: int) -> dict[str, Any]:
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(_analyse, paths[:workers]))  # start and warm every worker
        started = time.perf_counter()
        for _ in range(rounds):
            list(pool.map(_analyse, paths, chunksize=1))
        seconds = time.perf_counter() - started
    clips = len(paths) * rounds
    rate = clips / seconds
    return {
        "processes": workers,
        "clips": clips,
        "seconds": round(seconds, 2),
        "clips_per_s": round(rate, 2),
        "leader_hours": round(LEADER_CLIPS / rate / 3600, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--long-clips", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the clips a run")
    parser.add_argument("--folder", type=Path, help="keep the clips there (made once)")
    parser.add_argument("--make-only", action="store_true", help="make the clips, time nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-videos-") as directory:
        folder = args.folder or Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"making {args.clips} clips of {SECONDS} s ...", flush=True)
        paths = make_clips(folder, args.clips, SECONDS, first_seed=0)
        if args.make_only:
            make_clips(folder, args.long_clips, LONG_SECONDS, first_seed=1000)
            return
        sizes = [path.stat().st_size for path in paths]
        with av.open(str(paths[0])) as container:
            codec = container.streams.video[0].codec_context.name
        print("analysing ...", flush=True)
        load_before = os.getloadavg()[0]
        one = bench_one_process(paths)
        runs = [bench_processes(paths, workers, args.rounds) for workers in (1, 2)]
        load_after = os.getloadavg()[0]
        long_clips: dict[str, Any] = {}
        if args.long_clips:
            print(f"making {args.long_clips} clips of {LONG_SECONDS} s ...", flush=True)
            longer = make_clips(folder, args.long_clips, LONG_SECONDS, first_seed=1000)
            times = [_best(lambda p=path: analyse(p), repeat=2, clock=time.process_time)
                     for path in longer]  # fmt: skip
            long_clips = {
                "clips": len(longer),
                "seconds": LONG_SECONDS,
                "cpu_ms_per_clip_mean": round(1000 * statistics.mean(times), 1),
                "mean_bytes": round(statistics.mean(p.stat().st_size for p in longer)),
                "frames_sampled_per_clip": 16,
            }
    mean_bytes = statistics.mean(sizes)
    figures = {
        "clips": args.clips,
        "clip": {
            "seconds": SECONDS,
            "width": SIZE[0],
            "height": SIZE[1],
            "fps": FPS,
            "codec": codec,
            "keyframe_every_s": 1,
            "target_bitrate": BITRATE,
            "mean_bitrate": round(8 * mean_bytes / SECONDS),
            "mean_bytes": round(mean_bytes),
        },
        "pyav": av.__version__,
        "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "one_process": one,
        "throughput": runs,
        "leader_clips": LEADER_CLIPS,
        "leader_storage_bytes": round(mean_bytes * LEADER_CLIPS),
        "longer_clips": long_clips,
        # the machine is shared: the 1-minute load average around the timed runs
        "load_average": [round(load_before, 2), round(load_after, 2)],
    }
    report("verification", figures, save=args.clips == 20)


if __name__ == "__main__":
    main()
