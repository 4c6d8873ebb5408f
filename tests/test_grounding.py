"""The prompted alternative for detection (edgekit.baselines.grounding): a vision chat model's JSON boxes read by
the stated rule, against a real local HTTP stand-in for an OpenAI-compatible endpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.baselines.base import LabelSet
from edgekit.baselines.grounding import GROUNDING_PARSE_RULE, OpenAIGrounding, parse_boxes, sent_size
from localhttp import LocalServer, QuietHandler

NAMES = ["T-shirt/top", "Trouser", "Bag"]


def test_the_rule_reads_pixels_fractions_numbers_and_fences():
    answer = (
        "Here you go:\n```json\n"
        '[{"label": "bag", "box": [10, 20, 60, 90]}, {"label": 2, "bbox": [0.5, 0.5, 1.0, 1.0]},'
        ' {"label": "t shirt top", "box": [-5, 0, 30, 200], "score": 0.4}]\n```'
    )
    got = parse_boxes(answer, NAMES, sent_hw=(192, 192), image_hw=(96, 96))
    assert got.parsed and got.labels.tolist() == [2, 1, 0]
    # pixels of the 192-px image as sent -> the 96-px original; fractions of it; clipped to the image
    assert got.boxes.tolist() == [[5.0, 10.0, 30.0, 45.0], [48.0, 48.0, 96.0, 96.0], [0.0, 0.0, 15.0, 96.0]]
    assert got.scores.tolist() == pytest.approx([1.0, 0.999, 0.4])


def test_unknown_labels_bad_boxes_and_prose_are_dropped_or_unparsed():
    some = parse_boxes(
        '{"objects": [{"label": "cat", "box": [1, 2, 3, 4]}, {"label": "Bag", "box": [5, 5, 5, 9]},'
        ' {"label": "Bag", "box": [1, 2, 3]}]}',
        NAMES,
        (96, 96),
        (96, 96),
    )
    assert some.parsed and len(some.boxes) == 0 and some.boxes.shape == (0, 4)
    assert parse_boxes("[]", NAMES, (96, 96), (96, 96)).parsed
    prose = parse_boxes("I see a bag in the top left corner.", NAMES, (96, 96), (96, 96))
    assert not prose.parsed and len(prose.labels) == 0
    assert "unparsed" in GROUNDING_PARSE_RULE and sent_size((96, 48), 224) == (224, 112)


class _BoxServer(LocalServer):
    """Answers each image with one box, in pixels of the image as sent, or with prose for the second request."""

    def __init__(self):
        self.bodies = []
        server = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append(body)
                text = body["messages"][0]["content"][0]["text"]
                content = (
                    "no idea"
                    if "PROSE" in text and len(server.bodies) == 2
                    else ('[{"label": "Trouser", "box": [56, 56, 168, 168]}]')
                )
                self.send_body(
                    200,
                    json.dumps(
                        {
                            "choices": [{"message": {"role": "assistant", "content": content}}],
                            "usage": {"prompt_tokens": 300, "completion_tokens": 20},
                        }
                    ).encode(),
                )

        self.serve(Handler)


def test_a_local_endpoint_answers_boxes_in_a_detectors_shape(tmp_path):
    images = np.zeros((2, 3, 96, 96), np.uint8)
    images[1] = 255  # two different requests (the same image twice would be answered once, from the cache)
    with _BoxServer() as srv:
        vlm = OpenAIGrounding(
            srv.url,
            "stand-in-vlm",
            LabelSet.of(NAMES),
            concurrency=1,
            cache_dir=tmp_path,
            price_input_per_1m=1.0,
            price_output_per_1m=4.0,
        )
        boxes, scores, labels = vlm.detect(images)
        again = vlm.detect(images)  # from the answer cache: no request
        sent = srv.bodies[0]["messages"][0]["content"]
    assert len(srv.bodies) == 2 and vlm.counts["cached"] == 2
    assert "224 pixels wide and 224 pixels high" in sent[0]["text"] and "1. T-shirt/top" in sent[0]["text"]
    assert sent[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert [b.tolist() for b in boxes] == [[[24.0, 24.0, 72.0, 72.0]]] * 2 and [lab.tolist() for lab in labels] == [
        [1]
    ] * 2
    assert [s.tolist() for s in again[1]] == [s.tolist() for s in scores]
    assert vlm.usage()["unparsed"] == 0 and vlm.cost_per_1k(4) == pytest.approx(
        (1200 * 1 + 80 * 4) / 1e6 / 4 * 1000
    )  # 4 answers, 2 cached
    assert vlm.prompt()["parse_rule"] == GROUNDING_PARSE_RULE


def test_an_unparsed_answer_is_counted_and_shown(tmp_path):
    with _BoxServer() as srv:
        vlm = OpenAIGrounding(
            srv.url, "m", LabelSet.of(NAMES), instruction="PROSE {labels} {width}x{height}", concurrency=1
        )
        boxes, _, _ = vlm.detect(np.stack([np.zeros((1, 28, 56), np.uint8), np.ones((1, 28, 56), np.uint8)]))
        text = srv.bodies[0]["messages"][0]["content"][0]["text"]
    assert text.endswith("448x224") and [len(b) for b in boxes] == [1, 0]
    assert vlm.usage()["unparsed"] == 1 and vlm.usage()["unparsed_answers"] == ["no idea"]
