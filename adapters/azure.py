"""Azure Blob Storage as a source, through apache-libcloud.

Read-only by construction: this adapter sends only GET and HEAD requests.

Field notes that shaped it:
- one libcloud driver per thread (a shared connection keeps per-request state and, under
  concurrency, returned wrong statuses and once an empty body);
- listings go through the driver's signed connection with ``maxresults=5000`` and
  ``include=metadata`` (libcloud's own iterator asks for 100 at a time) and return the
  access tier, Cache-Control and Content-Disposition that libcloud's objects leave out;
- downloads read the stored bytes (``decode_content=False``): a blob stored with
  ``Content-Encoding: gzip`` stays compressed, as the copy must be exact;
- libcloud's own retries stay off (they cover neither ServerBusy nor OperationTimedOut):
  errors are classified here and retried once, in the executor;
- the environment is read once, not per request: requests' sessions otherwise look up the
  proxy variables and ``~/.netrc`` for every blob (a third of the CPU of a 16 KiB read), and
  a ``.netrc`` entry for the account's host would replace the SharedKey signature with
  Basic credentials. The proxy that ``HTTPS_PROXY``/``NO_PROXY`` give the endpoint is
  resolved when the source is built and pinned on each session.
"""

from __future__ import annotations

import base64
import binascii
import ssl
import threading
import xml.etree.ElementTree as ET  # nosec B405
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from defusedxml import ElementTree as DefusedET
from libcloud.storage.drivers.azure_blobs import AzureBlobsStorageDriver

from migrate.errors import (
    InvalidListing,
    ObjectChanged,
    ObjectNotFound,
    PermanentStorageError,
    StorageError,
    TransientStorageError,
)
from migrate.ports import ListingPage, ObjectAttributes, ObjectInfo, SourceCapabilities

PAGE_SIZE = 5000
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_TIMEOUT = 60


def _text(node: ET.Element | None, tag: str) -> str | None:
    if node is None:
        return None
    value = node.findtext(tag)
    return value if value else None


def _md5_hex(content_md5: str | None) -> str | None:
    if not content_md5:
        return None
    try:
        return base64.b64decode(content_md5, validate=True).hex()
    except (binascii.Error, ValueError):
        return None


def _etag(value: str | None) -> str | None:
    """Azurite quotes ETags in HEAD answers but not in listings: compare them bare."""
    return value.strip('"') if value else None


def _when(value: str | None) -> Any:
    return parsedate_to_datetime(value) if value else None


def _blob_from_xml(blob: ET.Element) -> ObjectInfo:
    """The one place where a List Blobs entry becomes a neutral record."""
    props = blob.find("Properties")
    metadata = blob.find("Metadata")
    return ObjectInfo(
        key=blob.findtext("Name") or "",
        size=int(_text(props, "Content-Length") or 0),
        etag=_etag(_text(props, "Etag")),
        md5=_md5_hex(_text(props, "Content-MD5")),
        last_modified=_when(_text(props, "Last-Modified")),
        attributes=ObjectAttributes(
            content_type=_text(props, "Content-Type"),
            content_encoding=_text(props, "Content-Encoding"),
            content_language=_text(props, "Content-Language"),
            content_disposition=_text(props, "Content-Disposition"),
            cache_control=_text(props, "Cache-Control"),
            metadata={m.tag: m.text or "" for m in metadata} if metadata is not None else {},
        ),
        tier=_text(props, "AccessTier"),
        blob_type=_text(props, "BlobType"),
    )


LISTING_TYPES = ("application/xml", "text/xml")


def _not_a_listing(what: str, why: str) -> InvalidListing:
    return InvalidListing(
        f"{what}: the answer is not a listing ({why}); nothing is deleted on the strength of "
        "it. A proxy or gateway between here and the source may be answering instead of Azure"
    )


