"""Any OpenAI-compatible chat endpoint as a zero-/few-shot classifier (llama.cpp server, Ollama, vLLM, hosted).

Standard library only (urllib + threads). Each request goes through edgekit.baselines.endpoint (a total deadline,
a size cap, no redirects, an API key over plain http:// only to a loopback address, retries with backoff on
timeouts, 429 and 5xx); at most ``concurrency`` requests in flight. Every completed
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

import json
import threading
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
from edgekit.baselines.endpoint import Endpoint, ProviderError
from edgekit.fsutil import write_json
from edgekit.hashing import hash_obj


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
        self.post = Endpoint(self.url, api_key, timeout_s, retries, backoff_s)  # refuses an unsafe endpoint
        self.model, self.labels = model, labels
        self.instruction, self.examples = instruction, list(examples)  # None: the default for the data's kind
        self.concurrency = concurrency
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.prices = (price_input_per_1m, price_output_per_1m)
        self.max_tokens, self.image_size, self.image_format = max_tokens, image_size, image_format
        self.latencies_ms: list[float] = []
        self.counts = {
            "requests": 0,
            "cached": 0,
            "retries": 0,  # read from the transport in usage()
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
        resp, ms = self.post(body)
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
        counts = {**self.counts, "retries": self.post.retries}  # the transport counts its own retries
        return {**counts, "tokens": tokens, "unparsed_answers": list(self.unparsed_answers)}

    def cost_per_1k(self, queries: int) -> float | None:
        pin, pout = self.prices
        if (pin is None and pout is None) or not queries:
            return None
        total = (self.counts["prompt_tokens"] * (pin or 0) + self.counts["completion_tokens"] * (pout or 0)) / 1e6
        return round(total / queries * 1000, 6)
