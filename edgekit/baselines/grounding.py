"""The prompted alternative for detection: a vision-language model behind an OpenAI-compatible endpoint is asked
for the objects in an image as JSON boxes (grounding), and its answer is read by a stated rule into the
(boxes, scores, labels) a detector's ONNX file gives, so the same mAP scores both (edgekit.detect: the evaluate
row's ``detection_fields``). Requests, retries, the answer cache, token counts and cost are OpenAIChat's.

    vlm = OpenAIGrounding("http://127.0.0.1:8000/v1", "qwen2.5-vl", LabelSet.of(names), image_size=448)
    boxes, scores, labels = vlm.detect(images_uint8_nchw)   # one array of each per image, original pixels
    parse_boxes('[{"label": "bag", "box": [10, 20, 60, 90]}]', names, sent_hw=(96, 96), image_hw=(96, 96))
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from edgekit.baselines.answers import _norm
from edgekit.baselines.images import data_uri, numbered
from edgekit.baselines.openai import OpenAIChat

GROUNDING_INSTRUCTION = (
    "Find every object of these categories in the image:\n{labels}\n"
    "The image is {width} pixels wide and {height} pixels high. Answer with a JSON list only, one item per "
    'object: {"label": "<category>", "box": [x1, y1, x2, y2]} in pixels, (x1, y1) the top-left corner and '
    "(x2, y2) the bottom-right. Answer [] when there is none."
)
# printed in the report beside the prompt, so a reader can judge how answers became boxes
GROUNDING_PARSE_RULE = (
    "the first JSON list in the answer (code fences ignored; an object holding one list is that list) is read; "
    "each item is an object with a label (a category name, case and punctuation ignored, or its 1-based number "
    "in the offered list) and a box [x1, y1, x2, y2] (also 'bbox'/'box_2d') in pixels of the image as sent, or "
    "fractions of its width and height when all four are at most 1; boxes are scaled to the original image, "
    "clipped to it, and dropped when empty; an item with an unknown label or a malformed box is dropped; score "
    "is the item's own 'score' in [0, 1] when given, else 1 - 0.001 x its position (the model's order is its "
    "ranking); an answer with no JSON list is unparsed: no boxes, counted and shown"
)
BOX_KEYS = ("box", "bbox", "box_2d")


class Boxes(NamedTuple):
    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2 in the original image's pixels
    scores: np.ndarray  # (N,) float32
    labels: np.ndarray  # (N,) int64 class index
    parsed: bool  # False: the answer held no JSON list (no boxes, counted as unparsed)


def _empty(parsed: bool) -> Boxes:
    return Boxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), parsed)


def _json_list(content: str) -> list | None:
    """The first JSON list in an answer, or None."""
    text = re.sub(r"```(?:json)?", "", content)
    for start in (m.start() for m in re.finditer(r"[\[{]", text)):
        try:
            value, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            continue
        if isinstance(value, dict):
            lists = [v for v in value.values() if isinstance(v, list)]
            value = lists[0] if len(lists) == 1 else None
        if isinstance(value, list):
            return value
    return None


def _label(value, names: Sequence[str]) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value - 1 if 1 <= value <= len(names) else -1
    wanted = _norm(str(value))
    if wanted.isdigit():
        return _label(int(wanted), names)
    return next((i for i, n in enumerate(names) if _norm(n) == wanted), -1)


def parse_boxes(content: str, names: Sequence[str], sent_hw: tuple[int, int], image_hw: tuple[int, int]) -> Boxes:
    """An answer read by GROUNDING_PARSE_RULE. ``sent_hw``: (height, width) of the image as the model saw it;
    ``image_hw``: of the original, whose pixels the boxes are returned in."""
    items = _json_list(content)
    if items is None:
        return _empty(False)
    (sh, sw), (h, w) = sent_hw, image_hw
    boxes, scores, labels = [], [], []
    for pos, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        raw = next((item[k] for k in BOX_KEYS if k in item), None)
        label = _label(item.get("label", item.get("category")), names)
        ok = isinstance(raw, list) and len(raw) == 4 and all(isinstance(v, (int, float)) for v in raw)
        if not ok or label < 0:
            continue
        x1, y1, x2, y2 = (float(v) for v in raw)
        fx, fy = (w, h) if max(x1, y1, x2, y2) <= 1 else (w / sw, h / sh)  # fractions, or pixels as sent
        x1, x2 = sorted((min(max(x1 * fx, 0.0), w), min(max(x2 * fx, 0.0), w)))
        y1, y2 = sorted((min(max(y1 * fy, 0.0), h), min(max(y2 * fy, 0.0), h)))
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            continue
        own = item.get("score")
        score = float(own) if isinstance(own, (int, float)) and 0 <= own <= 1 else 1.0 - 0.001 * pos
        boxes.append((x1, y1, x2, y2))
        scores.append(score)
        labels.append(label)
    if not boxes:
        return _empty(True)
    return Boxes(np.asarray(boxes, np.float32), np.asarray(scores, np.float32), np.asarray(labels, np.int64), True)


def sent_size(image_hw: tuple[int, int], size: int) -> tuple[int, int]:
    """(height, width) of an image as sent: ``size`` high, the width as the aspect demands (images.resize)."""
    h, w = image_hw
    return size, max(1, round(size * w / h))


class OpenAIGrounding(OpenAIChat):
    """OpenAIChat asked for boxes instead of a class: one request per image, answers parsed by
    GROUNDING_PARSE_RULE; usage, cost and the answer cache as for classification."""

    provider = "grounding"

    def __init__(self, *args, max_tokens: int = 512, **kwargs):
        super().__init__(*args, max_tokens=max_tokens, **kwargs)

    def prompt(self, images: bool = True) -> dict:
        return {
            "instruction": self.instruction or GROUNDING_INSTRUCTION,
            "parse_rule": GROUNDING_PARSE_RULE,
            "image_size": self.image_size,
            "image_format": self.image_format,
        }

    def _body(self, sample) -> dict:
        sh, sw = sent_size(sample.shape[1:], self.image_size)
        text = (self.instruction or GROUNDING_INSTRUCTION).replace("{labels}", numbered(self.labels.names))
        text = text.replace("{width}", str(sw)).replace("{height}", str(sh))  # not format(): the JSON has braces
        image = {"type": "image_url", "image_url": {"url": data_uri(sample, self.image_size, self.image_format)}}
        messages = [{"role": "user", "content": [{"type": "text", "text": text}, image]}]
        return {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}

    def detect(self, images: np.ndarray) -> tuple[list, list, list]:
        """uint8 (N, C, H, W) -> (boxes, scores, labels): one array of each per image, as a detector's ONNX file
        gives them (edgekit.detect scores both with the same mAP)."""
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            entries = list(pool.map(self._answer, list(images)))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        hw = tuple(images.shape[2:])
        found = [parse_boxes(e["content"], self.labels.names, sent_size(hw, self.image_size), hw) for e in entries]
        with self._lock:
            for e, f in zip(entries, found):
                self.counts["prompt_tokens"] += e["prompt_tokens"]
                self.counts["completion_tokens"] += e["completion_tokens"]
                self.counts["estimated_tokens"] += int(bool(e.get("estimated")))
                self.latencies_ms.append(e["latency_ms"])
                if not f.parsed and len(self.unparsed_answers) < 5:
                    self.unparsed_answers.append(e["content"][:80])
            self.counts["unparsed"] += sum(not f.parsed for f in found)
        return [f.boxes for f in found], [f.scores for f in found], [f.labels for f in found]
