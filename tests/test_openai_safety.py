"""The OpenAI-compatible client never hands the API key (or the scoring) to another host, caps what it reads,
enforces one deadline per request, and refuses a key over plain http:// off this machine. Real HTTP servers on
127.0.0.1 and 127.0.0.2."""

from __future__ import annotations

import json
import time

import pytest

from edgekit.baselines import LabelSet, create
from edgekit.baselines.openai import ProviderError
from edgekit.errors import InputError
from localhttp import LocalServer, QuietHandler

LABELS = LabelSet.of(["animal", "plant"])
ANSWER = json.dumps({"choices": [{"message": {"role": "assistant", "content": "animal"}}]}).encode()


class Server(LocalServer):
    """One handler per test: ``behave(handler)`` writes the whole response. Records every request's headers."""

    def __init__(self, host: str, behave):
        self.seen: list[dict] = []
        outer = self

        class Handler(QuietHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append(dict(self.headers))
                try:
                    behave(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST  # urllib turns a POST answered by 302 into a GET

        self.serve(Handler, host)


def send(h, code: int, body: bytes, **headers):
    h.send_body(code, body, **headers)


def client(url, **kw):
    return create(
        "openai",
        **{
            "base_url": url,
            "model": "m",
            "labels": LABELS,
            "timeout_s": 2,
            "retries": 0,
            "backoff_s": 0.01,
            "concurrency": 1,
            **kw,
        },
    )


def test_redirect_to_another_host_is_refused_and_gets_no_key():
    other = Server("127.0.0.2", lambda h: send(h, 200, ANSWER))
    first = Server("127.0.0.1", lambda h: send(h, 302, b"", Location=other.url + "/chat/completions"))
    try:
        with pytest.raises(ProviderError, match="redirect"):
            client(first.url, api_key="sk-secret").classify(["a wolf"])
        assert len(first.seen) == 1 and first.seen[0]["Authorization"] == "Bearer sk-secret"
        assert other.seen == []  # neither the key nor the text reached the other host, and nothing it says is scored
    finally:
        first.close()
        other.close()


def test_response_size_is_capped():
    big = Server("127.0.0.1", lambda h: send(h, 200, b"[" + b"0," * (2 << 20) + b"0]"))
    try:
        with pytest.raises(ProviderError, match="larger than"):
            client(big.url).classify(["a wolf"])
    finally:
        big.close()


def _drip(h):
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(ANSWER)))
    h.end_headers()
    for b in ANSWER:  # one byte every 0.1 s: each socket read is quick, the whole answer takes ~8 s
        h.wfile.write(bytes([b]))
        h.wfile.flush()
        time.sleep(0.1)


def test_total_deadline_per_request_not_per_read():
    slow = Server("127.0.0.1", _drip)
    try:
        t0 = time.perf_counter()
        with pytest.raises(ProviderError, match=r"timed out after 0.5 s"):
            client(slow.url, timeout_s=0.5).classify(["a wolf"])
        # well under the ~8 s the whole drip takes, with room for a loaded machine (a 2 s bound was a load test)
        assert time.perf_counter() - t0 < 6.0
    finally:
        slow.close()


@pytest.mark.parametrize(
    "url, ok",
    [
        ("http://10.1.2.3:8080/v1", False),
        ("http://api.example.com/v1", False),
        ("https://api.example.com/v1", True),
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost:8080/v1", True),
        ("http://[::1]:8080/v1", True),
        ("ftp://127.0.0.1/v1", False),
    ],
)
def test_api_key_over_plain_http_only_to_loopback(url, ok):
    if ok:
        client(url, api_key="sk-secret")
    else:
        with pytest.raises(InputError, match="base_url"):
            client(url, api_key="sk-secret")


def test_no_key_over_plain_http_is_fine():
    client("http://10.1.2.3:8080/v1")  # a local-network llama.cpp server without a key
