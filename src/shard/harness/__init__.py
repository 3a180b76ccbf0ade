"""SHARD where people already evaluate: lmms-eval and lm-evaluation-harness tasks over the Hugging Face export,
and their `--log_samples` output brought back as our per-item predictions.

    tasks.py       rules `export_lmms_eval`, `export_lm_eval`: the task folders (YAML from templates/, a generated utils.py)
    task_docs.py   the task functions utils.py embeds (doc_to_visual, doc_to_messages, process_results, ...)
    importer.py    `python -m shard.harness import`: samples files -> {condition}/semantic.jsonl + .summary.json

The generated utils.py needs neither this package nor the workflow: it embeds, by `inspect.getsource`, the answer
parser of `evaluate.mode: generate` (shard.evaluation.evaluate.extract_answer) and the prompt rewrites of
shard.prompts.templates, so lmms-eval and our evaluation parse and prompt from one source.
"""
