"""The bandwidth limit's accuracy (issue 18): the rate the copy reads from the source, measured
at a TCP relay in front of Azurite (every byte Azurite sends, timestamped), over every
60-second window of a long copy at ``--bwlimit``. Goal: each window within 10 % of the limit.

Writes bench/results/bandwidth_bench.json and the "Bandwidth limit" section of
docs/benchmarks.md.

    .venv/bin/python bench/bandwidth_bench.py [--limit-mib 2] [--seconds 150] [--workers 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from report import replace_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import emulators
from tools.azblob import BlobWriter

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "bandwidth_bench.json"
MiB = 1024 * 1024
OBJECT = 2 * MiB
WINDOW = 60


class Relay:
    """127.0.0.1:port -> the upstream port; counts the bytes coming back, per second."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.seconds: dict[int, int] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    second = int(time.monotonic())
                    with self.lock:
                        self.seconds[second] = self.seconds.get(second, 0) + len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for end in (src, dst):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


def seed(servers: emulators.Servers, container: str, count: int) -> None:
    local = threading.local()

    def put(index: int) -> None:
        if not hasattr(local, "writer"):
            local.writer = BlobWriter(servers.azurite_url)
        local.writer.put_blob(container, f"data/{index:05d}.bin", os.urandom(OBJECT))

    BlobWriter(servers.azurite_url).create_container(container)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, range(count)))


def windows(seconds: dict[int, int], start: int, end: int) -> list[float]:
    """Bytes per second of every 60-second window inside [start, end)."""
    series = [seconds.get(s, 0) for s in range(start, end)]
    return [sum(series[i : i + WINDOW]) / WINDOW for i in range(0, len(series) - WINDOW + 1)]


def render() -> None:
    """Write the docs section again from the last results (no new run)."""
    replace_section("Bandwidth limit", section(json.loads(RESULTS.read_text())))


def main() -> None:
    if sys.argv[1:] == ["--render"]:
        render()
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit-mib", type=float, default=2.0)
    parser.add_argument("--seconds", type=int, default=150)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    limit = args.limit_mib * MiB
    count = int(limit * args.seconds / OBJECT)
    servers = emulators.start()
    try:
        container = "bwbench"
        seed(servers, container, count)
        relay = Relay(servers.azurite_port)
        work = Path(tempfile.mkdtemp(prefix="bwbench-"))
        inventory = {
            "version": 1,
            "name": "bwbench",
            "source": {
                "provider": "azure",
                "account": emulators.AZURITE_ACCOUNT,
                "endpoint": f"http://127.0.0.1:{relay.port}/{emulators.AZURITE_ACCOUNT}",
            },
            "target": {"provider": "s3", "endpoint": servers.s3_url, "region": "eu-west-2"},
            "policy": {"pilot_wave": False},
            "services": [
                {"name": "bw-data", "kind": "object-store", "data": {"container": container}}
            ],
        }
        (work / "inventory.yaml").write_text(yaml.safe_dump(inventory))
        env = {**os.environ, **servers.environment()}
        migrate = str(Path(sys.executable).with_name("migrate"))
        subprocess.run(
            [migrate, "plan", "inventory.yaml", "-o", "plan.json"], env=env, cwd=work, check=True
        )
        started = int(time.monotonic())
        subprocess.run(
            [
                migrate,
                "apply",
                "plan.json",
                "--yes",
                "--workers",
                str(args.workers),
                "--bwlimit",
                f"{args.limit_mib:g}M",
                "--log-format",
                "json",
            ],
            env=env,
            cwd=work,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        ended = int(time.monotonic())
    finally:
        emulators.stop(servers)
    copied = {s: b for s, b in relay.seconds.items() if b > 64 * 1024}  # listings aside
    first, last = min(copied), max(copied) + 1
    rates = windows(relay.seconds, first, last)
    result: dict[str, Any] = {
        "limit_bytes_per_s": limit,
        "objects": count,
        "object_bytes": OBJECT,
        "workers": args.workers,
        "copy_seconds": last - first,
        "apply_seconds": ended - started,
        "windows": len(rates),
        "lowest_window": min(rates) / limit,
        "highest_window": max(rates) / limit,
        "whole_copy": sum(relay.seconds.get(s, 0) for s in range(first, last))
        / (last - first)
        / limit,
    }
    result["goal_met"] = result["lowest_window"] >= 0.9 and result["highest_window"] <= 1.1
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    replace_section("Bandwidth limit", section(result))
    print(json.dumps(result, indent=2))


def section(result: dict[str, Any]) -> str:
    limit = result["limit_bytes_per_s"] / MiB
    return (
        "## Bandwidth limit\n\n"
        f"`bench/bandwidth_bench.py`: {result['objects']} objects of "
        f"{result['object_bytes'] // MiB} MiB copied with `--bwlimit {limit:g}M` and "
        f"{result['workers']} workers; every byte Azurite sent is counted at a TCP relay in "
        "front of it, per second, and the rate is taken over every 60-second window of the "
        "copy (goal: each within 10 % of the limit).\n\n"
        "| Copy | 60 s windows | Lowest | Highest | Whole copy | Goal |\n"
        "|---|---|---|---|---|---|\n"
        f"| {result['copy_seconds']} s | {result['windows']} | "
        f"{result['lowest_window']:.3f} x limit | {result['highest_window']:.3f} x limit | "
        f"{result['whole_copy']:.3f} x limit | "
        f"{'met' if result['goal_met'] else 'NOT met'} |\n\n"
        "The bucket the copy threads read through allows one second of burst (1.7 % over a "
        "minute). The windows spread further because they are measured at the wire, ahead of "
        "the reader; the likely cause (not measured apart) is that each connection's kernel "
        "buffers take up to a few MiB of an answer before the copy reads it, so Azurite "
        "sends in bursts that the bucket pays back later. Over the whole copy the rate is "
        "the limit's.\n"
    )


if __name__ == "__main__":
    main()
