"""The fast tier's one shared end-to-end run: every stage kind on a tiny Fashion-MNIST subset, then what `edgekit
shrink` does after the stages (report with its verdict and sense checks, ship, publish). Built once per session
(tests/test_smoke.py's session fixture); the tests read it and never write into it.

Kept small on purpose: 400 training images, a quarter-width ResNet, three epochs (enough to leave chance, or nothing
ships), latency timed for a few queries (structure, not speed, is what the fast tier checks). A second recipe imports
the run's fp32 file (kind: import),
since an ``onnx:`` model cannot share a recipe with a trained one. The prompted stage asks a local OpenAI-style
server (tests/vision_server.py) that answers "Trouser" to every image."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgekit.fsutil import read_json

TIMING = "min_seconds: 0, latency_runs: 5"
QUANT = (
    f"max_accuracy_drop: 100, on_miss: keep-best, prefer_faster: false, val_samples: 100, {TIMING}, "
    "calibration: {samples: 32, batch_size: 32}"
)

RECIPE = f"""\
edgekit: 1
name: smoke
seed: 0
threads: 1
data: {{source: fashion-mnist, limit_train: 400, limit_test: 100}}
model: {{source: "edgekit:resnet-small", width: 0.25}}
stages:
  # above chance (37 %): a run at chance ships nothing
  - {{id: train, kind: train, epochs: 3, batch_size: 32, lr: 1.0e-2}}
  - {{id: export, kind: export}}
  - {{id: prune, kind: prune, input: train, ratio: 0.1, round_to: null, measure_speed: false}}
  - {{id: export-pruned, kind: export}}
  - {{id: distilled, kind: distill, input: train, student: {{source: "edgekit:resnet-small", width: 0.25}}, epochs: 3,
     batch_size: 32, lr: 1.0e-2}}
  - {{id: export-distilled, kind: export}}
  - {{id: int8, kind: quantize, input: export, {QUANT}}}
  - {{id: inc, kind: inc-quantize, input: train, max_trials: 1, {QUANT}}}
  - {{id: vlm, kind: prompted, provider: openai, base_url: "${{SMOKE_VLM_URL}}", model: smoke-vlm, samples: 8,
     image_size: 28, retries: 0}}
  - {{id: evaluate, kind: evaluate, {TIMING}, rounds: 1}}
ship: {{objective: size, max_accuracy_drop_pt: 100, reference: export}}
"""

IMPORT_RECIPE = """\
edgekit: 1
name: smoke-import
seed: 0
threads: 1
data: {{source: fashion-mnist, limit_train: 400, limit_test: 100}}
model: {{source: "onnx:{onnx}"}}
stages:
  - {{id: model, kind: import, check_samples: 16}}
  - {{id: evaluate, kind: evaluate, {timing}, rounds: 1}}
"""


@dataclass
class Smoke:
    root: Path
    run_dir: Path
    record: dict  # run.json
    report: dict  # report.json
    import_dir: Path
    import_record: dict
    prompts: list[dict] = field(default_factory=list)  # what the local vision server received

    def stage(self, stage_id: str) -> dict:
        return next(s for s in self.record["stages"] if s["id"] == stage_id)


def build(root: Path) -> Smoke:
    import os

    from edgekit.cli.main import main
    from vision_server import VisionServer

    recipe = root / "smoke.yaml"
    recipe.write_text(RECIPE)
    with VisionServer(lambda images, text: "Trouser") as server:
        os.environ["SMOKE_VLM_URL"] = server.url
        try:
            assert main(["shrink", str(recipe), "--run-dir", str(root / "run")]) == 0
        finally:
            del os.environ["SMOKE_VLM_URL"]
        prompts = list(server.requests)
    record = read_json(root / "run" / "run.json")
    fp32 = root / "run" / next(s["dir"] for s in record["stages"] if s["id"] == "export") / "model.onnx"
    imported = root / "smoke-import.yaml"
    imported.write_text(IMPORT_RECIPE.format(onnx=fp32, timing=TIMING))
    assert main(["shrink", str(imported), "--run-dir", str(root / "import")]) == 0
    return Smoke(
        root,
        root / "run",
        record,
        read_json(root / "run" / "report.json"),
        root / "import",
        read_json(root / "import" / "run.json"),
        prompts,
    )
