"""The train and distill stages under torchrun/DDP (``edgekit shrink --nproc-per-node N``): when, the key, and
the launch itself."""

from __future__ import annotations

from edgekit.run.stage import StageContext


def world_key() -> dict | None:
    """A stage config's ``key_context`` under a DDP launch: the world size (batch_size is the global batch either
    way, but the model differs); one process adds nothing, so its keys stay as they were."""
    from edgekit.torchkit.distributed import current

    world = current().world
    return {"world_size": world} if world > 1 else None


def distributed(ds, cfg) -> bool:
    """DDP (torchrun) when the CLI asked for more than one process; image models only (text heads, unlabelled
    distillation and their token splits stay in one process)."""
    from edgekit.torchkit.distributed import current

    return (
        current().world > 1 and ds.kind == "image" and cfg.head is None and not (cfg.distill and cfg.distill.unlabelled)
    )


def fit_distributed(
    ctx: StageContext, cfg, model, spec: dict, extra: dict, settings, teacher=None, taught: dict | None = None
) -> dict:
    """Train ``model`` on every rank of the launch (edgekit.torchkit.distributed) and load rank 0's weights into it.
    ``taught``: a distill stage's {"train", "val": Split, "logits": (N, C) tensor, "labels", "temperature",
    "weight"}: the ranks train on these with the soft-label loss instead of loading the dataset."""
    import shutil

    from edgekit.torchkit.distributed import current, run_workers, settings_dict
    from edgekit.torchkit.models import load_state, load_weights, save_model

    launch = current()
    if cfg.batch_size % launch.world:
        raise ctx.error(
            "batch_size", f"{cfg.batch_size} is the global batch: it must divide by the {launch.world} processes"
        )
    job_dir = ctx.out / ".ddp"
    (job_dir / "init").mkdir(parents=True)
    save_model(model, job_dir / "init", spec, extra)
    job = {
        "stage": cfg.id,
        "key": ctx.out.name.rsplit("-", 1)[0],
        "recipe_text": ctx.loaded.text,
        "recipe_file": str(ctx.loaded.file.resolve()),
        "device": settings.device,
        "settings": settings_dict(settings),
        "teacher": str(teacher) if teacher else None,
        "distill": cfg.distill.model_dump() if getattr(cfg, "distill", None) else None,
    }
    if taught is not None:
        import numpy as np

        from edgekit.torchkit.distributed import save_split

        arrays = job_dir / "taught"
        job["taught"] = {
            "train": save_split(arrays, "train", taught["train"]),
            "val": save_split(arrays, "val", taught["val"]),
            "temperature": taught["temperature"],
            "weight": taught["weight"],
        }
        np.save(arrays / "logits.npy", taught["logits"].numpy())
        np.save(arrays / "labels.npy", np.asarray(taught["labels"]))
    ctx.console.print(
        f"  DDP: {launch.world} processes ({launch.nproc_per_node} per node x {launch.nnodes} nodes), "
        f"global batch {cfg.batch_size}"
    )
    result = run_workers(job, job_dir, launch, ctx.threads)
    load_state(model, load_weights(job_dir / "trained.safetensors"))
    shutil.rmtree(job_dir)
    return result