def _xml_answer(response: requests.Response, what: str) -> ET.Element:
    """The XML document of a listing answer (never a web page or an unreadable body)."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in LISTING_TYPES:
        raise _not_a_listing(what, f"content type {kind or 'none'!r}")
    try:
        root: ET.Element = DefusedET.fromstring(response.content)
    except (ET.ParseError, ValueError) as exc:
        raise _not_a_listing(what, f"unreadable XML: {exc}") from None
    return root


def _check_continuation(root: ET.Element, marker: str | None, what: str) -> None:
    """A page goes on from the marker asked for, says where the next one starts, and moves
    on: else it is not a listing (truncated, another listing's, or one that never ends)."""
    if marker is not None and (root.findtext("Marker") or marker) != marker:
        raise _not_a_listing(what, "it does not continue from the marker asked for")
    if root.find("NextMarker") is None:
        raise _not_a_listing(what, "it has no <NextMarker> element: truncated")
    if marker is not None and root.findtext("NextMarker") == marker:
        raise _not_a_listing(what, "it continues from the marker it was asked for: it never ends")


def _listing_root(
    response: requests.Response, container: str, prefix: str, marker: str | None, what: str
) -> ET.Element:
    """The EnumerationResults of a List Blobs answer, checked: an XML listing of this
    container and prefix, from this marker, with its continuation element (Azure always sends
    ``<NextMarker>``, empty on the last page). Anything else is not a listing."""
    root = _xml_answer(response, what)
    if root.tag != "EnumerationResults":
        code = root.findtext("Code") or ""
        raise _not_a_listing(
            what, f"root element <{root.tag}>" + (f", code {code}" if code else "")
        )
    named = root.get("ContainerName")
    if named is not None and named != container:
        raise _not_a_listing(what, f"it lists container {named!r}")
    echoed = root.find("Prefix")
    listed_prefix = (echoed.text or "") if echoed is not None else ""
    if listed_prefix != prefix:
        raise _not_a_listing(what, f"it lists prefix {listed_prefix!r}")
    _check_continuation(root, marker, what)
    return root


def _container_names(response: requests.Response, marker: str | None) -> tuple[list[str], str]:
    """The names on one page of a List Containers answer and its continuation (empty on the
    last page), checked as a blob listing is: anything else is not a listing."""
    what = "listing the containers of the account"
    root = _xml_answer(response, what)
    containers = root.find("Containers")
    if root.tag != "EnumerationResults" or containers is None:
        raise _not_a_listing(what, f"root element <{root.tag}> without <Containers>")
    _check_continuation(root, marker, what)
    names = [c.findtext("Name") or "" for c in containers.findall("Container")]
    if not all(names):
        raise _not_a_listing(what, "a <Container> without a name")
    return names, root.findtext("NextMarker") or ""


def _listed_blob(blob: ET.Element, what: str) -> ObjectInfo:
    props = blob.find("Properties")
    length = _text(props, "Content-Length")
    if not blob.findtext("Name") or length is None or not length.isdigit():
        raise _not_a_listing(what, "a <Blob> without a name or a length")
    return _blob_from_xml(blob)


def _blob_from_headers(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    """The same record from a HEAD answer."""
    return ObjectInfo(
        key=key,
        size=int(headers.get("content-length", 0)),
        etag=_etag(headers.get("etag")),
        md5=_md5_hex(headers.get("content-md5")),
        last_modified=_when(headers.get("last-modified")),
        attributes=ObjectAttributes(
            content_type=headers.get("content-type"),
            content_encoding=headers.get("content-encoding"),
            content_language=headers.get("content-language"),
            content_disposition=headers.get("content-disposition"),
            cache_control=headers.get("cache-control"),
            metadata={
                name[len("x-ms-meta-") :]: value
                for name, value in headers.items()
                if name.lower().startswith("x-ms-meta-")
            },
        ),
        tier=headers.get("x-ms-access-tier"),
        blob_type=headers.get("x-ms-blob-type"),
    )


def _account_key(key: str) -> str:
    """The account key as libcloud signs with it: base64, else every request would fail
    inside the signing with a bare binascii error."""
    try:
        base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PermanentStorageError(
            "the Azure account key is not base64: give the key the portal shows under Access keys"
        ) from None
    return key.strip()


def _error_code(response: requests.Response) -> str:
    code = response.headers.get("x-ms-error-code")
    if code:
        return code
    try:
        return DefusedET.fromstring(response.content).findtext("Code") or ""
    except (ET.ParseError, ValueError):
        return ""


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _refuse_redirect_to_another_host(response: requests.Response, **_: Any) -> requests.Response:
    """A response hook: a redirect is followed only on the host that was asked (requests
    would follow one anywhere; the signed request would then go to a host no policy allowed)."""
    if response.is_redirect:
        location = urljoin(response.url, response.headers.get("location", ""))
        if _origin(location) != _origin(response.url):
            raise PermanentStorageError(
                f"the source answered HTTP {response.status_code} with a redirect to "
                f"{_origin(location)[1] or location!r}, another host: not followed"
            )
    return response


def _raise_for(response: requests.Response, what: str) -> None:
    """Translate an Azure error answer into our error tree (the adapter's one boundary)."""
    status = response.status_code
    if status < 300:
        return
    code = _error_code(response)
    detail = f"{what}: HTTP {status}{' ' + code if code else ''}"
    if status == 404:
        raise ObjectNotFound(detail)
    if status == 412:
        raise ObjectChanged(f"{what}: it changed since it was listed (HTTP 412 {code})")
    if status == 409 and code == "BlobArchived":
        raise PermanentStorageError(
            f"{what}: the blob is in the Archive tier; rehydrate it (Set Blob Tier to Hot or "
            "Cool, up to 15 h) before it can be copied"
        )
    if status in (401, 403):
        raise PermanentStorageError(
            f"{detail}: the account key was refused; check the variable named by source.key_env"
        )
    if status in TRANSIENT_STATUSES:
        raise TransientStorageError(detail, retry_after=_retry_after(response))
    raise PermanentStorageError(detail)


def _unanswered(exc: BaseException, what: str) -> StorageError:
    """A request that got no answer. A certificate the CA bundle does not trust fails the same
    way every time: permanent, said as such (retrying it only hid it behind the retries, like
    botocore's SSLError in adapters/s3.py). A reset or a timeout may pass: transient."""
    reason = _certificate_failure(exc)
    if reason is not None:
        return PermanentStorageError(
            f"{what}: TLS verification failed ({reason}): the server's certificate is not "
            "trusted; check source.endpoint, or give the CA bundle that signs it in "
            "SSL_CERT_FILE"
        )
    return TransientStorageError(f"{what}: {type(exc).__name__}: {exc}")


def _certificate_failure(exc: BaseException) -> str | None:
    """Why the certificate was refused, when it was (requests wraps urllib3 wrapping ssl)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        error = todo.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError):
            return str(error.verify_message or error.reason or error)
        linked = (error.__cause__, error.__context__, getattr(error, "reason", None), *error.args)
        todo.extend(item for item in linked if isinstance(item, BaseException))
    return "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else None


class _BlobReader:
    def __init__(self, response: requests.Response, key: str, expected_etag: str | None) -> None:
        self._response = response
        self._key = key
        self._etag = _etag(response.headers.get("etag"))
        if expected_etag is not None and self._etag is not None and self._etag != expected_etag:
            raise ObjectChanged(f"blob {key!r} changed since it was listed (ETag differs)")

    @property
    def etag(self) -> str | None:
        return self._etag

    def chunks(self, size: int) -> Iterator[bytes]:
        try:
            yield from self._response.raw.stream(size, decode_content=False)
        except (requests.RequestException, OSError) as exc:
            raise TransientStorageError(f"reading blob {self._key!r}: {exc}") from None
        except Exception as exc:  # urllib3 ProtocolError / ReadTimeoutError and kin
            if type(exc).__module__.startswith("urllib3"):
                raise TransientStorageError(f"reading blob {self._key!r}: {exc}") from None
            raise


class AzureSource:
    """Lists and reads the blobs of one storage account."""

    capabilities = SourceCapabilities(native_md5=True, page_size=PAGE_SIZE)

    def __init__(
        self,
        account: str,
        key: str,
        endpoint: str | None = None,
        *,
        timeout: int = DEFAULT_TIMEOUT,
        driver_factory: Callable[..., AzureBlobsStorageDriver] = AzureBlobsStorageDriver,
    ) -> None:
        self._account = account
        self._key = _account_key(key)
        self._timeout = timeout
        self._factory = driver_factory
        self._local = threading.local()
        self._driver_kwargs = self._endpoint_kwargs(account, endpoint)
        self._proxies = requests.utils.get_environ_proxies(
            endpoint or f"https://{account}.blob.core.windows.net"
        )

    def __repr__(self) -> str:
        return f"AzureSource(account={self._account!r}, key=***)"

    @staticmethod
    def _endpoint_kwargs(account: str, endpoint: str | None) -> dict[str, Any]:
        if endpoint is None:
            return {"secure": True}
        parts = urlsplit(endpoint)
        path = parts.path.strip("/")
        if path not in ("", account):
            raise PermanentStorageError(
                f"source endpoint {endpoint!r}: the path must be empty or '/{account}'"
            )
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        return {"host": parts.hostname, "port": port, "secure": secure}

    def _driver(self) -> AzureBlobsStorageDriver:
        driver: AzureBlobsStorageDriver | None = getattr(self._local, "driver", None)
        if driver is None:
            driver = self._factory(
                key=self._account, secret=self._key, timeout=self._timeout, **self._driver_kwargs
            )
            self._settle(driver)
            self._local.driver = driver
        return driver

    def _settle(self, driver: AzureBlobsStorageDriver) -> None:
        """Pin the environment's proxies on the driver's session and stop it reading the
        environment (and ``~/.netrc``) again at every request."""
        connection: Any = driver.connection
        if connection.connection is None:
            connection.connect()
        session: requests.Session = connection.connection.session
        session.trust_env = False
        if not session.proxies:
            session.proxies.update(self._proxies)
        session.hooks["response"].append(_refuse_redirect_to_another_host)

    def _request(
        self,
        path: str,
        what: str,
        *,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        stream: bool = False,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        connection: Any = self._driver().connection
        try:
            connection.request(
                path,
                method=method,
                params=params or {},
                raw=True,
                stream=stream,
                headers=headers or {},
            )
            response: requests.Response = connection.connection.getresponse()
        except StorageError:
            raise
        except (requests.RequestException, OSError) as exc:
            self._local.driver = None  # a broken connection is not reused
            raise _unanswered(exc, what) from None
        _raise_for(response, what)
        return response

    @staticmethod
    def _blob_path(container: str, key: str) -> str:
        return f"/{container}/{quote(key, safe='/')}"

    def list_containers(self) -> Iterator[str]:
        """List Containers through the driver's signed connection, 5,000 names a request
        (libcloud's ``iterate_containers`` asks for 100 and reads unchecked XML)."""
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"comp": "list", "maxresults": PAGE_SIZE}
            if marker:
                params["marker"] = marker
            response = self._request("/", "listing the containers of the account", params=params)
            names, next_marker = _container_names(response, marker)
            yield from names
            if not next_marker:
                return
            marker = next_marker

    def list_page(self, container: str, prefix: str, marker: str | None) -> ListingPage:
        params: dict[str, Any] = {
            "restype": "container",
            "comp": "list",
            "include": "metadata",
            "maxresults": PAGE_SIZE,
        }
        if prefix:
            params["prefix"] = prefix
        if marker:
            params["marker"] = marker
        what = f"listing container '{container}'" + (f" under '{prefix}'" if prefix else "")
        response = self._request(f"/{container}", what, params=params)
        root = _listing_root(response, container, prefix, marker, what)
        blobs = root.find("Blobs")
        if blobs is None:
            raise _not_a_listing(what, "it has no <Blobs> element")
        objects = [_listed_blob(b, what) for b in blobs.findall("Blob")]
        return ListingPage(objects, root.findtext("NextMarker") or None)

    def head(self, container: str, key: str) -> ObjectInfo | None:
        try:
            response = self._request(
                self._blob_path(container, key), f"blob {key!r} in '{container}'", method="HEAD"
            )
        except ObjectNotFound:
            return None
        return _blob_from_headers(key, response.headers)  # case-insensitive, case-preserving

    @contextmanager
    def open(
        self, container: str, key: str, expected_etag: str | None = None
    ) -> Iterator[_BlobReader]:
        # If-Match makes the read atomic: the bytes are those of the listed version, or the
        # service answers 412 and the blob is taken again after the next listing.
        headers = {"If-Match": f'"{expected_etag}"'} if expected_etag else None
        response = self._request(
            self._blob_path(container, key),
            f"reading blob {key!r} in '{container}'",
            stream=True,
            headers=headers,
        )
        try:
            yield _BlobReader(response, key, expected_etag)
        finally:
            response.close()
