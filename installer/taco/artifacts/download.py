"""Download one file: streamed through sha256, retried with backoff, never left half-written.

The bytes go to a hidden temporary file beside the destination and are renamed
over it only once the digest matches, so a file under its final name is always
complete and verified. Network trouble is retried; a wrong digest is not (it is
a hard stop: the source is serving something else).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from taco.errors import ArtifactError

if TYPE_CHECKING:
    from collections.abc import Callable

_CHUNK = 1 << 20
# Answers that will not change on a retry.
_PERMANENT = {400, 401, 403, 404, 405, 410, 451}
# Problems of this host, not of the network: retrying does not help.
_LOCAL_ERRORS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` in all, waiting `delay`, then twice that, and so on."""

    attempts: int = 4
    delay: float = 2.0
    # Seconds without progress before an attempt is given up.
    timeout: float = 60.0

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return self.delay * float(2 ** (attempt - 1))


class ChecksumMismatch(ArtifactError):
    """A downloaded file is not the one the manifest pins: stop, keep nothing."""

    def __init__(self, what: str, url: str, expected: str, actual: str) -> None:
        self.what, self.url, self.expected, self.actual = what, url, expected, actual
        super().__init__(
            f"checksum mismatch for {what} from {url}\n"
            f"    expected sha256 {expected}\n"
            f"    actual sha256   {actual}\n"
            "    the file was not kept; if the source changed on purpose, pin the new digest "
            "in the manifest (or the lock file) after checking where it came from"
        )


class DownloadFailed(ArtifactError):
    """The file could not be fetched: the source is down, refused it, or broke off."""

    def __init__(self, url: str, attempts: int, reason: str) -> None:
        self.url, self.attempts, self.reason = url, attempts, reason
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        super().__init__(f"cannot download {url}: {reason} (gave up after {tries})")


class _Retryable(Exception):
    """A failure worth another attempt."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    destination: Path,
    expected: str | None,
    *,
    what: str | None = None,
    policy: RetryPolicy | None = None,
    on_retry: Callable[[int, str, float], None] | None = None,
) -> str:
    """Fetch `url` to `destination`; return its sha256.

    With `expected`, a different digest raises ChecksumMismatch and nothing is kept;
    without it (recording a digest) the file is kept and its digest returned.
    `on_retry(attempt, reason, wait)` is told about every failed attempt that is retried.
    """
    policy = policy or RetryPolicy()
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadFailed(url, 1, "only http and https URLs are fetched")
    destination.parent.mkdir(parents=True, exist_ok=True)
    reason = ""
    for attempt in range(1, policy.attempts + 1):
        try:
            temporary, actual = _fetch(url, destination, policy.timeout)
        except _Retryable as error:
            reason = str(error)
            if attempt < policy.attempts:
                wait = policy.wait(attempt)
                if on_retry is not None:
                    on_retry(attempt, reason, wait)
                time.sleep(wait)
            continue
        try:
            if expected is not None and actual != expected:
                raise ChecksumMismatch(what or destination.name, url, expected, actual)
            temporary.chmod(0o644)
            temporary.replace(destination)
        finally:
            temporary.unlink(missing_ok=True)
        return actual
    raise DownloadFailed(url, policy.attempts, reason)


def _fetch(url: str, destination: Path, timeout: float) -> tuple[Path, str]:
    """One attempt: the body in a temporary file beside `destination`, and its sha256."""
    handle, name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.",
                                    suffix=".part")
    temporary = Path(name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as stream:
            # The scheme is checked in download(): http(s) only.
            request = urllib.request.Request(  # noqa: S310
                url, headers={"User-Agent": "taco-mirror"})
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                expected_size = response.headers.get("Content-Length")
                size = 0
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    stream.write(chunk)
                    size += len(chunk)
            if expected_size is not None and expected_size.isdigit() \
                    and size != int(expected_size):
                raise _Retryable(f"the connection broke off after {size} of {expected_size} "
                                 "bytes")
    except urllib.error.HTTPError as error:
        temporary.unlink(missing_ok=True)
        if error.code in _PERMANENT:
            raise DownloadFailed(url, 1, f"the server answered {error.code} {error.reason}; "
                                 "check the URL (and the manifest version)") from None
        raise _Retryable(f"the server answered {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        temporary.unlink(missing_ok=True)
        raise _Retryable(_describe(error.reason)) from None
    except (OSError, http.client.HTTPException) as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in _LOCAL_ERRORS:
            raise ArtifactError(f"cannot write {destination}: {error.strerror}") from None
        raise _Retryable(_describe(error)) from None
    except ValueError as error:  # http.client.InvalidURL and friends
        temporary.unlink(missing_ok=True)
        raise DownloadFailed(url, 1, f"not a valid URL ({error})") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary, digest.hexdigest()


def _describe(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server up?)"
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, http.client.IncompleteRead):
        return f"the connection broke off after {len(reason.partial)} bytes"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
