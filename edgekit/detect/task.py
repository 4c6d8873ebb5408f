"""Which task a recipe is: the one place that decides it, from the data source's name (the contract of issue 32)."""

from __future__ import annotations

# source names (before any ``:argument``) whose samples are images with boxes
DETECT_SOURCES = ("fashion-detect", "coco", "yolo")
# train-stage keys that mean something only for classifiers: a detection recipe's train stage refuses them
# (torchkit.detect_stage), and so does a search space over one (edgekit.search.space)
CLASSIFIER_ONLY = ("distill", "head")


def _source(obj) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        data = obj.get("data", obj)
        return str(data.get("source", "")) if isinstance(data, dict) else str(getattr(data, "source", ""))
    data = getattr(obj, "data", obj)  # a Recipe (has .data) or a DataConfig (has .source)
    return str(getattr(data, "source", ""))


def task_of(recipe_or_data_config) -> str:
    """ "detection" when the data source is a detection source, else "classification".

    Accepts a Recipe, a DataConfig, their dict forms, or the source string itself.

        >>> task_of("fashion-detect"), task_of("yolo:/data/shelf"), task_of("fashion-mnist")
        ('detection', 'detection', 'classification')
    """
    name = _source(recipe_or_data_config).partition(":")[0]
    return "detection" if name in DETECT_SOURCES else "classification"
