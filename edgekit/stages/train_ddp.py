"""The train stage under torchrun/DDP (``edgekit shrink --nproc-per-node N``): when, and the launch itself."""

from __future__ import annotations

from edgekit.run.stage import StageContext


def distributed(ds, cfg) -> bool:
    """DDP (torchrun) when the CLI asked for more than one process; image models only (text heads, unlabelled
    distillation and their token splits stay in one process)."""
    from edgekit.torchkit.distributed import current

    return (
        current().world > 1 and ds.kind == "image" and cfg.head is None and not (cfg.distill and cfg.distill.unlabelled)
    )


def fit_distributed(ctx: StageContext, cfg, model, spec: dict, extra: dict, settings, teacher) -> dict:
    """Train ``model`` on every rank of the launch (edgekit.torchkit.distributed) and load rank 0's weights into it."""
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
        "distill": cfg.distill.model_dump() if cfg.distill else None,
    }
    ctx.console.print(
        f"  DDP: {launch.world} processes ({launch.nproc_per_node} per node x {launch.nnodes} nodes), "
        f"global batch {cfg.batch_size}"
    )
    result = run_workers(job, job_dir, launch, ctx.threads)
    load_state(model, load_weights(job_dir / "trained.safetensors"))
    shutil.rmtree(job_dir)
    return result
