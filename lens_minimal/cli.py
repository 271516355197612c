"""The `lens` command line: run LENS on your own preference data.

    lens embed      text JSONL -> embeddings file (safetensors); resumes after an interruption
    lens augment    embeddings -> augmented pairs (LENS or a baseline; 'none' = no augmentation)
    lens train-rm   pairs -> Bradley-Terry reward MLP
    lens evaluate   reward model + Best-of-N set (and/or held-out pairs) -> metrics JSON
    lens run        end to end on a named dataset or your own embeddings (with a Best-of-N set,
                    held-out pairs, or a held-out share of the pairs) -> metrics JSON
    lens build-data rebuild the shipped SmolLM2 tasks in data/ (hours on a CPU; resumable)

Every output file is written atomically: an error never leaves a partial file behind.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
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
# flag -> (key path in the config dict, type, help, who uses it). `--config` files use the same key paths.
# "augmenter" flags go to `lens augment` and `lens run`, "reward" flags to `lens train-rm` and `lens run`,
# "split" (the validation slice) to all three.
CONFIG_FLAGS: dict[str, tuple[str, type, str, str]] = {
    "gamma": ("vae.gamma", float, "weight of the W2 divergence term (default 0.1)", "augmenter"),
    "beta": ("vae.beta", float, "weight of the KL term (default 0.01)", "augmenter"),
    "latent-dim": ("vae.latent_dim", int, "VAE latent dimension (default 16)", "augmenter"),
    "vae-epochs": ("vae.epochs", int, "VAE training epochs (default 200)", "augmenter"),
    "sigma2": ("synthesis.sigma2", float, "latent perturbation variance (default 0.01)", "augmenter"),
    "noise-scale": ("noise_scale", float, "direct perturbation: noise std relative to each dimension's std (default 0.1)", "augmenter"),
    "label-smoothing": ("reward.label_smoothing", float, "reward loss label smoothing eps (default 0 = Bradley-Terry)", "reward"),
    "val-fraction": ("val_fraction", float, "share of the seed pairs held out to early-stop the reward model; "
                     "the augmenter never sees them (default 0.1)", "split"),
}
CONFIG_SECTIONS = {"augmenter": '"vae", "synthesis", "noise_scale"', "reward": '"reward"', "split": '"val_fraction"'}


def _add_config_flags(p: argparse.ArgumentParser, uses: tuple[str, ...]) -> None:
    """`--config` and the shortcut flags of the parameter groups `uses` (see CONFIG_FLAGS)."""
    g = p.add_argument_group("method parameters (override --config)")
    keys = ", ".join(CONFIG_SECTIONS[u] for u in uses)
    g.add_argument("--config", type=Path, help=f"JSON file in the nesting of ExperimentConfig; this command reads its keys {keys}")
    for flag, (path, kind, text, group) in CONFIG_FLAGS.items():
        if group in uses:
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
    for flag, (path, _, _, _) in CONFIG_FLAGS.items():
        value = getattr(args, flag.replace("-", "_"), None)
        if value is not None:
            *sections, key = path.split(".")
            node = o
            for section in sections:
                node = node.setdefault(section, {})
            node[key] = value
    return from_dict(ExperimentConfig, o, "config")


# ----------------------------------------------------------------------------- subcommands

def _threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def cmd_embed(args: argparse.Namespace) -> None:
    from .text.embed_job import EmbedJob, EmbedSettings, work_dir_for
    from .text.loaders import (best_of_n_from_rows, best_of_n_texts, load_best_of_n, load_preferences,
                               pairs_from_rows, preference_texts)
    from .text.models import load_model, model_checksum

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
    checksum = model_checksum(args.model) or ""
    texts = best_of_n_texts(records, tokenizer) if args.format == "best-of-n" else preference_texts(records, tokenizer)
    settings = EmbedSettings(model_id=checksum or str(args.model), layers=(args.layer,), pooling=args.pooling,
                             max_length=args.max_length, batch_size=args.batch_size,
                             batch_tokens=args.batch_tokens or None, shard_texts=args.shard_size)
    job = EmbedJob(model, tokenizer, texts, settings, work_dir_for(args.out))
    print(f"lens embed: {len(records):,} records -> {job.plan_message()}", flush=True)
    n_todo, cpu0, wall0 = job.n_tokens(job.todo()), time.process_time(), time.perf_counter()
    try:
        e = job.run()[args.layer]
    except KeyboardInterrupt:
        print(f"lens embed: interrupted; {job.n_done()} of {len(job.shards)} shard(s) are saved in {job.work_dir}/: "
              "run the same command again to resume", file=sys.stderr)
        raise SystemExit(130) from None
    out = best_of_n_from_rows(e, records) if args.format == "best-of-n" else pairs_from_rows(e, len(records))
    meta = {"model": str(args.model), "model_checksum": checksum, "layer": str(args.layer), "pooling": args.pooling,
            "max_length": str(args.max_length), "format": args.format, "source": str(args.input),
            "n_records": str(len(records)), "n_truncated_texts": str(job.n_truncated)}
    out.save(args.out, metadata=meta)
    job.clean()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    speed = f"; embedded {n_todo:,} tokens in {wall:.0f} s: {n_todo / wall:,.0f} tokens/s, " \
            f"{n_todo / max(cpu, 1e-9):,.0f} per CPU-second" if n_todo else ""
    print(f"wrote {args.out}: {len(records):,} records, d={e.shape[-1]}{speed}")


def _augment_meta(path: Path) -> dict[str, str]:
    from .data import read_metadata

    meta = read_metadata(path)
    return meta if "val_fraction" in meta else {}


def cmd_augment(args: argparse.Namespace) -> None:
    from .data import PreferencePairs
    from .experiment import augment_for_training, split_seed_pairs

    ratio = args.ratio if args.ratio is not None else (1 if args.method == "none" else 8)
    if args.method == "none" and ratio != 1:
        raise LensInputError(f"--method none is no augmentation: its ratio is 1 (got --ratio {ratio}). The baseline "
                             "is `lens train-rm` on the pairs file itself")
    if args.method != "none" and ratio < 2:
        raise LensInputError(f"--ratio {ratio}: an augmentation method needs a ratio of at least 2 (ratio 1 is "
                             "no augmentation: --method none, or `lens train-rm` on the pairs file itself)")
    pairs = PreferencePairs.load(args.pairs)
    if _augment_meta(args.pairs):
        raise LensInputError(f"{args.pairs}: already written by `lens augment`; augment the pairs file from `lens embed`")
    cfg = _experiment_config(args)
    _threads(args)
    out = augment_for_training(pairs, args.method, ratio, args.seed, cfg, progress=True)
    n_val = len(split_seed_pairs(len(pairs), cfg.val_fraction, args.seed)[1])
    out.save(args.out, metadata={"method": args.method, "ratio": str(ratio), "seed": str(args.seed),
                                 "val_fraction": repr(cfg.val_fraction), "source": str(args.pairs)})
    if args.method == "none":
        print(f"wrote {args.out}: the {len(pairs):,} pairs unchanged (ratio 1 = no augmentation); "
              f"`lens train-rm {args.out} --seed {args.seed}` trains the baseline")
    else:
        print(f"wrote {args.out}: {len(out):,} pairs = {ratio} x {len(pairs) - n_val:,} training seed pairs "
              f"({int(out.is_synthetic.sum()):,} synthetic) + {n_val:,} held-out seed pairs, which the augmenter never "
              f"saw; `lens train-rm {args.out}` early-stops on them")


def cmd_train_rm(args: argparse.Namespace) -> None:
    from .data import PreferencePairs
    from .experiment import holdout_by_seed
    from .reward import evaluate_pairs, save_reward_model, train_reward_model

    pairs = PreferencePairs.load(args.pairs)
    cfg = _experiment_config(args)
    seed = 0 if args.seed is None else args.seed
    made = _augment_meta(args.pairs)
    if made:   # the held-out slice is fixed by `lens augment`: hold out the same one
        if args.seed is None:
            seed = int(made["seed"])
        elif args.seed != int(made["seed"]):
            raise LensInputError(f"{args.pairs} was augmented with --seed {made['seed']}, which holds out the seed pairs "
                                 f"the augmenter never saw; train with --seed {made['seed']} (or augment again with "
                                 f"--seed {args.seed})")
        if float(made["val_fraction"]) != cfg.val_fraction:
            raise LensInputError(f"{args.pairs} was augmented with val_fraction {made['val_fraction']}; train with "
                                 f"--val-fraction {made['val_fraction']} so that the same seed pairs are held out")
    _threads(args)
    train, val = holdout_by_seed(pairs, cfg.val_fraction, seed)
    model, history = train_reward_model(train, val, cfg.reward, seed=seed, progress=True)
    save_reward_model(model, args.out, extra={"source": str(args.pairs), "seed": str(seed)})
    loss, acc = evaluate_pairs(model, val)
    print(f"wrote {args.out}: trained on {len(train):,} pairs, {len(history['val_loss'])} epochs; "
          f"{len(val):,} held-out seed pairs: accuracy {acc:.3f}, BT loss {loss:.3f}")


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


def _run_task(args: argparse.Namespace):
    from .datasets import load_task, split_eval_pairs

    own = {"--test": args.test, "--eval-pairs": args.eval_pairs, "--eval-fraction": args.eval_fraction}
    given = [k for k, v in own.items() if v is not None]
    if args.pairs is None:
        if given:
            raise LensInputError(f"run: {given[0]} goes with --pairs (your own seed pairs)")
        return load_task(args.dataset, layer=args.layer, seed=args.data_seed)
    if len(given) != 1:
        raise LensInputError("run: with --pairs give exactly one of --test (a Best-of-N set), --eval-pairs (held-out "
                             "pairs from `lens embed`) or --eval-fraction (split --pairs, seeded by --split-seed)"
                             + (f"; got {' and '.join(given)}" if given else ""))
    if args.eval_fraction is not None:
        return split_eval_pairs("custom", args.pairs, args.eval_fraction, args.split_seed)
    if args.test is not None:
        return load_task("custom", files={"pairs": args.pairs, "test": args.test})
    return load_task("custom", files={"pairs": args.pairs, "eval_pairs": args.eval_pairs})


def cmd_run(args: argparse.Namespace) -> None:
    from .experiment import paired_gains, run_grid, summarize

    task = _run_task(args)
    cfg = _experiment_config(args)
    _threads(args)
    df = run_grid(task, args.methods, args.ratios, args.seeds, cfg, progress=not args.quiet, per_item=True)
    metric = task.primary_metric
    summary = summarize(df)
    gains = paired_gains(df) if 1 in args.ratios else None
    methods: dict[str, dict[str, Any]] = {}
    for row in summary.to_dict("records"):
        entry = {"pairwise_accuracy": row["pairwise_accuracy_mean"], "pairwise_accuracy_std": row["pairwise_accuracy_std"],
                 "pairwise_accuracy_ci95": row["pairwise_accuracy_ci"], "n_seeds": row["n_seeds"]}
        if task.has_gold:
            entry |= {"bon_gold": row["bon_gold_mean"], "bon_gold_std": row["bon_gold_std"],
                      "bon_gold_ci95": row["bon_gold_ci"]}
        if gains is not None and row["method"] != "none":
            g = gains[(gains.method == row["method"]) & (gains.ratio == row["ratio"])].iloc[0]
            entry["gain_over_none"] = {"metric": metric, "gain": g.gain, "ci95_low": g.gain_ci_low,
                                       "ci95_high": g.gain_ci_high, "sd_over_seeds": g.gain_sd_over_seeds}
        methods.setdefault(row["method"], {})[f"{row['ratio']}x"] = entry
    runs = df.drop(columns=["per_item"]).to_dict("records")
    out: dict[str, Any] = {"dataset": task.name, "metric": metric, "n_seed_pairs": len(task.train), "dim": task.dim,
                           "methods": methods, "runs": runs}
    if task.has_gold:
        out |= {"bon_random": float(df.iloc[0].bon_random), "bon_oracle": float(df.iloc[0].bon_oracle)}
    else:
        out["n_eval_pairs"] = len(task.test)
    for key in ("files", "eval_split"):
        if key in task.info:
            out[key] = task.info[key]
    _emit(_no_nan(out), args.out)
    if args.out is not None:
        print(_run_report(task, df, gains, args))


def _run_report(task, df, gains, args: argparse.Namespace) -> str:
    """What `lens run` wrote, one line per method and ratio, and what it did not run and why."""
    from .evaluation import t_halfwidth

    metric = task.primary_metric
    name = "held-out pairwise accuracy" if metric == "pairwise_accuracy" else "Best-of-N gold reward"
    lines = [f"{name} ({len(task.test) if not task.has_gold else task.test.n_prompts} test items; mean +- 95% t-interval "
             f"over seeds{'; gain over none: paired bootstrap 95% interval' if gains is not None else ''}):"]
    for (method, ratio), g in df.groupby(["method", "ratio"], sort=False):
        v = g[metric].to_numpy(dtype=float)
        line = f"  {method:>12} {ratio:>2}x  {v.mean():.4f} +- {t_halfwidth(v):.4f}  ({len(v)} seed{'s' * (len(v) > 1)})"
        if gains is not None and method != "none":
            r = gains[(gains.method == method) & (gains.ratio == ratio)].iloc[0]
            line += f"  gain {r.gain:+.4f} [{r.gain_ci_low:+.4f}, {r.gain_ci_high:+.4f}]"
        lines.append(line)
    ran = set(df.method)
    skipped = [m for m in args.methods if m != "none" and m not in ran]
    if skipped:
        lines.append(f"note: {', '.join(skipped)} did not run: ratio 1 is no augmentation (the 'none' rows); "
                     "give a ratio > 1, e.g. --ratios 1,4,8")
    if gains is None:
        lines.append("note: no gain over no augmentation: add ratio 1 to --ratios to run the baseline")
    return "\n".join(lines)


def cmd_build_data(args: argparse.Namespace) -> None:
    from .text import build_data

    build_data.main(args.rest)


def _check_dim(model, dim: int, path: Path) -> None:
    expected = model.center.shape[0]
    if dim != expected:
        raise LensInputError(f"{path}: embedding dimension {dim} does not match the reward model's {expected}")


def _no_nan(x: Any) -> Any:
    """NaN -> None (JSON null), recursively."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        return _no_nan(x.item())
    return x


