"""One rank of a distributed train stage, started by torchrun (``edgekit.torchkit.distributed.run_workers``).

    python -m torch.distributed.run --standalone --nproc-per-node 2 -m edgekit.torchkit.ddp_worker JOB.json

Reads the job (recipe text, starting model, teacher, settings), loads the dataset the way the pipeline does
(image folders from the store, so no rank decodes), trains its shard under DDP, and on local rank 0 writes the
trained weights and fit's result beside the job file, temp-then-rename: the stage reads them only when every
rank has exited 0.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(job_file: str) -> int:
    import numpy as np
    import torch
    import torch.distributed as dist
    from safetensors.torch import save_file

    from edgekit.data import load_dataset
    from edgekit.recipe.read import parse
    from edgekit.torchkit.models import load_model
    from edgekit.torchkit.distill_loss import distillation_loss
    from edgekit.torchkit.training import TrainSettings, fit

    job = json.loads(Path(job_file).read_text())
    out = Path(job_file).parent
    cuda = job["device"].startswith("cuda")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        torch.set_num_threads(job["threads"])
        loaded = parse(job["recipe_text"], Path(job["recipe_file"]))
        ds = load_dataset(loaded.recipe.data, loaded.recipe.seed, loaded.file.parent)
        device = f"cuda:{local}" if cuda else "cpu"
        model, _ = load_model(out / "init")
        settings = TrainSettings(**job["settings"], device=device, rank=dist.get_rank(), world=dist.get_world_size())
        loss_fn, train, val = None, ds.train, ds.val
        if job.get("taught"):  # a distill stage: its taught samples, soft labels as targets
            from edgekit.torchkit.distributed import load_split
            from edgekit.torchkit.soft_labels import SoftLabelLoss

            t, arrays = job["taught"], out / "taught"
            train, val = load_split(arrays, t["train"]), load_split(arrays, t["val"])
            logits = torch.from_numpy(np.load(arrays / "logits.npy"))
            loss_fn = SoftLabelLoss(logits, np.load(arrays / "labels.npy"), t["temperature"], t["weight"])
        elif job.get("teacher"):
            d = job["distill"]
            teacher = load_model(Path(job["teacher"]))[0].to(device)
            loss_fn = distillation_loss(teacher, d["temperature"], d["weight"], settings.label_smoothing)
        console = None
        if dist.get_rank() == 0:
            from rich.console import Console

            console = Console(stderr=True)
        result = fit(
            model,
            train,
            val,
            ds.mean,
            ds.std,
            settings,
            console=console,
            loss_fn=loss_fn,
            label=f"{job['stage']} (rank 0 of {settings.world})",
        )
        if local == 0:  # every rank holds the same weights; one writer per machine
            state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
            save_file(state, str(out / "trained.tmp"))
            os.replace(out / "trained.tmp", out / "trained.safetensors")
            (out / "result.tmp").write_text(json.dumps({**result, "world_size": settings.world}))
            os.replace(out / "result.tmp", out / "result.json")
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_file():  # started by hand: say how it is started
        print(
            "usage: torchrun ... -m edgekit.torchkit.ddp_worker JOB.json (the train stage writes the job; "
            "run `edgekit shrink RECIPE --nproc-per-node N` instead)",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
