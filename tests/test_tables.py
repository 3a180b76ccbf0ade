"""Result tables and the trade-off figure from tiny, hand-built prediction files, passed by key:
{task: {(model, seed, condition): file}}, as rules/tables.smk passes them."""
import json

import numpy as np
import polars as pl
import pytest

from shard.common import ShardError, read_jsonl, write_jsonl
from shard.evaluation.conditions import TASKS, study_conditions
from shard.evaluation.stats import mcnemar
from tests.fixtures import ROOT
from shard.reporting.figures import tradeoff_figure
from shard.reporting.forgetting import forgetting_table, pareto_front
from shard.reporting.labelling import labelling_table
from shard.reporting.model_comparison import models_table
from shard.reporting.perception import perception_table
from shard.reporting.registry import TABLES, Table, build_table
from shard.reporting.scaling import scaling_table
from shard.reporting.semantic import semantic_table

MODEL = "mini_ltu"  # the one model of the config (several: test_models_side_by_side)
CONFIG = {"seed": 0, "evaluate": {"bootstrap": 200, "mode": "loglik"}}
NAMES = ["original", "zeroshot_interleaved", "ft_400", "blind"]
CONDITIONS = [{c.name: c.as_dict() for c in study_conditions({"400": 400}, False)}[n] for n in NAMES]
# per condition, which of 12 items are right (items 0-5 synonym, 6-11 hypernym; 2 items per clip)
RIGHT = {"original": {0, 1, 2, 6, 7},
         "zeroshot_interleaved": {0, 1, 6},
         "ft_400": {0, 1, 2, 3, 4, 6, 7, 8, 9, 10},
         "blind": {0, 6, 7},
         # the controls (scored on semantic only)
         "text_oracle": set(range(12)), "blind_ft_400": {6, 7, 8}, "text_oracle_ft_400": {0, 1, 2, 6}}
LABEL_RIGHT = {"original": {0, 1, 2, 3}, "zeroshot_interleaved": {0, 1, 2}, "ft_400": {0, 1}, "blind": {0}}


def _semantic(cond):
    return [{"prompt_id": f"{cond}.{i}", "item_id": f"i{i}", "clip_id": f"c{i // 2}",
             "relation": "synonym" if i < 6 else "hypernym", "question_format": "yesno" if i % 2 else "mc4",
             "n_options": 2 if i % 2 else 4, "prediction": "yes", "option_scores": [-1.0, -2.0],
             "correct": i in RIGHT[cond]} for i in range(12)]


def _labelling(cond, multi=False):
    rows = []
    for i in range(5):
        gold = [i % 4] + ([(i + 1) % 4] if multi and i == 0 else [])
        sims = [0.9 if (k in gold) == (i in LABEL_RIGHT[cond]) else 0.1 * k for k in range(4)]
        pred = max(range(4), key=lambda k: sims[k])
        rows.append({"prompt_id": f"c{i}.labelling", "item_id": f"c{i}.labelling", "clip_id": f"c{i}",
                     "relation": None, "question_format": "caption", "n_options": 4, "generation": "x",
                     "gold_index": gold, "prediction": str(pred), "option_scores": sims,
                     "correct": pred in gold, "loglik_scores": sims, "correct_loglik": pred in gold,
                     "correct_norm_loglik": pred in gold})
    return rows


@pytest.fixture
def preds(tmp_path):
    """{(model, seed, condition): file} per task (and the summaries), seed 0 of MODEL in every condition."""
    out = {"semantic": {}, "labelling": {}, "summaries": {}}
    for cond in NAMES:
        write_jsonl(_semantic(cond), tmp_path / cond / "semantic.jsonl")
        write_jsonl(_labelling(cond), tmp_path / cond / "labelling.jsonl")
        (tmp_path / cond / "shard.summary.json").write_text(json.dumps(
            {"condition": cond, "model": {"backend": "mini_ltu", "adapter": "ft" if "ft" in cond else None},
             "acc": 0.5}))
        out["semantic"][MODEL, 0, cond] = str(tmp_path / cond / "semantic.jsonl")
        out["labelling"][MODEL, 0, cond] = str(tmp_path / cond / "labelling.jsonl")
        out["summaries"][MODEL, 0, cond] = str(tmp_path / cond / "shard.summary.json")
    (tmp_path / "source.json").write_text(json.dumps({"checksum": "abc123", "version": "3.0"}))
    out["wordnet"] = str(tmp_path / "source.json")
    return out


