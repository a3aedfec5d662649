"""The compression search: the space, the Optuna study, trials and the Pareto front.

A library package (no Prefect): `flows/search.py` orchestrates it. Modules:
`space` (search.space -> `trial.suggest_*` calls), `objective` (objectives, constraints,
early stopping), `study` (name, storage, sampler, budget, crash recovery), `trial` (one
trial through the pipeline steps, logged as a child run), `results` (Pareto front, tables,
plots), `runs` (promotion candidates, writing winners back as variants) and `team`
(the lock that lets several processes share one study).
"""
