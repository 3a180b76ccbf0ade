"""What the pinned CPU kernels (src/shard/kernels.py) cost: training steps/s of the default's mini_ltu with MKL's
vendor-neutral branch (MKL_CBWR=COMPATIBLE, what every job uses) against MKL's own choice for this CPU (AUTO).

    HF_HUB_OFFLINE=1 python bench/pinned_kernels.py [--steps 60] [--batch 32]

Each setting runs in its own process (MKL reads MKL_CBWR once, when it loads), on the same synthetic prompts
(bench/train_throughput.py's: a clip each, about the default's length), the same model shape (config.yaml's
`pretrain` section) and 2 threads.
Prints both throughputs and their ratio: what the same bytes on any x86 CPU cost on this one.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(steps: int, batch: int) -> dict:
    import torch
    import yaml

    from shard.models import AudioLLM, AudioProcessor
    from shard.models.mini_ltu import random_mini_ltu
    from shard.prompts import templates
    from train_throughput import WORDS, make_data  # bench/ is on sys.path: this script's folder

    torch.set_num_threads(2)
    pretrain = yaml.safe_load((ROOT / "config.yaml").read_text())["pretrain"]
    data, texts = make_data(batch)
    model, tok = random_mini_ltu([templates.LTU_PROMPT, *texts], pretrain, required=WORDS + [templates.YES, templates.NO])
    llm = AudioLLM(model.train(), AudioProcessor(tok, pretrain["audio_tokens"]), torch.device("cpu"), "mini_ltu")
    batch_ = data.batch(llm.processor, range(batch))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for warm in (True, False):
        t0 = time.perf_counter()
        for _ in range(5 if warm else steps):
            llm.loss(batch_).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - t0
    return {"mkl_cbwr": os.environ.get("MKL_CBWR"), "steps_s": steps / seconds,
            "tokens_per_step": int(batch_["attention_mask"].sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.steps, args.batch)))
        return
    from shard.kernels import pin_cpu_kernels

    results = {}
    for branch in ("COMPATIBLE", "AUTO"):
        env = dict(os.environ, MKL_CBWR=branch, PYTHONPATH=str(ROOT / "src"))
        pin_cpu_kernels(env)  # the other pins as every job has them; MKL_CBWR is the one that differs
        out = subprocess.run([sys.executable, __file__, "--child", "--steps", str(args.steps), "--batch", str(args.batch)],
                             env=env, check=True, capture_output=True, text=True).stdout
        results[branch] = json.loads(out.strip().splitlines()[-1])
        print(f"MKL_CBWR={branch}: {results[branch]['steps_s']:.2f} steps/s "
              f"({args.batch} prompts, {results[branch]['tokens_per_step']} tokens a step)")
    print(f"pinned (COMPATIBLE) / MKL's own choice (AUTO): "
          f"{results['COMPATIBLE']['steps_s'] / results['AUTO']['steps_s']:.2f}x the steps/s on this CPU")


if __name__ == "__main__":
    main()
