"""An S3-compatible target, through boto3.

Choices the field notes forced:
- checksums only when an operation requires them (botocore 1.36+ otherwise sends CRC32 in
  aws-chunked trailers that some providers reject or store inside the object); we send
  Content-MD5 ourselves and check every write with a HEAD;
- botocore's own retries are off (one attempt): retries live in one layer, the executor;
- one client shared by all threads (boto3 clients are thread-safe), its connection pool
  sized to the workers; path-style addressing where the preset says so;
- TLS verification always on (the system store, or the inventory's CA bundle);
- answers' dates are parsed by the standard library (RFC 1123 headers, ISO 8601 listings),
  botocore's dateutil parser only for anything else: it was 4 % of the CPU of a copy.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import boto3
import botocore.exceptions
import botocore.session
import botocore.utils
from botocore.config import Config

from migrate.errors import (
    ObjectNotFound,
    PermanentStorageError,
    TransientStorageError,
    UnsupportedFeature,
)
from migrate.ports import (
    BucketSettings,
    Encryption,
    ListingPage,
    ObjectAttributes,
    ObjectInfo,
    PartInfo,
    Payload,
    TargetCapabilities,
    WriteResult,
)

TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestTimeTooSkewed",
        "OperationAborted",
        "TooManyRequests",
    }
)
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "404", "NotFound"})
_CONNECTION_ERRORS = (
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
    ConnectionError,
    TimeoutError,
)
_ATTRIBUTE_PARAMS = {
    "content_type": "ContentType",
    "content_encoding": "ContentEncoding",
    "content_language": "ContentLanguage",
    "content_disposition": "ContentDisposition",
    "cache_control": "CacheControl",
}


@dataclass(frozen=True)
class S3Settings:
    endpoint: str | None
    region: str
    access_key: str
    secret_key: str
    path_style: bool = True
    ca_bundle: str | None = None
    max_connections: int = 32
    connect_timeout: int = 10
    read_timeout: int = 120
    sse_c_key: bytes | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"S3Settings(endpoint={self.endpoint!r}, region={self.region!r}, keys=***)"


def _md5_b64(md5_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(md5_hex)).decode()


def _translate(exc: Exception, what: str) -> Exception:
    """botocore errors -> our tree: the adapter's one boundary."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code", ""))
        status = int(meta.get("HTTPStatusCode", 0) or 0)
        request_id = meta.get("RequestId") or meta.get("HTTPHeaders", {}).get("x-amz-request-id")
        detail = f"{what}: S3 {code or status}: {error.get('Message', '')}".rstrip(": ")
        if request_id:
            detail += f" (request id {request_id})"
        if code in NOT_FOUND_CODES or status == 404:
            return ObjectNotFound(detail)
        if code in TRANSIENT_CODES or status in TRANSIENT_STATUSES:
            retry_after = meta.get("HTTPHeaders", {}).get("retry-after")
            try:
                seconds = float(retry_after) if retry_after is not None else None
            except ValueError:
                seconds = None
            return TransientStorageError(detail, retry_after=seconds)
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            return PermanentStorageError(
                f"{detail}; check the keys named by target.access_key_env / secret_key_env"
            )
        return PermanentStorageError(detail)
    if isinstance(exc, botocore.exceptions.SSLError):
        return PermanentStorageError(f"{what}: TLS verification failed ({exc})")
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return PermanentStorageError(f"{what}: no S3 credentials in the environment")
    if isinstance(exc, _CONNECTION_ERRORS):
        return TransientStorageError(f"{what}: {type(exc).__name__}: {exc}")
    return exc


