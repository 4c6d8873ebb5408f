"""Built-in stage kinds, imported explicitly so the registry is complete and its order is fixed."""

from edgekit.stages import distill, evaluate, export, import_onnx, inc_quantize, prompted, prune, quantize, train  # noqa: F401
