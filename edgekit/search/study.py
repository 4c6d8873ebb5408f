"""The Optuna study: its storage, sampler and the loop that runs trials until the budget is spent.

Storage: an Optuna journal file in the search directory by default (append-only, survives kill -9), or any
SQLAlchemy URL (``postgresql+psycopg://…``) that N workers share. Two ways an interrupted trial comes back:
- one search process (no ``--worker``): it owns the study, so a trial still RUNNING when it starts was left by
  a process that died (kill -9, power loss), and one FAILed by Ctrl-C was stopped on purpose; both are retried.
- ``--worker``: trials send heartbeats; a trial whose heartbeat stops for the grace period is failed by the
  next worker that looks, and Optuna's RetryHeartbeatStaleTrialCallback queues it again with the same settings.
A finished trial is never run again: the budget counts trials, not retries.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from edgekit.errors import EdgekitError, InputError
from edgekit.recipe.model import LoadedRecipe
from edgekit.search import space
from edgekit.search.config import AXIS, DIRECTIONS, SearchConfig
from edgekit.search.results import metrics
from edgekit.search.trial import Outcome, rounded, run_trial, trial_dir

# retried_trial_number has been "experimental" since Optuna 2.8; edgekit pins Optuna, so the warning is noise
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

JOURNAL = "study.journal"
MAX_RETRY = 2  # a trial whose worker died is retried at most this often (a trial that kills its worker stops)


@dataclass
class Budget:
    trials: int
    deadline: float | None  # time.time() after which no trial starts


def open_storage(url: str | None, search_dir: Path, heartbeat_s: int):
    """The study's storage: the journal file in ``search_dir``, or an SQLAlchemy URL with heartbeats and retries."""
    if url is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        search_dir.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(search_dir / JOURNAL)))
    from sqlalchemy.exc import ArgumentError

    shown = url.split("@")[-1]  # never print a password
    try:
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=heartbeat_s,
            grace_period=3 * heartbeat_s,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )
    except (ImportError, ArgumentError) as e:  # not a URL, or no driver for it: the user's input
        raise InputError(
            f"--storage {shown}: not a usable SQLAlchemy URL ({str(e).splitlines()[0]}); "
            "for PostgreSQL: postgresql+psycopg://USER@HOST/DB"
        ) from None
    except Exception as e:  # a server that does not answer or refuses: the run fails
        raise EdgekitError(
            f"--storage {shown}: cannot open the study storage: {type(e).__name__}: {str(e).splitlines()[0]}"
        ) from None


def constraints(loaded: LoadedRecipe, out: Outcome) -> dict[str, float]:
    """The recipe's budgets as Optuna constraints (feasible when every value is <= 0): each limit's signed margin
    as the gate and the shipping rule read it (Budgets.violations: the same machine and device rules), keyed by
    the budget's name, in its unit. A limit that does not apply here (a latency set on another machine) is left out."""
    b = loaded.recipe.budgets
    if b is None:
        return {}
    return b.violations(out.row, out.reference, out.row.get("machine"), out.baselines)


def objective_values(objectives: list[str], row: dict[str, Any]) -> list[float]:
    metric = metrics(row)
    return [metric[AXIS[o]] for o in objectives]


