"""The prompted stage on detection data: a grounding endpoint or an open-vocabulary detector answers boxes for the
run's test images (or the seeded subset of ``samples:`` of them, which the evaluate stage also scores every artifact
on), scored by the same mAP as the detectors' ONNX files (edgekit.detect.evaluate.detection_fields: mAP@0.5:0.95 and
mAP@0.5, the bootstrap interval, chance 0). An answer with no JSON list counts as no boxes and is counted in
``unparsed``; latency is per request for an endpoint, batch-1 ``detect`` calls for a local model."""

from __future__ import annotations

import numpy as np

from edgekit.baselines import PROVIDERS
from edgekit.fsutil import write_json
from edgekit.run.stage import StageContext, StageOutput
from edgekit.stages.prompted_row import baseline_row, summary, timed_batch1

MAX_SAVED = 100  # boxes per image written to baseline.json (the highest scoring; mAP counts all of them)


def score_boxes(ctx: StageContext, cfg, ds, bl) -> StageOutput:
    import torch

    from edgekit.detect.dataset import limit
    from edgekit.detect.evaluate import detection_fields
    from edgekit.progress import progress as progress_for

    provider = PROVIDERS[cfg.provider]
    test = limit(ds.test, cfg.samples, ctx.recipe.seed)  # the evaluate stage draws the same subset
    step = len(test) if provider.remote else 8  # an endpoint's requests run concurrently inside detect()
    boxes, scores, labels = [], [], []
    with progress_for(ctx.console, transient=True) as progress:
        task = progress.add_task(f"{cfg.id}: {cfg.provider} on {len(test)} test images", total=len(test))
        for i in range(0, len(test), step):
            b, s, lab = bl.detect(test.x[i : i + step])
            boxes += b
            scores += s
            labels += lab
            progress.update(task, advance=len(b))
    if provider.remote:
        times = bl.latencies_ms  # per request, as the endpoint answered (cached answers keep their first latency)
    else:
        torch.set_num_threads(cfg.threads)
        times = timed_batch1(bl, test.x, cfg.latency_runs, method="detect")
        torch.set_num_threads(ctx.threads)
    unparsed = bl.usage().get("unparsed", 0)  # answers with no JSON list: no boxes, counted (an endpoint only)
    row = {
        **baseline_row(cfg, cfg.model or provider.default_model, bl, times, len(test), unparsed, bl.prompt()),
        **detection_fields(test, (boxes, scores, labels), len(ds.classes), ctx.recipe.seed),
    }
    top = [np.argsort(-s, kind="stable")[:MAX_SAVED] for s in scores]  # an open-vocabulary model boxes every patch
    predictions = [
        {"boxes": np.round(b[k], 2).tolist(), "scores": np.round(s[k], 4).tolist(), "labels": lab[k].tolist()}
        for b, s, lab, k in zip(boxes, scores, labels, top)
    ]
    write_json(ctx.out / "baseline.json", {"artifacts": [row], "predictions": predictions})
    ctx.console.print(summary(row, "test images"))
    return StageOutput("baseline.json", {"artifacts": [row]})
