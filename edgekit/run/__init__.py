"""The run engine: the pipeline that runs a recipe's stages (pipeline), a stage's context (stage), the registry of
stage kinds (registry), content-addressed stage keys (stagekey, codehash) and the run directory's lock (runlock)."""
