"""Train stages on several processes, GPUs or machines with PyTorch's own launcher (torchrun) and DDP.

    edgekit shrink recipe.yaml --nproc-per-node 2                       # one machine, 2 processes
    edgekit shrink recipe.yaml --nproc-per-node 8 --nnodes 2 --node-rank 0 --rdzv-endpoint head:29400   # on head
    edgekit shrink recipe.yaml --nproc-per-node 8 --nnodes 2 --node-rank 1 --rdzv-endpoint head:29400   # on the other

The pipeline stays one process per machine. A train stage that misses the cache writes its starting model and a
job file into its temporary stage directory and runs ``python -m torch.distributed.run ... -m
edgekit.torchkit.ddp_worker JOB``; every worker loads the data (from the store: no decoding), trains its shard
under DDP (gloo on CPU, NCCL on GPU) and local rank 0 writes the trained weights; the stage then evaluates and
writes its directory as usual. So only one process per machine writes a stage, the global batch is the recipe's
``batch_size`` split over the ranks, and the world size is in the stage key (``TrainConfig.key_context``), so a
2-process model never answers for a 1-process one. A rank that dies makes torchrun stop the others and exit
non-zero: the stage fails (exit 1), its temporary directory is removed, and running the same command again
resumes at that stage with every earlier stage cached.

The launch settings travel from the CLI to the stage in ``EDGEKIT_*`` environment variables (``configure``),
the way torchrun itself hands ranks to workers, and so the stage key can read them like any other setting
from outside the recipe.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from edgekit.errors import InputError, StageFailed

ENV = {
    "nproc_per_node": "EDGEKIT_NPROC_PER_NODE",
    "nnodes": "EDGEKIT_NNODES",
    "node_rank": "EDGEKIT_NODE_RANK",
    "rdzv_endpoint": "EDGEKIT_RDZV_ENDPOINT",
}


@dataclass(frozen=True)
class Launch:
    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str = ""

    @property
    def world(self) -> int:
        return self.nproc_per_node * self.nnodes


def configure(nproc_per_node: int = 1, nnodes: int = 1, node_rank: int = 0, rdzv_endpoint: str | None = None) -> Launch:
    """Check the CLI's launch options and hand them to this process's train stages."""
    if nproc_per_node < 1 or nnodes < 1:
        raise InputError("--nproc-per-node and --nnodes must be at least 1")
    if not 0 <= node_rank < nnodes:
        raise InputError(f"--node-rank {node_rank}: must be from 0 to {nnodes - 1} (--nnodes {nnodes})")
    if nnodes > 1 and not rdzv_endpoint:
        raise InputError(
            "--nnodes > 1 needs --rdzv-endpoint HOST:PORT (a port on the node-rank-0 machine that every node reaches)"
        )
    launch = Launch(nproc_per_node, nnodes, node_rank, rdzv_endpoint or "")
    for field, var in ENV.items():
        os.environ[var] = str(getattr(launch, field))
    return launch


def current() -> Launch:
    """The launch the CLI configured for this process (one process on one machine when it did not)."""

    def read(field: str, default):
        raw = os.environ.get(ENV[field], "")
        return type(default)(raw) if raw else default

    try:
        return Launch(*(read(f, getattr(Launch, f)) for f in ENV))
    except ValueError as e:
        raise InputError(f"bad EDGEKIT_* launch setting: {e}") from None


def run_workers(job: dict, job_dir: Path, launch: Launch, threads: int) -> dict:
    """Run the DDP job on this machine's ranks; returns rank 0's result (fit history). Raises StageFailed when a
    rank fails or is killed."""
    job_dir.mkdir(parents=True, exist_ok=True)
    job_file = job_dir / "job.json"
    job_file.write_text(json.dumps({**job, "threads": max(1, threads // launch.nproc_per_node)}, indent=2))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={launch.nproc_per_node}",
        "--max-restarts=0",
        "--monitor-interval=1",
    ]
    if launch.nnodes == 1:
        cmd += ["--standalone"]  # a free local port, no endpoint to agree on
    else:
        cmd += [
            f"--nnodes={launch.nnodes}",
            f"--node-rank={launch.node_rank}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={launch.rdzv_endpoint}",
            f"--rdzv-id=edgekit-{job['key'][:16]}",
        ]
    cmd += ["-m", "edgekit.torchkit.ddp_worker", str(job_file)]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, threads // launch.nproc_per_node))}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    cause = _relay(proc.stdout)
    code = proc.wait()
    result = job_dir / "result.json"
    if code != 0 or not result.is_file():
        raise StageFailed(
            f"stage '{job['stage']}': a training process of {launch.world} failed or was killed "
            f"(torchrun exit {code}{'; ' + cause if cause else ''}); nothing was written: "
            f"run the same command to resume at this stage"
        )
    return json.loads(result.read_text())


_ELASTIC_LOG = re.compile(r"^\s*[WEI]\d{4} |^\*{5}|^\[rank\d+\]:")  # torchrun's glog-style lines, its banner


def _relay(lines) -> str:
    """Pass the workers' own lines (rank 0's progress) to stderr; torchrun's log lines and the tracebacks of a
    failure stay out (all of it with EDGEKIT_DEBUG). Returns the line that names the failure, if one did."""
    debug, quiet, cause = bool(os.environ.get("EDGEKIT_DEBUG")), False, ""
    for line in lines:
        if "Traceback (most recent call last)" in line or "ChildFailedError" in line:
            quiet = True
        if "exitcode" in line or "Signal" in line or re.search(r"\w+Error: ", line):
            cause = line.strip()[:200]
        if debug or not (quiet or _ELASTIC_LOG.search(line)):
            sys.stderr.write(line)
            sys.stderr.flush()
    return cause


def settings_dict(settings) -> dict:
    return {k: v for k, v in asdict(settings).items() if k not in ("rank", "world", "device")}


def save_split(folder: Path, name: str, split) -> dict:
    """A split the ranks read instead of loading the dataset (a distill stage's taught samples): arrays as .npy,
    store rows as their file and indices (nothing is read here)."""
    import numpy as np

    from edgekit.data.rows import Rows

    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{name}_y.npy", np.asarray(split.y))
    if isinstance(split.x, Rows):
        np.save(folder / f"{name}_idx.npy", split.x.idx)
        return {"y": f"{name}_y.npy", "rows": str(split.x.path), "idx": f"{name}_idx.npy"}
    np.save(folder / f"{name}_x.npy", np.asarray(split.x), allow_pickle=False)
    return {"y": f"{name}_y.npy", "x": f"{name}_x.npy"}


def load_split(folder: Path, saved: dict):
    """The split ``save_split`` wrote (arrays memory-mapped, rows still on disk)."""
    import numpy as np

    from edgekit.data.dataset import Split
    from edgekit.data.rows import Rows

    y = np.load(folder / saved["y"])
    if "rows" in saved:
        return Split(Rows.open(Path(saved["rows"])).take(np.load(folder / saved["idx"])), y)
    return Split(np.load(folder / saved["x"], mmap_mode="r"), y)
