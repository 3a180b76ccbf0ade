"""Stage 1, the dataset: a labelled corpus -> clips -> features; WordNet -> label synsets -> relations;
clips + relations -> SHARD items, their audit, the card and the exports."""
