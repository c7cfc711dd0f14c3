"""Scale-out: ``apply --executor dask`` on a LocalCluster of two worker processes against
``apply`` with the threads of one process, on the same machine, servers and data.

Workloads: small, 2,000 x 16 KiB; large, 8 x 32 MiB. Runs alternate A B A B (threads, then
dask), each into fresh buckets, at the same total concurrency (``--workers 8`` against two
workers of four threads). For the dask runs the CPU seconds are the coordinator's plus the
workers' (``time.process_time`` on every worker before and after). On a 2-core machine the
two emulators already use most of the CPU, so parity is what to expect: the point is that
the cluster adds no cost of its own; the gain comes with workers on other machines.

Writes bench/results/dask_bench.json and the "Scale-out" section of docs/benchmarks.md.

    .venv/bin/python bench/dask_bench.py [--small 2000] [--large 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from copy_bench import KiB, MiB, ours, seed, summarise, table
from distributed import Client, LocalCluster
from report import replace_section

from tools import emulators

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "dask_bench.json"
THREADS = 8


def _worker_cpu(client: Client) -> float:
    return float(sum(client.run(time.process_time).values()))


def run_workload(
    name: str,
    containers: dict[str, tuple[int, int]],
    servers: emulators.Servers,
    client: Client,
    work: Path,
) -> dict[str, Any]:
    seed(servers, containers)
    objects = sum(n for n, _ in containers.values())
    size = sum(n * s for n, s in containers.values())
    address = str(client.scheduler.address)
    runs: dict[str, list[dict[str, float]]] = {"threads": [], "dask": []}
    for _ in range(2):  # A B A B
        runs["threads"].append(ours(servers, list(containers), THREADS, work))
        before = _worker_cpu(client)
        result = ours(
            servers,
            list(containers),
            THREADS,
            work,
            ("--executor", "dask", "--scheduler", address),
        )
        result["cpu"] += _worker_cpu(client) - before
        runs["dask"].append(result)
    summary: dict[str, Any] = {"workload": name, "objects": objects, "bytes": size}
    for executor, results in runs.items():
        summary[executor] = summarise(results, objects, size)  # peak RSS: the coordinator's
    summary["ratio"] = round(
        summary["threads"]["wall_seconds"] / summary["dask"]["wall_seconds"], 2
    )
    print(json.dumps(summary))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=8)
    parser.add_argument("--no-report", action="store_true", help="print results only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dask-bench-"))
    servers = emulators.start()
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=THREADS // 2,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=":0",
        env=servers.environment(),
        silence_logs=logging.ERROR,
    )
    client = Client(cluster, set_as_default=False)
    try:
        tag = uuid.uuid4().hex[:5]
        workloads = {
            "small": {f"dsmall-{tag}": (args.small, 16 * KiB)},
            "large": {f"dlarge-{tag}": (args.large, 32 * MiB)},
        }
        results = [
            run_workload(name, containers, servers, client, work)
            for name, containers in workloads.items()
        ]
    finally:
        client.close()
        cluster.close()
        emulators.stop(servers)
        shutil.rmtree(work, ignore_errors=True)
    if args.no_report:
        return
    machine = {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    RESULTS.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    lines = [
        "## Scale-out: dask against threads (`bench/dask_bench.py`)",
        "",
        f"Azurite and moto's S3 server on loopback, {machine['cpus']} cores, {machine['date']}; "
        f"`apply --workers {THREADS}` (threads) against `apply --executor dask` on a "
        f"LocalCluster of 2 worker processes x {THREADS // 2} threads; alternating A B A B "
        "into fresh buckets; medians of two runs. CPU: the coordinator plus, for dask, the "
        "workers.",
        "",
        *table(results, ("threads", "dask"), "executor", rss=False),
    ]
    lines += [
        "",
        "Ratio (threads wall time / dask; 1 is parity): "
        + ", ".join(f"{r['workload']} {r['ratio']}" for r in results)
        + ".",
        "",
        "On two cores the servers set the pace: the cluster neither gains nor should lose much. "
        "The throughput model for real workers is in [scale-out.md](scale-out.md).",
        "",
    ]
    replace_section("Scale-out: dask against threads", "\n".join(lines))


if __name__ == "__main__":
    main()