def make_sampler(cfg: SearchConfig, seed: int | None):
    """Constraints reach the sampler through ``Trial.set_constraint`` (Optuna 5), not a constraints_func."""
    if cfg.sampler == "nsga2":
        population = cfg.population or min(50, max(4, cfg.trials // 4))
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, cfg.trials // 4)))


def open_study(loaded: LoadedRecipe, storage, name: str, seed: int | None) -> optuna.Study:
    cfg, objectives = loaded.recipe.search, space.objectives(loaded)
    directions = [DIRECTIONS[o] for o in objectives]
    study = optuna.create_study(
        study_name=name, storage=storage, sampler=make_sampler(cfg, seed), directions=directions, load_if_exists=True
    )
    if seed is not None and (done := len(study.get_trials(deepcopy=False))):
        # a resumed search re-seeded with the same seed would propose its first random trials again
        study.sampler = make_sampler(cfg, seed + done)
    if [d.name.lower() for d in study.directions] != directions:
        raise InputError(
            f"study '{name}' in this storage optimises other objectives; use --study NEW-NAME or the same objectives"
        )
    if not study.user_attrs.get("objectives"):
        study.set_user_attr("objectives", objectives)
    return study


def enqueue_hand_trial(study: optuna.Study, loaded: LoadedRecipe, params: list[space.Param]) -> None:
    """The recipe's own settings first, so the search starts from (and can only add to) the hand-made point."""
    if study.get_trials(deepcopy=False):
        return
    values = {p.name: space.recipe_value(loaded, p) for p in params}
    # a hand value outside the space is not a suggestion Optuna can replay (a choice it does not offer raises):
    # the hand trial takes it from the recipe instead (hand_values)
    study.enqueue_trial(
        {p.name: values[p.name] for p in params if space.contains(p, values[p.name])},
        user_attrs={"hand": True},
        skip_if_exists=True,
    )


def hand_values(trial: optuna.Trial, loaded: LoadedRecipe, params: list[space.Param]) -> dict[str, Any]:
    """The hand trial's settings: the recipe's values, suggested (so samplers learn from them) where the space holds
    them, as they are where it does not; a key whose block the recipe lacks (None) is sampled like any trial's."""
    values = {p.name: space.recipe_value(loaded, p) for p in params}
    return {
        p.name: rounded(suggest(trial, p))
        if values[p.name] is None or space.contains(p, values[p.name])
        else values[p.name]
        for p in params
    }


def retried_numbers(trials: list[FrozenTrial]) -> set[int]:
    return {n for t in trials if (n := RetryHeartbeatStaleTrialCallback.retried_trial_number(t)) is not None}


def retry_interrupted(study: optuna.Study) -> list[int]:
    """Only this process works on the study: RUNNING trials are left by a dead process, FAILed ones marked
    interrupted were stopped by Ctrl-C. Fail the former and queue both again, each once."""
    storage = study._storage  # noqa: SLF001  (Optuna's documented way to change a trial's state is its storage)
    trials = study.get_trials(deepcopy=False)
    done = retried_numbers(trials)
    retried = []
    for t in trials:
        if t.number in done or not (
            t.state == TrialState.RUNNING or (t.state == TrialState.FAIL and t.user_attrs.get("interrupted"))
        ):
            continue
        if t.state == TrialState.RUNNING:
            storage.set_trial_user_attr(t._trial_id, "error", "interrupted: the search process died during this trial")
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(study, study._storage.get_trial(t._trial_id))
        retried.append(t.number)
    return retried


def suggest(trial: optuna.Trial, p: space.Param) -> Any:
    if p.kind == "float":
        return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
    if p.kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
    return trial.suggest_categorical(p.name, list(p.choices))


def make_objective(
    loaded: LoadedRecipe, params: list[space.Param], search_dir: Path, console
) -> Callable[[optuna.Trial], list[float]]:
    cfg = loaded.recipe.search

    def objective(trial: optuna.Trial) -> list[float]:
        run_dir = trial_dir(search_dir, trial.number)
        trial.set_user_attr("run_dir", run_dir.relative_to(search_dir).as_posix())
        trial.set_user_attr("started", time.time())
        try:
            hand = trial.user_attrs.get("hand")
            values = (
                hand_values(trial, loaded, params) if hand else {p.name: rounded(suggest(trial, p)) for p in params}
            )
            trial.set_user_attr("settings", values)
            console.print(f"trial #{trial.number}: {', '.join(f'{k}={v}' for k, v in values.items())}", highlight=False)
            out = run_trial(loaded, params, values, cfg.screening, run_dir, console)
        except EdgekitError as e:
            trial.set_user_attr("error", e.message)
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            trial.set_user_attr("error", "interrupted (Ctrl-C)")
            raise
        except Exception as e:  # a bug in a stage fails the trial with its reason, never the study
            trial.set_user_attr("error", f"{type(e).__name__}: {e}")
            raise
        trial.set_user_attr("row", out.row)
        trial.set_user_attr("reference", out.reference)
        trial.set_user_attr("shipped_because", out.shipped_because)
        limits = constraints(loaded, out)
        for key, value in limits.items():
            trial.set_constraint(key, value)
        trial.set_user_attr("constraints", limits)
        return objective_values(space.objectives(loaded), out.row)

    return objective


def optimize(
    study: optuna.Study,
    objective,
    budget: Budget,
    worker: bool,
    poll_s: float,
    on_trial: Callable[[optuna.Study, FrozenTrial], None],
) -> None:
    """Run trials until ``budget`` is spent: queued trials (the hand trial, retries) first. A worker that has
    nothing left to start waits while other workers' trials run: one may die, and its retry must be run."""
    while True:
        trials = study.get_trials(deepcopy=False)
        if worker:
            optuna.storages.fail_stale_trials(study)  # queues retries of dead workers' trials
            trials = study.get_trials(deepcopy=False)
        retried = retried_numbers(trials)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        used = sum(1 for t in trials if t.state != TrialState.WAITING and t.number not in retried)
        if budget.deadline is not None and time.time() >= budget.deadline:
            return
        if not waiting and used >= budget.trials:
            if worker and any(t.state == TrialState.RUNNING for t in trials):
                time.sleep(poll_s)
                continue
            return
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[on_trial])
