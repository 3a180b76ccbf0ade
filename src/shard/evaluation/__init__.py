"""Stage 4, evaluation: the study's conditions, scoring every condition, and the statistics the tables use."""
