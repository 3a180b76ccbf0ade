"""Test-only start-up hook (tests/interrupt.py): with SHARD_TEST_INTERRUPT=kill:STEP or hold:STEP, replaces
shard.models.train.checkpoint_saved once shard.models.train is imported, so the run stops right after that checkpoint."""
import importlib.abc
import importlib.machinery
import logging
import os
import signal
import sys
import time

SETTING = os.environ.get("SHARD_TEST_INTERRUPT")


def _stop_after(action: str, at: int):
    def checkpoint_saved(step: int) -> None:
        if step != at:
            return
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        logging.getLogger("shard.models.train").warning("SHARD_TEST_INTERRUPT=%s: holding after checkpoint step %d",
                                                 SETTING, step)
        time.sleep(600)
    return checkpoint_saved


class _PatchTrain(importlib.abc.MetaPathFinder):
    """Finds shard.models.train like the path finder does, and patches the module right after it runs."""

    def __init__(self, hook):
        self.hook = hook

    def find_spec(self, name, path=None, target=None):
        if name != "shard.models.train":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module.checkpoint_saved = self.hook
        spec.loader.exec_module = exec_module
        return spec


if SETTING:
    action, step = SETTING.split(":")
    sys.meta_path.insert(0, _PatchTrain(_stop_after(action, int(step))))