@contextmanager
def _optional(feature: str, what: str) -> Iterator[None]:
    """An optional bucket feature the server may not implement (NotImplemented, 501)."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "NotImplemented" or status == 501:
            raise UnsupportedFeature(f"{what}: S3 {code or status}", feature) from None
        raise


@contextmanager
def _boundary(what: str) -> Iterator[None]:
    try:
        yield
    except (
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
        ConnectionError,
        TimeoutError,
    ) as exc:
        raise _translate(exc, what) from None


def _sse_params(encryption: Encryption, customer_key: bytes | None) -> dict[str, Any]:
    if not encryption.enabled:
        return {}
    if encryption.mode == "SSE-C":
        return _customer_key_params(customer_key)
    params: dict[str, Any] = {"ServerSideEncryption": encryption.mode}
    if encryption.mode == "aws:kms" and encryption.kms_key_id:
        params["SSEKMSKeyId"] = encryption.kms_key_id
    return params


def _customer_key_params(key: bytes | None) -> dict[str, Any]:
    """SSE-C: botocore adds the key's MD5; the key goes only into the request headers."""
    if not key:
        return {}
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def _attribute_params(attributes: ObjectAttributes) -> dict[str, Any]:
    params: dict[str, Any] = {
        param: getattr(attributes, name)
        for name, param in _ATTRIBUTE_PARAMS.items()
        if getattr(attributes, name) is not None
    }
    params["Metadata"] = dict(attributes.metadata)
    return params


def _encryption_of(answer: Mapping[str, Any]) -> str | None:
    """The encryption a HEAD or write answer reports."""
    mode = answer.get("ServerSideEncryption") or (
        "SSE-C" if answer.get("SSECustomerAlgorithm") else None
    )
    return str(mode) if mode else None


def _written(answer: Mapping[str, Any]) -> WriteResult:
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    stamp = headers.get("last-modified") or headers.get("date")
    return WriteResult(
        str(answer.get("ETag", "")).strip('"') or None,
        answer.get("VersionId"),
        _encryption_of(answer),
        _stored_by(stamp),
    )


def _stored_by(stamp: str | None) -> datetime | None:
    """An answer's Last-Modified or Date header; None when absent or unreadable (the write
    is then checked by a HEAD, never trusted on a date it did not give)."""
    if not stamp:
        return None
    try:
        return parse_timestamp(stamp)
    except (ValueError, TypeError, OverflowError):
        return None


def _object_from_head(key: str, answer: Mapping[str, Any]) -> ObjectInfo:
    """The one place where a HEAD answer becomes a neutral record."""
    etag = str(answer.get("ETag", "")).strip('"') or None
    encryption = _encryption_of(answer)
    # only plain and SSE-S3 objects have the MD5 of their bytes as ETag: SSE-KMS (DSSE too)
    # and SSE-C ones do not (AWS documents it); a multipart ETag has a part count after a '-'
    hashed = encryption in (None, "AES256")
    single_part_md5 = etag if etag and "-" not in etag and hashed else None
    return ObjectInfo(
        key=key,
        size=int(answer.get("ContentLength", 0)),
        etag=etag,
        md5=single_part_md5,
        last_modified=answer.get("LastModified"),
        attributes=ObjectAttributes(
            content_type=answer.get("ContentType"),
            content_encoding=answer.get("ContentEncoding"),
            content_language=answer.get("ContentLanguage"),
            content_disposition=answer.get("ContentDisposition"),
            cache_control=answer.get("CacheControl"),
            metadata=dict(answer.get("Metadata", {})),
        ),
        encryption=encryption,
        version_id=answer.get("VersionId"),
    )


class _BodyReader:
    def __init__(self, body: Any, etag: str | None, what: str) -> None:
        self._body = body
        self._etag = etag
        self._what = what

    @property
    def etag(self) -> str | None:
        return self._etag

    def chunks(self, size: int) -> Iterator[bytes]:
        with _boundary(self._what):
            yield from self._body.iter_chunks(size)


def parse_timestamp(value: str) -> datetime:
    """An S3 answer's date, always timezone-aware: ``Last-Modified`` headers are RFC 1123,
    listings ISO 8601; anything else (epoch seconds, odd providers) goes to botocore."""
    try:
        if value[:1].isalpha():
            parsed = parsedate_to_datetime(value)
        else:
            parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        return botocore.utils.parse_timestamp(value)  # type: ignore[no-any-return]
    return parsed


