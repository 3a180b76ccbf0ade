"""Audio LLM backends behind one interface (`AudioLLM`), and the processor that builds their inputs."""
from .interface import BACKENDS, AudioLLM, load_model, resolve_device
from .processor import AudioProcessor, build_tokenizer

__all__ = ["AudioLLM", "AudioProcessor", "BACKENDS", "build_tokenizer", "load_model", "resolve_device"]
