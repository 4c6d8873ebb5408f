"""`edgekit search`: a multi-objective Optuna study over a recipe's stage settings.

    recipe.yaml (search: block) ──► space.py (typed parameters, checked against the stage models)
        ──► study.py (storage, sampler, trial loop, retries) ──► trial.py (one pipeline run per trial,
        shared stage cache) ──► results.py (frontier, pasteable settings, JSON) ──► chart.py (Pareto PNG)

config.py is the recipe's `search:` model (a leaf, read by the recipe model); nothing here imports torch
until a trial runs a stage.
"""