def _emit(metrics: dict, out: Path | None) -> None:
    if out is not None:
        write_json(out, metrics)
        print(f"wrote {out}")
    else:
        print(json.dumps(metrics, indent=2, default=float))


# ----------------------------------------------------------------------------- parser

class _HelpFormatter(argparse.HelpFormatter):
    """Shows every option's default (unless it has none: None or False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("%(default)" in text or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class _TopHelpFormatter(_HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """`lens --help`: keeps the line breaks of the command list."""


def build_parser() -> argparse.ArgumentParser:
    from .baselines import METHODS
    from .datasets import PAIR_DATASETS, SHIPPED_TASKS

    fmt = dict(formatter_class=_HelpFormatter)
    parser = argparse.ArgumentParser(prog="lens", description=__doc__, formatter_class=_TopHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    threads = dict(type=int, help="torch CPU threads (default: PyTorch's choice, which follows OMP_NUM_THREADS)")

    p = sub.add_parser("embed", help="embed a text preference file with a causal LM", **fmt,
                       description="Embed (prompt, response) texts with a Hugging Face causal LM: last-layer hidden state "
                                   "at the last real token by default. Finished shards are kept beside --out as they "
                                   "finish (OUT.parts/): after an interruption, the same command resumes.")
    p.add_argument("input", type=Path, help="JSON Lines file (plain or .gz)")
    p.add_argument("--format", choices=FORMATS, default="jsonl", help="jsonl (TRL prompt/chosen/rejected), hh-rlhf, tldr (summarize-from-feedback), best-of-n ({prompt, responses[], gold[]})")
    p.add_argument("--model", default="smollm2-135m-instruct", help="registry name, local folder or Hugging Face id")
    p.add_argument("--layer", type=int, default=-1, help="-1 = last hidden state after the final norm; L = output of block L")
    p.add_argument("--pooling", choices=("last", "mean"), default="last", help="last real token or mean over real tokens")
    p.add_argument("--batch-size", type=int, default=16, help="texts per forward pass at most")
    p.add_argument("--batch-tokens", type=int, default=2048, help="padded tokens per forward pass at most (long texts go in smaller batches); 0 = no limit")
    p.add_argument("--max-length", type=int, default=2048, help="tokens kept from the END of each text")
    p.add_argument("--shard-size", type=int, default=256, help="texts per saved shard (the unit of resumption)")
    p.add_argument("--limit", type=int, help="only the first N records")
    p.add_argument("--prompt-key", default="prompt", help="field of the prompt (jsonl, best-of-n)")
    p.add_argument("--chosen-key", default="chosen", help="field of the chosen response (jsonl, hh-rlhf)")
    p.add_argument("--rejected-key", default="rejected", help="field of the rejected response (jsonl, hh-rlhf)")
    p.add_argument("--device", default="cpu", help="e.g. cuda, cpu")
    p.add_argument("--device-map", help="e.g. auto, for models larger than one GPU (replaces --device)")
    p.add_argument("--threads", **threads)
    p.add_argument("--out", type=Path, required=True, help="output .safetensors")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("augment", help="augment embedded pairs with LENS or a baseline", **fmt,
                       description="Hold out --val-fraction of the seed pairs (chosen by --seed), fit the augmenter on "
                                   "the rest, and write the augmented training pairs followed by the held-out ones, "
                                   "which `lens train-rm` uses for early stopping: the same protocol as `lens run`.")
    p.add_argument("pairs", type=Path, help="pairs file from `lens embed`")
    p.add_argument("--method", default="lens", choices=sorted(METHODS), help="'none' = no augmentation (ratio 1)")
    p.add_argument("--ratio", type=int, help="the training seed pairs are augmented to ratio x their number, "
                   "originals included (default: 8; 1 for --method none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out slice and of the augmenter")
    p.add_argument("--threads", **threads)
    p.add_argument("--out", type=Path, required=True, help="output pairs file (.safetensors)")
    _add_config_flags(p, ("augmenter", "split"))
    p.set_defaults(func=cmd_augment)

    p = sub.add_parser("train-rm", help="train a Bradley-Terry reward MLP on (augmented) pairs", **fmt,
                       description="Train the reward MLP; --val-fraction of the original seed pairs (and every synthetic "
                                   "pair made from them) is held out for early stopping. On a file from `lens augment` "
                                   "the held-out slice is the one the augmenter never saw.")
    p.add_argument("pairs", type=Path, help="pairs file from `lens embed` (the no-augmentation baseline) or `lens augment`")
    p.add_argument("--seed", type=int, help="seed of the held-out slice and of the reward model "
                   "(default: the one `lens augment` used, else 0)")
    p.add_argument("--threads", **threads)
    p.add_argument("--out", type=Path, required=True, help="output reward model (.safetensors)")
    _add_config_flags(p, ("reward", "split"))
    p.set_defaults(func=cmd_train_rm)

    p = sub.add_parser("evaluate", help="Best-of-N gold reward and pairwise accuracy of a reward model", **fmt)
    p.add_argument("model", type=Path, help="reward model from `lens train-rm`")
    p.add_argument("--test", type=Path, help="Best-of-N set from `lens embed --format best-of-n`")
    p.add_argument("--pairs", type=Path, help="held-out pairs file")
    p.add_argument("--best-of", type=int, help="N of Best-of-N (default: all candidates)")
    p.add_argument("--out", type=Path, help="metrics JSON (default: print)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("run", help="end to end: methods x ratios x seeds -> metrics JSON", **fmt,
                       description="Fit, augment, train and evaluate every method at every ratio over several seeds. "
                                   "Ratio 1 is the no-augmentation reward model (method 'none'); each method's gain "
                                   "over it comes with a paired bootstrap 95% interval. Data: a named --dataset, or "
                                   "your --pairs with a Best-of-N --test set (gold rewards), held-out --eval-pairs, or "
                                   "--eval-fraction to split --pairs (held-out pairwise accuracy).")
    p.add_argument("--dataset", default="synthetic", choices=("synthetic", *SHIPPED_TASKS, *PAIR_DATASETS), help="named dataset")
    p.add_argument("--pairs", type=Path, help="your own seed pairs from `lens embed` (instead of --dataset)")
    p.add_argument("--test", type=Path, help="your own Best-of-N set (gold rewards)")
    p.add_argument("--eval-pairs", type=Path, help="your own held-out pairs from `lens embed` (same model and layer as --pairs)")
    p.add_argument("--eval-fraction", type=float, help="hold out this share of --pairs for evaluation instead (a seeded split, written to the metrics)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the --eval-fraction split")
    p.add_argument("--layer", default="last", help="embedding layer of a shipped dataset (last, layer10, layer20)")
    p.add_argument("--data-seed", type=int, default=0, help="data seed of the synthetic world")
    p.add_argument("--methods", type=_names, default="lens,direct,gaussian", help="comma-separated, from: " + ", ".join(sorted(METHODS)))
    p.add_argument("--ratios", type=_ints, default="1,4,8", help="comma-separated")
    p.add_argument("--seeds", type=_ints, default="0,1,2", help="comma-separated")
    p.add_argument("--threads", **threads)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", type=Path, help="metrics JSON (default: print)")
    _add_config_flags(p, ("augmenter", "reward", "split"))
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
