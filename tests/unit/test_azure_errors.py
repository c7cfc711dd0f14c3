"""The Azure adapter's translation of a request that got no answer, and of its key."""

from __future__ import annotations

import ssl

import pytest
import requests
import urllib3

from adapters.azure import AzureSource, _unanswered
from migrate.errors import PermanentStorageError, TransientStorageError


def _as_requests_raises(reason: Exception) -> requests.exceptions.RequestException:
    """What requests raises: its SSLError (or ConnectionError) around urllib3's MaxRetryError
    around urllib3's error around the ssl module's."""
    wrapped = urllib3.exceptions.MaxRetryError(None, "/c", urllib3.exceptions.SSLError(reason))  # type: ignore[arg-type]
    if isinstance(reason, ssl.SSLError):
        return requests.exceptions.SSLError(wrapped)
    return requests.exceptions.ConnectionError(wrapped)


def test_a_certificate_not_trusted_is_permanent() -> None:
    refused = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    refused.verify_message = "self-signed certificate"
    error = _unanswered(_as_requests_raises(refused), "listing container 'c'")
    assert isinstance(error, PermanentStorageError)
    assert "TLS verification failed (self-signed certificate)" in error.message
    assert "SSL_CERT_FILE" in error.message


def test_a_hostname_mismatch_is_permanent() -> None:
    refused = ssl.SSLCertVerificationError(1, "hostname mismatch")
    refused.verify_message = "Hostname mismatch, certificate is not valid for 'x'."
    error = _unanswered(_as_requests_raises(refused), "listing")
    assert isinstance(error, PermanentStorageError)
    assert "Hostname mismatch" in error.message


def test_a_reset_or_a_cut_handshake_stays_transient() -> None:
    for reason in (ConnectionResetError(104, "reset"), ssl.SSLEOFError(8, "EOF occurred")):
        error = _unanswered(_as_requests_raises(reason), "listing")
        assert isinstance(error, TransientStorageError), reason


def test_a_key_that_is_not_base64_is_refused_before_any_request() -> None:
    with pytest.raises(PermanentStorageError, match="not base64"):
        AzureSource("devstoreaccount1", "not-base64!!", "http://127.0.0.1:9/devstoreaccount1")


def _answer(body: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.headers["content-type"] = "application/xml"
    response._content = body.encode()
    return response


def test_a_listing_that_continues_from_its_own_marker_is_refused() -> None:
    """A page whose continuation is the marker it was asked for would be asked again for
    ever (a listing never ending, a discovery counting the same page again)."""
    from adapters.azure import _container_names, _listing_root
    from migrate.errors import StorageError

    blobs = _answer(
        '<EnumerationResults ContainerName="c"><Prefix/><Marker>m1</Marker>'
        "<Blobs/><NextMarker>m1</NextMarker></EnumerationResults>"
    )
    with pytest.raises(StorageError, match="never ends"):
        _listing_root(blobs, "c", "", "m1", "listing 'c'")
    containers = _answer(
        "<EnumerationResults><Marker>m1</Marker><Containers/>"
        "<NextMarker>m1</NextMarker></EnumerationResults>"
    )
    with pytest.raises(StorageError, match="never ends"):
        _container_names(containers, "m1")
