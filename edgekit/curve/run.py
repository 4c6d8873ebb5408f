"""Run a learning curve: plan the (arm, size, seed) points, reuse cached ones, compute the rest, one log line each.

    result = run_curve(loaded, run_dir, CurveSettings(sizes=[10, 30, 100, "all"]), console)

Every point is a JSON file ``RUN_DIR/curve/points/<key>.json`` where key is the sha256 of what can change
it (arm config, model content, the exact training subset, the test samples, seed, schedule floor, the edgekit
source it runs and its package versions): running again with one more size computes only that size.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.run.codehash import code_fingerprint, folder_hash
from edgekit.curve.arms import Arm, for_detection, recipe_arms, select
from edgekit.curve.embeddings import EmbeddingStore
from edgekit.curve.detect_point import image_subset
from edgekit.curve.points import CurveData, step_floor
from edgekit.curve.sizes import IMAGES, PER_CLASS, SeedPlan, Size, label
from edgekit.curve.subsets import in_context_order, subset_indices
from edgekit.data.errors import DataSourceError
from edgekit.decide.rows import metric_name
from edgekit.fsutil import read_json, write_json
from edgekit.hashing import hash_file, hash_obj

POINT_CODE = ("edgekit.curve.points", "edgekit.curve.detect_point")


@dataclass(frozen=True)
class CurveSettings:
    sizes: list[Size]
    plan: SeedPlan = field(default_factory=SeedPlan)
    arms: str | None = None  # comma-separated arm names; None: the default arms
    test_samples: int | None = None  # a seeded subset of the recipe's test split
    min_steps: int = 150  # and at least the steps the arm's largest size takes
    in_context: int = 4


@dataclass
class Planned:
    arm: Arm
    size: Size | None  # None: a flat (zero-shot) arm
    seed: int
    idx: np.ndarray | None
    key: str = ""


class CurveRun:
    def __init__(self, loaded, run_dir: Path, settings: CurveSettings, console):
        from edgekit.data.dataset import limit
        from edgekit.data.load import load_data

        self.loaded, self.settings, self.console = loaded, settings, console
        self.dir = Path(run_dir) / "curve"
        recipe = loaded.recipe
        self.arms = select(recipe_arms(recipe), settings.arms)
        try:
            ds = load_data(recipe.data, recipe.seed, loaded.file.parent)
        except DataSourceError as e:
            raise loaded.error(("data", e.key), e.message) from None
        self.detection = ds.kind == "detection"
        self.unit = IMAGES if self.detection else PER_CLASS  # a detector's sizes count images (detect_point)
        self.train = ds.train  # what subsets are drawn from
        if self.detection:
            self.arms, left_out = for_detection(self.arms, settings.arms is not None)
            if left_out:
                console.print(f"  left out: {', '.join(left_out)} (prompted; a detection curve trains detectors only)")
        self.data = CurveData(
            ds,
            limit(ds.test, settings.test_samples, recipe.seed),
            loaded.file.parent,
            len(self.subset(settings.sizes[-1], recipe.seed)),  # the ladder increases: its largest size
            settings.min_steps,
            settings.in_context,
        )
        self.encoders: dict[Path, object] = {}
        self.stores: dict[Path, EmbeddingStore] = {}
        self._hashes: dict[str, str] = {}

    def subset(self, size: Size, seed: int) -> np.ndarray:
        """The training indices of ``size`` for ``seed``: stratified per class, or a detector's first images."""
        if self.detection:
            return image_subset(len(self.train), size, seed)
        return subset_indices(self.train.y, size, seed)

    # --- what each arm reads -------------------------------------------------------------------------
    def model_path(self, arm: Arm) -> Path | None:
        """The local model folder or file an arm runs (None for a remote endpoint or a from-scratch model)."""
        from edgekit.baselines import PROVIDERS
        from edgekit.modelpath import resolve_model_path

        if arm.trained:
            return (
                resolve_model_path(arm.model.source[3:], self.loaded.file.parent)
                if arm.model.source.startswith("hf:")
                else None
            )
        provider = PROVIDERS[arm.provider]
        if provider.remote:
            return None
        return resolve_model_path(arm.stage.model or provider.default_model, self.loaded.file.parent)

    def uses_embeddings(self, arm: Arm) -> bool:
        return (arm.trained and arm.stage.head is not None) or arm.provider == "embedding"

    def _content_hash(self, path: Path | None) -> str | None:
        if path is None:
            return None
        if str(path) not in self._hashes:
            self._hashes[str(path)] = folder_hash(path) if path.is_dir() else hash_file(path)
        return self._hashes[str(path)]

    def plan(self) -> list[Planned]:
        seed0 = self.loaded.recipe.seed
        out = []
        for arm in self.arms:
            if arm.flat:
                out.append(Planned(arm, None, 0, None))
                continue
            for size in self.settings.sizes:
                for s in self.settings.plan.seeds_at(size):
                    out.append(Planned(arm, size, s, self.subset(size, seed0 + s)))
        from edgekit.run.stagekey import model_fingerprint

        code, test = code_fingerprint(POINT_CODE), self.data.test.digest()
        models = {
            a.name: model_fingerprint(self.loaded, a.model) if a.trained else None for a in self.arms
        }  # hashes hf: folders
        for p in out:
            subset = p.idx
            if p.arm.kind == "few-shot" and p.arm.provider != "embedding":  # the examples shown, not the subset
                subset = np.array(
                    in_context_order(self.data.ds.train.y, p.idx, self.settings.in_context, seed0 + p.seed)
                )
            p.key = hash_obj(
                {
                    "kind": p.arm.kind,
                    "config": p.arm.stage.model_dump(exclude={"id", "input", "samples", "threads"}),
                    "model": models[p.arm.name],
                    "weights": None
                    if p.arm.trained
                    else self._content_hash(self.model_path(p.arm)),  # trained: in "model"
                    "train": self.data.ds.train_fingerprint,
                    "subset": None if subset is None else hash_obj(subset.tolist()),
                    "test": test,
                    "seed": seed0 + p.seed,
                    "min_steps": step_floor(p.arm, self.data) if p.arm.trained else None,
                    "code": code,
                }
            )
        return out

    # --- shared encoders -----------------------------------------------------------------------------
    def encoder(self, arm: Arm):
        path = self.model_path(arm)
        if path not in self.encoders:
            from edgekit.baselines import LabelSet, create

            self.console.print(
                f"  loading {path.parent.name}/{path.name} (sentence embeddings, once per model)", highlight=False
            )
            self.encoders[path] = create("embedding", model=path, labels=LabelSet.of(self.data.ds.classes))
            self.stores[path] = EmbeddingStore(
                self.dir / "embeddings" / f"{self._content_hash(path)[:16]}.npz", self.encoders[path].embed
            )
        return self.encoders[path], self.stores[path]

    def prefill(self, todo: list[Planned]) -> float:
        """One encoder pass over every text the uncached embedding points read (test + their subsets)."""
        t0 = time.perf_counter()
        for arm in {p.arm.name: p.arm for p in todo if self.uses_embeddings(p.arm)}.values():
            enc, store = self.encoder(arm)
            idx = [p.idx for p in todo if p.arm.name == arm.name and p.idx is not None]
            union = np.unique(np.concatenate(idx)) if idx else np.zeros(0, np.int64)
            texts = list(self.data.test.x) + list(self.data.ds.train.x[union])
            n = len(store.missing(texts))
            if n:
                self.console.print(f"  embedding {n} texts (cached for later runs)", highlight=False)
                store.fill(texts, log=lambda m: self.console.print(f"  {m}", highlight=False))
        return time.perf_counter() - t0

    # --- one point -----------------------------------------------------------------------------------
    def compute(self, p: Planned, timing: bool) -> dict:
        from edgekit.curve import points

        arm, data = p.arm, self.data
        if arm.trained and self.detection:
            from edgekit.curve.detect_point import detect_point

            return detect_point(arm, data, p.idx, self.loaded.recipe.seed + p.seed, timing)
        if arm.trained and arm.stage.head is None:
            return points.train_point(arm, data, p.idx, self.loaded.recipe.seed + p.seed, timing)
        if arm.trained:
            enc, store = self.encoder(arm)
            return points.head_point(arm, enc, store, data, p.idx, self.loaded.recipe.seed + p.seed, timing)
        if arm.provider == "embedding":
            from edgekit.baselines import LabelSet
            from edgekit.baselines.embedding import DEFAULT_TEMPLATES, prototypes

            enc, store = self.encoder(arm)
            vectors = enc.label_vectors(
                arm.stage.prompts or DEFAULT_TEMPLATES, LabelSet.of(data.ds.classes, arm.stage.labels).descriptions
            )
            if arm.kind == "few-shot":
                sub = data.ds.train.take(p.idx)
                vectors = prototypes(store.get(sub.x), sub.y, vectors)
            return points.embedding_point(vectors, enc, store, data, timing)
        return points.prompted_point(self.baseline(p), data)

    def baseline(self, p: Planned):
        """An llm / openai / clip provider built as the prompted stage builds it; few-shot: the subset's examples."""
        from edgekit.baselines import LabelSet, create
        from edgekit.run.stage import StageContext
        from edgekit.stages.prompted import provider_kwargs

        ds = self.data.ds
        ctx = StageContext(self.loaded, p.arm.stage, self.dir, [], 1, self.console, lambda: ds)
        kw = provider_kwargs(ctx, p.arm.stage, ds, LabelSet.of(ds.classes, p.arm.stage.labels))
        if p.arm.kind == "few-shot":
            order = in_context_order(ds.train.y, p.idx, self.settings.in_context, self.loaded.recipe.seed + p.seed)
            kw["examples"] = [(str(ds.train.x[i]), int(ds.train.y[i])) for i in order]
        else:
            kw.pop("examples", None)  # zero-shot: no labels, whatever the stage's few_shot says
        return create(p.arm.provider, **kw)

    def run(self) -> list[dict]:
        import torch

        torch.set_num_threads(self.loaded.recipe.threads or len(os.sched_getaffinity(0)))
        planned = self.plan()
        found = {p.key: _read_point(self.dir / "points" / f"{p.key}.json") for p in planned}
        todo = [p for p in planned if found[p.key] is None]
        self.console.print(
            f"curve: {len(self.arms)} arms, {len(planned)} points ({len(planned) - len(todo)} cached), "
            f"{len(self.data.test)} test samples, sizes ({self.unit.name}): "
            f"{', '.join(map(str, self.settings.sizes))}",
            highlight=False,
        )
        embed_s = self.prefill(todo) if todo else 0.0
        largest = self.settings.sizes[-1]
        results, t_start = [], time.perf_counter()
        for i, p in enumerate(planned, 1):
            point, cached = found[p.key], True
            if point is None:
                point, cached = self.compute(p, timing=p.seed == 0 and p.size in (None, largest)), False
                write_json(self.dir / "points" / f"{p.key}.json", point)
                found[p.key] = point  # few-shot in-context points at sizes past the cap share one key
            # where the point sits on this curve (a shared key may have been computed for another size)
            results.append(
                {
                    **point,
                    "arm": p.arm.name,
                    "kind": p.arm.kind,
                    "size": p.size,
                    "seed": p.seed,
                    "examples": None if p.idx is None else int(len(p.idx)),
                    "key": p.key,
                    "cached": cached,
                }
            )
            where = "flat" if p.size is None else f"{label(p.size, self.unit)} seed {p.seed}"
            took = "cached" if cached else f"{point['train_s']:.1f} s"
            self.console.print(
                f"[{i}/{len(planned)}] {p.arm.name} ({p.arm.kind}) {where}: {metric_name(point)} "
                f"{point['accuracy'] * 100:.2f} %  {took}",
                highlight=False,
            )
        self.timing = {"embedding_s": round(embed_s, 1), "points_s": round(time.perf_counter() - t_start, 1)}
        return results


def _read_point(path: Path) -> dict | None:
    try:
        point = read_json(path)
        return point if isinstance(point, dict) and "accuracy" in point else None
    except (OSError, ValueError):
        return None
