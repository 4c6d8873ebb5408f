"""What makes the default recipe's CPU training fast: ResNet-18 (1x28x28, 10 classes) training-step time
per sample, for each setting the train stage uses, measured side by side in one process.

    python benchmarks/train_step.py [--steps 12] [--threads 2] [--json]

Rows add one setting at a time: a plain NCHW step with foreach AdamW; + fused AdamW; + cutting the kernel
taps that only read padding, + the weight gradient of <= 2x2 maps as a convolution (both
edgekit.torchkit.small_maps); + channels-last; + batch 256. Each row is the median step over --steps after 3
warm-up steps, in rounds that alternate the order so machine drift hits all rows alike.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from edgekit.torchkit import small_maps  # noqa: E402
from edgekit.torchkit.models import build_model  # noqa: E402

# name -> (fused AdamW, small_maps: 0 off, 1 taps cut only, 2 + weight gradient; channels last, batch size)
SETTINGS = {
    "plain": (False, 0, False, 128),
    "+ fused AdamW": (True, 0, False, 128),
    "+ padding taps cut": (True, 1, False, 128),
    "+ weight grad as conv": (True, 2, False, 128),
    "+ channels last": (True, 2, True, 128),
    "+ batch 256": (True, 2, True, 256),
}


def step_times(fused: bool, small: int, channels_last: bool, batch: int, steps: int) -> list[float]:
    torch.manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = (
        build_model({"source": "torchvision:resnet18"}, num_classes=10, in_channels=1).to(memory_format=layout).train()
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=fused, foreach=None if fused else True)
    x = torch.randn(batch, 1, 28, 28).to(memory_format=layout)
    y = torch.randint(0, 10, (batch,))
    times = []
    small_maps.SMALL_MAP = 4 if small == 2 else 0
    with small_maps.fast_small_map_convs(model) if small else contextlib.nullcontext():
        for i in range(steps + 3):
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i >= 3:
                times.append((time.perf_counter() - t0) / batch)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    per_sample: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for r in range(args.rounds):
        for name in SETTINGS if r % 2 == 0 else reversed(SETTINGS):
            per_sample[name] += step_times(*SETTINGS[name], args.steps)
            print(f"round {r + 1}: {name} done", file=sys.stderr)
    base = statistics.median(per_sample["plain"])
    rows = [
        {
            "setting": name,
            "ms_per_sample": round(statistics.median(t) * 1e3, 3),
            "speedup_vs_plain": round(base / statistics.median(t), 2),
            "epoch_s_54k": round(statistics.median(t) * 54_000, 1),
        }
        for name, t in per_sample.items()
    ]
    if args.json:
        print(json.dumps({"threads": args.threads, "rows": rows}, indent=2))
        return
    print(f"{'setting':<24} {'ms/sample':>10} {'speed-up':>9} {'epoch of 54k':>13}")
    for row in rows:
        print(
            f"{row['setting']:<24} {row['ms_per_sample']:>10.2f} {row['speedup_vs_plain']:>8.2f}x "
            f"{row['epoch_s_54k']:>11.0f} s"
        )


if __name__ == "__main__":
    main()
