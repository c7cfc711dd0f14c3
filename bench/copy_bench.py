"""Copy throughput against rclone on the same machine, servers and data, in the same run.

Workloads (issue 7): small, 5,000 x 16 KiB in two containers; large, 16 x 32 MiB; mixed,
2,500 x 16 KiB and 8 x 32 MiB in two containers copied together (neither kind may starve the
other); huge, one object of 2 GiB (memory must stay flat whatever the size). For each,
runs alternate A B A B (``migrate apply``, then ``rclone copy``), same concurrency, each into
fresh target buckets. Each run is a whole process: wall time, objects/s, MB/s and CPU
seconds come from ``wait4``, peak RSS from the process's VmHWM. ``migrate apply`` runs every
step it always runs (listing into the ledger, copy with hashes and the write check, verify,
freeze and final sync).

Writes bench/results/copy_bench.json, docs/images/copy_bench.svg and the "Copy throughput"
section of docs/benchmarks.md. Needs Debian's rclone (`apt-get install rclone`).

    .venv/bin/python bench/copy_bench.py [--workers 16] [--small 5000] [--large 16]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from report import replace_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import emulators
from tools.azblob import BlobWriter

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "copy_bench.json"
CHART = ROOT / "docs" / "images" / "copy_bench.svg"
KiB, MiB = 1024, 1024 * 1024
WORKLOADS = ("requests", "small", "large", "mixed", "huge", "short-small", "short-large")


def seed(servers: emulators.Servers, containers: dict[str, tuple[int, int]]) -> None:
    writers: dict[int, BlobWriter] = {}

    def writer() -> BlobWriter:
        ident = threading.get_ident()
        if ident not in writers:
            writers[ident] = BlobWriter(servers.azurite_url)
        return writers[ident]

    jobs = []
    for container, (count, size) in containers.items():
        writer().create_container(container)
        jobs += [(container, f"data/{i:06d}.bin", size) for i in range(count)]

    def put(job: tuple[str, str, int]) -> None:
        container, key, size = job
        body = os.urandom(size)
        if size > 8 * MiB:
            writer().put_blob_in_blocks(container, key, body, 8 * MiB)
        else:
            writer().put_blob(container, key, body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, jobs))


def _high_water_kib(pid: int) -> int:
    """VmHWM of a running process: the peak RSS of its own address space."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _group_cpu_seconds(group: int) -> float:
    """CPU seconds (user and system) so far of every process in a process group: each server
    runs in its own session, so this is what a run cost Azurite or moto."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp; fields[11:13] are utime and stime
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


SERVER_GROUPS: dict[str, int] = {}  # name -> process group, set once the servers run


def measure(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Wall, CPU (``wait4``) and peak RSS of one process, and the CPU each server spent
    meanwhile. The peak is VmHWM sampled every 20 ms until the exit: ``ru_maxrss`` from
    ``wait4`` is not usable here, since Linux carries over into it the RSS of the parent at
    fork time (this bench holds the seeded bodies), which made every tool look as large as
    the bench itself."""
    servers_before = {n: _group_cpu_seconds(g) for n, g in SERVER_GROUPS.items()}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = {"kib": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["kib"] = max(peak["kib"], _high_water_kib(process.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    errors = process.stderr.read().decode() if process.stderr else ""
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[0]} failed: {errors[-2000:]}")
    spent = {
        f"{n}_cpu": _group_cpu_seconds(g) - servers_before[n] for n, g in SERVER_GROUPS.items()
    }
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": peak["kib"] / 1024,
        **spent,
    }


def ours(
    servers: emulators.Servers,
    containers: list[str],
    workers: int,
    work: Path,
    extra: tuple[str, ...] = (),
    s3_url: str | None = None,
    before: Any = None,
) -> dict[str, float]:
    """One ``migrate apply`` of the containers, after its ``migrate probe`` (an engineer
    probes a target before the first apply; the probe decides the write check). ``before``
    is called between the probe and the apply (a request counter is reset there)."""
    run = work / f"ours-{uuid.uuid4().hex[:6]}"
    run.mkdir()
    prefix = f"o{uuid.uuid4().hex[:6]}-"
    inventory = {
        "version": 1,
        "name": "bench",
        "source": {
            "provider": "azure",
            "account": emulators.AZURITE_ACCOUNT,
            "endpoint": servers.azurite_url,
        },
        "target": {
            "provider": "s3",
            "endpoint": s3_url or servers.s3_url,
            "region": "eu-west-2",
            "bucket_prefix": prefix,
        },
        "policy": {"pilot_wave": False, "max_services_per_wave": 10},
        "services": [
            {"name": f"svc-{c}", "kind": "object-store", "data": {"container": c}}
            for c in containers
        ],
    }
    (run / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    env = {**os.environ, **servers.environment()}
    migrate = str(Path(sys.executable).with_name("migrate"))
    for step in (["plan", "inventory.yaml", "-o", "plan.json"], ["probe", "inventory.yaml"]):
        subprocess.run([migrate, *step], env=env, cwd=run, check=True, capture_output=True)
    if before is not None:
        before()
    command = [migrate, "apply", "plan.json", "--yes", "--workers", str(workers), *extra]
    return measure(command, env, run)


def rclone_config(servers: emulators.Servers, work: Path, s3_url: str | None = None) -> Path:
    """rclone's remotes ``az`` (Azurite) and ``s3`` (the S3 server, or ``s3_url``)."""
    config = work / "rclone.conf"
    config.write_text(
        "[az]\ntype = azureblob\nuse_emulator = true\n"
        f"account = {emulators.AZURITE_ACCOUNT}\nkey = {emulators.AZURITE_KEY}\n"
        f"endpoint = {servers.azurite_url}\n\n"
        "[s3]\ntype = s3\nprovider = Other\n"
        f"access_key_id = {emulators.S3_ACCESS_KEY}\n"
        f"secret_access_key = {emulators.S3_SECRET_KEY}\n"
        f"endpoint = {s3_url or servers.s3_url}\nregion = eu-west-2\nforce_path_style = true\n"
    )
    os.chmod(config, 0o600)
    return config


def rclone(
    servers: emulators.Servers,
    containers: list[str],
    workers: int,
    work: Path,
    s3_url: str | None = None,
) -> dict[str, float]:
    config = rclone_config(servers, work, s3_url)
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    prefix = f"r{uuid.uuid4().hex[:6]}-"
    totals = {"wall": 0.0, "cpu": 0.0, "rss_mib": 0.0, **{f"{n}_cpu": 0.0 for n in SERVER_GROUPS}}
    started = time.perf_counter()
    for container in containers:  # rclone copies one container per command
        result = measure(
            [
                "rclone",
                "copy",
                f"az:{container}",
                f"s3:{prefix}{container}",
                "--config",
                str(config),
                "--transfers",
                str(workers),
                "--checkers",
                str(workers),
                "-q",
            ],
            env,
            work,
        )
        for name in ("cpu", *(f"{n}_cpu" for n in SERVER_GROUPS)):
            totals[name] += result[name]
        totals["rss_mib"] = max(totals["rss_mib"], result["rss_mib"])
    totals["wall"] = time.perf_counter() - started
    return totals


def _timed(work: Any, items: list[Any], workers: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``work`` over ``items`` on ``workers`` threads."""
    cpu, started = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, items))
    return time.perf_counter() - started, time.process_time() - cpu


def ceilings(
    servers: emulators.Servers, containers: list[str], workers: int
) -> dict[str, dict[str, float]]:
    """Read-only, write-only and HEAD-only rates with the adapters `migrate apply` uses
    (same clients, same concurrency): what each server allows on its own on this machine."""
    from adapters.azure import AzureSource
    from adapters.s3 import S3Settings, S3Target
    from migrate.ports import BucketSettings, Encryption, ObjectAttributes, TargetCapabilities

    source = AzureSource(emulators.AZURITE_ACCOUNT, emulators.AZURITE_KEY, servers.azurite_url)
    settings = S3Settings(
        servers.s3_url,
        "eu-west-2",
        emulators.S3_ACCESS_KEY,
        emulators.S3_SECRET_KEY,
        max_connections=workers + 4,
    )
    target = S3Target(settings, TargetCapabilities())
    listed = []
    for container in containers:
        marker = None
        while True:
            page = source.list_page(container, "", marker)
            listed += [(container, o.key, o.size) for o in page.objects]
            marker = page.next_marker
            if marker is None:
                break
    bucket = f"ceiling-{uuid.uuid4().hex[:8]}"
    target.ensure_bucket(bucket, BucketSettings(Encryption("AES256"), {}))
    body = os.urandom(max(size for _, _, size in listed))
    total = sum(size for _, _, size in listed)

    def read(item: tuple[str, str, int]) -> None:
        with source.open(item[0], item[1], None) as reader:
            for _ in reader.chunks(1024 * KiB):
                pass

    def write(item: tuple[str, str, int]) -> None:
        data = body[: item[2]]
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        target.put(bucket, item[1], data, md5, ObjectAttributes(), Encryption("AES256"))

    def head(item: tuple[str, str, int]) -> None:
        target.head(bucket, item[1])

    results = {}
    for name, work in (("read", read), ("write", write), ("head", head)):
        wall, cpu = _timed(work, listed, workers)
        results[name] = {
            "objects_per_second": round(len(listed) / wall, 1),
            "mb_per_second": round(total / wall / 1e6, 1),
            "cpu_seconds": round(cpu, 2),
        }
    return results


def summarise(results: list[dict[str, float]], objects: int, size: int) -> dict[str, Any]:
    """Medians of the runs of one tool on one workload (peak RSS: the largest)."""
    wall = statistics.median(r["wall"] for r in results)
    return {
        "wall_seconds": round(wall, 2),
        "objects_per_second": round(objects / wall, 1),
        "mb_per_second": round(size / wall / 1e6, 1),
        "cpu_seconds": round(statistics.median(r["cpu"] for r in results), 2),
        **{
            f"{n}_cpu_seconds": round(statistics.median(r[f"{n}_cpu"] for r in results), 2)
            for n in SERVER_GROUPS
        },
        "peak_rss_mib": round(max(r["rss_mib"] for r in results), 1),
        "runs": [round(r["wall"], 2) for r in results],
    }


def table(
    results: list[dict[str, Any]], runs: tuple[str, str], label: str, *, rss: bool
) -> list[str]:
    """The Markdown table of the runs compared (peak RSS only where it says something; the
    servers' CPU where it was measured)."""
    servers = [n for n in ("azurite", "moto") if f"{n}_cpu_seconds" in results[0][runs[0]]]
    head = f"| workload | {label} | wall (s) | objects/s | MB/s | CPU (s) |"
    head += "".join(f" {n} CPU (s) |" for n in servers) + (" peak RSS (MiB) |" if rss else "")
    rows = [head, "|---|---|" + "---:|" * (head.count("|") - 3)]
    for r in results:
        for name in runs:
            t = r[name]
            rows.append(
                f"| {r['workload']} ({r['objects']:,} objects) | {name} | "
                f"{t['wall_seconds']} | {t['objects_per_second']} | {t['mb_per_second']} "
                f"| {t['cpu_seconds']} |"
                + "".join(f" {t[f'{n}_cpu_seconds']} |" for n in servers)
                + (f" {t['peak_rss_mib']} |" if rss else "")
            )
    return rows


def requests_per_object(
    servers: emulators.Servers, containers: list[str], objects: int, workers: int, work: Path
) -> dict[str, Any]:
    """S3 requests each tool sends for the copy, counted at a pass-through proxy (one run
    each, not timed: the proxy costs CPU), per object and by method."""
    from tests.proxy import Proxy

    counted: dict[str, Any] = {}
    with Proxy(servers.s3_url) as proxy:
        ours(
            servers,
            containers,
            workers,
            work,
            s3_url=proxy.url,
            before=proxy.recorder.requests.clear,
        )
        counted["migrate"] = _by_method(proxy.recorder.requests, objects)
        proxy.recorder.requests.clear()
        rclone(servers, containers, workers, work, s3_url=proxy.url)
        counted["rclone"] = _by_method(proxy.recorder.requests, objects)
    return counted


def _by_method(requests: list[tuple[str, str]], objects: int) -> dict[str, Any]:
    methods: dict[str, int] = {}
    for method, _ in requests:
        methods[method] = methods.get(method, 0) + 1
    return {
        "requests": len(requests),
        "per_object": round(len(requests) / objects, 3),
        "by_method": dict(sorted(methods.items())),
    }


def run_workload(
    name: str,
    containers: dict[str, tuple[int, int]],
    servers: emulators.Servers,
    workers: int,
    work: Path,
) -> dict[str, Any]:
    seed(servers, containers)
    objects = sum(n for n, _ in containers.values())
    size = sum(n * s for n, s in containers.values())
    if name == "requests":
        counted = requests_per_object(servers, list(containers), objects, workers, work)
        summary = {"workload": name, "objects": objects, "bytes": size, "counted": counted}
        print(json.dumps(summary))
        return summary
    runs: dict[str, list[dict[str, float]]] = {"migrate": [], "rclone": []}
    for _ in range(2):  # A B A B
        runs["migrate"].append(ours(servers, list(containers), workers, work))
        runs["rclone"].append(rclone(servers, list(containers), workers, work))
    summary: dict[str, Any] = {
        "workload": name,
        "objects": objects,
        "bytes": size,
        "workers": workers,
    }
    for tool, results in runs.items():
        summary[tool] = summarise(results, objects, size)
    summary["ratio"] = round(
        summary["rclone"]["wall_seconds"] / summary["migrate"]["wall_seconds"], 2
    )
    if name in ("small", "large", "mixed"):
        summary["ceilings"] = ceilings(servers, list(containers), workers)
    print(json.dumps(summary))
    return summary


def chart(results: list[dict[str, Any]]) -> str:
    """Bars scaled per workload (throughput differs by orders of magnitude between them)."""
    width, bar, gap = 720, 26, 70
    height = 60 + gap * len(results)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<text x="10" y="20" font-weight="bold">throughput, median of 2 runs each '
        "(bars scaled per workload)</text>",
    ]
    for index, r in enumerate(results):
        y = 40 + index * gap
        parts.append(f'<text x="10" y="{y + 18}">{r["workload"]}</text>')
        peak = max(r["migrate"]["mb_per_second"], r["rclone"]["mb_per_second"]) or 1
        for offset, (tool, colour) in enumerate((("migrate", "#1565c0"), ("rclone", "#9e9e9e"))):
            value = r["objects"] / r[tool]["wall_seconds"]
            length = (width - 380) * r[tool]["mb_per_second"] / peak
            parts.append(
                f'<rect x="120" y="{y + offset * bar}" width="{length:.0f}" '
                f'height="{bar - 4}" fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{126 + length:.0f}" y="{y + offset * bar + 16}">{tool}: '
                f"{value:.3g} obj/s, {r[tool]['mb_per_second']} MB/s</text>"
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _requests_lines(counted: list[dict[str, Any]]) -> list[str]:
    if not counted:
        return []
    lines = [
        "",
        "S3 requests per object, counted at a pass-through proxy in front of the S3 server "
        "(one run each, not timed; `migrate` counted from its apply, after the probe):",
        "",
        "| workload | tool | requests | per object | by method |",
        "|---|---|---:|---:|---|",
    ]
    for r in counted:
        for tool in ("migrate", "rclone"):
            c = r["counted"][tool]
            methods = ", ".join(f"{m} {n:,}" for m, n in c["by_method"].items())
            lines.append(
                f"| {r['workload']} ({r['objects']:,} objects) | {tool} | {c['requests']:,} "
                f"| {c['per_object']} | {methods} |"
            )
    return lines


def _ceiling_lines(timed: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "Ceilings, with the same adapters and concurrency, each alone (objects/s, MB/s); the "
        "last column is what a PUT and a HEAD per object (rclone sends both) allow when they "
        "land on the S3 server's one busy core (1 / (1/write + 1/head)):",
        "",
        "| workload | read-only (Azurite) | write-only (S3) | HEAD-only (S3) | PUT + HEAD |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in timed:
        c = r.get("ceilings")
        if not c:
            continue
        both = 1 / (1 / c["write"]["objects_per_second"] + 1 / c["head"]["objects_per_second"])
        lines.append(
            f"| {r['workload']} | {c['read']['objects_per_second']} "
            f"({c['read']['mb_per_second']} MB/s) | {c['write']['objects_per_second']} "
            f"({c['write']['mb_per_second']} MB/s) | {c['head']['objects_per_second']} "
            f"| {both:.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--large", type=int, default=16)
    parser.add_argument(
        "--workloads",
        nargs="+",
        default=[*WORKLOADS],
        choices=[*WORKLOADS],
    )
    parser.add_argument(
        "--no-report",
        action="store_true",
        help="print results only (do not rewrite docs/benchmarks.md)",
    )
    args = parser.parse_args()
    if shutil.which("rclone") is None:
        raise SystemExit("rclone is missing: apt-get install rclone")
    work = Path(tempfile.mkdtemp(prefix="copy-bench-"))
    servers = emulators.start()
    SERVER_GROUPS.update(azurite=servers.azurite_pid, moto=servers.s3_pid)
    try:
        tag = uuid.uuid4().hex[:5]
        half = args.small // 2
        workloads = {
            "small": {
                f"small-a-{tag}": (half, 16 * KiB),
                f"small-b-{tag}": (args.small - half, 16 * KiB),
            },
            "large": {f"large-{tag}": (args.large, 32 * MiB)},
            "mixed": {
                f"mixed-s-{tag}": (args.small // 2, 16 * KiB),
                f"mixed-l-{tag}": (args.large // 2, 32 * MiB),
            },
            "huge": {f"huge-{tag}": (1, 2 * 1024 * MiB)},
            "short-small": {f"short-s-{tag}": (1000, 16 * KiB)},
            "short-large": {f"short-l-{tag}": (8, 32 * MiB)},
            "requests": {
                f"req-s-{tag}": (1500, 16 * KiB),
                f"req-l-{tag}": (4, 48 * MiB),
            },
        }
        results = [
            run_workload(name, workloads[name], servers, args.workers, work)
            for name in args.workloads
        ]
    finally:
        emulators.stop(servers)
        shutil.rmtree(work, ignore_errors=True)
    if args.no_report:
        return
    machine = {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    RESULTS.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    timed = [r for r in results if "ratio" in r]
    CHART.write_text(chart(timed))
    lines = [
        "## Copy throughput against rclone (`bench/copy_bench.py`)",
        "",
        f"Azurite and moto's S3 server on loopback, {machine['cpus']} cores, {machine['date']}; "
        "both tools at the same concurrency, alternating A B A B into fresh buckets; medians of "
        "two runs; whole processes (`wait4` for CPU, VmHWM for peak RSS); the servers' CPU "
        "is their process groups' CPU time during each run. `migrate apply` runs its full "
        "steps (ledger, hashes, the write check, verify against the target's listing, "
        "freeze, final sync), after a `migrate probe` of the target, which found that moto's "
        "write answers prove each write: the write check is the PUT's (or "
        "CompleteMultipartUpload's) answer, without a HEAD. rclone 1.60 `copy` HEADs each "
        "object it wrote.",
        "",
        *table(timed, ("migrate", "rclone"), "tool", rss=True),
    ]
    lines += _requests_lines([r for r in results if "counted" in r])
    lines += _ceiling_lines(timed)
    lines += [
        "",
        "Ratio (rclone wall time / ours; above 1 means faster than rclone): "
        + ", ".join(f"{r['workload']} {r['ratio']}" for r in timed)
        + ".",
        "",
        "CPU per object of our process against rclone's: "
        + ", ".join(
            f"{r['workload']} {r['migrate']['cpu_seconds'] / r['rclone']['cpu_seconds']:.2f}x"
            for r in timed
            if r["rclone"]["cpu_seconds"]
        )
        + ".",
        "",
        "![objects per second](images/copy_bench.svg)",
        "",
    ]
    replace_section("Copy throughput against rclone", "\n".join(lines))


if __name__ == "__main__":
    main()
