"""Audio LLM backends behind one interface (`AudioLLM`), and the processor that builds their inputs.

The names below are imported on first use, so that `shard.models.backends` (the backend registry the Snakefile
reads to validate the config) stays light: importing this package imports neither torch nor transformers.
"""
import importlib

_EXPORTS = {"AudioLLM": "interface", "resolve_device": "interface", "AudioProcessor": "processor",
            "build_tokenizer": "processor", "BACKENDS": "backends", "load_model": "backends"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'shard.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
