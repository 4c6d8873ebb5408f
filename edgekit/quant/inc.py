"""Intel Neural Compressor 3.x static INT8 on the PyTorch model (PT2E: export -> prepare -> calibrate -> convert),
optionally accuracy-aware with ``autotune(tolerable_loss, max_trials)``, then one real-INT8 ONNX file.

INC's converted model runs 3-4x slower than fp32 in eager torch (measured); its value is the calibrated scales,
which the ONNX export carries as QDQ nodes. ``onnx_int8.fold_weight_quantization`` turns them into int8 weights."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

# the configurations autotune walks, in order (INC's default sampler is sequential)
TUNE_SPACE = (
    {"w_granularity": "per_channel", "act_algo": "minmax"},
    {"w_granularity": "per_channel", "act_algo": "kl"},
    {"w_granularity": "per_tensor", "act_algo": "minmax"},
    {"w_granularity": "per_tensor", "act_algo": "kl"},
)


@dataclass
class TuneLog:
    """What autotune evaluated, in call order: the fp32 baseline first, then one accuracy per trial."""

    accuracies: list[float] = field(default_factory=list)

    def trials(self, space: tuple[dict, ...]) -> list[dict]:
        return [
            {"trial": i, "config": space[i - 1], "torch_accuracy": round(a, 5)}
            for i, a in enumerate(self.accuracies[1:], 1)
        ]

    @property
    def baseline(self) -> float | None:
        return self.accuracies[0] if self.accuracies else None


def quantize_pt2e(
    model,
    example,
    calibrate: Callable[[object], None],
    evaluate: Callable[[object], float] | None,
    tolerable_loss: float,
    max_trials: int,
    log: TuneLog,
):
    """The converted (fake-quantized) GraphModule. ``example``: (B>=2, ...) tensor (a batch-1 example makes
    the batch axis static and dynamic-batch export fails). With ``evaluate`` and ``max_trials > 1`` INC's
    autotune picks the first configuration within ``tolerable_loss`` (relative) of the baseline."""
    import torch
    from neural_compressor.torch.export import export
    from neural_compressor.torch.quantization import StaticQuantConfig, TuningConfig, autotune, convert, prepare

    logging.getLogger("neural_compressor").setLevel(logging.WARNING)  # INC logs every step at INFO
    batch = torch.export.Dim("batch", min=1, max=65536)
    exported = export(model.eval(), (example,), dynamic_shapes=({0: batch},))
    if exported is None:
        raise RuntimeError("torch.export could not capture the model for PT2E quantization")
    space = TUNE_SPACE[:max_trials]
    if evaluate is None or max_trials == 1:
        prepared = prepare(exported, StaticQuantConfig(**space[0]))
        calibrate(prepared)
        return convert(prepared)

    def eval_fn(m) -> float:
        acc = evaluate(m)
        log.accuracies.append(acc)
        return acc

    tune = TuningConfig(
        config_set=[StaticQuantConfig(**c) for c in space], tolerable_loss=tolerable_loss, max_trials=len(space)
    )
    return autotune(exported, tune, eval_fn=eval_fn, run_fn=calibrate, example_inputs=(example,))


def export_int8_onnx(qmodel, example, path: Path, opset: int, calibration: Iterable[dict] = ()) -> dict:
    """Export the converted model with torch.onnx (dynamo), fold its weight QDQ into int8 initializers, give the
    compute outputs INC left in float a Q/DQ pair (ranges from ``calibration`` batches, ``{input: array}``; INC's
    own scales everywhere else), check it. Returns {"folded_weights": n, "requantized_outputs": m}."""
    import onnx
    import torch

    batch = torch.export.Dim("batch", min=1, max=65536)
    raw = path.with_name("inc-export.onnx")
    with warnings.catch_warnings():
        # a PT2E GraphModule cannot be switched to eval(); it has no train-mode behaviour left to worry about
        warnings.filterwarnings("ignore", message="Exporting a model while it is in training mode")
        torch.onnx.export(
            qmodel,
            (example,),
            str(raw),
            dynamo=True,
            external_data=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes=({0: batch},),
            verbose=False,
        )
    model = onnx.load(str(raw))
    raw.unlink()
    from edgekit.quant import onnx_int8

    folded = onnx_int8.fold_weight_quantization(model)
    tensors = onnx_int8.unquantized_outputs(model)
    added = 0
    if tensors and calibration:
        added = onnx_int8.insert_qdq(model, onnx_int8.tensor_ranges(model, tensors, calibration))
        onnx_int8.topological_sort(model)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return {"folded_weights": folded, "requantized_outputs": added}


def torch_batches(raw, prepare: Callable, batch_size: int) -> Iterable:
    import torch

    for i in range(0, len(raw), batch_size):
        yield torch.from_numpy(prepare(raw[i : i + batch_size]))
