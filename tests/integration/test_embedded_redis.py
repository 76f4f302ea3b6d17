"""One embedded Redis server per installation, whatever the number of processes."""

import multiprocessing
from pathlib import Path

import redis

from rewards_engine.redis_server import EmbeddedRedis


def _start(directory: str, queue: "multiprocessing.Queue[tuple[bool, str]]") -> None:
    server = EmbeddedRedis(Path(directory))
    started = server.ensure_running()
    queue.put((started, server.pid_path.read_text().strip()))


def test_processes_of_one_installation_share_one_server(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_start, args=(str(tmp_path), queue)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    results = [queue.get(timeout=5) for _ in processes]
    server = EmbeddedRedis(tmp_path)
    try:
        assert sum(started for started, _ in results) == 1  # exactly one process started it
        assert len({pid for _, pid in results}) == 1
        client = redis.Redis.from_url(server.url)
        client.set("shared", "yes")
        assert redis.Redis.from_url(server.url).get("shared") == b"yes"
        client.close()
    finally:
        server.stop()
    assert not server.is_running()


def test_a_long_instance_path_falls_back_to_a_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = EmbeddedRedis(deep)
    assert len(str(server.socket_path)) <= 100
    try:
        assert server.ensure_running()
        assert server.is_running()
        assert not server.ensure_running()  # a second call finds it running
    finally:
        server.stop()
