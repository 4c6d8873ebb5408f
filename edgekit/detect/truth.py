"""Detection ground truth standing where a classifier's labels ``y`` go in the quantize ladder: it scores a session
itself, so the ladder's accuracy (``quant/measure.py``) becomes mAP@0.5:0.95 for a detector and every rung, the
tolerance and the choice stay as they are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.detect.evaluate import OUTPUTS, session_batch
from edgekit.detect.metric import PRIMARY, coco_map


@dataclass(frozen=True)
class DetTruth:
    boxes: list[np.ndarray]
    labels: list[np.ndarray]
    n_classes: int

    def __len__(self) -> int:
        return len(self.boxes)

    def score(self, sess, x: np.ndarray, batch_size: int = 64) -> float:
        """mAP@0.5:0.95 of a session with outputs boxes, scores, labels on prepared input ``x`` (N, C, H, W)."""
        name, batch_size = sess.get_inputs()[0].name, session_batch(sess, batch_size)
        out: list[list] = [[], [], []]
        for start in range(0, len(x), batch_size):
            for acc, arr in zip(out, sess.run(OUTPUTS, {name: x[start : start + batch_size]})):
                acc += list(arr)
        return coco_map(self.boxes, self.labels, *out, self.n_classes)[PRIMARY]
