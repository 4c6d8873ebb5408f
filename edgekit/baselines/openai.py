"""Any OpenAI-compatible chat endpoint as a zero-/few-shot classifier (llama.cpp server, Ollama, vLLM, hosted).

Standard library only (urllib + threads). Per request: a total deadline (not only per socket read), a cap on the
response size, no redirects followed (a redirect would hand the API key and the scoring to another host), an
API key sent over plain http:// only to a loopback address; retries with exponential backoff on
timeouts, connection errors, 429 and 5xx; at most ``concurrency`` requests in flight. Every completed
answer is written to an on-disk cache at once (keyed by the sha256 of endpoint + request body), so a run
that fails half-way loses nothing: the next run sends only what is missing. Token usage and cost are
summed from the responses' ``usage`` blocks; where an endpoint reports none they are estimated (text ~4
characters a token, images by the published tile rule) and ``usage()["tokens"]`` says ``"estimated"``.

Images (uint8 (N, C, H, W)) go to a vision-language model as PNG or JPEG data URIs of ``image_size`` pixels,
one query per image, the labels as a numbered list (edgekit.baselines.images); answers are read by
edgekit.baselines.answers.PARSE_RULE.

    chat = OpenAIChat(
        base_url="http://127.0.0.1:8080/v1", model="qwen2.5-0.5b", labels=LabelSet.of(["animal", "plant"])
    )
    chat.classify(["a small domesticated feline"])   # -> array([0])
    chat.classify(images_uint8_nchw)                  # a vision model: one chat request per image
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edgekit.baselines.answers import PARSE_RULE, parse_answer
from edgekit.baselines.base import Baseline, LabelSet, chat_messages
from edgekit.baselines.images import (
    DEFAULT_VISION_INSTRUCTION,
    estimate_image_tokens,
    estimate_text_tokens,
    vision_messages,
)
from edgekit.baselines.llm import DEFAULT_INSTRUCTION
from edgekit.errors import EdgekitError, InputError
from edgekit.fsutil import write_json
from edgekit.hashing import hash_obj


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


class OpenAIChat(Baseline):
    provider = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        labels: LabelSet,
        api_key: str | None = None,
        instruction: str | None = None,
        examples: Sequence[tuple] = (),
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        concurrency: int = 4,
        cache_dir: Path | None = None,
        price_input_per_1m: float | None = None,
        price_output_per_1m: float | None = None,
        max_tokens: int = 16,
        image_size: int = 224,
        image_format: str = "png",
        **_unused,
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        check_endpoint(self.url, api_key)
        self.model, self.labels, self.api_key = model, labels, api_key
        self.instruction, self.examples = instruction, list(examples)  # None: the default for the data's kind
        self.timeout_s, self.retries, self.backoff_s, self.concurrency = timeout_s, retries, backoff_s, concurrency
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.prices = (price_input_per_1m, price_output_per_1m)
        self.max_tokens, self.image_size, self.image_format = max_tokens, image_size, image_format
        self.latencies_ms: list[float] = []
        self.counts = {
            "requests": 0,
            "cached": 0,
            "retries": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "estimated_tokens": 0,
            "unparsed": 0,
        }
        self.unparsed_answers: list[str] = []  # a few, shown in the report so a reader sees what failed to parse
        self._lock = threading.Lock()

    def prompt(self, images: bool) -> dict:
        """The prompt and parsing rule as the report prints them."""
        instruction = self.instruction or (DEFAULT_VISION_INSTRUCTION if images else DEFAULT_INSTRUCTION)
        return {
            "instruction": instruction,
            "parse_rule": PARSE_RULE,
            "few_shot": len(self.examples),
            **({"image_size": self.image_size, "image_format": self.image_format} if images else {}),
        }

    # --- requests ------------------------------------------------------------------------------

    def _body(self, sample) -> dict:
        if isinstance(sample, np.ndarray) and sample.ndim == 3:  # an image (C, H, W)
            messages = vision_messages(
                self.instruction or DEFAULT_VISION_INSTRUCTION,
                self.labels.names,
                self.examples,
                sample,
                self.image_size,
                self.image_format,
            )
        else:
            messages = chat_messages(
                self.instruction or DEFAULT_INSTRUCTION, self.labels.names, self.examples, str(sample)
            )
        return {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}

    def _cache_path(self, body: dict) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hash_obj({"url": self.url, "body": body})
        return self.cache_dir / key[:2] / f"{key}.json"

    def _post(self, body: dict) -> tuple[dict, float]:
        """One completion with retries: (parsed JSON, wall ms of the successful attempt)."""
        data = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
        }
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                with self._lock:
                    self.counts["retries"] += 1
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
        raise ProviderError(f"{self.url}: no answer after {self.retries + 1} attempts: {last}")

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

    def _answer(self, sample) -> dict:
        """{"content", "prompt_tokens", "completion_tokens", "estimated", "latency_ms"}
        from the cache or the endpoint."""
        body = self._body(sample)
        path = self._cache_path(body)
        if path is not None and path.is_file():
            try:
                entry = json.loads(path.read_text())
                with self._lock:
                    self.counts["cached"] += 1
                return entry
            except ValueError:
                pass  # a damaged cache entry is a miss
        resp, ms = self._post(body)
        try:
            content = resp["choices"][0]["message"]["content"]
            if (
                content is None
            ):  # a refusal (OpenAI puts it in message.refusal) or an empty turn: unparsed, not an error
                content = ""
            if not isinstance(content, str):
                raise TypeError
        except (KeyError, IndexError, TypeError):
            raise ProviderError(
                f"{self.url}: malformed response (no choices[0].message.content): {json.dumps(resp)[:160]}"
            ) from None
        usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else {}
        reported = isinstance(usage.get("prompt_tokens"), int)
        entry = {
            "content": content,
            "latency_ms": round(ms, 3),
            "estimated": not reported,
            "prompt_tokens": int(usage["prompt_tokens"]) if reported else self._estimate_prompt(body),
            "completion_tokens": int(usage.get("completion_tokens") or 0)
            if reported
            else estimate_text_tokens(content),
        }
        if path is not None:
            write_json(path, entry)  # at once: a later failure cannot lose this answer
        with self._lock:
            self.counts["requests"] += 1
        return entry

    def _estimate_prompt(self, body: dict) -> int:
        """Prompt tokens of a request whose answer reported none: text by length, each image by its tiles."""
        tokens = 0
        for m in body["messages"]:
            parts = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
            for part in parts:
                tokens += estimate_text_tokens(part["text"]) if part["type"] == "text" else 0
        side = self.image_size  # every image is sent at image_size high; width as the aspect demands
        images = sum(isinstance(m["content"], list) for m in body["messages"])
        return tokens + images * estimate_image_tokens(side, side)

    # --- classification -------------------------------------------------------------------------

    def parse(self, content: str, images: bool = False) -> int:
        """The class an answer names, or -1 (edgekit.baselines.answers.PARSE_RULE); image prompts number the labels."""
        return parse_answer(content, self.labels.names, self.labels.descriptions, numbered=images)

    def classify(self, samples) -> np.ndarray:
        images = isinstance(samples, np.ndarray) and samples.ndim == 4
        queries = list(samples) if images else [str(s) for s in samples]
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            entries = list(pool.map(self._answer, queries))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # on an error: stop sending, keep what is cached
        out = np.array([self.parse(e["content"], images) for e in entries], np.int64)
        with self._lock:
            for e, p in zip(entries, out):
                self.counts["prompt_tokens"] += e["prompt_tokens"]
                self.counts["completion_tokens"] += e["completion_tokens"]
                self.counts["estimated_tokens"] += int(bool(e.get("estimated")))
                self.latencies_ms.append(e["latency_ms"])
                if p < 0 and len(self.unparsed_answers) < 5:
                    self.unparsed_answers.append(e["content"][:80])
            self.counts["unparsed"] += int((out < 0).sum())
        return out

    def usage(self) -> dict:
        """Counts so far; ``tokens`` says whether the token counts came from the endpoint or were estimated."""
        answered = self.counts["requests"] + self.counts["cached"]
        est = self.counts["estimated_tokens"]
        tokens = "reported" if not est else "estimated" if est == answered else "partly estimated"
        return {**self.counts, "tokens": tokens, "unparsed_answers": list(self.unparsed_answers)}

    def cost_per_1k(self, queries: int) -> float | None:
        pin, pout = self.prices
        if (pin is None and pout is None) or not queries:
            return None
        total = (self.counts["prompt_tokens"] * (pin or 0) + self.counts["completion_tokens"] * (pout or 0)) / 1e6
        return round(total / queries * 1000, 6)