def _both(preds):
    """What a table that reads both tasks gets: the predictions and the summaries, by task."""
    return dict(predictions={"semantic": preds["semantic"], "labelling": preds["labelling"]},
                summaries={"semantic": preds["summaries"]})


def _semantic_outputs(preds, out):
    paths = {k: out / f"semantic.{k}" for k in ("csv", "md", "tex")}
    semantic_table(predictions={"semantic": preds["semantic"]}, conditions=CONDITIONS, **paths,
                   provenance=out / "semantic.provenance.json", config=CONFIG,
                   wordnet_source=preds["wordnet"], summaries={"semantic": preds["summaries"]})
    return {k: p.read_bytes() for k, p in {**paths, "prov": out / "semantic.provenance.json"}.items()}


def test_semantic_table_contents(preds, tmp_path):
    _semantic_outputs(preds, tmp_path / "t")
    df = pl.read_csv(tmp_path / "t" / "semantic.csv")
    assert df["condition"].to_list() == [*NAMES, "chance"]
    row = dict(zip(df["condition"], df.iter_rows(named=True)))
    assert row["original"]["synonym_acc"] == pytest.approx(3 / 6)
    assert row["ft_400"]["hypernym_acc"] == pytest.approx(5 / 6)
    assert row["ft_400"]["overall_acc"] == pytest.approx(10 / 12) and row["ft_400"]["overall_n"] == 12
    assert row["ft_400"]["overall_lo"] <= 10 / 12 <= row["ft_400"]["overall_hi"]
    assert row["ft_400"]["delta_vs_original"] == pytest.approx(5 / 12)
    a = [i in RIGHT["original"] for i in range(12)]
    b = [i in RIGHT["ft_400"] for i in range(12)]
    assert row["ft_400"]["p_vs_original"] == pytest.approx(mcnemar(a, b), rel=1e-5)
    assert row["original"]["p_vs_original"] is None
    assert row["chance"]["overall_acc"] == pytest.approx(0.375)  # half yes/no, half mc4

    md = (tmp_path / "t" / "semantic.md").read_text()
    lines = md.splitlines()
    assert [c.strip() for c in lines[2].split("|")[1:-1]] == [
        "Model", "Condition", "Synonym (n=6)", "Hypernym (n=6)", "Overall (n=12)", "Δ vs original", "p (McNemar)"]
    assert set(lines[3]) == {"|", "-"}
    assert "| ft_400               | 83.3 [50.0, 100.0] |" in md and "| +41.7         | 0.062       |" in md
    assert "| chance               | 37.5 " in md and "Chance: 50% for yes/no, 25%" in md
    tex = (tmp_path / "t" / "semantic.tex").read_text()
    assert tex.count(r"\toprule") == 1 and r"\bottomrule" in tex and r"ft\_400 & 83.3 [50.0, 100.0] & " in tex
    assert r"$\Delta$ vs original" in tex and r"\begin{tabular}{llrrrrr}" in tex

    prov = json.loads((tmp_path / "t" / "semantic.provenance.json").read_text())
    assert prov["wordnet"]["checksum"] == "abc123" and len(prov["config_hash"]) == 12
    summary = preds["summaries"][MODEL, 0, "ft_400"]  # keyed by the evaluation (model, seed, condition)
    assert prov["models"][summary]["adapter"] == "ft" and "polars" in prov["packages"]
    assert set(prov["inputs"]) == set(preds["semantic"].values())


def test_tables_are_byte_deterministic(preds, tmp_path):
    assert _semantic_outputs(preds, tmp_path / "a") == _semantic_outputs(preds, tmp_path / "b")


