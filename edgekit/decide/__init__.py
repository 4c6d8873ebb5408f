"""Decisions on measured rows, each made in one place: which row is the fp32 reference (reference), which budget
limits a row breaks and by how much (limits), and when one row beats or dominates another within noise
(dominance). The shipping rule, the verdict, the report, the gate, the search and the Pareto chart all call these.
Torch-free; the package ``__init__`` stays docstring-only so importing one module never pulls in the others."""
