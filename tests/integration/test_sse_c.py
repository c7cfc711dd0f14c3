"""SSE-C: the customer key goes only into request headers, and a target that does not report
the encryption never gets an object counted as done (moto ignores SSE-C: it is such a target)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

from tests.integration.helpers import migrate, seed, write_inventory
from tests.proxy import Proxy
from tools import emulators


def test_sse_c_key_travels_only_in_headers_and_is_enforced(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-k"
    seed(servers, container, 3)
    key = base64.b64encode(os.urandom(32)).decode()
    env = {**server_env, "HDH_SSE_C_KEY": key}
    with Proxy(servers.s3_url) as proxy:
        inventory = write_inventory(tmp_path, {"ssec-data": container}, s3_url=proxy.url)
        data = yaml.safe_load(inventory.read_text())
        data["target"] |= {"encryption": "SSE-C", "sse_c_key_env": "HDH_SSE_C_KEY"}
        inventory.write_text(yaml.safe_dump(data))
        assert (
            migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=tmp_path).returncode
            == 0
        )
        result = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
        requests = list(zip(proxy.recorder.requests, proxy.recorder.headers, strict=True))
    assert result.returncode == 1
    assert "does not report server-side encryption (SSE-C)" in result.stdout
    writes = [h for (m, p), h in requests if m == "PUT" and "/data/" in p]
    heads = [h for (m, p), h in requests if m == "HEAD" and "/data/" in p]
    assert writes
    assert heads
    for headers in writes + heads:
        assert headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
        assert "x-amz-server-side-encryption-customer-key-md5" in headers
    assert not any(m == "PUT" and p.endswith("?encryption") for (m, p), _ in requests)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    assert key not in result.stdout + result.stderr


def test_project_credentials_are_the_only_ones_for_project_buckets(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    shared, covid = f"{unique}-shared", f"{unique}-covid"
    seed(servers, shared, 2)
    seed(servers, covid, 2)
    env = {**server_env, "COVID_KEY_ID": "COVIDPROJECTKEYID01", "COVID_SECRET": "covid-secret-9"}
    with Proxy(servers.s3_url) as proxy:
        inventory = write_inventory(
            tmp_path,
            {"shared-data": shared, "covid-data": covid},
            s3_url=proxy.url,
            service_options={"covid-data": {"project": "covid"}},
        )
        data = yaml.safe_load(inventory.read_text())
        data["target"]["projects"] = {
            "covid": {"access_key_env": "COVID_KEY_ID", "secret_key_env": "COVID_SECRET"}
        }
        inventory.write_text(yaml.safe_dump(data))
        assert (
            migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=tmp_path).returncode
            == 0
        )
        result = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
        requests = list(zip(proxy.recorder.requests, proxy.recorder.headers, strict=True))
    assert result.returncode == 0, result.stdout + result.stderr

    def key_ids(bucket: str) -> set[str]:
        return {
            h["authorization"].split("Credential=")[1].split("/")[0]
            for (_, path), h in requests
            if path.startswith(f"/{bucket}")
        }

    assert key_ids(covid) == {"COVIDPROJECTKEYID01"}
    assert key_ids(shared) == {emulators.S3_ACCESS_KEY}
