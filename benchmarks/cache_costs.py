"""What trusting the cache costs: verifying an artifact's sha256 on load (the default recipe's fp32 ResNet-18 is
a 45 MB ONNX file), and the imagefolder fingerprint over 10,000 images cold (every file hashed) and warm
(per-file hashes remembered by path, size, mtime and inode), next to the old stat-only fingerprint.

    python benchmarks/cache_costs.py [--onnx FILE] [--images 10000] [--json]

Medians of --repeats runs; run it under flock on a shared machine."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _images(root: Path, n: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):  # 28x28 grayscale PNGs like Fashion-MNIST, 10 classes
        path = root / "train" / f"c{i % 10}" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), "L").save(path)


def main() -> int:
    from edgekit.data.filehash import hash_files
    from edgekit.hashing import hash_file

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onnx", type=Path, help="a 45 MB ONNX file (default: 45 MB of random bytes)")
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        onnx = args.onnx
        if onnx is None:
            onnx = tmp / "model.onnx"
            onnx.write_bytes(os.urandom(45_000_000))
        size = onnx.stat().st_size
        verify = _median_s(lambda: hash_file(onnx), args.repeats)
        stat_only = _median_s(lambda: onnx.stat().st_size, args.repeats)
        _images(tmp / "img", args.images)
        files = sorted((tmp / "img").rglob("*.png"))
        os.environ["XDG_CACHE_HOME"] = str(tmp / "xdg")

        def cold():
            for p in (tmp / "xdg").rglob("*.json"):
                p.unlink()
            hash_files(tmp / "img", files)

        def old():  # the previous fingerprint: path, size, mtime only
            h = hashlib.sha256()
            for p in files:
                st = p.stat()
                h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())

        cold_s = _median_s(cold, args.repeats)
        hash_files(tmp / "img", files)
        warm_s = _median_s(lambda: hash_files(tmp / "img", files), args.repeats)
        old_s = _median_s(old, args.repeats)
    result = {
        "onnx_bytes": size,
        "verify_sha256_s": round(verify, 4),
        "size_check_s": round(stat_only, 6),
        "verify_mb_per_s": round(size / 1e6 / verify, 1),
        "images": len(files),
        "fingerprint_cold_s": round(cold_s, 3),
        "fingerprint_warm_s": round(warm_s, 3),
        "fingerprint_old_stat_only_s": round(old_s, 3),
    }
    print(
        json.dumps(result, indent=2)
        if args.json
        else f"sha256 of a {size / 1e6:.1f} MB file: {verify * 1e3:.0f} ms "
        f"({result['verify_mb_per_s']} MB/s) vs a size check "
        f"{stat_only * 1e6:.0f} us; imagefolder fingerprint of {len(files):,} images: cold {cold_s:.2f} s, "
        f"warm (memo) {warm_s:.2f} s, old stat-only {old_s:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
