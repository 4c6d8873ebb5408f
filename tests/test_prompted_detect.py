"""The prompted alternative for detection, end to end: a detection recipe's ``provider: grounding`` stage asks a real
HTTP stand-in on 127.0.0.1 for JSON boxes (some right, some with the wrong class, some prose), reads them by the
stated rule and scores them with the detectors' mAP. The expected mAP is computed apart from edgekit: by pycocotools
on the answers the server gave, and by construction. Then the verdict and the sense checks on that row, and
`edgekit validate` refusing a provider of the other task."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest

from detect_folders import canvases, write_coco
from edgekit.cli.main import main
from vision_server import VisionServer

CLASSES = ("a", "b", "c")
N_IMAGES, SIDE = 120, 32  # a COCO folder's held-out tenth: 12 test images
PRICE_IN, PRICE_OUT = 2.5, 10.0


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


class StandIn:
    """Knows every image of the folder by its pixels (as sent: at its own size, PNG). Image i is answered with its
    true boxes at score 0.9 when i % 3 == 0, with every box under the next class at score 0.6 when i % 3 == 1,
    and with prose when i % 3 == 2. ``answered`` records (image index, the items sent) for each request."""

    def __init__(self, x, boxes, labels):
        self.truth = {x[i, 0].tobytes(): i for i in range(len(x))}
        self.boxes, self.labels = boxes, labels
        self.answered: list[tuple[int, list[dict] | None]] = []

    def __call__(self, images, text):
        i = self.truth[images[-1].tobytes()]
        if i % 3 == 2:
            self.answered.append((i, None))
            return "I can see a few items of clothing on a dark background."
        wrong = i % 3 == 1
        items = [
            {"label": CLASSES[(int(c) + wrong) % 3], "box": [float(v) for v in b], "score": 0.6 if wrong else 0.9}
            for b, c in zip(self.boxes[i], self.labels[i])
        ]
        self.answered.append((i, items))
        fence = "```json\n" if i % 2 else ""  # some answers fenced, as chat models like to
        return f"{fence}{json.dumps(items)}{'```' if fence else ''}"


def pycocotools_map(answered, boxes, labels) -> float:
    """mAP@0.5:0.95 of the answers by pycocotools' COCOeval, from the server's own record and the folder's truth."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    for i, items in answered:
        images.append({"id": i, "width": SIDE, "height": SIDE})
        for b, c in zip(boxes[i], labels[i]):
            x1, y1, x2, y2 = (float(v) for v in b)
            anns.append(
                {"id": len(anns) + 1, "image_id": i, "category_id": int(c), "bbox": [x1, y1, x2 - x1, y2 - y1]}
                | {"area": (x2 - x1) * (y2 - y1), "iscrowd": 0}
            )
        for it in items or []:
            x1, y1, x2, y2 = it["box"]
            dets.append(
                {"image_id": i, "category_id": CLASSES.index(it["label"]), "bbox": [x1, y1, x2 - x1, y2 - y1]}
                | {"score": it["score"]}
            )
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": k} for k in range(3)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def by_construction(answered, labels) -> float:
    """Exact boxes rank first (0.9) and everything after them is wrong: per class, precision is 1 up to the recall
    r the right images reach and adds no recall later, at every IoU threshold: AP = #{k/100 <= r} / 101."""
    aps = []
    for c in range(3):
        total = sum(int((labels[i] == c).sum()) for i, _ in answered)
        right = sum(int((labels[i] == c).sum()) for i, _ in answered if i % 3 == 0)
        if total:
            aps.append((math.floor(100 * right / total + 1e-9) + 1) / 101)
    return float(np.mean(aps))


def _recipe(tmp_path, data: str, stage: str) -> str:
    (tmp_path / "r.yaml").write_text(f"edgekit: 1\nname: det-prompt\nseed: 0\ndata: {data}\nstages:\n  - {stage}\n")
    return str(tmp_path / "r.yaml")


