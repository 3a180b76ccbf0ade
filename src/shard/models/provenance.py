"""What identifies a model in what the workflow writes: the sha1 of its files, computed here only.

`model_identity` goes into every evaluation summary and table provenance; `base_checksums` into an adapter's
train_config.json and the fingerprint that decides whether a fine-tuning checkpoint may be resumed.
"""
from __future__ import annotations

from pathlib import Path

from shard.common import sha1_file
from shard.models.backends import backend

BASE_FILES = ("*.safetensors", "*.bin", "config.json", "tokenizer.json")  # what makes a base model what it is
HASH_LIMIT = 1 << 30  # summaries hash weight files below 1 GiB only (a 7B model's are left unhashed)


def fingerprint(files: dict[str, Path], max_bytes: int | None = None) -> dict[str, str]:
    """key -> sha1 of each of `files` that exists (and, with `max_bytes`, is smaller)."""
    return {key: sha1_file(path) for key, path in files.items()
            if path.is_file() and (max_bytes is None or path.stat().st_size < max_bytes)}


def base_checksums(base_dir: str) -> dict[str, str]:
    """File name -> sha1 of the base model's weights, config and tokenizer: a retrained base changes it."""
    files = sorted(p for pattern in BASE_FILES for p in Path(base_dir).glob(pattern))
    return fingerprint({p.name: p for p in files})


def model_identity(model_cfg: dict, base_dir: str, adapter_dir: str | None) -> dict:
    """What identifies the scored model in summaries and table provenance (no timestamps): its backend, front end,
    base, adapter, the checkpoint where its backend reads one, and the sha1 of their (small) weight files."""
    ident = {"backend": model_cfg["backend"], "frontend": model_cfg["frontend"],
             "base": str(base_dir), "adapter": None if adapter_dir is None else str(adapter_dir)}
    weights = {"base_sha1": Path(base_dir) / "model.safetensors"}
    if backend(model_cfg["backend"]).checkpoint and model_cfg.get("checkpoint"):
        # ltu: LTU's released audio branch + LoRA, on top of the base LLaMA
        ident["checkpoint"] = Path(model_cfg["checkpoint"]).name
        weights["checkpoint_sha1"] = Path(model_cfg["checkpoint"])
    if adapter_dir is not None:
        weights["adapter_sha1"] = Path(adapter_dir) / "adapter_model.safetensors"
    return {**ident, **fingerprint(weights, max_bytes=HASH_LIMIT)}
