"""A minimal Azure Blob writer for seeding the emulator in tests, the demo and benchmarks.

The product itself never writes to Azure (the source adapter is read-only); this helper
signs its requests through libcloud's connection, like the adapter.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from libcloud.storage.drivers.azure_blobs import AzureBlobsStorageDriver

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class BlobWriter:
    def __init__(
        self, endpoint: str, account: str = AZURITE_ACCOUNT, key: str = AZURITE_KEY
    ) -> None:
        parts = urlsplit(endpoint)
        self.driver = AzureBlobsStorageDriver(
            key=account,
            secret=key,
            host=parts.hostname,
            port=parts.port,
            secure=parts.scheme == "https",
        )

    def _call(
        self,
        path: str,
        method: str,
        *,
        params: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> Any:
        connection: Any = self.driver.connection
        all_headers = dict(headers or {})
        if method == "PUT" and data:  # a zero length is signed as "" (API 2015-02-21+)
            all_headers["Content-Length"] = str(len(data or b""))
        connection.request(
            path, method=method, params=params or {}, headers=all_headers, data=data, raw=False
        )
        response = connection.connection.getresponse()
        if response.status_code >= 300 and response.status_code != 409:
            raise RuntimeError(
                f"{method} {path}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response

    def create_container(self, name: str) -> None:
        self._call(f"/{name}", "PUT", params={"restype": "container"})

    def put_blob(
        self,
        container: str,
        key: str,
        body: bytes,
        *,
        content_md5: bool = True,
        headers: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """A blob in one Put Blob; with ``content_md5`` Azure stores the MD5."""
        all_headers = {
            "x-ms-blob-type": "BlockBlob",
            **_blob_headers(headers, metadata, prefix="x-ms-blob-"),
        }
        if content_md5:
            all_headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324
        self._call(_path(container, key), "PUT", headers=all_headers, data=body)

    def put_blob_in_blocks(
        self,
        container: str,
        key: str,
        body: bytes,
        block_size: int,
        *,
        headers: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """A blob committed from blocks: Azure then keeps no Content-MD5 for it."""
        ids = []
        for index, start in enumerate(range(0, max(len(body), 1), block_size)):
            block_id = base64.b64encode(f"block-{index:08d}".encode()).decode()
            ids.append(block_id)
            self._call(
                _path(container, key),
                "PUT",
                params={"comp": "block", "blockid": block_id},
                data=body[start : start + block_size],
            )
        xml = (
            "<?xml version='1.0' encoding='utf-8'?><BlockList>"
            + "".join(f"<Latest>{i}</Latest>" for i in ids)
            + "</BlockList>"
        )
        self._call(
            _path(container, key),
            "PUT",
            params={"comp": "blocklist"},
            headers=_blob_headers(headers, metadata, prefix="x-ms-blob-"),
            data=xml.encode(),
        )

    def put_append_blob(self, container: str, key: str, body: bytes) -> None:
        """An append blob (logs), created empty then given ``body`` in one block."""
        self._call(_path(container, key), "PUT", headers={"x-ms-blob-type": "AppendBlob"})
        if body:
            self._call(_path(container, key), "PUT", params={"comp": "appendblock"}, data=body)

    def put_page_blob(self, container: str, key: str, size: int) -> None:
        """A page blob (a disk) of ``size`` bytes (a multiple of 512), all zeros."""
        headers = {"x-ms-blob-type": "PageBlob", "x-ms-blob-content-length": str(size)}
        self._call(_path(container, key), "PUT", headers=headers)

    def set_tier(self, container: str, key: str, tier: str) -> None:
        self._call(
            _path(container, key),
            "PUT",
            params={"comp": "tier"},
            headers={"x-ms-access-tier": tier},
        )

    def delete_blob(self, container: str, key: str) -> None:
        self._call(_path(container, key), "DELETE")


def _path(container: str, key: str) -> str:
    return f"/{container}/{quote(key, safe='/')}"


_HEADER_NAMES = {
    "content_type": "Content-Type",
    "content_encoding": "Content-Encoding",
    "content_language": "Content-Language",
    "content_disposition": "Content-Disposition",
    "cache_control": "Cache-Control",
}


def _blob_headers(
    headers: Mapping[str, str] | None, metadata: Mapping[str, str] | None, prefix: str = ""
) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        header = _HEADER_NAMES[name]
        out[f"{prefix}{header.lower()}" if prefix else header] = value
    for name, value in (metadata or {}).items():
        out[f"x-ms-meta-{name}"] = value
    return out
