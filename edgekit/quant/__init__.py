"""INT8 quantization shared by the `quantize` (ONNX Runtime) and `inc-quantize` (Intel Neural Compressor) stages.
A library: it knows nothing about recipes. The stages' recipe glue lives with them (stages/quant_config.py,
stages/quant_common.py).

    tolerance.py    max_accuracy_drop ("0.5" points or "1%" relative) and the check against it
    measure.py      accuracy / size / batch-1 latency of one ONNX file, and the trial log
    outcome.py      which candidate a stage keeps (first within tolerance, best, or the faster float model)
    calibration.py  class-stratified, seeded calibration samples streamed in batches
    ort_static.py   ONNX Runtime static QDQ and dynamic quantization of one configuration
    ladder.py       the fallback ladder of configurations tried when the tolerance is missed
    ort_flow.py     the ladder walk: quantize, measure, log, stop at the first candidate within tolerance
    sensitivity.py  which nodes lose the most precision, measured float vs quantized
    inc.py          INC 3.x prepare/convert/autotune and a real-INT8 ONNX file from its export
    onnx_int8.py    folding constant weight quantization into int8 initializers; int8 kernel check

Heavy imports (onnxruntime.quantization, torch, neural_compressor) stay inside functions.
"""
