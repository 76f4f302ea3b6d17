"""docs/performance.md, verifying received videos: the CPU cost of analysing a clip and the
throughput of the verification worker."""

from __future__ import annotations

from benchmarks.report import MIB, TIMES, Result, block, num, pct, table


@block("verification")
def verification(result: Result) -> list[str]:
    clip, one = result["clip"], result["one_process"]
    split, total = one["cpu_ms_split"], one["cpu_ms_per_clip_mean"]
    parts = {
        "SHA-256 of the file": split["sha256"],
        "container checks (box sizes, packet scan)": split["container_checks"],
        "opening the container, the rest": split["opening_and_the_rest"],
        "decoding the sampled frames": split["decoding_sampled_frames"],
        "scaling them to 512 px, RGB, luminance": split["frame_conversion"],
        "PDQ of the mean image": split["pdq_math"],
    }
    rows = [[part, num(ms, 1), pct(ms / total, 1)] for part, ms in parts.items()]
    rows.append(["**analyse(), mean of the clips**", f"**{num(total, 1)}**", "100 %"])
    cpu_hours, cores = one["leader_cpu_hours"], int(result["machine"]["cores"])
    runs = [
        [run["processes"], num(run["clips_per_s"], 2), f"{num(run['leader_hours'], 1)} h"]
        for run in result["throughput"]
    ]
    storage = result["leader_storage_bytes"]
    lines = [
        f"{result['clips']} clips of {clip['seconds']} s, {clip['width']}{TIMES}{clip['height']} "
        f"at {clip['fps']} fps, {clip['codec']} at {num(clip['mean_bitrate'] / 1e6, 2)} Mbit/s "
        f"with a key frame every {clip['keyframe_every_s']} s, "
        f"{num(clip['mean_bytes'] / MIB, 1)} MiB each "
        f"(PyAV {result['pyav']}, libavcodec {result['libavcodec']}); "
        f"{one['frames_sampled_per_clip']} frames sampled a clip.",
        "",
        *table(["one clip, one process", "CPU ms", "share"], rows, "lrr"),
        "",
        f"Elapsed: mean {num(one['ms_per_clip_mean'], 1)} ms, "
        f"median {num(one['ms_per_clip_median'], 1)} ms, "
        f"slowest {num(one['ms_per_clip_max'], 1)} ms. Apart: the SHA-256 alone "
        f"{num(one['sha256_alone_ms'], 2)} ms a clip "
        f"({num(one['sha256_alone_mb_per_s'])} MB/s, the file in the page cache), the PDQ of a "
        f"512{TIMES}288 image alone {num(one['pdq_math_alone_ms'], 2)} ms.",
        "",
        *table(
            ["processes", "clips/s", f"the leader's {num(result['leader_clips'])} clips"],
            runs,
            "rrr",
        ),
        "",
        f"At the CPU time above, the leader's clips take {num(cpu_hours, 1)} core-hours: "
        f"{num(cpu_hours / cores, 1)} h on this machine's {cores} cores when nothing else runs.",
        "",
        f"Storing the leader's {num(result['leader_clips'])} clips at this size: "
        f"{num(storage / 1e9)} GB ({num(storage / 2**40, 2)} TiB).",
    ]
    longer = result.get("longer_clips")
    if longer:
        lines += [
            "",
            f"A {longer['seconds']} s clip ({longer['frames_sampled_per_clip']} frames sampled, "
            f"{num(longer['mean_bytes'] / MIB, 1)} MiB): {num(longer['cpu_ms_per_clip_mean'], 1)} "
            f"CPU ms, mean of "
            f"{longer['clips']}.",
        ]
    low, high = result["load_average"]
    return [*lines, "", f"Load average (1 min) before and after the timed runs: {low}, {high}."]
