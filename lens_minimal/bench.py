"""`make bench`: speed and size figures of the LENS pipeline (printed, not asserted).

Targets on 2 CPU cores: whole pipeline at d = 4096 under 60 s; synthesis above 100,000
embeddings/s at d = 576. Then the embedding throughput of SmolLM2-135M (`text.throughput`) on
short texts and on long mixed-length dialogues, before and after the batching of `lens embed`.
Run: python -m lens_minimal.bench [--dims 576,4096] [--no-embedding]
"""
from __future__ import annotations

import argparse
import time

import torch

from .datasets import load_task
from .experiment import ExperimentConfig, run_one
from .synthesis import SynthesisConfig, synthesize_side
from .vae import PreferenceVAE, VAEConfig, count_parameters


def synthesis_throughput(dim: int, n_seeds: int = 2000, k: int = 8, repeats: int = 5) -> float:
    """Synthetic embeddings per second: encode, perturb, top-k filter and decode (best of `repeats`)."""
    vae = PreferenceVAE(dim, VAEConfig()).eval()
    e = torch.randn(n_seeds, dim)
    gen = torch.Generator().manual_seed(0)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        synthesize_side(vae, e, k, SynthesisConfig(), gen)
        best = min(best, time.perf_counter() - t)
    return n_seeds * k / best


def pipeline_seconds(dim: int, ratio: int = 8) -> dict[str, float]:
    """Wall time of VAE training, synthesis and reward-model training on 1,000 seed pairs."""
    task = load_task("synthetic", world={"dim": dim})
    t = time.perf_counter()
    r = run_one(task, "lens", ratio, seed=0, config=ExperimentConfig())
    total = time.perf_counter() - t
    return {"vae_fit": r["seconds_fit"], "synthesis": r["seconds_augment"], "reward_train": r["seconds_train"],
            "total": total, "bon_gold": r["bon_gold"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", default="576,4096", help="comma-separated embedding dimensions")
    parser.add_argument("--no-embedding", action="store_true", help="skip the LLM embedding throughput")
    args = parser.parse_args(argv)
    dims = [int(d) for d in args.dims.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for d in dims:
        print(f"VAE parameters at d={d}: {count_parameters(PreferenceVAE(d, VAEConfig())):,}")
    for d in dims:
        print(f"synthesis throughput at d={d}: {synthesis_throughput(d):,.0f} synthetic embeddings/s")
    for d in dims:
        s = pipeline_seconds(d)
        print(f"LENS pipeline, 1,000 seed pairs, 8x, d={d}: total {s['total']:.1f} s "
              f"(VAE {s['vae_fit']:.1f} s, synthesis {s['synthesis']:.2f} s, reward model {s['reward_train']:.1f} s)")
    if not args.no_embedding:
        from .text.throughput import report   # the LLM side, loaded only here (see ARCHITECTURE.md)

        print("\n".join(report()), flush=True)


if __name__ == "__main__":
    main()
