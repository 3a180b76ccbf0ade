"""The SHARD browser: a static page to audit the test items by ear.

    results/shard/browser/index.html          every test item: clip player, question, options, answer,
                                              the label's synset and gloss, each condition's answer
    results/shard/browser/audio/<clip>.wav    one 16-bit PCM WAV per clip (not per item)

Open index.html from disk (no server, nothing fetched from the internet): filters by relation, question
format, label and (with predictions) outcome show the matching items; the header counts them and gives
each condition's accuracy on what is shown. Rendered by jinja2 from the package's
`web/browser.html.j2`; byte-deterministic (sorted rows, no dates, relative paths only).
"""
from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import polars as pl

from shard.common import ShardError, atomic_path, read_jsonl
from shard.dataset.export import load_test_clips, wav_bytes

log = logging.getLogger("shard")

TEMPLATE = "browser.html.j2"
_SAFE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def audio_names(clip_ids: list[str]) -> dict[str, str]:
    """clip_id -> its WAV file's name: the clip_id itself where that is a safe file name and URL, else a
    cleaned name plus a hash; names that differ only in case get a hash too (case-insensitive disks)."""
    def hashed(cid: str) -> str:
        clean = re.sub(r"[^A-Za-z0-9._-]+", "_", cid).strip("._")[:80]
        return f"{clean}-{hashlib.sha1(cid.encode()).hexdigest()[:10]}"

    names = {c: c if _SAFE.fullmatch(c) and len(c) <= 120 else hashed(c) for c in clip_ids}
    folded: dict[str, list[str]] = {}
    for cid, name in names.items():
        folded.setdefault(name.lower(), []).append(cid)
    for group in folded.values():
        if len(group) > 1:
            names.update({c: hashed(c) for c in group})
    return {c: f"{n}.wav" for c, n in names.items()}


def load_predictions(predictions: list, item_ids: set[str], columns: list[str] | None = None) -> dict[str, dict[str, dict]]:
    """column (`columns`, one per file, default the jsonl's folder name: its condition), in the order given ->
    item_id -> {prediction, correct}."""
    out: dict[str, dict[str, dict]] = {}
    if columns is not None and len(columns) != len(predictions):
        raise ShardError(f"{len(columns)} column names for {len(predictions)} prediction files; give one per file")
    for i, path in enumerate(predictions):
        condition = columns[i] if columns is not None else Path(path).parent.name
        if condition in out:
            raise ShardError(f"{path}: two prediction files for condition {condition!r}; give one per condition")
        table = read_jsonl(path)
        if table.height and not {"item_id", "prediction", "correct"} <= set(table.columns):
            raise ShardError(f"{path}: expected item_id, prediction and correct per line (eval/{{condition}}/semantic.jsonl)")
        stale = sorted(set(table["item_id"]) - item_ids) if table.height else []
        if stale:
            raise ShardError(f"{path}: predictions for items not in the test set ({stale[:3]}...); rerun the evaluate rule")
        out[condition] = {r["item_id"]: {"prediction": r["prediction"], "correct": bool(r["correct"])}
                          for r in (table.select("item_id", "prediction", "correct").iter_rows(named=True)
                                    if table.height else [])}
    return out


def render_page(items: pl.DataFrame, names: dict[str, str], conditions: dict[str, dict[str, dict]]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("shard", "web"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    rows = []
    for r in items.iter_rows(named=True):
        answers = []
        for name, preds in conditions.items():
            p = preds.get(r["item_id"])
            answers.append({"condition": name, "evaluated": p is not None,
                            "prediction": None if p is None else p["prediction"],
                            "correct": p is not None and p["correct"]})
        rows.append({**r, "audio": f"audio/{names[r['clip_id']]}", "answers": answers,
                     "wrong": sum(a["evaluated"] and not a["correct"] for a in answers),
                     "question_parts": r["question"].split("<audio>")})
    filters = {k: sorted(set(items[k])) for k in ("relation", "format", "label")}
    return env.get_template(TEMPLATE).render(rows=rows, filters=filters, conditions=list(conditions),
                                             n_clips=len(names))


def build_browser(*, test, clips_parquet, audio, label_synsets, predictions, out_dir, sample_rate: int,
                  columns: list[str] | None = None) -> None:
    """Rule `shard_browser`: index.html + one WAV per test clip under `out_dir`; one answer column per
    predictions file, named by `columns` (default: its condition)."""
    items, clips, pcm = load_test_clips(test, clips_parquet, audio, label_synsets)
    # a clip's items together (audit by ear: listen once, read all its questions)
    items = items.sort("label", "clip_id", "relation", "format", "item_id")
    conditions = load_predictions(list(predictions), set(items["item_id"]), columns and list(columns))
    names = audio_names(clips["clip_id"].to_list())
    page = render_page(items, names, conditions)
    with atomic_path(out_dir) as tmp:
        (tmp / "audio").mkdir(parents=True)
        for cid, row in clips.select("clip_id", "row").iter_rows():
            (tmp / "audio" / names[cid]).write_bytes(wav_bytes(pcm[row], sample_rate))
        (tmp / "index.html").write_text(page, encoding="utf-8")
    log.info("browser: %d items, %d clips, %d conditions -> %s", items.height, clips.height, len(conditions), out_dir)
