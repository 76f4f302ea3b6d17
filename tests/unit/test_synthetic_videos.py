"""The synthetic videos the demo and ``rewards-engine sample-video`` make: real files the
probe accepts, as long as asked, each a scene whose perceptual hash is far from the
others' (the near-duplicate rule must not take the demo's clips for copies)."""

from __future__ import annotations

import hashlib
from itertools import combinations
from pathlib import Path

from click.testing import CliRunner

from rewards_engine.cli import cli
from rewards_engine.media import analyse, hamming_64
from rewards_engine.media.synthetic import DistinctVideos


def test_distinct_videos_are_real_videos_as_long_as_asked_and_far_apart(tmp_path: Path) -> None:
    maker = DistinctVideos(seed=7, min_distance=16)
    lengths = [2, 3, 2, 4, 2, 3] * 4 + [30]
    videos = maker.make(lengths[:12]) + maker.make(lengths[12:])  # two encodes, one maker
    facts = []
    for n, (seconds, video) in enumerate(zip(lengths, videos, strict=True)):
        path = tmp_path / f"{n}.mp4"
        path.write_bytes(video)
        found = analyse(path)
        assert found.sha256 == hashlib.sha256(video).hexdigest()
        assert (found.width, found.height) == (114, 64)
        assert abs(found.duration_s - seconds) < 0.01
        facts.append(found)
    assert len({f.sha256 for f in facts}) == len(facts)
    nearest = min(
        hamming_64(a.perceptual_hash, b.perceptual_hash) for a, b in combinations(facts, 2)
    )
    assert nearest >= 16  # the near-duplicate rule flags 5 bits or fewer


def test_the_same_seed_draws_the_same_scenes() -> None:
    first, second = DistinctVideos(seed=3), DistinctVideos(seed=3)
    assert first.make([2, 2]) == second.make([2, 2])
    assert DistinctVideos(seed=4).make([2]) != first.make([2])


def test_sample_video_writes_a_video_and_prints_its_hash_and_size(tmp_path: Path) -> None:
    path = tmp_path / "porch.mp4"
    done = CliRunner().invoke(cli, ["sample-video", str(path), "--seconds", "3"])
    assert done.exit_code == 0, done.output
    digest, size = done.output.split()
    content = path.read_bytes()
    assert (digest, int(size)) == (hashlib.sha256(content).hexdigest(), len(content))
    assert abs(analyse(path).duration_s - 3) < 0.01
    again = CliRunner().invoke(cli, ["sample-video", str(tmp_path / "other.mp4")])
    assert again.output.split()[0] != digest  # each a new scene
    refused = CliRunner().invoke(cli, ["sample-video", str(tmp_path / "clip.txt")])
    assert refused.exit_code != 0 and "name it .mp4" in refused.output
