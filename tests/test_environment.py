"""requirements.txt, environment.yml and pyproject.toml must describe the same environment."""
import re
import tomllib

from lens_minimal.paths import REPO_ROOT


def pins(text):
    return dict(re.findall(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", text, flags=re.M))


def test_environment_yml_agrees_with_requirements():
    req = pins((REPO_ROOT / "requirements.txt").read_text())
    env = pins((REPO_ROOT / "environment.yml").read_text())
    assert req and req == env


def test_pyproject_declares_the_lens_script_and_every_runtime_dependency():
    py = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert py["project"]["scripts"]["lens"] == "lens_minimal.cli:main"
    req = {k.lower() for k in pins((REPO_ROOT / "requirements.txt").read_text())}
    declared = {re.split(r"[<>=\[ ]", d)[0].lower() for d in py["project"]["dependencies"]}
    for extra in py["project"]["optional-dependencies"].values():
        declared |= {re.split(r"[<>=\[ ]", d)[0].lower() for d in extra}
    assert declared <= req, declared - req