@pytest.fixture
def shelf(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the answer cache, kept out of the user's
    x, boxes, labels = canvases(N_IMAGES, SIDE, seed=5)
    write_coco(tmp_path / "shelf", x, boxes, labels, CLASSES)
    return x, boxes, labels


GROUNDING = (
    '{id: vlm, kind: prompted, provider: grounding, base_url: "${EDGEKIT_TEST_VLM_URL}", model: stand-in, '
    f"image_size: {SIDE}, price_input_per_1m: {PRICE_IN}, price_output_per_1m: {PRICE_OUT}, retries: 0}}"
)


def test_grounding_row_scores_the_answers_with_the_detectors_map(tmp_path, monkeypatch, shelf):
    from edgekit.baselines.grounding import GROUNDING_PARSE_RULE
    from edgekit.decide.rows import latency
    from edgekit.decide.sense import findings
    from edgekit.decide.verdict import verdict

    stand_in = StandIn(*shelf)
    recipe = _recipe(tmp_path, '{source: "coco:shelf"}', GROUNDING)
    with VisionServer(stand_in) as server:
        monkeypatch.setenv("EDGEKIT_TEST_VLM_URL", server.url)
        code, out, err = cli("shrink", recipe, "--run-dir", "run")
        sent = server.requests
    assert code == 0, err
    (row,) = json.loads((tmp_path / "run" / "run.json").read_text())["stages"][0]["metrics"]["artifacts"]
    n = len(stand_in.answered)
    assert row["test_samples"] == n == len(sent) == 12 and all(r["images"][0].shape == (SIDE, SIDE) for r in sent)
    assert "1. a" in sent[0]["texts"][0] and f"{SIDE} pixels wide" in sent[0]["texts"][0]

    expected = pycocotools_map(stand_in.answered, shelf[1], shelf[2])
    assert expected == pytest.approx(by_construction(stand_in.answered, shelf[2]), abs=1e-9)
    assert 0.1 < expected < 0.9  # right, wrong and unparsed answers all present
    assert row["metric"] == "mAP@0.5:0.95" and row["accuracy"] == pytest.approx(expected, abs=1e-5)
    assert row["metrics"]["mAP@0.5"] == pytest.approx(expected, abs=1e-5)  # exact boxes: every IoU threshold agrees
    assert row["unparsed"] == sum(items is None for _, items in stand_in.answered) > 0
    assert row["usage"]["unparsed_answers"][0].startswith("I can see")
    lo, hi = row["accuracy_ci95"]
    assert lo <= row["accuracy"] <= hi and row["chance_accuracy"] == 0.0 and len(row["test_set"]) == 16

    # cost: the tokens the stand-in reported (200 per image + 40 in, 3 out) at the recipe's prices
    assert (
        row["cost_per_1k"] == pytest.approx((240 * PRICE_IN + 3 * PRICE_OUT) / 1e6 * 1000) and not row["cost_estimated"]
    )
    assert row["latency_runs"] == n and 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["p99"]
    assert row["prompt"]["parse_rule"] == GROUNDING_PARSE_RULE and row["provider"] == "grounding"
    saved = json.loads(next((tmp_path / "run" / "stages").glob("vlm-*/baseline.json")).read_text())["predictions"]
    assert sum(len(p["boxes"]) for p in saved) == sum(len(items or []) for _, items in stand_in.answered)
    assert f"mAP@0.5:0.95 {expected * 100:.2f} % on 12 test images" in err.replace("\n", " ")

    # the report carries it as the prompted baseline, under the task's metric
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert [b["id"] for b in report["baselines"]] == ["vlm"] and report["baselines"][0]["accuracy"] == row["accuracy"]
    assert "| baseline | mAP@0.5:0.95 |" in (tmp_path / "run" / "report.md").read_text()
    assert not [f for f in findings(report) if f.artifact == "vlm"]  # well above chance

    # the verdict against a detector on the same 12 images (mAP's noise there is wide: +20 pt is a tie), faster and
    # free per query: training pays off; a slower one does not
    b = {**row, "id": "vlm"}
    detector = {**row, "id": "int8", "role": "artifact", "size_bytes": 300_000, "cost_per_1k": None}
    detector |= {"latency_ms": {"p50": 2.0}, "accuracy": row["accuracy"] + 0.2, "accuracy_ci95": [lo + 0.2, hi + 0.2]}
    v = verdict([detector], [b], "int8")
    assert v.baseline == "vlm" and v.pays and "Training pays off against prompting" in v.sentence
    assert "the same mAP@0.5:0.95 within noise" in v.sentence and "than vlm (prompted grounding)" in v.sentence
    worse = {**detector, "accuracy": 0.01, "accuracy_ci95": [0.0, 0.02], "latency_ms": {"p50": 50 * latency(b)}}
    v = verdict([worse], [b], "int8")
    assert not v.pays and "The prompted model wins on at least one axis" in v.sentence


def test_a_classification_only_answer_shape_is_not_a_box(tmp_path, monkeypatch, shelf):
    """A stand-in that answers a class name (a classifier's answer) to the grounding prompt: every answer is
    unparsed, no boxes, mAP 0, and the sense check calls the row what it is."""
    from edgekit.decide.sense import findings

    recipe = _recipe(tmp_path, '{source: "coco:shelf"}', GROUNDING)
    with VisionServer(lambda images, text: "b") as server:
        monkeypatch.setenv("EDGEKIT_TEST_VLM_URL", server.url)
        code, _, err = cli("shrink", recipe, "--run-dir", "run")
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    (row,) = report["baselines"]
    assert row["accuracy"] == 0.0 and row["unparsed"] == row["test_samples"] == 12 and row["mean_detections"] == 0
    (chance,) = [f for f in findings(report) if f.artifact == "vlm"]
    assert chance.check == "chance" and "at chance level" in chance.message


@pytest.mark.parametrize(
    "data, provider, words",
    [
        ("{source: fashion-mnist}", "grounding, base_url: http://127.0.0.1:9/v1, model: m", "grounding provider finds"),
        ("{source: fashion-mnist}", "owlvit", "owlvit provider finds boxes"),
        ("{source: fashion-detect}", "openai, base_url: http://127.0.0.1:9/v1, model: m", "openai provider classif"),
        ("{source: fashion-detect}", "clip, model: some/clip", "clip provider classifies"),
    ],
)
def test_validate_refuses_a_provider_of_the_other_task(tmp_path, data, provider, words):
    recipe = _recipe(tmp_path, data, f"{{id: p, kind: prompted, provider: {provider}}}")
    code, out, err = cli("validate", recipe)
    (line,) = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err and not out
    assert line.startswith(f"error: {recipe}:6: stages[0].provider: ") and words in line, line
    assert ("use grounding or owlvit" in line) == ("detect" in data), line


@pytest.mark.parametrize("provider", ["grounding, base_url: http://127.0.0.1:9/v1, model: m", "owlvit"])
def test_validate_accepts_a_detection_provider_in_a_detection_recipe(tmp_path, provider):
    recipe = _recipe(tmp_path, "{source: fashion-detect}", f"{{id: p, kind: prompted, provider: {provider}}}")
    code, _, err = cli("validate", recipe)
    assert code == 0, err


@pytest.mark.slow  # trains a small detector (~40 s CPU)
def test_a_detector_run_takes_the_grounding_row_as_its_prompted_reference(tmp_path, monkeypatch, shelf):
    """A whole detection run with a grounding stage on a seeded subset of 6 test images: evaluate scores the detector
    on the same 6 (``accuracy_on``), and the verdict compares the two there."""
    stand_in = StandIn(*shelf)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        'edgekit: 1\nname: det-vs-vlm\nseed: 0\nthreads: 1\ndata: {source: "coco:shelf"}\n'
        'model: {source: "edgekit:centernet-small", width: 0.25}\nstages:\n'
        "  - {id: train, kind: train, epochs: 8, lr: 3.0e-3, batch_size: 8}\n"
        "  - {id: export, kind: export}\n"
        "  - {id: evaluate, kind: evaluate, latency_runs: 20, min_seconds: 0.0, rounds: 2}\n"
        f"  - {GROUNDING[:-1]}, samples: 6}}\n"
        "ship: {objective: size, max_metric_drop_pt: 100, reference: export}\n"
    )
    with VisionServer(stand_in) as server:
        monkeypatch.setenv("EDGEKIT_TEST_VLM_URL", server.url)
        code, _, err = cli("shrink", str(recipe), "--run-dir", "run")
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    (vlm,) = report["baselines"]
    (export,) = report["artifacts"]
    assert vlm["test_samples"] == 6 == len(stand_in.answered) and export["test_samples"] == 12
    sub = export["accuracy_on"][vlm["test_set"]]
    assert sub["test_samples"] == 6 and sub["metrics"]["mAP@0.5:0.95"] == sub["accuracy"]
    assert vlm["accuracy"] == pytest.approx(pycocotools_map(stand_in.answered, shelf[1], shelf[2]), abs=1e-5)
    v = report["verdict"]
    assert v["baseline"] == "vlm" and "than vlm (prompted grounding) on the same 6 test samples" in v["sentence"]
    assert ("Training pays off against prompting" in v["sentence"]) == v["pays"]
    (cmp,) = [c for c in v["contenders"] if c["id"] == "vlm"]
    assert cmp["accuracy_diff_pt"] == pytest.approx((sub["accuracy"] - vlm["accuracy"]) * 100, abs=0.01)
