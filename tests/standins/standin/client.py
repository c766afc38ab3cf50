"""An HTTPS JSON client for the stand-in API server, speaking the Kubernetes REST paths."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from standin.kubeconfig import Credentials


class ApiError(Exception):
    """The server answered with a Kubernetes Status failure."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


class Unreachable(Exception):
    """No answer at all (refused, timeout, TLS failure)."""


# Answers real kubeadm's API calls wait out (a load balancer before its backends are up).
TRANSIENT_CODES = (429, 500, 502, 503, 504)
RETRY_INTERVAL = 0.5


class ApiClient:
    def __init__(self, credentials: Credentials, timeout: float = 30.0,
                 retry_window: float = 0.0) -> None:
        self.credentials = credentials
        self.timeout = timeout
        # Like kubeadm's apiclient: retry a transient failure every 0.5 s for this long.
        self.retry_window = retry_window
        self._context = credentials.ssl_context()
        self._connection: http.client.HTTPSConnection | None = None

    @property
    def server(self) -> str:
        return self.credentials.server

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send one request; the decoded JSON answer, or ApiError/Unreachable."""
        deadline = time.monotonic() + self.retry_window
        while True:
            try:
                return self._request_once(method, path, body, content_type=content_type,
                                          query=query, headers=headers)
            except (Unreachable, ApiError) as exc:
                transient = isinstance(exc, Unreachable) or exc.code in TRANSIENT_CODES
                if not transient or time.monotonic() + RETRY_INTERVAL > deadline:
                    raise
                time.sleep(RETRY_INTERVAL)

    def _request_once(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        content_type: str,
        query: dict[str, str] | None,
        headers: dict[str, str] | None,
    ) -> Any:
        code, payload = self.raw(method, path, body, content_type=content_type, query=query,
                                 headers=headers)
        try:
            document = json.loads(payload) if payload else {}
        except json.JSONDecodeError:
            document = {"message": payload.decode(errors="replace")}
        if code >= 400:
            raise ApiError(code, str(document.get("reason", "")), str(document.get("message", "")))
        return document

    def raw(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        hostname, port = self.credentials.address
        if query:
            path += "?" + "&".join(f"{key}={quote(value, safe='')}" for key, value in query.items())
        sent: dict[str, str] = {"Accept": "application/json", "User-Agent": "standin"}
        if self.credentials.token:
            sent["Authorization"] = f"Bearer {self.credentials.token}"
        sent.update(headers or {})
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent["Content-Type"] = content_type
        for attempt in (1, 2):  # a kept-alive connection the server closed gets one retry
            fresh = self._connection is None
            if self._connection is None:
                self._connection = http.client.HTTPSConnection(
                    hostname, port, context=self._context, timeout=self.timeout)
            try:
                self._connection.request(method, path, body=data, headers=sent)
                answer = self._connection.getresponse()
                payload = answer.read()
                if answer.getheader("Connection", "").lower() == "close":
                    self.close()
                return answer.status, payload
            except ssl.SSLCertVerificationError as exc:
                self.close()
                raise Unreachable(f"tls: failed to verify certificate: {exc.verify_message}"
                                  ) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if fresh or attempt == 2:
                    raise Unreachable(describe_connection_error(f"{hostname}:{port}", exc)
                                      ) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def describe_connection_error(address: str, error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return (f"The connection to the server {address} was refused - did you specify "
                "the right host or port?")
    if isinstance(error, socket.timeout | TimeoutError):
        return f"Unable to connect to the server: dial tcp {address}: i/o timeout"
    return f"Unable to connect to the server: {error}"
