"""An OpenAI-compatible endpoint's transport: one POST with retries, a total deadline and a size cap, and the
rules for which endpoints may carry an API key. Standard library only (urllib).

Per request: a total deadline (not only per socket read), a cap on the response size, no redirects followed (a
redirect would hand the API key and the scoring to another host), an API key sent over plain http:// only to a
loopback address; retries with exponential backoff on timeouts, connection errors, 429 and 5xx.

    post = Endpoint("http://127.0.0.1:8080/v1/chat/completions", api_key=None, timeout_s=30, retries=3)
    answer, ms = post({"model": "m", "messages": [...]})   # parsed JSON, wall ms of the attempt that answered
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from edgekit.errors import EdgekitError, InputError


class ProviderError(EdgekitError):
    """The endpoint failed for good (after retries) or answered something that is not a chat completion."""


RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
MAX_RESPONSE_BYTES = 1 << 20  # a chat completion of a few tokens is ~1 kB; 1 MiB is generous


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise ProviderError(
            f"{req.full_url}: HTTP {code} redirect to {newurl} refused (the API key is only "
            f"sent to the configured endpoint; set base_url to the final address)"
        )


_OPENER = urllib.request.build_opener(_NoRedirect)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, api_key: str | None) -> None:
    """Refuse an endpoint that is not http(s), or one that would carry an API key in clear text off this machine."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"base_url: {url!r} is not an http:// or https:// URL")
    if api_key and parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InputError(
            f"base_url: {url} is plain http:// to another machine; an API key is only sent over "
            f"https:// (or to a loopback address)"
        )


class Endpoint:
    """POSTs JSON to one URL; ``retries`` counts the retries made so far (thread-safe: requests run in a pool)."""

    def __init__(self, url: str, api_key: str | None, timeout_s: float, retries: int, backoff_s: float = 0.5):
        check_endpoint(url, api_key)
        self.url, self.api_key = url, api_key
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, retries, backoff_s
        self.retries = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> tuple[dict, float]:
        return self._post(body)

    def _post(self, body: dict) -> tuple[dict, float]:
        """One completion with retries: (parsed JSON, wall ms of the successful attempt)."""
        data = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
        }
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                with self._lock:
                    self.retries += 1
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            t0 = time.perf_counter()
            try:
                raw = self._read(req, t0 + self.timeout_s)
            except urllib.error.HTTPError as e:
                if 300 <= e.code < 400:
                    raise ProviderError(
                        f"{self.url}: HTTP {e.code} redirect refused (set base_url to the final address)"
                    ) from None
                last = f"HTTP {e.code} {e.reason}"
                if e.code in RETRY_STATUS:
                    continue
                raise ProviderError(f"{self.url}: {last}: {e.read()[:200].decode(errors='replace')}") from None
            except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as e:
                reason = getattr(e, "reason", e)
                last = (
                    f"timed out after {self.timeout_s:g} s"
                    if isinstance(reason, TimeoutError) or "timed out" in str(reason)
                    else f"{reason}"
                )
                continue
            ms = (time.perf_counter() - t0) * 1e3
            try:
                return json.loads(raw), ms
            except ValueError:
                raise ProviderError(f"{self.url}: malformed response (not JSON): {raw[:120]!r}") from None
        raise ProviderError(f"{self.url}: no answer after {self.max_retries + 1} attempts: {last}")

    def _read(self, req: urllib.request.Request, deadline: float) -> bytes:
        """The response body, read in chunks against one deadline for the whole request (a server that drips a
        byte per socket timeout is cut off), and at most MAX_RESPONSE_BYTES."""
        with _OPENER.open(req, timeout=self.timeout_s) as resp:
            chunks, size = [], 0
            while True:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"no complete answer within {self.timeout_s:g} s")
                block = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not block:
                    return b"".join(chunks)
                size += len(block)
                if size > MAX_RESPONSE_BYTES:
                    raise ProviderError(f"{self.url}: response larger than {MAX_RESPONSE_BYTES:,} bytes, refused")
                chunks.append(block)
