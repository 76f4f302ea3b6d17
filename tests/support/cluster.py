"""A real Redis Cluster on loopback ports, for the tests that need one.

Masters and replicas are plain ``redis-server --cluster-enabled yes`` processes, joined
with the cluster commands themselves (MEET, ADDSLOTS, REPLICATE: what ``redis-cli
--cluster create`` sends), so only redis-server is needed.
"""

from __future__ import annotations

import random
import socket
import subprocess
from pathlib import Path

import redis

from rewards_engine.redis_server import redis_server_binary
from tests.support.waiting import wait_until

SLOTS = 16_384
BUS_OFFSET = 10_000  # a node's cluster bus listens on its port + 10000


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port(taken: set[int]) -> int:
    """A free port whose bus port (+10000) is free too, and below 65536."""
    while True:
        port = random.randrange(20_000, 45_000)
        if port not in taken and _bindable(port) and _bindable(port + BUS_OFFSET):
            taken.add(port)
            return port


class LocalCluster:
    def __init__(self, directory: Path, masters: int = 3, replicas: int = 1) -> None:
        self.directory = directory
        taken: set[int] = set()
        self.masters = [cluster_port(taken) for _ in range(masters)]
        self.replicas = [cluster_port(taken) for _ in range(masters * replicas)]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def ports(self) -> list[int]:
        return self.masters + self.replicas

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.masters)

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, decode_responses=True)

    def start(self) -> LocalCluster:
        for port in self.ports:
            self._spawn(port)
        first = self.node(self.masters[0])
        for port in self.ports[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        share = SLOTS // len(self.masters)
        for index, port in enumerate(self.masters):
            end = SLOTS if index == len(self.masters) - 1 else (index + 1) * share
            self.node(port).execute_command("CLUSTER", "ADDSLOTS", *range(index * share, end))
        self._wait(
            lambda: all(self._known(p) == len(self.ports) for p in self.ports),
            "every Redis cluster node to know the others",
        )
        for index, port in enumerate(self.replicas):
            master = self.masters[index % len(self.masters)]
            master_id = self.node(master).execute_command("CLUSTER", "MYID")
            self.node(port).execute_command("CLUSTER", "REPLICATE", master_id)
        self._wait(self.healthy, "the Redis cluster to serve every slot")
        return self

    def _spawn(self, port: int) -> None:
        folder = self.directory / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            redis_server_binary(),
            "--port", str(port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "1000", "--save", "", "--appendonly", "no",
            "--dir", str(folder),
        ]  # fmt: skip
        self.processes[port] = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait(lambda: self._answers(port), f"the Redis cluster node on port {port} to answer")

    def _answers(self, port: int) -> bool:
        try:
            return bool(self.node(port).ping())
        except redis.RedisError:
            return False

    def _known(self, port: int) -> int:
        return len(self.node(port).execute_command("CLUSTER", "NODES").strip().splitlines())

    def healthy(self) -> bool:
        """Every live node says the cluster is ok and every slot is served."""
        for port, process in self.processes.items():
            if process.poll() is not None:
                continue
            info = self.node(port).execute_command("CLUSTER", "INFO")
            if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                return False
        return True

    def live(self) -> list[int]:
        return [port for port, process in self.processes.items() if process.poll() is None]

    def master_of(self, key: str) -> int:
        """The port of the master that holds ``key``'s slot now (as a live node sees it)."""
        client = self.node(self.live()[0])
        slot = client.execute_command("CLUSTER", "KEYSLOT", key)
        for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise AssertionError(f"no master serves slot {slot}")

    def kill(self, port: int) -> None:
        process = self.processes[port]
        process.kill()
        process.wait(10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)

    @staticmethod
    def _wait(condition, what: str) -> None:  # type: ignore[no-untyped-def]
        def met() -> bool:
            try:
                return bool(condition())
            except redis.RedisError:  # not answering yet
                return False

        wait_until(met, timeout=30, every=0.1, what=what)