def test_labelling_table(preds, tmp_path):
    out = tmp_path / "l"
    labelling_table(predictions={"labelling": preds["labelling"]}, conditions=CONDITIONS, csv=out / "labelling.csv",
                    md=out / "labelling.md", tex=out / "labelling.tex", provenance=out / "labelling.provenance.json",
                    config=CONFIG, wordnet_source=preds["wordnet"], summaries={"labelling": preds["summaries"]})
    df = pl.read_csv(out / "labelling.csv")
    row = dict(zip(df["condition"], df.iter_rows(named=True)))
    assert row["original"]["caption_acc"] == pytest.approx(4 / 5) and row["original"]["caption_metric"] == "acc"
    assert row["blind"]["loglik_acc"] == pytest.approx(1 / 5)
    assert row["ft_400"]["caption_delta_vs_original"] == pytest.approx(-2 / 5)
    assert row["chance"]["caption_acc"] == pytest.approx(0.25)
    md = (out / "labelling.md").read_text()
    assert "Audio labelling accuracy" in md and "Caption + embedding (n=5)" in md


def test_labelling_table_multilabel_uses_map(tmp_path):
    paths = {}
    for cond in ["original", "ft_400"]:
        write_jsonl(_labelling(cond, multi=True), tmp_path / f"{cond}.jsonl")
        paths[MODEL, 0, cond] = str(tmp_path / f"{cond}.jsonl")
    (tmp_path / "source.json").write_text(json.dumps({"checksum": "abc123", "version": "3.0"}))
    labelling_table(predictions={"labelling": paths}, conditions=CONDITIONS[:3:2], csv=tmp_path / "l.csv",
                    md=tmp_path / "l.md", tex=None, provenance=tmp_path / "l.json", config=CONFIG,
                    wordnet_source=tmp_path / "source.json", summaries={})
    df = pl.read_csv(tmp_path / "l.csv")
    assert df["caption_metric"].to_list() == ["map", "map", "map"]
    assert 0 < df["caption_acc"][0] <= 1 and df["caption_p_vs_original"].null_count() == 3
    assert "Audio labelling mAP" in (tmp_path / "l.md").read_text()


