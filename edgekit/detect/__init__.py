"""Object detection, torch-free part: the built-in ``fashion-detect`` set, COCO-JSON and YOLO-txt folder readers,
box operations and COCO's mAP on numpy (docs/detection.md). Torch code for detectors lives in
``edgekit.torchkit.detect*``. Which task a data source is: ``edgekit.detect.task.task_of``.
"""
