"""Why the store reads rows with pread and not through a memory map: one epoch of random 256-row batches from a
store entry each way, in alternating rounds, each round in a fresh child process (its own RSS).

    python benchmarks/store_read.py STORE_ENTRY/x.npy [--rounds 3]

Prints per-way batch time and the child's peak RSS growth over the epoch. Exits 1 when pread grows RSS by more
than max(64 MB, 10 % of the file) or is more than 2x slower than the memory map (median ratio over rounds).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def epoch(path: Path, way: str) -> dict:
    import numpy as np

    from edgekit.data.rows import Rows

    rows = Rows.open(path)
    mm = np.load(path, mmap_mode="r")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    order = np.random.default_rng(0).permutation(len(rows))
    t0 = time.perf_counter()
    total = 0
    for i in range(0, len(order), 256):
        idx = np.sort(order[i : i + 256])
        batch = rows.read(idx) if way == "pread" else mm[idx]
        total += int(batch[:, 0, 0, 0].sum())  # touch the batch
    s = time.perf_counter() - t0
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    return {"way": way, "s": s, "rss_growth_bytes": grown, "file_bytes": path.stat().st_size}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", choices=["pread", "mmap"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(epoch(a.path, a.child)))
        return 0
    res: dict[str, list[dict]] = {"pread": [], "mmap": []}
    for r in range(a.rounds):
        for way in ("pread", "mmap") if r % 2 == 0 else ("mmap", "pread"):
            out = subprocess.run(
                [sys.executable, __file__, str(a.path), "--child", way], capture_output=True, text=True, check=True
            )
            res[way].append(json.loads(out.stdout))
    ratios = [p["s"] / m["s"] for p, m in zip(res["pread"], res["mmap"])]
    size = res["pread"][0]["file_bytes"]
    for way, rs in res.items():
        print(
            f"{way:>5}: epoch {statistics.median(r['s'] for r in rs):.2f} s, RSS growth "
            f"{statistics.median(r['rss_growth_bytes'] for r in rs) / 1e6:.0f} MB of a {size / 1e6:.0f} MB file"
        )
    print(f"pread/mmap time: {statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f})")
    misses = []
    if statistics.median(r["rss_growth_bytes"] for r in res["pread"]) > max(64e6, 0.1 * size):
        misses.append("pread grew RSS by more than a few batches (64 MB) and 10 % of the file")
    # 2x: reading a 256-row batch either way takes ~1 % of a small CNN's step on it (data_scale.py's data wait),
    # so the read path only has to stay in the same range; what it must not do is hold the file in RSS
    if statistics.median(ratios) > 2.0:
        misses.append("pread more than 2x slower than the memory map")
    for m in misses:
        print(f"FAIL {m}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
