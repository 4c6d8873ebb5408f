"""Object detection, torch-free part: the built-in ``fashion-detect`` set, COCO-JSON and YOLO-txt folder readers,
box operations and COCO's mAP on numpy (docs/detection.md). Torch code for detectors lives in
``edgekit.torchkit.detect*``.

    >>> from edgekit.detect import task_of
    >>> task_of({"source": "coco:photos"})
    'detection'
"""

from __future__ import annotations

from edgekit.detect.task import DETECT_SOURCES, task_of

__all__ = ["DETECT_SOURCES", "task_of"]
