"""The recipe language: reading a recipe (read), its models (model, model_config, strict), YAML with line numbers
(yamlsafe, yamlerrors), the stage graph (graph), checks before a run (preflight) and budgets (budgets)."""
