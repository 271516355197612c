"""Every path the package uses, in one place, never relative to the working directory."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"                  # shipped inputs (SmolLM2 tasks, paper numbers)
PAPER_DIR = DATA_DIR / "paper"                 # the paper's numbers, as data
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"        # source notebooks (no outputs)
BOOK_DIR = REPO_ROOT / "book"                  # chapters, executed notebooks, results
RESULTS_DIR = BOOK_DIR / "results"             # results JSON written by notebooks
REFERENCE_DIR = DATA_DIR / "reference"         # committed reference results per profile


def cache_dir() -> Path:
    """Cache for converted models and embeddings (`LENS_CACHE_DIR`, default `<repo>/.cache`)."""
    return Path(os.environ.get("LENS_CACHE_DIR", REPO_ROOT / ".cache"))
