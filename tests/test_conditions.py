"""The study's conditions: every model gets its blind and text-oracle controls, scored on SHARD only."""
from shard.conditions import controls, scaling_curve, study_conditions, with_task


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
    assert [c.name for c in with_task(conds, "labelling")] == ["original", "zeroshot_interleaved", "blind", "ft_400",
                                                                "ft_2k", "ft_400_original", "ft_2k_original"]
    assert with_task(conds, "semantic") == conds


def test_scaling_curve_is_the_interleaved_models_with_audio():
    records = [c.as_dict() for c in study_conditions({"10k": 10000, "400": 400, "2k": 2000}, ft_original=True)]
    assert [(c["name"], n) for c, n in scaling_curve(records, {"10k": 10000, "400": 400, "2k": 2000})] == [
        ("zeroshot_interleaved", 0), ("ft_400", 400), ("ft_2k", 2000), ("ft_10k", 10000)]
