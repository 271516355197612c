"""The package's three rooms and the direction of their imports (see ARCHITECTURE.md).

Read with `ast` (nothing is imported). The rule:
  * rooms, from the bottom: core (`lens_minimal.*` outside the two sub-packages) < text
    (`lens_minimal.text`) < companion (`lens_minimal.companion`). A module may import its own room
    and rooms below it, never a room above.
  * The one exception: the core may import the text side inside a function body (never at module
    level), and only in the entry points listed in `LAZY_UPWARD` (the `lens` command's `embed` and
    `build-data`, `make bench`'s embedding throughput, and `datasets.load_task` / `available_tasks`
    for the shipped and re-embedded tasks). The core never
    imports the companion, not even lazily; the text side never imports the companion.
  * No import cycle among the package's modules, counting function-level imports too.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "lens_minimal"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
RANK = {"core": 0, "text": 1, "companion": 2}
LAZY_UPWARD = {   # core module -> text modules it may import inside a function
    "lens_minimal.cli": {"lens_minimal.text.loaders", "lens_minimal.text.models", "lens_minimal.text.build_data",
                         "lens_minimal.text.embed_job"},
    "lens_minimal.bench": {"lens_minimal.text.throughput"},
    "lens_minimal.datasets": {"lens_minimal.text.shipped", "lens_minimal.text.hh_harmless", "lens_minimal.text.reembed"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("text", "companion") else "core"


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def package_imports(name: str, path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(imported package module, inside a function?) for every import of `lens_minimal` modules."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".")[: len(name.split(".")) - child.level + (1 if is_pkg else 0)]
                    base_mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    base_mod = child.module or ""
                targets = [f"{base_mod}.{a.name}" if f"{base_mod}.{a.name}" in known else base_mod for a in child.names]
            for t in targets:
                while t and t not in known:   # `import lens_minimal.x.y as z`, `from .x import f`
                    t = t.rpartition(".")[0]
                if t.startswith(PACKAGE) and t != PACKAGE:
                    out.append((t, in_function))
            visit(child, inner)

    visit(tree, False)
    return out


def graph() -> dict[str, list[tuple[str, bool]]]:
    mods = modules()
    return {m: package_imports(m, p, set(mods)) for m, p in mods.items()}


def test_the_three_rooms_exist():
    rooms = {room(m) for m in modules()}
    assert rooms == {"core", "text", "companion"}
    assert "lens_minimal.text.shards" in modules() and "lens_minimal.companion.book" in modules()


def test_imports_point_downwards_only():
    problems = []
    for m, imports in graph().items():
        for target, lazy in imports:
            if RANK[room(target)] <= RANK[room(m)]:
                continue
            if lazy and room(m) == "core" and room(target) == "text" and target in LAZY_UPWARD.get(m, set()):
                continue
            where = "inside a function" if lazy else "at module level"
            problems.append(f"{m} ({room(m)}) imports {target} ({room(target)}) {where}")
    assert not problems, "imports pointing upwards:\n" + "\n".join(problems)


def test_no_import_cycles():
    edges = {m: sorted({t for t, _ in imports if t != m}) for m, imports in graph().items()}
    state: dict[str, int] = {}   # 1 = on the stack, 2 = done
    cycles: list[list[str]] = []

    def dfs(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in edges.get(m, []):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                dfs(t, stack + [t])
        state[m] = 2

    for m in edges:
        if m not in state:
            dfs(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_rule_sees_a_violation(tmp_path):
    """The walker itself: a module-level upward import in a core module is found."""
    fake = ROOT / "vae.py"
    imports = package_imports("lens_minimal.vae", fake, set(modules()))
    assert all(room(t) == "core" for t, _ in imports)
    bad = tmp_path / "x.py"
    bad.write_text("from .text import models\nfrom .companion.results import save_results\n")
    found = package_imports("lens_minimal.x", bad, set(modules()))
    assert ("lens_minimal.text.models", False) in found and ("lens_minimal.companion.results", False) in found


def test_a_main_block_is_the_last_statement_of_its_module():
    """`python -m module` runs the module top to bottom: a `__main__` block above a function that `main`
    uses stops with a NameError (an 8x judge run lost its MLP step to this once)."""
    import ast

    from lens_minimal import paths

    def is_main_block(node: ast.stmt) -> bool:
        return isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)

    found = []
    for path in sorted((paths.REPO_ROOT / "lens_minimal").rglob("*.py")):
        body = ast.parse(path.read_text()).body
        blocks = [k for k, node in enumerate(body) if is_main_block(node)]
        if blocks:
            found.append(path.name)
            assert blocks == [len(body) - 1], f"{path}: the __main__ block must be the module's last statement"
    assert "text_rows.py" in found and "cli.py" in found
