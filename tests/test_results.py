"""Result files: atomic, stable, and compared with references within a tolerance."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lens_minimal.companion import results
from lens_minimal.io import LensInputError


def _save(tmp_path, numbers=None, **kw):
    return results.save_results("demo", numbers or {"b": 1.0, "a": {"y": 2, "x": [0.5, 0.25]}},
                                {"ratios": [1, 4]}, [0, 1], "smoke", root=tmp_path, **kw)


def test_save_load_round_trip_with_provenance(tmp_path):
    path = _save(tmp_path, timings={"seconds": 3.5})
    assert path == tmp_path / "smoke" / "demo.json"
    record = results.load_results("demo", "smoke", root=tmp_path)
    assert record["numbers"] == {"a": {"x": [0.5, 0.25], "y": 2}, "b": 1.0}
    assert record["seeds"] == [0, 1] and record["params"] == {"ratios": [1, 4]}
    assert record["timings"] == {"seconds": 3.5}
    assert torch.__version__.startswith(record["versions"]["torch"])
    assert record["git_commit"]
    assert [p.name for p in path.parent.iterdir()] == ["demo.json"]   # no temporary file left


def test_keys_are_sorted_so_reruns_give_identical_files(tmp_path):
    a = _save(tmp_path).read_text()
    text = _save(tmp_path, numbers={"a": {"x": [0.5, 0.25], "y": 2}, "b": 1.0}).read_text()
    strip = lambda t: {k: v for k, v in json.loads(t).items() if k != "git_commit"}  # noqa: E731
    assert strip(a) == strip(text)
    keys = list(json.loads(text))
    assert keys == sorted(keys)


def test_numpy_and_torch_scalars_are_stored_as_plain_numbers(tmp_path):
    _save(tmp_path, numbers={"n": np.int64(3), "x": np.float32(0.5), "t": torch.tensor(1.5)})
    assert results.load_results("demo", "smoke", root=tmp_path)["numbers"] == {"n": 3, "t": 1.5, "x": 0.5}


def test_bad_inputs_are_refused(tmp_path):
    with pytest.raises(LensInputError, match="cannot store"):
        _save(tmp_path, numbers={"f": object()})
    with pytest.raises(LensInputError, match="seeds"):
        results.save_results("demo", {}, {}, [0.5], "smoke", root=tmp_path)
    with pytest.raises(LensInputError, match="profile"):
        results.save_results("demo", {}, {}, [0], "../x", root=tmp_path)
    with pytest.raises(LensInputError, match="not found.*--only demo"):
        results.load_results("demo", "default", root=tmp_path)
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "broken.json").write_text('{"name": 1,\n oops}')
    with pytest.raises(LensInputError, match="line 2"):
        results.load_results("broken", "smoke", root=tmp_path)


def test_compare_to_reference():
    ref = {"params": {"r": [1, 4]}, "seeds": [0], "numbers": {"a": 1.0, "b": {"c": [0.5, 2]}, "name": "x"}}
    same = json.loads(json.dumps(ref))
    assert results.compare_to_reference(same, ref, rtol=0, atol=0) == []
    close = json.loads(json.dumps(ref))
    close["numbers"]["a"] = 1.009
    close["timings"] = {"s": 99.0}                                 # never compared
    assert results.compare_to_reference(close, ref, rtol=0.01, atol=0) == []
    assert "numbers.a" in results.compare_to_reference(close, ref, rtol=0.001, atol=0)[0]
    changed = json.loads(json.dumps(ref))
    changed["numbers"]["b"]["c"][1] = 3                            # ints compare exactly
    changed["numbers"]["extra"] = 1.0
    del changed["numbers"]["name"]
    changed["seeds"] = [1]
    problems = results.compare_to_reference(changed, ref, rtol=0.5, atol=0.5)
    assert len(problems) == 4
    assert any("numbers.b.c[1]" in p for p in problems)
    assert any("not in the reference" in p for p in problems)
    assert any("missing" in p for p in problems)
    assert any(p.startswith("seeds") for p in problems)


def test_write_reference_drops_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr(results.paths, "REFERENCE_DIR", tmp_path / "ref")
    record = results.load_results("demo", "smoke", root=_save(tmp_path).parent.parent)
    path = results.write_reference(record, "smoke")
    kept = json.loads(path.read_text())
    assert set(kept) == {"name", "profile", "numbers", "params", "seeds"}
    assert results.compare_to_reference(record, kept) == []


def test_save_figure_has_no_volatile_metadata(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def draw():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        path = results.save_figure(fig, "line", tmp_path)
        plt.close(fig)
        return path.read_bytes()

    first, second = draw(), draw()
    assert first == second
    assert b"<dc:date>" not in first and b"Matplotlib v" not in first


def test_tree_differences_tolerance_nan_and_whole_lists():
    from lens_minimal.companion.results import tree_differences
    from lens_minimal.companion.row_cache import CACHE_WORDS

    assert tree_differences({"a": 1.0, "b": float("nan")}, {"a": 1.0 + 1e-9, "b": float("nan")}, "n", atol=1e-6) == []
    assert tree_differences({"a": 1.1}, {"a": 1.0}, "n", atol=1e-6) == ["n.a: 1.1 != reference 1.0 (atol=1e-06, rtol=0.0)"]
    assert tree_differences([1, 2], [1, 3, 4], "n") == ["n: length 2 != reference length 3", "n[1]: 2 != reference 3"]
    assert tree_differences({"r": [1, 2]}, {"r": [1, 3]}, "p", words=CACHE_WORDS, elementwise=False) == ["p.r: cached [1, 2], asked [1, 3]"]
    assert tree_differences({"r": 1.0}, {"r": 1.0 + 1e-12}, "p", words=CACHE_WORDS, elementwise=False) != []   # exact without tolerance
