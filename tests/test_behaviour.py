"""The paper's central claim on the synthetic world: LENS at 8x beats no augmentation and Gaussian sampling."""
import pytest

from lens_minimal.datasets import load_task
from lens_minimal.experiment import run_grid, summarize

SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def results():
    task = load_task("synthetic")
    df = run_grid(task, ["lens", "gaussian"], [1, 8], SEEDS, progress=False)
    return df, summarize(df).set_index("method")


def test_no_augmentation_leaves_room_between_random_and_oracle(results):
    df, _ = results
    none = df[df.method == "none"]
    gap = (none.bon_oracle - none.bon_random).mean()
    assert ((none.bon_gold - none.bon_random) > 0.3 * gap).all()
    assert ((none.bon_oracle - none.bon_gold) > 0.2 * gap).all()


def test_lens_8x_beats_no_augmentation_and_gaussian_sampling(results):
    df, summary = results
    lens, none, gauss = (summary.loc[m, "bon_gold_mean"] for m in ("lens", "none", "gaussian"))
    assert lens > none and lens > gauss
    # and seed by seed (same split and initialisation per seed)
    by = df.pivot_table(index="seed", columns="method", values="bon_gold")
    assert (by["lens"] > by["none"]).sum() >= 2 and (by["lens"] > by["gaussian"]).sum() >= 2
