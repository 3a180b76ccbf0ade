"""Reporting: per-item predictions of every (model, seed, condition) -> the result tables and figures.

Each table is one record (registry.TABLES) and one builder module: semantic, labelling, scaling,
perception, model_comparison (tables/models), forgetting, and figures (the trade-off figure and the
plane both figures are drawn on). A table is computed once as numbers (CSV) and rendered by one shared
formatter (render) into Markdown and LaTeX, with its provenance beside it (provenance). Outputs are
byte-deterministic: fixed float formatting, seeded bootstrap, no timestamps.

The builders read the evaluations by key (evaluations): every table has a row per (model, condition),
pooling the seeds; statistics holds what they share (clip-level bootstrap CIs, McNemar tests against
the same model's `original`, accuracy or mAP for labelling).
"""
