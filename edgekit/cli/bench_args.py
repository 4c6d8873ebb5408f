"""What `edgekit bench`'s arguments mean: number lists (``1,2,4``, ``sweep``), model paths (a run directory stands
for its ONNX artifacts), the options passed through unchanged to the harness on a device (``--on``), and the
dataset a ``--recipe`` names (also what `edgekit bundle` exports)."""

from __future__ import annotations

import os
from pathlib import Path

from edgekit.errors import InputError


def parse_ints(text: str, what: str) -> list[int]:
    """ "1,2,4" -> [1, 2, 4]; "sweep" (threads) -> 1, 2, 4, ... up to the usable cores."""
    if what == "--threads" and text == "sweep":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        vals = [1 << i for i in range(cores.bit_length()) if 1 << i <= cores]
        return vals + ([cores] if vals[-1] != cores else [])
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{what} {text!r}: give comma-separated whole numbers, e.g. 1,2,4") from None
    if not vals or min(vals) < 1:
        raise InputError(f"{what} {text!r}: values must be 1 or more")
    if max(vals) > UPPER[what]:  # a typo like 40000 would otherwise allocate or spawn until the machine gives out
        raise InputError(f"{what} {text!r}: values must be at most {UPPER[what]}")
    return list(dict.fromkeys(vals))


# the same bounds the recipe keys have (threads ≤ 256; a batch of 4096 28x28 images is already 12 MB of input)
UPPER = {"--threads": 256, "--batch": 4096}


def run_models(paths: list[Path]) -> list[Path]:
    """ONNX files as given; a run directory (holds run.json) stands for every ONNX artifact of that run."""
    from edgekit.fsutil import read_json
    from edgekit.report.collect import in_run, read_run

    found: list[Path] = []
    for p in paths:
        if p.is_dir() and (p / "run.json").is_file():
            before = len(found)
            for st in read_run(p)["stages"]:
                d = in_run(p, st.get("dir"))
                try:
                    name = read_json(d / "manifest.json").get("artifact") if d else None
                except (OSError, ValueError):
                    continue
                if isinstance(name, str) and name.endswith(".onnx") and (d / name).is_file():
                    found.append(d / name)
            if len(found) == before:
                raise InputError(f"{p}: this run directory holds no finished ONNX artifact")
        elif p.is_dir() and not (p / "model.onnx").is_file():
            raise InputError(f"{p}: a folder, but neither a run directory (run.json) nor a stage folder (model.onnx)")
        elif not p.exists():
            raise InputError(f"{p}: no such file")
        else:
            found.append(p)
    return found


def check_threads(thread_list: list[int]) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if max(thread_list) > cores:
        raise InputError(
            f"--threads {max(thread_list)}: this machine has {cores} usable cores; more threads than cores "
            f"only measures contention"
        )


def device_args(flags: dict[str, object], switches: dict[str, bool]) -> list[str]:
    """The options the device's harness gets: each flag that was given, with its value, then each switch set."""
    return [a for k, v in flags.items() if v is not None for a in (k, str(v))] + [k for k, v in switches.items() if v]


def recipe_dataset(path: Path):
    """The dataset a recipe's data: section names, loaded (torch-free) with its split settings and seed."""
    from edgekit.recipe import read as recipe_mod
    from edgekit.data import load_dataset
    from edgekit.data.sources import DataSourceError

    from edgekit.detect.task import task_of

    loaded = recipe_mod.load(path)
    load = load_dataset
    if task_of(loaded.recipe) == "detection":  # images with boxes: the bundle carries them, the device scores mAP
        from edgekit.detect.sources import load_detection as load
    try:
        return load(loaded.recipe.data, loaded.recipe.seed, loaded.file.parent)
    except DataSourceError as e:
        raise loaded.error(("data", e.key), e.message) from None
