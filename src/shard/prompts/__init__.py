"""Stage 2, the prompts: templates, and the evaluation, pretraining and training prompts written from the items."""
