"""Learning curves: how many labelled examples until training beats prompting (``edgekit curve``).

    recipe ──► arms (train / fine-tune / prompt zero-shot / prompt few-shot)
                 │
    sizes × seeds ──► nested, stratified subsets of the training split (subsets.py)
                 │
    every (arm, size, seed) point: cached JSON under RUN_DIR/curve/points/ (points.py), scored on the same test samples
                 │
    crossover N* per pair of arms (crossover.py) ──► curve.json, curve.md, curve.png (report.py, plot.py)

Sizes are labelled examples **per class**. Torch is imported only where a point is computed.
"""
