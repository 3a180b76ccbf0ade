"""The study's conditions: every model gets its blind and text-oracle controls, scored on SHARD only."""
from shard.evaluation.conditions import controls, scaling_curve, study_conditions, training_runs, with_task


def test_every_model_has_its_controls():
    conds = study_conditions({"400": 400, "2k": 2000}, ft_original=True)
    names = [c.name for c in conds]
    assert names == ["original", "zeroshot_interleaved", "blind", "text_oracle",
                     "ft_400", "blind_ft_400", "text_oracle_ft_400", "ft_2k", "blind_ft_2k", "text_oracle_ft_2k",
                     "ft_400_original", "ft_2k_original"]
    records = [c.as_dict() for c in conds]
    assert {s: c["name"] for s, c in controls(records, "silence").items()} == {
        None: "blind", "400": "blind_ft_400", "2k": "blind_ft_2k"}
    assert {s: c["name"] for s, c in controls(records, "label").items()} == {
        None: "text_oracle", "400": "text_oracle_ft_400", "2k": "text_oracle_ft_2k"}
    # the base model's blind control keeps its labelling row (the floor); the others are scored on SHARD only
    assert [c["name"] for c in with_task(records, "labelling")] == ["original", "zeroshot_interleaved", "blind", "ft_400",
                                                                     "ft_2k", "ft_400_original", "ft_2k_original"]
    assert with_task(records, "semantic") == records


def test_scaling_curve_is_the_interleaved_models_with_audio():
    records = [c.as_dict() for c in study_conditions({"10k": 10000, "400": 400, "2k": 2000}, ft_original=True)]
    assert [(c["name"], n) for c, n in scaling_curve(records)] == [
        ("zeroshot_interleaved", 0), ("ft_400", 400), ("ft_2k", 2000), ("ft_10k", 10000)]


def test_training_runs_sweep_replay_and_order():
    runs = training_runs({"2k": 2000}, replay_fractions=(0.0, 0.3), orders=("mixed", "curriculum"))
    # a curriculum without replay is the mixed run: not repeated
    assert [(r.name, r.replay, r.order, r.prompt_set) for r in runs] == [
        ("2k", 0.0, "mixed", "2k"), ("2k_r30", 0.3, "mixed", "2k_r30"), ("2k_r30_curriculum", 0.3, "curriculum", "2k_r30")]
    conds = [c.as_dict() for c in study_conditions({"2k": 2000}, False, (0.0, 0.3), ("mixed", "curriculum"))]
    assert [c["name"] for c in conds if c["audio"] == "clip"] == [
        "original", "zeroshot_interleaved", "ft_2k", "ft_2k_r30", "ft_2k_r30_curriculum"]
    # every run has its controls; only the default recipe is on the scaling curve
    assert set(controls(conds, "silence")) == {None, "2k", "2k_r30", "2k_r30_curriculum"}
    assert [c["name"] for c, _ in scaling_curve(conds)] == ["zeroshot_interleaved", "ft_2k"]
