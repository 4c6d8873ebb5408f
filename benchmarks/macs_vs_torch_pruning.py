"""MACs counted from the exported ONNX graph (edgekit.bench.graph) vs torch-pruning's count of the torch model,
for the built-in ResNet and torchvision resnet18 / mobilenet_v2. Target: within 1 %. Needs torch.

    python benchmarks/macs_vs_torch_pruning.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = {
    "edgekit:resnet-small": ({"source": "edgekit:resnet-small"}, 1, 28),
    "torchvision:resnet18": ({"source": "torchvision:resnet18"}, 3, 224),
    "torchvision:mobilenet_v2": ({"source": "torchvision:mobilenet_v2"}, 3, 224),
}


def main() -> int:
    """0 when every model's MACs are within 1 % of torch-pruning's count, 1 when not."""
    import torch
    import torch_pruning as tp

    from edgekit.bench.graph import count
    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import build_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (spec, channels, hw) in MODELS.items():
            model = build_model(spec, 10, channels).eval()
            x = torch.randn(1, channels, hw, hw)
            total, params, layer_ops, _ = tp.utils.count_ops_and_params(model, x, layer_wise=True)
            tp_macs = sum(v for m, v in layer_ops.items() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and v)
            path = Path(tmp) / "m.onnx"
            export_onnx(model, torch.randn(2, channels, hw, hw), path, 18)
            got = count(path)
            rows.append(
                {
                    "model": name,
                    "input": [channels, hw, hw],
                    "onnx_macs": got["macs"],
                    "tp_conv_linear_macs": tp_macs,
                    "macs_ratio": got["macs"] / tp_macs,
                    "onnx_ops": got["ops"],
                    "tp_total_ops": total,
                    "ops_ratio": got["ops"] / total,
                    "onnx_params": got["params"],
                    "tp_params": params,
                }
            )
            r = rows[-1]
            print(
                f"{name} {channels}x{hw}x{hw}: MACs onnx {r['onnx_macs']:,} vs torch-pruning {tp_macs:,.0f} -> "
                f"ratio {r['macs_ratio']:.6f}; ops incl. elementwise {r['ops_ratio']:.4f} "
                f"(BatchNorm folded by the exporter); params {r['onnx_params']:,} vs {params:,.0f}",
                file=sys.stderr,
            )
    ok = all(abs(r["macs_ratio"] - 1) <= 0.01 for r in rows)
    if args.json:
        print(json.dumps({"rows": rows, "within_1_percent": ok}, indent=2))
    else:
        print(f"MACs within 1 % of torch-pruning for all {len(rows)} models: {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