def test_scaling_table_and_figure(preds, tmp_path):
    both = _both(preds)
    scaling_table(**both, conditions=CONDITIONS, csv=tmp_path / "s.csv", md=tmp_path / "s.md",
                  provenance=tmp_path / "s.json", config=CONFIG, wordnet_source=preds["wordnet"])
    df = pl.read_csv(tmp_path / "s.csv")
    assert df["n_prompts"].to_list() == [0, 400]
    assert df["condition"].to_list() == ["zeroshot_interleaved", "ft_400"]
    # the trade-off: reasoning up, labelling down
    assert df["semantic_acc"].to_list() == pytest.approx([3 / 12, 10 / 12])
    assert df["labelling_acc"].to_list() == pytest.approx([3 / 5, 2 / 5])

    tradeoff_figure(predictions=both["predictions"], conditions=CONDITIONS, png=tmp_path / "a.png", config=CONFIG)
    tradeoff_figure(predictions=both["predictions"], conditions=CONDITIONS, png=tmp_path / "b.png", config=CONFIG)
    png = (tmp_path / "a.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == (tmp_path / "b.png").read_bytes()
    assert b"Software" not in png


def test_semantic_table_has_a_column_per_relation_in_the_data(preds, tmp_path):
    """Every relation the predictions hold gets its own column (new relations included), titled by what it asks."""
    relation = {0: "meronym", 1: "hypernym2", 2: "cohyponym"}
    for path in preds["semantic"].values():
        rows = [json.loads(line) for line in open(path)]
        write_jsonl([{**r, "relation": relation[i % 3]} for i, r in enumerate(rows)], path)
    _semantic_outputs(preds, tmp_path / "t")
    header = [c.strip() for c in (tmp_path / "t" / "semantic.md").read_text().splitlines()[2].split("|")[1:-1]]
    assert header[:6] == ["Model", "Condition", "Co-hyponym (n=4)", "Meronym (n=4)", "Hypernym (2 hops) (n=4)", "Overall (n=12)"]
    assert {"meronym_acc", "hypernym2_acc", "cohyponym_acc"} <= set(pl.read_csv(tmp_path / "t" / "semantic.csv").columns)


def write_items(root):
    """The items of _semantic (i0-i11) with their label and wording, and which labels pretraining taught."""
    labels = ["Dog", "Dog", "Cat", "Bird", "Cow", "Cow"]  # per clip c0-c5
    pl.DataFrame({
        "item_id": [f"i{i}" for i in range(12)], "label": [labels[i // 2] for i in range(12)],
        "template_id": [f"{'synonym' if i < 6 else 'hypernym'}.source."
                        + (f"yesno.{(i // 2) % 3}" if i % 2 else f"mc4.{(i // 2) % 2}") for i in range(12)],
    }).write_parquet(root / "items.parquet")
    pl.DataFrame({"label": ["Bird", "Cat", "Cow", "Dog"], "synset": ["bird.n.01", "cat.n.01", "cow.n.01", "dog.n.01"],
                  "known": [True, True, False, True]}).write_parquet(root / "pretrain_labels.parquet")


def test_perception_table_locates_the_failure(preds, tmp_path):
    """Reasoning given perception, the same model's blind and text-oracle controls, and the paired gap."""
    everything = {c.name: c.as_dict() for c in study_conditions({"400": 400}, False)}
    names = ["original", "zeroshot_interleaved", "blind", "text_oracle", "ft_400", "blind_ft_400", "text_oracle_ft_400"]
    semantic = {}
    for cond in names:
        write_jsonl(_semantic(cond), tmp_path / "p" / cond / "semantic.jsonl")
        semantic[MODEL, 0, cond] = str(tmp_path / "p" / cond / "semantic.jsonl")
    # clips c0-c3 of labels pretraining taught facts about, c4 and c5 (items 8-11) of one it did not
    write_items(tmp_path)
    perception_table(predictions={"semantic": semantic, "labelling": preds["labelling"]},
                     conditions=[everything[n] for n in names], csv=tmp_path / "x.csv", md=tmp_path / "x.md",
                     provenance=tmp_path / "x.json", config=CONFIG, wordnet_source=preds["wordnet"],
                     summaries={"semantic": preds["summaries"]}, test_items=tmp_path / "items.parquet",
                     pretrain_labels=tmp_path / "pretrain_labels.parquet")
    df = pl.read_csv(tmp_path / "x.csv")
    # the controls are columns, not rows; every condition that hears the clips is a row per group of labels
    assert df.select("condition", "labels").rows() == [(c, g) for c in ("original", "zeroshot_interleaved", "ft_400")
                                                       for g in ("all", "known", "unknown")]
    assert df["chance"].to_list()[:3] == pytest.approx([6 / 12 * 0.5 + 6 / 12 * 0.25, 0.375, 0.375])
    zi_known, zi_unknown = (df.filter((pl.col("condition") == "zeroshot_interleaved") & (pl.col("labels") == g))
                            .row(0, named=True) for g in ("known", "unknown"))
    # zeroshot_interleaved answers items 0, 1 and 6 right: all of clips with known labels
    assert (zi_known["all_n"], zi_known["all_acc"]) == (8, pytest.approx(3 / 8))
    assert (zi_unknown["all_n"], zi_unknown["all_acc"]) == (4, 0.0)
    assert zi_unknown["clips"] == 1 and zi_known["clips"] == 4  # of the 5 clips labelled (c0-c4), those of each group's items
    assert zi_unknown["oracle_acc"] == 1.0 and zi_unknown["oracle_n"] == 4
    df = df.filter(pl.col("labels") == "all")
    zi, ft = df.row(1, named=True), df.row(2, named=True)
    # wordings: items 2, 5, 6, 10 and 11 are asked in a held-out paraphrase; ft_400's oracle gets items 0, 1, 2, 6
    assert (ft["oracle_held_out_n"], ft["oracle_held_out_acc"]) == (5, pytest.approx(2 / 5))
    assert (ft["oracle_seen_n"], ft["oracle_seen_acc"]) == (7, pytest.approx(2 / 7))
    # zeroshot_interleaved labels clips c0-c2 right: items 0-5, of which it answers 0 and 1 right
    assert zi["clips_perceived"] == 3 and zi["perceived_n"] == 6 and zi["perceived_acc"] == pytest.approx(2 / 6)
    assert (zi["blind_condition"], zi["oracle_condition"]) == ("blind", "text_oracle")
    assert zi["oracle_acc"] == 1.0 and zi["gap"] == pytest.approx(1 - 2 / 6)
    # ft_400 labels c0, c1 right (items 0-3, all right with audio); its own oracle gets 3 of those 4
    assert (ft["blind_condition"], ft["oracle_condition"]) == ("blind_ft_400", "text_oracle_ft_400")
    assert ft["perceived_acc"] == 1.0 and ft["gap"] == pytest.approx(3 / 4 - 1)
    assert ft["blind_acc"] == pytest.approx(3 / 12) and ft["gap_lo"] <= ft["gap"] <= ft["gap_hi"]
    md = (tmp_path / "x.md").read_text()
    assert "Integration gap" in md and "3/5 (60.0%)" in md


def test_provenance_names_the_model_of_every_seed(preds, tmp_path):
    """With several seeds the provenance keeps each (model, seed, condition)'s model identity, not the last seed's."""
    files, summaries = {}, {}
    for seed in (0, 1):
        for cond in NAMES:
            path = tmp_path / f"seed{seed}" / cond / "semantic.summary.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"condition": cond, "model": {"backend": "mini_ltu", "weights": f"w{seed}{cond}"}}))
            files[MODEL, seed, cond], summaries[MODEL, seed, cond] = preds["semantic"][MODEL, 0, cond], str(path)
    semantic_table(predictions={"semantic": files}, conditions=CONDITIONS, csv=tmp_path / "s.csv", md=tmp_path / "s.md",
                   provenance=tmp_path / "s.json", config=CONFIG, wordnet_source=preds["wordnet"],
                   summaries={"semantic": summaries})
    models = json.loads((tmp_path / "s.json").read_text())["models"]
    assert {m["weights"] for m in models.values()} == {f"w{seed}{cond}" for seed in (0, 1) for cond in NAMES}


def test_seeds_pool_answers_and_report_their_spread(preds, tmp_path):
    """Several replicates per condition: accuracy over every seed's answers, ± the sd of per-seed accuracies,
    McNemar on (seed, item) pairs; one replicate gives no sd."""
    files = {}
    for cond in NAMES:
        for seed, flip in ((0, set()), (1, {0, 1, 2, 3})):  # seed 1 answers items 0-3 the other way
            rows = [{**r, "correct": r["correct"] != (i in flip)} for i, r in enumerate(_semantic(cond))]
            write_jsonl(rows, tmp_path / f"seed{seed}" / cond / "semantic.jsonl")
            files[MODEL, seed, cond] = str(tmp_path / f"seed{seed}" / cond / "semantic.jsonl")
    paths = dict(csv=tmp_path / "s.csv", md=tmp_path / "s.md", tex=tmp_path / "s.tex", provenance=tmp_path / "s.json")
    semantic_table(predictions={"semantic": files}, conditions=CONDITIONS, **paths, config=CONFIG,
                   wordnet_source=preds["wordnet"], summaries={"semantic": preds["summaries"]})
    df = pl.read_csv(tmp_path / "s.csv")
    ft = df.row(NAMES.index("ft_400"), named=True)
    per_seed = [10 / 12, 6 / 12]  # ft_400 gets items 0-3 right on seed 0, wrong on seed 1
    assert ft["overall_acc"] == pytest.approx(sum(per_seed) / 2) and ft["overall_n"] == 12
    assert ft["overall_sd"] == pytest.approx(float(np.std(per_seed, ddof=1)), abs=1e-6)  # CSV: 6 decimals
    assert ft["n_paired_vs_original"] == 24
    assert f"± {100 * ft['overall_sd']:.1f} [" in (tmp_path / "s.md").read_text()
    # one replicate: no spread, no "±"
    seed0 = {key: path for key, path in files.items() if key[1] == 0}
    semantic_table(predictions={"semantic": seed0}, conditions=CONDITIONS, **paths, config=CONFIG,
                   wordnet_source=preds["wordnet"], summaries={"semantic": preds["summaries"]})
    assert pl.read_csv(tmp_path / "s.csv")["overall_sd"].null_count() == len(NAMES) + 1


def test_rows_are_looked_up_by_key_not_by_position(preds, tmp_path):
    """The same evaluations in another order give the same table; a (model, seed, condition) without its file
    stops the table with the key it lacks."""
    files = {}
    for seed in (0, 1):
        for cond in NAMES:
            rows = [{**r, "correct": r["correct"] != (seed and i < 3)} for i, r in enumerate(_semantic(cond))]
            write_jsonl(rows, tmp_path / f"seed{seed}" / cond / "semantic.jsonl")
            files[MODEL, seed, cond] = str(tmp_path / f"seed{seed}" / cond / "semantic.jsonl")
    tables = []
    for order in (list(files), list(reversed(files))):
        out = tmp_path / f"t{len(tables)}"
        semantic_table(predictions={"semantic": {key: files[key] for key in order}}, conditions=CONDITIONS,
                       csv=out / "s.csv", md=out / "s.md", provenance=out / "s.json", config=CONFIG,
                       wordnet_source=preds["wordnet"], summaries={})
        tables.append((out / "s.csv").read_bytes() + (out / "s.md").read_bytes())
    assert tables[0] == tables[1]
    del files[MODEL, 1, "ft_400"]
    with pytest.raises(ShardError, match=r"\('mini_ltu', 1, 'ft_400'\)"):
        semantic_table(predictions={"semantic": files}, conditions=CONDITIONS, csv=tmp_path / "x.csv",
                       md=tmp_path / "x.md", provenance=tmp_path / "x.json", config=CONFIG,
                       wordnet_source=preds["wordnet"], summaries={})


def test_every_table_is_one_record():
    """The registry names each table's rule, builder and outputs (the paths the workflow has always written)."""
    import pkgutil

    assert {t.rule for t in TABLES.values()} == {"semantic_table", "labelling_table", "scaling_table", "tradeoff_figure",
                                                  "perception_table", "models_table", "forgetting_table"}
    assert TABLES["semantic"].outputs("results") == {
        "csv": "results/tables/semantic.csv", "md": "results/tables/semantic.md", "tex": "results/tables/semantic.tex",
        "provenance": "results/tables/semantic.provenance.json"}
    assert TABLES["forgetting"].outputs("r") == {"csv": "r/tables/forgetting.csv", "md": "r/tables/forgetting.md",
                                                 "png": "r/figures/forgetting.png",
                                                 "provenance": "r/tables/forgetting.provenance.json"}
    assert TABLES["tradeoff"].outputs("r") == {"png": "r/figures/tradeoff.png"}
    for table in TABLES.values():
        assert callable(pkgutil.resolve_name(table.builder)) and (ROOT / table.caption).is_file()
        assert set(table.tasks) <= set(TASKS)
    # the controls are scored on SHARD only: on the tables that read both tasks, but not on the trade-off plane
    blind_ft = {c.name: c.as_dict() for c in study_conditions({"400": 400}, False)}["blind_ft_400"]
    assert TABLES["perception"].reads(blind_ft["tasks"]) and not TABLES["scaling"].reads(blind_ft["tasks"])


def count_table(*, predictions, conditions, config, csv) -> None:
    """A table added by a test: the number of items each (model, seed, condition) answered."""
    rows = [{"model": m, "seed": s, "condition": c, "items": read_jsonl(path).height}
            for (m, s, c), path in predictions["semantic"].items()]
    pl.DataFrame(rows).write_csv(csv)


def test_a_new_table_is_one_record(preds, tmp_path, monkeypatch):
    """A record (here defined in this test module, its builder too) is all a new table needs: the rules and
    all_targets read the registry, and build_table dispatches to the builder."""
    import shard.reporting.registry as registry

    record = Table("counts", "tests.test_tables:count_table", ("semantic",), ("csv",), "report/semantic.rst",
                   provenance=False)
    monkeypatch.setitem(registry.TABLES, record.name, record)
    assert record.rule == "counts_table" and record.outputs("results") == {"csv": "results/tables/counts.csv"}
    build_table(table="counts", evaluated=list(preds["semantic"].values()), predictions={"semantic": preds["semantic"]},
                conditions=CONDITIONS, config=CONFIG, csv=tmp_path / "counts.csv")
    assert pl.read_csv(tmp_path / "counts.csv")["items"].to_list() == [12] * len(NAMES)


def test_a_table_rule_reads_the_files_it_passes_by_key(preds, tmp_path):
    """build_table (rules/scripts/table.py) refuses a rule whose input and keyed params name different files."""
    kw = dict(predictions={"semantic": preds["semantic"]}, conditions=CONDITIONS, csv=tmp_path / "s.csv",
              md=tmp_path / "s.md", provenance=tmp_path / "s.json", config=CONFIG, wordnet_source=preds["wordnet"],
              summaries={"semantic": preds["summaries"]})
    evaluated = [*preds["semantic"].values(), *preds["summaries"].values()]
    build_table(table="semantic", evaluated=evaluated[::-1], **kw)
    assert pl.read_csv(tmp_path / "s.csv")["condition"].to_list() == [*NAMES, "chance"]
    with pytest.raises(ShardError, match="different files"):
        build_table(table="semantic", evaluated=evaluated[1:], **kw)


def test_pareto_front():
    # (semantic, labelling): b beats a on both; c trades labelling for reasoning; d ties b and is no better
    assert pareto_front([0.4, 0.5, 0.7, 0.5], [0.3, 0.4, 0.1, 0.4]) == [False, True, True, True]
    assert pareto_front([0.4, 0.5, 0.7, 0.5], [0.3, 0.4, 0.1, 0.35]) == [False, True, True, False]


def test_forgetting_table_places_every_run(preds, tmp_path):
    conds = {c.name: c.as_dict() for c in study_conditions({"400": 400}, False, (0.0, 0.3), ("mixed",))}
    names = ["zeroshot_interleaved", "ft_400", "ft_400_r30"]
    sem, lab = {}, {}
    right = {"zeroshot_interleaved": ({0, 1, 6}, {0, 1, 2}), "ft_400": ({0, 1, 2, 3, 4, 6, 7, 8, 9, 10}, {0, 1}),
             "ft_400_r30": ({0, 1, 2, 3, 6, 7, 8}, {0, 1, 2, 3})}
    for name in names:
        RIGHT[name], LABEL_RIGHT[name] = right[name]
        write_jsonl(_semantic(name), tmp_path / "f" / name / "semantic.jsonl")
        write_jsonl(_labelling(name), tmp_path / "f" / name / "labelling.jsonl")
        sem[MODEL, 0, name] = str(tmp_path / "f" / name / "semantic.jsonl")
        lab[MODEL, 0, name] = str(tmp_path / "f" / name / "labelling.jsonl")
    forgetting_table(predictions={"semantic": sem, "labelling": lab}, conditions=[conds[n] for n in names],
                     csv=tmp_path / "f.csv", md=tmp_path / "f.md", png=tmp_path / "f.png",
                     provenance=tmp_path / "f.json", config=CONFIG, wordnet_source=preds["wordnet"],
                     summaries={"semantic": preds["summaries"]})
    df = pl.read_csv(tmp_path / "f.csv")
    assert df["condition"].to_list() == names and df["replay"].to_list() == [0.0, 0.0, 0.3]
    assert df["semantic_acc"].to_list() == pytest.approx([3 / 12, 10 / 12, 7 / 12])
    assert df["labelling_acc"].to_list() == pytest.approx([3 / 5, 2 / 5, 4 / 5])
    # replay keeps labelling (0.8) at a cost in reasoning: both fine-tuned runs are on the front, the base is not
    assert df["pareto"].to_list() == [False, True, True]
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 400              | 30%" in (tmp_path / "f.md").read_text()


def test_models_side_by_side(preds, tmp_path):
    """Two models on the same items: every table has a row per (model, condition), each model's Δ against its
    own `original`; tables/models sets them side by side with the second model's paired change."""
    second = {"original": {0, 1, 2, 3, 6, 7}, "zeroshot_interleaved": {0, 6}, "ft_400": set(range(12)), "blind": {0}}
    files = {"semantic": dict(preds["semantic"]), "labelling": dict(preds["labelling"])}
    for cond in NAMES:  # the second model's files, keyed by (model, seed, condition)
        rows = [{**r, "correct": i in second[cond]} for i, r in enumerate(_semantic(cond))]
        write_jsonl(rows, tmp_path / "b" / cond / "semantic.jsonl")
        write_jsonl(_labelling(cond), tmp_path / "b" / cond / "labelling.jsonl")
        files["semantic"]["mini_ltu_h256", 0, cond] = str(tmp_path / "b" / cond / "semantic.jsonl")
        files["labelling"]["mini_ltu_h256", 0, cond] = str(tmp_path / "b" / cond / "labelling.jsonl")
    paths = dict(csv=tmp_path / "s.csv", md=tmp_path / "s.md", tex=None, provenance=tmp_path / "s.json")
    semantic_table(predictions={"semantic": files["semantic"]}, conditions=CONDITIONS, **paths, config=CONFIG,
                   wordnet_source=preds["wordnet"], summaries={})
    df = pl.read_csv(tmp_path / "s.csv").with_columns(pl.col("model").fill_null(""))
    assert df.select("model", "condition").rows() == [*((MODEL, n) for n in NAMES), *(("mini_ltu_h256", n) for n in NAMES),
                                                      ("", "chance")]
    ft_b = df.filter((pl.col("model") == "mini_ltu_h256") & (pl.col("condition") == "ft_400")).row(0, named=True)
    assert ft_b["overall_acc"] == 1.0 and ft_b["delta_vs_original"] == pytest.approx(1 - 6 / 12)  # its own original

    models_table(predictions=files, conditions=CONDITIONS,
                 csv=tmp_path / "m.csv", md=tmp_path / "m.md", provenance=tmp_path / "m.json", config=CONFIG,
                 wordnet_source=preds["wordnet"], summaries={})
    m = pl.read_csv(tmp_path / "m.csv")
    assert m.select("condition", "model").rows()[:2] == [("original", MODEL), ("original", "mini_ltu_h256")]
    row = m.filter((pl.col("condition") == "ft_400") & (pl.col("model") == "mini_ltu_h256")).row(0, named=True)
    a = [i in RIGHT["ft_400"] for i in range(12)]
    assert row["delta_vs_first"] == pytest.approx(2 / 12, abs=1e-6) and row["p_vs_first"] == pytest.approx(mcnemar(a, [True] * 12), rel=1e-5)
    assert m.filter(pl.col("model") == MODEL)["delta_vs_first"].null_count() == len(NAMES)
    header = [c.strip() for c in (tmp_path / "m.md").read_text().splitlines()[2].split("|")[1:-1]]
    assert header == ["Condition", "mini_ltu SHARD", "mini_ltu labelling", "mini_ltu_h256 SHARD",
                      "mini_ltu_h256 labelling", "Δ SHARD mini_ltu_h256 − mini_ltu", "p mini_ltu_h256"]

    kw = dict(predictions=files, conditions=CONDITIONS, config=CONFIG)
    tradeoff_figure(**kw, png=tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scaling_table(**kw, csv=tmp_path / "c.csv", md=tmp_path / "c.md", provenance=tmp_path / "c.json",
                  wordnet_source=preds["wordnet"], summaries={})
    assert pl.read_csv(tmp_path / "c.csv").select("model", "n_prompts").rows() == [
        (MODEL, 0), (MODEL, 400), ("mini_ltu_h256", 0), ("mini_ltu_h256", 400)]
