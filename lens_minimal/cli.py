"""The `lens` command line: run LENS on your own preference data.

    lens embed      text JSONL -> embeddings file (safetensors)
    lens augment    embeddings -> augmented pairs (LENS or a baseline)
    lens train-rm   pairs -> Bradley-Terry reward MLP
    lens evaluate   reward model + Best-of-N set (and/or held-out pairs) -> metrics JSON
    lens run        end to end on a named dataset or your own embeddings -> metrics JSON
    lens build-data rebuild the shipped SmolLM2 tasks in data/ (hours on a CPU; resumable)

Every output file is written atomically: an error never leaves a partial file behind.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from .io import LensInputError, write_json

FORMATS = ("jsonl", "hh-rlhf", "tldr", "best-of-n")


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


# Shortcut flags onto the one spelling of the method parameters (see `lens_minimal.config`):
# flag -> (key path in the config dict, type, help). `--config` files use the same key paths.
CONFIG_FLAGS: dict[str, tuple[str, type, str]] = {
    "gamma": ("vae.gamma", float, "weight of the W2 divergence term (default 0.1)"),
    "beta": ("vae.beta", float, "weight of the KL term (default 0.01)"),
    "latent-dim": ("vae.latent_dim", int, "VAE latent dimension (default 16)"),
    "vae-epochs": ("vae.epochs", int, "VAE training epochs (default 200)"),
    "sigma2": ("synthesis.sigma2", float, "latent perturbation variance (default 0.01)"),
    "noise-scale": ("noise_scale", float, "direct perturbation: noise std relative to each dimension's std (default 0.1)"),
    "label-smoothing": ("reward.label_smoothing", float, "reward loss label smoothing eps (default 0 = Bradley-Terry)"),
}


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("method parameters (override --config)")
    g.add_argument("--config", type=Path, help='JSON file in the nesting of ExperimentConfig: {"vae": {...}, '
                   '"synthesis": {...}, "noise_scale": x, "reward": {...}, "val_fraction": x, "best_of": n}')
    for flag, (path, kind, text) in CONFIG_FLAGS.items():
        g.add_argument(f"--{flag}", type=kind, help=f"{text}; = {path}")


def _experiment_config(args: argparse.Namespace):
    from .config import from_dict
    from .experiment import ExperimentConfig

    o: dict[str, Any] = {}
    if args.config is not None:
        if not args.config.is_file():
            raise LensInputError(f"--config {args.config}: file not found")
        try:
            o = json.loads(args.config.read_text())
        except json.JSONDecodeError as err:
            raise LensInputError(f"--config {args.config}: not valid JSON ({err})") from None
        if not isinstance(o, dict):
            raise LensInputError(f"--config {args.config}: expected a JSON object")
    for flag, (path, _, _) in CONFIG_FLAGS.items():
        value = getattr(args, flag.replace("-", "_"), None)
        if value is not None:
            *sections, key = path.split(".")
            node = o
            for section in sections:
                node = node.setdefault(section, {})
            node[key] = value
    return from_dict(ExperimentConfig, o, "config")


# ----------------------------------------------------------------------------- subcommands

def cmd_embed(args: argparse.Namespace) -> None:
    from .text.loaders import embed_best_of_n, embed_preferences, load_best_of_n, load_preferences
    from .text.models import load_model

    keys = dict(prompt_key=args.prompt_key)
    if args.format == "best-of-n":
        records = load_best_of_n(args.input, **keys)[: args.limit]
    else:
        if args.format == "jsonl":
            keys |= dict(chosen_key=args.chosen_key, rejected_key=args.rejected_key)
        elif args.format == "hh-rlhf":
            keys = dict(chosen_key=args.chosen_key, rejected_key=args.rejected_key)
        else:
            keys = {}
        records = load_preferences(args.input, args.format, limit=args.limit, **keys)
    model, tokenizer = load_model(args.model, device=args.device, device_map=args.device_map)
    kw = dict(layer=args.layer, pooling=args.pooling, batch_size=args.batch_size, max_length=args.max_length)
    meta = {"model": args.model, "layer": str(args.layer), "pooling": args.pooling, "source": str(args.input)}
    out = embed_best_of_n(records, model, tokenizer, **kw) if args.format == "best-of-n" \
        else embed_preferences(records, model, tokenizer, **kw)
    out.save(args.out, metadata=meta)
    print(f"wrote {args.out}: {len(records)} records, d={out.embeddings.shape[-1] if args.format == 'best-of-n' else out.dim}")


def cmd_augment(args: argparse.Namespace) -> None:
    from .baselines import make_augmenter
    from .data import PreferencePairs

    seeds = PreferencePairs.load(args.pairs)
    cfg = _experiment_config(args)
    augmenter = make_augmenter(args.method, cfg, seed=args.seed)
    augmenter.progress = True
    augmenter.fit(seeds)
    out = augmenter.augment(seeds, args.ratio)
    out.save(args.out, metadata={"method": args.method, "ratio": str(args.ratio), "seed": str(args.seed)})
    print(f"wrote {args.out}: {len(out)} pairs ({int(out.is_synthetic.sum())} synthetic) from {len(seeds)} seed pairs")


def cmd_train_rm(args: argparse.Namespace) -> None:
    from .data import PreferencePairs
    from .experiment import holdout_by_seed
    from .reward import evaluate_pairs, save_reward_model, train_reward_model

    pairs = PreferencePairs.load(args.pairs)
    cfg = _experiment_config(args)
    train, val = holdout_by_seed(pairs, cfg.val_fraction, args.seed)
    model, history = train_reward_model(train, val, cfg.reward, seed=args.seed, progress=True)
    save_reward_model(model, args.out, extra={"source": str(args.pairs), "seed": str(args.seed)})
    loss, acc = evaluate_pairs(model, val)
    print(f"wrote {args.out}: trained on {len(train)} pairs, {len(history['val_loss'])} epochs; "
          f"held-out seed pairs: accuracy {acc:.3f}, BT loss {loss:.3f}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .data import BestOfNSet, PreferencePairs
    from .evaluation import evaluate_reward_model
    from .reward import evaluate_pairs, load_reward_model

    if args.test is None and args.pairs is None:
        raise LensInputError("evaluate: give --test (Best-of-N set) and/or --pairs (held-out pairs)")
    model = load_reward_model(args.model)
    metrics: dict[str, Any] = {"model": str(args.model)}
    if args.test is not None:
        test = BestOfNSet.load(args.test)
        _check_dim(model, test.embeddings.shape[-1], args.test)
        metrics |= evaluate_reward_model(model, test, n=args.best_of)
    if args.pairs is not None:
        pairs = PreferencePairs.load(args.pairs)
        _check_dim(model, pairs.dim, args.pairs)
        metrics["heldout_bt_loss"], metrics["heldout_pair_accuracy"] = evaluate_pairs(model, pairs)
    _emit(metrics, args.out)


def cmd_run(args: argparse.Namespace) -> None:
    import torch

    from .datasets import load_task
    from .experiment import run_grid, summarize

    if args.pairs is not None or args.test is not None:
        if args.pairs is None or args.test is None:
            raise LensInputError("run: custom data needs both --pairs and --test")
        task = load_task("custom", files={"pairs": args.pairs, "test": args.test})
    else:
        task = load_task(args.dataset, layer=args.layer, seed=args.data_seed)
    cfg = _experiment_config(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    df = run_grid(task, args.methods, args.ratios, args.seeds, cfg, progress=not args.quiet)
    summary = summarize(df)
    methods: dict[str, dict[str, Any]] = {}
    for row in summary.to_dict("records"):
        entry = methods.setdefault(row["method"], {})
        entry[f"{row['ratio']}x"] = {
            "bon_gold": row["bon_gold_mean"], "bon_gold_std": row["bon_gold_std"],
            "pairwise_accuracy": row["pairwise_accuracy_mean"], "pairwise_accuracy_std": row["pairwise_accuracy_std"],
            "n_seeds": row["n_seeds"],
        }
    ref = df.iloc[0]
    _emit({
        "dataset": task.name, "n_seed_pairs": len(task.train), "dim": task.dim,
        "bon_random": float(ref.bon_random), "bon_oracle": float(ref.bon_oracle),
        "methods": methods, "runs": df.to_dict("records"),
    }, args.out)


def cmd_build_data(args: argparse.Namespace) -> None:
    from .text import build_data

    build_data.main(args.rest)


def _check_dim(model, dim: int, path: Path) -> None:
    expected = model.center.shape[0]
    if dim != expected:
        raise LensInputError(f"{path}: embedding dimension {dim} does not match the reward model's {expected}")


def _emit(metrics: dict, out: Path | None) -> None:
    if out is not None:
        write_json(out, metrics)
        print(f"wrote {out}")
    else:
        print(json.dumps(metrics, indent=2, default=float))


# ----------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    from .baselines import METHODS
    from .datasets import SHIPPED_TASKS

    parser = argparse.ArgumentParser(prog="lens", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("embed", help="embed a text preference file with a causal LM",
                       description="Embed (prompt, response) texts with a Hugging Face causal LM: last-layer hidden state at the last real token by default.")
    p.add_argument("input", type=Path, help="JSON Lines file (plain or .gz)")
    p.add_argument("--format", choices=FORMATS, default="jsonl", help="jsonl (TRL prompt/chosen/rejected), hh-rlhf, tldr (summarize-from-feedback), best-of-n ({prompt, responses[], gold[]})")
    p.add_argument("--model", default="smollm2-135m-instruct", help="registry name, local folder or Hugging Face id (default: %(default)s)")
    p.add_argument("--layer", type=int, default=-1, help="-1 = last hidden state after the final norm; L = output of block L (default: %(default)s)")
    p.add_argument("--pooling", choices=("last", "mean"), default="last", help="last real token or mean over real tokens (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=2048, help="tokens kept from the END of each text")
    p.add_argument("--limit", type=int, help="only the first N records")
    p.add_argument("--prompt-key", default="prompt"); p.add_argument("--chosen-key", default="chosen"); p.add_argument("--rejected-key", default="rejected")
    p.add_argument("--device", help="e.g. cuda, cpu (default: cpu)")
    p.add_argument("--device-map", help="e.g. auto, for models larger than one GPU")
    p.add_argument("--out", type=Path, required=True, help="output .safetensors")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("augment", help="augment embedded pairs with LENS or a baseline")
    p.add_argument("pairs", type=Path, help="pairs file from `lens embed`")
    p.add_argument("--method", default="lens", choices=sorted(m for m in METHODS if m != "none"))
    p.add_argument("--ratio", type=int, default=8, help="output holds ratio x N pairs, originals included (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    _add_config_flags(p)
    p.set_defaults(func=cmd_augment)

    p = sub.add_parser("train-rm", help="train a Bradley-Terry reward MLP on (augmented) pairs",
                       description="Train the reward MLP; a share of the original seed pairs (and every synthetic pair made from them) is held out for early stopping.")
    p.add_argument("pairs", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="output reward model (.safetensors)")
    _add_config_flags(p)
    p.set_defaults(func=cmd_train_rm)

    p = sub.add_parser("evaluate", help="Best-of-N gold reward and pairwise accuracy of a reward model")
    p.add_argument("model", type=Path, help="reward model from `lens train-rm`")
    p.add_argument("--test", type=Path, help="Best-of-N set from `lens embed --format best-of-n`")
    p.add_argument("--pairs", type=Path, help="held-out pairs file")
    p.add_argument("--best-of", type=int, help="N of Best-of-N (default: all candidates)")
    p.add_argument("--out", type=Path, help="metrics JSON (default: print)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("run", help="end to end: methods x ratios x seeds -> metrics JSON",
                       description="Fit, augment, train and evaluate every method at every ratio over several seeds. "
                                   "Ratio 1 is the no-augmentation reward model.")
    p.add_argument("--dataset", default="synthetic", choices=("synthetic", *SHIPPED_TASKS), help="named dataset (default: %(default)s)")
    p.add_argument("--pairs", type=Path, help="your own seed pairs (with --test instead of --dataset)")
    p.add_argument("--test", type=Path, help="your own Best-of-N set")
    p.add_argument("--layer", default="last", help="embedding layer of a shipped dataset (last, layer10, layer20)")
    p.add_argument("--data-seed", type=int, default=0, help="data seed of the synthetic world")
    p.add_argument("--methods", type=_names, default=["lens", "direct", "gaussian"], help="comma-separated, from: " + ", ".join(sorted(METHODS)))
    p.add_argument("--ratios", type=_ints, default=[1, 4, 8], help="comma-separated (default: 1,4,8)")
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2], help="comma-separated (default: 0,1,2)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", type=Path, help="metrics JSON (default: print)")
    _add_config_flags(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("build-data", help="rebuild the shipped SmolLM2 tasks (resumable; see `lens build-data -- --help`)",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_build_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "methods", None):
        from .baselines import METHODS
        unknown = [m for m in args.methods if m not in METHODS]
        if unknown:
            parser.error(f"--methods: unknown method(s) {unknown}; known: {sorted(METHODS)}")
    try:
        args.func(args)
    except LensInputError as err:
        print(f"lens {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
