"""Reports and the CI gate: report.json/md/html + pareto.png from a run directory, budgets and `edgekit check`.

Torch-free; matplotlib (the `report` extra) is imported only to draw the chart."""
