"""The `lens` command line end to end on a tiny local model and a small synthetic world."""
import gzip
import json
import subprocess
import sys

import pytest
import torch

from lens_minimal.cli import main
from lens_minimal.data import BestOfNSet, PreferencePairs
from lens_minimal.datasets import load_task

WORDS = "the cat is good . the dog is bad . what is a short poem ? write a great story please".split()
FAST = ["--vae-epochs", "3"]


def write_jsonl(path, rows):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


@pytest.fixture()
def small_files(tmp_path):
    task = load_task("synthetic", world={"dim": 24, "n_train": 80, "n_test_prompts": 10, "n_candidates": 6})
    task.train.save(tmp_path / "pairs.safetensors")
    task.test.save(tmp_path / "test.safetensors")
    return tmp_path


def test_text_to_metrics_with_a_local_model(tiny_model_dir, tmp_path, lens_cache):
    g = torch.Generator().manual_seed(0)
    pick = lambda k: " ".join(WORDS[i] for i in torch.randint(len(WORDS), (k,), generator=g))  # noqa: E731
    write_jsonl(tmp_path / "prefs.jsonl.gz", [{"prompt": pick(5), "chosen": pick(4), "rejected": pick(3)} for _ in range(40)])
    write_jsonl(tmp_path / "bon.jsonl", [{"prompt": pick(5), "responses": [pick(3) for _ in range(4)],
                                          "gold": [float(i) for i in range(4)]} for _ in range(6)])
    assert main(["embed", str(tmp_path / "prefs.jsonl.gz"), "--model", str(tiny_model_dir), "--out", str(tmp_path / "p.safetensors")]) == 0
    assert main(["embed", str(tmp_path / "bon.jsonl"), "--format", "best-of-n", "--model", str(tiny_model_dir),
                 "--out", str(tmp_path / "t.safetensors")]) == 0
    pairs = PreferencePairs.load(tmp_path / "p.safetensors")
    assert len(pairs) == 40 and pairs.dim == 32
    assert main(["augment", str(tmp_path / "p.safetensors"), "--ratio", "4", "--out", str(tmp_path / "aug.safetensors"), *FAST]) == 0
    assert len(PreferencePairs.load(tmp_path / "aug.safetensors")) == 4 * 36 + 4   # 4x the training seeds + 4 held out
    assert main(["train-rm", str(tmp_path / "aug.safetensors"), "--out", str(tmp_path / "rm.safetensors")]) == 0
    assert main(["evaluate", str(tmp_path / "rm.safetensors"), "--test", str(tmp_path / "t.safetensors"),
                 "--out", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"bon_gold", "bon_random", "bon_oracle", "pairwise_accuracy"} <= set(metrics)


def test_run_on_custom_embeddings_writes_metrics_per_method(small_files):
    out = small_files / "run.json"
    assert main(["run", "--pairs", str(small_files / "pairs.safetensors"), "--test", str(small_files / "test.safetensors"),
                 "--methods", "lens,gaussian", "--ratios", "1,4", "--seeds", "0,1", "--quiet", "--out", str(out), *FAST]) == 0
    m = json.loads(out.read_text())
    assert set(m["methods"]) == {"none", "lens", "gaussian"}
    assert m["methods"]["lens"]["4x"]["n_seeds"] == 2
    assert {"bon_gold", "pairwise_accuracy"} <= set(m["methods"]["none"]["1x"])


def test_run_synthetic_works_from_the_console_script(tmp_path):
    out = tmp_path / "m.json"
    r = subprocess.run([sys.executable, "-m", "lens_minimal.cli", "run", "--dataset", "synthetic", "--methods", "lens",
                        "--ratios", "1,4", "--seeds", "0", "--quiet", "--out", str(out), *FAST], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["methods"]["lens"]["4x"]["bon_gold"] > -1


def test_help_everywhere(capsys):
    for cmd in ([], ["embed"], ["augment"], ["train-rm"], ["evaluate"], ["run"]):
        with pytest.raises(SystemExit) as e:
            main([*cmd, "--help"])
        assert e.value.code == 0
    assert "Best-of-N" in capsys.readouterr().out


def test_bad_inputs_fail_clearly_and_leave_no_output(small_files, capsys):
    out = small_files / "aug.safetensors"
    bad = PreferencePairs.load(small_files / "pairs.safetensors")
    e = bad.e_chosen.clone(); e[5, 0] = float("inf")
    from safetensors.torch import save_file
    save_file({"e_chosen": e, "e_rejected": bad.e_rejected}, str(small_files / "inf.safetensors"))
    assert main(["augment", str(small_files / "inf.safetensors"), "--out", str(out), *FAST]) == 2
    assert "row 5" in capsys.readouterr().err and not out.exists()
    save_file({"e_chosen": bad.e_chosen, "e_rejected": bad.e_rejected[:, :10].contiguous()}, str(small_files / "dim.safetensors"))
    assert main(["augment", str(small_files / "dim.safetensors"), "--out", str(out)]) == 2
    assert "dimension" in capsys.readouterr().err and not out.exists()
    save_file({"e_chosen": torch.zeros(0, 4), "e_rejected": torch.zeros(0, 4)}, str(small_files / "empty.safetensors"))
    assert main(["augment", str(small_files / "empty.safetensors"), "--out", str(out)]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["augment", str(small_files / "missing.safetensors"), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    (small_files / "cfg.json").write_text('{"vae": {"gama": 1}}')
    assert main(["augment", str(small_files / "pairs.safetensors"), "--config", str(small_files / "cfg.json"), "--out", str(out)]) == 2
    assert "gama" in capsys.readouterr().err and not out.exists()
    # a reward model for d=24 asked to score d=10 embeddings
    assert main(["train-rm", str(small_files / "pairs.safetensors"), "--out", str(small_files / "rm.safetensors")]) == 0
    BestOfNSet(torch.randn(3, 4, 10), torch.randn(3, 4)).save(small_files / "t10.safetensors")
    assert main(["evaluate", str(small_files / "rm.safetensors"), "--test", str(small_files / "t10.safetensors"),
                 "--out", str(small_files / "m.json")]) == 2
    assert "does not match" in capsys.readouterr().err and not (small_files / "m.json").exists()
    with pytest.raises(SystemExit):
        main(["run", "--methods", "magic"])


def test_malformed_json_line_is_named(tmp_path, tiny_model_dir, capsys):
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": oops}\n')
    assert main(["embed", str(tmp_path / "bad.jsonl"), "--model", str(tiny_model_dir), "--out", str(tmp_path / "o.safetensors")]) == 2
    assert "line 2" in capsys.readouterr().err and not (tmp_path / "o.safetensors").exists()