def _client(settings: S3Settings, *, checksums: str) -> Any:
    """A boto3 S3 client: one attempt (retries are the executor's), TLS verified, a pool sized
    to the workers, checksums only ``when_required`` (``when_supported`` for the probe)."""
    config = Config(
        signature_version="s3v4",
        s3={
            "addressing_style": "path" if settings.path_style else "virtual",
            # Bodies go with Content-MD5, which the server checks. Over TLS botocore then
            # sends UNSIGNED-PAYLOAD by itself; this makes plain-http loopback (emulators)
            # behave the same instead of hashing every body a second time for the signature.
            "payload_signing_enabled": False,
        },
        retries={"total_max_attempts": 1, "mode": "standard"},
        request_checksum_calculation=checksums,
        response_checksum_validation="when_required",
        max_pool_connections=settings.max_connections,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        tcp_keepalive=True,
        parameter_validation=False,  # every call is built here, typed; saves CPU per request
    )
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )
    return boto3.session.Session(botocore_session=core).client(
        "s3",
        endpoint_url=settings.endpoint,
        region_name=settings.region,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        config=config,
        verify=settings.ca_bundle or True,
    )


class S3Target:
    def __init__(self, settings: S3Settings, capabilities: TargetCapabilities) -> None:
        self.capabilities = capabilities
        self._settings = settings
        self._client: Any = _client(settings, checksums="when_required")

    def __repr__(self) -> str:
        return f"S3Target({self._settings!r})"

    def ensure_bucket(self, bucket: str, settings: BucketSettings) -> bool:
        created = False
        with _boundary(f"bucket '{bucket}'"):
            try:
                self._client.head_bucket(Bucket=bucket)
            except botocore.exceptions.ClientError as exc:
                if not isinstance(_translate(exc, ""), ObjectNotFound):
                    raise
                self._create_bucket(bucket)
                created = True
            self._apply_settings(bucket, settings)
        return created

    def _create_bucket(self, bucket: str) -> None:
        params: dict[str, Any] = {"Bucket": bucket}
        if self._settings.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self._settings.region}
        try:
            self._client.create_bucket(**params)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise

    def _apply_settings(self, bucket: str, settings: BucketSettings) -> None:
        encryption = settings.encryption
        # SSE-C has no bucket default
        if settings.default_encryption and encryption.enabled and encryption.mode != "SSE-C":
            rule: dict[str, Any] = {"SSEAlgorithm": encryption.mode}
            if encryption.mode == "aws:kms" and encryption.kms_key_id:
                rule["KMSMasterKeyID"] = encryption.kms_key_id
            with _optional("bucket_encryption", f"bucket '{bucket}': default encryption"):
                self._client.put_bucket_encryption(
                    Bucket=bucket,
                    ServerSideEncryptionConfiguration={
                        "Rules": [{"ApplyServerSideEncryptionByDefault": rule}]
                    },
                )
        if settings.tags:
            with _optional("bucket_tagging", f"bucket '{bucket}': tagging"):
                self._client.put_bucket_tagging(
                    Bucket=bucket,
                    Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in settings.tags.items()]},
                )

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            with _boundary(f"object {key!r} in '{bucket}'"):
                answer = self._client.head_object(
                    Bucket=bucket, Key=key, **_customer_key_params(self._settings.sse_c_key)
                )
                return _object_from_head(key, answer)
        except ObjectNotFound:
            return None

    def put(
        self,
        bucket: str,
        key: str,
        body: Payload,
        md5_hex: str,
        attributes: ObjectAttributes,
        encryption: Encryption,
    ) -> WriteResult:
        with _boundary(f"writing {key!r} to '{bucket}'"):
            answer = self._client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentLength=len(body),
                ContentMD5=_md5_b64(md5_hex),
                **_attribute_params(attributes),
                **_sse_params(encryption, self._settings.sse_c_key),
            )
        return _written(answer)

    def create_multipart(
        self, bucket: str, key: str, attributes: ObjectAttributes, encryption: Encryption
    ) -> str:
        with _boundary(f"starting a multipart upload of {key!r} to '{bucket}'"):
            answer = self._client.create_multipart_upload(
                Bucket=bucket,
                Key=key,
                **_attribute_params(attributes),
                **_sse_params(encryption, self._settings.sse_c_key),
            )
        return str(answer["UploadId"])

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: Payload,
        md5_hex: str,
    ) -> str:
        with _boundary(f"part {number} of {key!r} to '{bucket}'"):
            answer = self._client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ContentLength=len(body),
                ContentMD5=_md5_b64(md5_hex),
                **_customer_key_params(self._settings.sse_c_key),
            )
        return str(answer["ETag"]).strip('"')

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        parts: list[PartInfo] = []
        with _boundary(f"listing the parts of {key!r} in '{bucket}'"):
            paginator = self._client.get_paginator("list_parts")
            for page in paginator.paginate(Bucket=bucket, Key=key, UploadId=upload_id):
                parts.extend(
                    PartInfo(int(p["PartNumber"]), int(p["Size"]), str(p["ETag"]).strip('"'))
                    for p in page.get("Parts", [])
                )
        return parts

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[PartInfo]
    ) -> WriteResult:
        with _boundary(f"completing the multipart upload of {key!r} to '{bucket}'"):
            answer = self._client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"ETag": f'"{p.etag}"', "PartNumber": p.number} for p in parts]
                },
            )
        return _written(answer)

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            with _boundary(f"aborting the multipart upload of {key!r} in '{bucket}'"):
                self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except ObjectNotFound:
            return

    def list_multipart_uploads(self, bucket: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        with _boundary(f"listing multipart uploads in '{bucket}'"):
            paginator = self._client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=bucket):
                found.extend((u["Key"], u["UploadId"]) for u in page.get("Uploads", []))
        return found

    def list_page(self, bucket: str, prefix: str, marker: str | None) -> ListingPage:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
        if marker:
            params["ContinuationToken"] = marker
        with _boundary(f"listing bucket '{bucket}'"):
            answer = self._client.list_objects_v2(**params)
        objects = [
            ObjectInfo(
                key=item["Key"],
                size=int(item["Size"]),
                etag=str(item.get("ETag", "")).strip('"') or None,
                last_modified=item.get("LastModified"),
            )
            for item in answer.get("Contents", [])
        ]
        return ListingPage(
            objects, answer.get("NextContinuationToken") if answer.get("IsTruncated") else None
        )

    @contextmanager
    def open(
        self, bucket: str, key: str, expected_etag: str | None = None
    ) -> Iterator[_BodyReader]:
        what = f"reading {key!r} from '{bucket}'"
        with _boundary(what):
            params: dict[str, Any] = {
                "Bucket": bucket,
                "Key": key,
                **_customer_key_params(self._settings.sse_c_key),
            }
            if expected_etag:
                params["IfMatch"] = f'"{expected_etag}"'
            answer = self._client.get_object(**params)
        body = answer["Body"]
        try:
            yield _BodyReader(body, str(answer.get("ETag", "")).strip('"') or None, what)
        finally:
            body.close()

    def delete(self, bucket: str, key: str) -> None:
        with _boundary(f"deleting {key!r} from '{bucket}'"):
            self._client.delete_object(Bucket=bucket, Key=key)

    def delete_bucket(self, bucket: str) -> None:
        with _boundary(f"deleting the bucket '{bucket}'"):
            self._client.delete_bucket(Bucket=bucket)


def checksum_trailer_sender(settings: S3Settings) -> Callable[[str, str, bytes], str]:
    """For the probe: a PUT the way recent SDKs send it by default (CRC32, aws-chunked)."""
    client = _client(settings, checksums="when_supported")

    def send(bucket: str, key: str, body: bytes) -> str:
        try:
            client.put_object(
                Bucket=bucket, Key=key, Body=io.BytesIO(body), ChecksumAlgorithm="CRC32"
            )
        except botocore.exceptions.ClientError as exc:
            return str(exc.response.get("Error", {}).get("Code", "refused"))
        except botocore.exceptions.BotoCoreError as exc:
            return type(exc).__name__
        return "accepted"

    return send
