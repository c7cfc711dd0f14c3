"""data.include / data.exclude through the CLI against the real servers: only what the filter
keeps is copied, verified and (with propagate_deletes) deleted; what it leaves out is never
deleted at the target, even where the source deleted it; a changed filter is a route change."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import ROOT, migrate, s3_client, write_inventory, writer
from tools import emulators

pytestmark = pytest.mark.integration

KEPT = ["data/a.csv", "data/b.csv", "data/sub/c.csv", "data/d.csv"]
LEFT_OUT = ["data/notes.txt", "tmp/e.csv", "tmp/deep/f.csv"]


def _seed(servers: emulators.Servers, container: str) -> None:
    blobs = writer(servers)
    blobs.create_container(container)
    for key in KEPT + LEFT_OUT:
        blobs.put_blob(container, key, key.encode() * 50, content_md5=True)


def _target_keys(servers: emulators.Servers, bucket: str) -> set[str]:
    pages = s3_client(servers).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_a_filter_copies_what_it_keeps_and_never_deletes_what_it_leaves_out(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    _seed(servers, unique)
    s3 = s3_client(servers)
    s3.create_bucket(Bucket=unique, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    s3.put_object(Bucket=unique, Key="tmp/kept-by-someone-else.csv", Body=b"not ours")
    # Under the freeze the source loses one kept object and one left out.
    script = tmp_path / "delete_blobs.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from tools.azblob import BlobWriter\n"
        f"writer = BlobWriter({servers.azurite_url!r})\n"
        f"writer.delete_blob({unique!r}, 'data/d.csv')\n"
        f"writer.delete_blob({unique!r}, 'tmp/e.csv')\n"
    )
    options = {
        "filtered-data": {
            "data": {
                "container": unique,
                "propagate_deletes": True,
                "include": ["*.csv"],
                "exclude": ["/tmp/"],
            },
            "hooks": {"freeze": f"{sys.executable} {script}"},
        }
    }
    inventory = write_inventory(tmp_path, {"filtered-data": unique}, service_options=options)
    document = yaml.safe_load(inventory.read_text())
    document["policy"]["max_delete_fraction"] = 0.5
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))

    planned = migrate("plan", "inventory.yaml", "-o", "plan.json", env=server_env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "Filter of filtered-data: include *.csv; exclude /tmp/" in planned.stdout

    rehearsed = migrate("apply", "plan.json", "--dry-run", env=server_env, cwd=tmp_path)
    assert rehearsed.returncode == 0, rehearsed.stdout + rehearsed.stderr
    assert "filtered-data: 3 objects" in rehearsed.stdout
    assert "left out by its filter" in rehearsed.stdout
    assert "4 objects to copy" in rehearsed.stdout

    applied = migrate("apply", "plan.json", "--yes", env=server_env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "3 objects copied; 1 deleted at the source, deleted on the target" in applied.stdout
    assert _target_keys(servers, unique) == {
        "data/a.csv",
        "data/b.csv",
        "data/sub/c.csv",
        "tmp/kept-by-someone-else.csv",  # left out by the filter: never the service's
    }

    verified = migrate("verify", "filtered-data", env=server_env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "extra on the target" not in verified.stdout
    assert "0 differences" in verified.stdout or "no difference" in verified.stdout.lower()

    status = json.loads(migrate("status", "--format", "json", env=server_env, cwd=tmp_path).stdout)
    service = status["services"]["filtered-data"]
    assert (service["state"], service["objects_done"]) == ("done", 3)


def test_a_changed_filter_is_refused_as_another_route(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    _seed(servers, unique)
    options = {"narrowed": {"data": {"container": unique, "exclude": ["tmp/"]}}}
    inventory = write_inventory(tmp_path, {"narrowed": unique}, service_options=options)
    assert migrate("plan", "inventory.yaml", "-o", "plan.json", env=server_env, cwd=tmp_path)
    first = migrate("apply", "plan.json", "--yes", env=server_env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    copied = _target_keys(servers, unique)
    assert copied == set(KEPT) | {"data/notes.txt"}

    document = yaml.safe_load(inventory.read_text())
    document["services"][0]["data"]["exclude"] = ["tmp/", "data/sub/"]  # narrowed by hand
    document["services"][0]["data"]["propagate_deletes"] = True
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    replanned = migrate("plan", "inventory.yaml", "-o", "plan.json", env=server_env, cwd=tmp_path)
    assert replanned.returncode == 0, replanned.stdout + replanned.stderr
    second = migrate("apply", "plan.json", "--yes", env=server_env, cwd=tmp_path)
    assert second.returncode == 3, second.stdout + second.stderr
    message = second.stdout + second.stderr
    assert "another route" in message
    assert "exclude" in message
    assert "data/sub/" in message
    assert "Traceback" not in message
    assert _target_keys(servers, unique) == copied  # nothing deleted


def test_a_bad_pattern_names_the_file_line_and_service(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    options = {"bad-filter": {"data": {"container": "c", "include": ["*.csv", "[abc"]}}}
    write_inventory(tmp_path, {"bad-filter": "c"}, service_options=options)
    result = migrate("plan", "inventory.yaml", env=server_env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stdout + result.stderr
    assert "inventory.yaml" in message
    assert "bad-filter" in message
    assert "'[abc' has a '[' without its ']'" in message
    assert "Traceback" not in message


def test_decommission_never_retires_what_the_filter_left_out_unless_told(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    _seed(servers, unique)
    marker = tmp_path / "retired"
    options = {
        "csv-only": {
            "data": {"container": unique, "include": ["*.csv"], "exclude": ["/tmp/"]},
            "hooks": {"decommission": f"touch {marker}"},
        }
    }
    inventory = write_inventory(tmp_path, {"csv-only": unique}, service_options=options)
    document = yaml.safe_load(inventory.read_text())
    document["policy"]["decommission_notice"] = "0s"
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    assert migrate("plan", "inventory.yaml", "-o", "plan.json", env=server_env, cwd=tmp_path)
    applied = migrate("apply", "plan.json", "--yes", env=server_env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert migrate("approve", "csv-only", "decommission", env=server_env, cwd=tmp_path)
    refused = migrate("decommission", "csv-only", "--yes", env=server_env, cwd=tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "holds 3 objects" in refused.stderr
    assert "'data/notes.txt'" in refused.stderr
    assert "--discard-left-out" in refused.stderr
    assert not marker.exists()  # the source was not retired
    allowed = migrate(
        "decommission", "csv-only", "--yes", "--discard-left-out", env=server_env, cwd=tmp_path
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "3 left out by the filter, discarded with the source" in allowed.stdout
    assert marker.exists()
