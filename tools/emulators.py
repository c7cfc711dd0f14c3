"""Start and stop the local servers: Azurite (blob service) and moto's S3 server.

Both bind 127.0.0.1 only, on free ports unless given, and are stopped by PID.

    python -m tools.emulators start [--state FILE] [--azurite-port N] [--s3-port N]
    python -m tools.emulators env   [--state FILE]   # shell exports for the running servers
    python -m tools.emulators stop  [--state FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AZURITE_BIN = ROOT / "tools" / "emulators" / "node_modules" / ".bin" / "azurite-blob"
DEFAULT_STATE = ROOT / ".emulators" / "servers.json"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
S3_ACCESS_KEY = "testing-access-key"  # moto accepts any key; these are not secrets
S3_SECRET_KEY = "testing-secret-key"  # noqa: S105


@dataclass
class Servers:
    azurite_pid: int
    azurite_port: int
    s3_pid: int
    s3_port: int
    workdir: str

    @property
    def azurite_url(self) -> str:
        return f"http://127.0.0.1:{self.azurite_port}/{AZURITE_ACCOUNT}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def environment(self) -> dict[str, str]:
        return {
            "AZURITE_URL": self.azurite_url,
            "S3_URL": self.s3_url,
            "AZURE_STORAGE_KEY": AZURITE_KEY,
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start-up:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return  # it answers: that is all we wait for
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer on {url} within 60 s:\n{log.read_text()[-2000:]}")


def start(azurite_port: int | None = None, s3_port: int | None = None) -> Servers:
    if not AZURITE_BIN.exists():
        raise RuntimeError(f"{AZURITE_BIN} is missing: run `make emulators` (npm ci)")
    workdir = Path(tempfile.mkdtemp(prefix="hdh-emulators-"))
    azurite_port = azurite_port or free_port()
    s3_port = s3_port or free_port()
    azurite_log = workdir / "azurite.log"
    azurite = subprocess.Popen(
        [
            str(AZURITE_BIN),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(azurite_port),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
        ],
        stdout=azurite_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=workdir,
    )
    moto_log = workdir / "moto.log"
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(s3_port)],
        stdout=moto_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
    )
    servers = Servers(azurite.pid, azurite_port, moto.pid, s3_port, str(workdir))
    try:
        _wait_http(
            f"http://127.0.0.1:{azurite_port}/{AZURITE_ACCOUNT}?comp=list",
            azurite,
            "Azurite",
            azurite_log,
        )
        _wait_http(f"http://127.0.0.1:{s3_port}/", moto, "moto_server", moto_log)
    except Exception:
        stop(servers)
        raise
    return servers


def stop(servers: Servers) -> None:
    for pid in (servers.azurite_pid, servers.s3_pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for pid in (servers.azurite_pid, servers.s3_pid):
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
                os.kill(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    shutil.rmtree(servers.workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("action", choices=["start", "stop", "env"])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--azurite-port", type=int)
    parser.add_argument("--s3-port", type=int)
    args = parser.parse_args()
    if args.action == "start":
        servers = start(args.azurite_port, args.s3_port)
        args.state.parent.mkdir(parents=True, exist_ok=True)
        args.state.write_text(json.dumps(asdict(servers)))
        print(f"Azurite on {servers.azurite_url}, S3 server on {servers.s3_url}")
    elif not args.state.exists():
        print(f"no servers recorded in {args.state}")
    elif args.action == "env":
        servers = Servers(**json.loads(args.state.read_text()))
        for name, value in servers.environment().items():
            print(f"export {name}='{value}'")
    else:
        stop(Servers(**json.loads(args.state.read_text())))
        args.state.unlink()
        print("servers stopped")


if __name__ == "__main__":
    main()
