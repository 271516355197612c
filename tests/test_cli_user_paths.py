"""The `lens` command line as a new user meets it: resumable embedding, one fitting protocol, errors
that point to the fix, help that fits each command, file modes, and pair-only data in `lens run`."""
import json
import os
import stat
import subprocess
import sys

import pytest
import torch

from lens_minimal import experiment
from lens_minimal.cli import CONFIG_FLAGS, build_parser, main
from lens_minimal.config import from_dict
from lens_minimal.data import PreferencePairs, read_metadata
from lens_minimal.datasets import load_task, split_eval_pairs
from lens_minimal.experiment import ExperimentConfig, holdout_by_seed, run_ratios
from lens_minimal.text import embed_job

WORDS = "the cat is good . the dog is bad . what is a short poem ? write a great story please".split()
FAST = ["--vae-epochs", "3"]


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def words(g, k):
    return " ".join(WORDS[i] for i in torch.randint(len(WORDS), (k,), generator=g))


def trl_rows(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [{"prompt": words(g, 5), "chosen": words(g, 2 + i % 7), "rejected": words(g, 3)} for i in range(n)]


def hh_rows(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        dialogue = f"\n\nHuman: {words(g, 4)}\n\nAssistant: {words(g, 3)}\n\nHuman: {words(g, 3)}\n\nAssistant:"
        rows.append({"chosen": f"{dialogue} {words(g, 4)}", "rejected": f"{dialogue} {words(g, 2)}"})
    return rows


@pytest.fixture()
def small_files(tmp_path):
    task = load_task("synthetic", world={"dim": 24, "n_train": 80, "n_test_prompts": 10, "n_candidates": 6})
    task.train.save(tmp_path / "pairs.safetensors")
    task.test.save(tmp_path / "test.safetensors")
    return tmp_path


# ----------------------------------------------------------------------------- resumable embedding

def test_embed_resumes_after_an_interruption_with_the_same_bytes(tiny_model_dir, tmp_path, lens_cache, monkeypatch, capsys):
    src = write_jsonl(tmp_path / "prefs.jsonl", trl_rows(30))
    cmd = lambda out: ["embed", str(src), "--model", str(tiny_model_dir), "--shard-size", "8",  # noqa: E731
                       "--batch-size", "3", "--out", str(out)]
    assert main(cmd(tmp_path / "ref.safetensors")) == 0
    assert not (tmp_path / "ref.safetensors.parts").exists()   # the work folder goes once the output is written

    real, calls = embed_job.embed_token_ids, []

    def interrupted(*a, bar=None, **k):   # Ctrl-C while the third shard is being embedded
        if bar is not None:
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
        return real(*a, bar=bar, **k)

    monkeypatch.setattr(embed_job, "embed_token_ids", interrupted)
    out = tmp_path / "out.safetensors"
    with pytest.raises(SystemExit) as e:
        main(cmd(out))
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert "2 of 8 shard(s) are saved" in err and "resume" in err
    assert not out.exists() and len(list((tmp_path / "out.safetensors.parts").glob("shard-*.safetensors"))) == 2

    calls.clear()
    monkeypatch.setattr(embed_job, "embed_token_ids", lambda *a, bar=None, **k: (calls.append(bar is not None), real(*a, bar=bar, **k))[1])
    assert main(cmd(out)) == 0
    assert sum(calls) == 6                                   # only the missing shards were embedded
    assert "2 already done" in capsys.readouterr().out
    assert out.read_bytes() == (tmp_path / "ref.safetensors").read_bytes()
    assert not (tmp_path / "out.safetensors.parts").exists()
    meta = read_metadata(out)
    assert meta["model"] == str(tiny_model_dir) and meta["model_checksum"] and meta["layer"] == "-1"


def test_a_stale_shard_from_other_settings_is_redone(tiny_model_dir, tmp_path, lens_cache, monkeypatch):
    src = write_jsonl(tmp_path / "prefs.jsonl", trl_rows(6))
    out = tmp_path / "p.safetensors"
    base = ["embed", str(src), "--model", str(tiny_model_dir), "--shard-size", "4", "--out", str(out)]
    real = embed_job.embed_token_ids
    monkeypatch.setattr(embed_job, "embed_token_ids", lambda *a, bar=None, **k: (_ for _ in ()).throw(KeyboardInterrupt)
                        if bar is not None and (tmp_path / "p.safetensors.parts").exists() else real(*a, bar=bar, **k))
    with pytest.raises(SystemExit):
        main([*base, "--max-length", "6"])                    # one shard written with max_length 6
    monkeypatch.setattr(embed_job, "embed_token_ids", real)
    assert main(base) == 0                                    # default max_length: that shard is not reused
    monkeypatch.undo()
    assert main([*base[:-1], str(tmp_path / "q.safetensors")]) == 0
    assert out.read_bytes() == (tmp_path / "q.safetensors").read_bytes()


# ----------------------------------------------------------------------------- one protocol

def _captured_training(monkeypatch):
    seen = {}
    real = experiment.train_reward_model

    def spy(train, val, *a, **k):
        seen["train"], seen["val"] = train, val
        return real(train, val, *a, **k)

    monkeypatch.setattr(experiment, "train_reward_model", spy)
    return seen


@pytest.mark.parametrize("method, ratio", [("lens", 4), ("gaussian", 3), ("none", 1)])
def test_augment_then_train_rm_is_lens_run(small_files, method, ratio, monkeypatch, capsys):
    """Both routes hold out the same slice, fit on the rest only and train on the same augmented set."""
    d, seed = small_files, 1
    aug = d / "aug.safetensors"
    args = ["augment", str(d / "pairs.safetensors"), "--method", method, "--seed", str(seed), "--out", str(aug), *FAST]
    assert main(args if method == "none" else [*args, "--ratio", str(ratio)]) == 0
    task = load_task("custom", files={"pairs": d / "pairs.safetensors", "test": d / "test.safetensors"})
    seen = _captured_training(monkeypatch)
    cfg = from_dict(ExperimentConfig, {"vae": {"epochs": 3}})
    [row] = run_ratios(task, method, [ratio], seed, cfg)
    train, val = holdout_by_seed(PreferencePairs.load(aug), cfg.val_fraction, seed)
    for got, want in ((train, seen["train"]), (val, seen["val"])):
        for k in ("e_chosen", "e_rejected", "seed_index", "is_synthetic"):
            assert torch.equal(getattr(got, k), getattr(want, k)), k
    # the held-out seeds never fed the augmenter: no synthetic pair descends from them
    assert not torch.isin(train.seed_index, val.seed_index).any()
    # and end to end the reward model is the one `lens run` trains
    assert main(["train-rm", str(aug), "--out", str(d / "rm.safetensors")]) == 0
    assert main(["evaluate", str(d / "rm.safetensors"), "--test", str(d / "test.safetensors"), "--out", str(d / "m.json")]) == 0
    m = json.loads((d / "m.json").read_text())
    assert m["bon_gold"] == row["bon_gold"] and m["pairwise_accuracy"] == row["pairwise_accuracy"]


def test_augment_none_keeps_the_file_and_train_rm_on_raw_pairs_is_the_baseline(small_files, monkeypatch):
    d = small_files
    assert main(["augment", str(d / "pairs.safetensors"), "--method", "none", "--out", str(d / "same.safetensors")]) == 0
    a, b = PreferencePairs.load(d / "pairs.safetensors"), PreferencePairs.load(d / "same.safetensors")
    assert torch.equal(a.e_chosen, b.e_chosen) and torch.equal(a.e_rejected, b.e_rejected)
    assert main(["train-rm", str(d / "pairs.safetensors"), "--seed", "2", "--out", str(d / "rm.safetensors")]) == 0
    assert main(["evaluate", str(d / "rm.safetensors"), "--test", str(d / "test.safetensors"), "--out", str(d / "m.json")]) == 0
    task = load_task("custom", files={"pairs": d / "pairs.safetensors", "test": d / "test.safetensors"})
    [row] = run_ratios(task, "none", [1], 2)
    assert json.loads((d / "m.json").read_text())["bon_gold"] == row["bon_gold"]


def test_protocol_errors_point_to_the_fix(small_files, capsys):
    d = small_files
    assert main(["augment", str(d / "pairs.safetensors"), "--method", "none", "--ratio", "4", "--out", str(d / "x.safetensors")]) == 2
    assert "its ratio is 1" in capsys.readouterr().err and not (d / "x.safetensors").exists()
    assert main(["augment", str(d / "pairs.safetensors"), "--method", "gaussian", "--ratio", "1", "--out", str(d / "x.safetensors")]) == 2
    assert "--method none" in capsys.readouterr().err
    assert main(["augment", str(d / "pairs.safetensors"), "--method", "gaussian", "--ratio", "2", "--seed", "3",
                 "--out", str(d / "aug.safetensors")]) == 0
    assert main(["train-rm", str(d / "aug.safetensors"), "--seed", "4", "--out", str(d / "rm.safetensors")]) == 2
    assert "train with --seed 3" in capsys.readouterr().err and not (d / "rm.safetensors").exists()
    assert main(["train-rm", str(d / "aug.safetensors"), "--val-fraction", "0.2", "--out", str(d / "rm.safetensors")]) == 2
    assert "--val-fraction 0.1" in capsys.readouterr().err


# ----------------------------------------------------------------------------- lens run tells what it did

def test_run_ratio_1_says_what_it_wrote(small_files, capsys):
    out = small_files / "m.json"
    assert main(["run", "--pairs", str(small_files / "pairs.safetensors"), "--test", str(small_files / "test.safetensors"),
                 "--methods", "lens", "--ratios", "1", "--seeds", "0", "--quiet", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "none  1x" in text and "lens did not run: ratio 1 is no augmentation" in text
    assert set(json.loads(out.read_text())["methods"]) == {"none"}


def test_nothing_to_run_is_one_line_without_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lens_minimal.cli", "run", "--methods", "none", "--ratios", "4", "--quiet"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "nothing to run" in r.stderr


# ----------------------------------------------------------------------------- errors that point to the fix

def test_non_string_value_names_field_type_and_line(tmp_path, capsys):
    rows = trl_rows(3)
    rows[2]["rejected"] = True
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    assert main(["embed", str(src), "--out", str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "line 3: field 'rejected' must be a string or a list of {role, content} messages, found boolean (true)" in err


def test_hh_file_without_format_suggests_it(tmp_path, capsys):
    src = write_jsonl(tmp_path / "hh.jsonl", hh_rows(2))
    assert main(["embed", str(src), "--out", str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "missing field 'prompt'" in err and "use --format hh-rlhf" in err


# ----------------------------------------------------------------------------- help and file modes

def _subparsers():
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return {k: v for k, v in sub.choices.items() if k != "build-data"}


def test_help_shows_every_default():
    for name, p in _subparsers().items():
        text = " ".join(p.format_help().split())
        for a in p._actions:
            if a.option_strings and a.default is not None and a.default is not False and a.default != "==SUPPRESS==":
                assert f"(default: {a.default})" in text, (name, a.option_strings)
    embed = " ".join(_subparsers()["embed"].format_help().split())
    assert "(default: 2048)" in embed and "--batch-size" in embed and "--threads" in embed
    assert "(default: 0)" in " ".join(_subparsers()["run"].format_help().split())   # a default of 0 is a default


def test_each_command_lists_only_the_options_it_uses():
    helps = {k: p.format_help() for k, p in _subparsers().items()}
    groups = {flag: group for flag, (_, _, _, group) in CONFIG_FLAGS.items()}
    uses = {"augment": {"augmenter", "split"}, "train-rm": {"reward", "split"}, "run": {"augmenter", "reward", "split"},
            "embed": set(), "evaluate": set()}
    for command, used in uses.items():
        for flag, group in groups.items():
            assert (f"--{flag} " in helps[command]) == (group in used), (command, flag)
    assert "--gamma" not in helps["train-rm"] and "--label-smoothing" not in helps["augment"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_output_files_follow_the_umask(small_files, umask):
    old = os.umask(umask)
    try:
        d = small_files
        assert main(["augment", str(d / "pairs.safetensors"), "--method", "gaussian", "--ratio", "2",
                     "--out", str(d / "aug.safetensors")]) == 0
        assert main(["train-rm", str(d / "aug.safetensors"), "--out", str(d / "rm.safetensors")]) == 0
        assert main(["evaluate", str(d / "rm.safetensors"), "--test", str(d / "test.safetensors"), "--out", str(d / "m.json")]) == 0
        for f in ("aug.safetensors", "rm.safetensors", "m.json"):
            assert stat.S_IMODE((d / f).stat().st_mode) == 0o666 & ~umask, f
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------- pair-only data (issue 8)

def _strict(text):
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} in JSON")))


def test_run_on_held_out_pairs_end_to_end(tiny_model_dir, tmp_path, lens_cache, capsys):
    """The README route: lens embed --format hh-rlhf (seed and held-out files) -> lens run --eval-pairs."""
    train = write_jsonl(tmp_path / "train.jsonl", hh_rows(40, seed=1))
    held = write_jsonl(tmp_path / "test.jsonl", hh_rows(24, seed=2))
    for src, out in ((train, "pairs"), (held, "eval")):
        assert main(["embed", str(src), "--format", "hh-rlhf", "--model", str(tiny_model_dir),
                     "--out", str(tmp_path / f"{out}.safetensors")]) == 0
    out = tmp_path / "m.json"
    assert main(["run", "--pairs", str(tmp_path / "pairs.safetensors"), "--eval-pairs", str(tmp_path / "eval.safetensors"),
                 "--methods", "lens,gaussian", "--ratios", "1,4", "--seeds", "0,1", "--quiet", "--out", str(out), *FAST]) == 0
    m = _strict(out.read_text())
    assert m["metric"] == "pairwise_accuracy" and m["n_eval_pairs"] == 24 and m["n_seed_pairs"] == 40
    assert "bon_gold" not in m["methods"]["none"]["1x"]
    for method in ("lens", "gaussian"):
        e = m["methods"][method]["4x"]
        assert e["n_seeds"] == 2 and 0 <= e["pairwise_accuracy"] <= 1 and e["pairwise_accuracy_ci95"] >= 0
        g = e["gain_over_none"]
        assert g["metric"] == "pairwise_accuracy" and g["ci95_low"] <= g["gain"] <= g["ci95_high"]
    runs = [r for r in m["runs"] if r["method"] == "none"]
    assert len(runs) == 2 and all(r["pairwise_accuracy_ci_low"] <= r["pairwise_accuracy"] for r in runs)
    text = capsys.readouterr().out
    assert "held-out pairwise accuracy (24 test items" in text and "gain" in text


def test_run_with_an_eval_fraction_records_a_seeded_split(small_files):
    out = small_files / "m.json"
    assert main(["run", "--pairs", str(small_files / "pairs.safetensors"), "--eval-fraction", "0.25", "--split-seed", "3",
                 "--methods", "gaussian", "--ratios", "1,2", "--seeds", "0", "--quiet", "--out", str(out)]) == 0
    split = _strict(out.read_text())["eval_split"]
    assert (split["fraction"], split["seed"], split["n_eval_pairs"], split["n_seed_pairs"]) == (0.25, 3, 20, 60)
    again = split_eval_pairs("x", small_files / "pairs.safetensors", 0.25, 3).info["eval_split"]
    other = split_eval_pairs("x", small_files / "pairs.safetensors", 0.25, 4).info["eval_split"]
    assert again["eval_rows"] == split["eval_rows"] and other["eval_rows"] != split["eval_rows"]
    task = split_eval_pairs("x", small_files / "pairs.safetensors", 0.25, 3)
    full = PreferencePairs.load(small_files / "pairs.safetensors")
    rest = [i for i in range(len(full)) if i not in set(split["eval_rows"])]
    assert torch.equal(task.test.e_chosen, full.e_chosen[split["eval_rows"]])
    assert torch.equal(task.train.e_rejected, full.e_rejected[rest])   # the seed pairs are the other rows


def test_held_out_file_of_another_model_or_dimension_is_refused(tmp_path, capsys):
    g = torch.Generator().manual_seed(0)
    pairs = lambda d: PreferencePairs(torch.randn(20, d, generator=g), torch.randn(20, d, generator=g))  # noqa: E731
    pairs(8).save(tmp_path / "a.safetensors", metadata={"model": "model-a", "model_checksum": "1" * 64, "layer": "-1"})
    pairs(8).save(tmp_path / "b.safetensors", metadata={"model": "model-b", "model_checksum": "2" * 64, "layer": "-1"})
    pairs(6).save(tmp_path / "c.safetensors", metadata={"model": "model-a", "model_checksum": "1" * 64, "layer": "-1"})
    pairs(8).save(tmp_path / "d.safetensors", metadata={"model": "model-a", "model_checksum": "1" * 64, "layer": "10"})
    out = tmp_path / "m.json"
    run = lambda other: main(["run", "--pairs", str(tmp_path / "a.safetensors"), "--eval-pairs",  # noqa: E731
                              str(tmp_path / other), "--quiet", "--out", str(out)])
    assert run("b.safetensors") == 2
    err = capsys.readouterr().err
    assert "model weights" in err and "model-b" in err and "model-a" in err and "embed both the same way" in err
    assert run("c.safetensors") == 2
    assert "embedding dimension 6 does not match" in capsys.readouterr().err
    assert run("d.safetensors") == 2
    assert "layer '10'" in capsys.readouterr().err
    assert not out.exists()
    assert main(["run", "--pairs", str(tmp_path / "a.safetensors"), "--eval-pairs", str(tmp_path / "b.safetensors"),
                 "--eval-fraction", "0.2"]) == 2
    assert "exactly one of" in capsys.readouterr().err
