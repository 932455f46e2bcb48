"""The library's modules form layers: no import cycle, no rankjax import hidden inside a
function, and no function longer than a screen (README, "Layout"); the command lines'
--help and the dataset readers load neither JAX nor TensorFlow."""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "rankjax")


def modules() -> dict[str, str]:
    """{module name: file} of every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join(parts)] = path
    return found


def imported(node: ast.AST, known: set[str]) -> list[str]:
    """The rankjax modules an import statement loads (with the packages above them)."""
    names = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    out = []
    for name in names:
        parts = name.split(".")
        out += [".".join(parts[:i]) for i in range(1, len(parts) + 1)
                if ".".join(parts[:i]) in known]
    return out


def lazy_attributes(tree: ast.Module) -> set[str]:
    """The modules a package's PEP 562 `LAZY = {attribute: module}` table loads on first
    use (rankjax/__init__.py): imports too, so they are edges of the graph."""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", "") == "LAZY"):
            return set(ast.literal_eval(node.value).values())
    return set()


def graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """(module -> the rankjax modules it imports when it is imported; every rankjax import
    inside a function or class body: (file, module, line))."""
    found = modules()
    known = set(found)
    edges, lazy = {}, []
    for name, path in found.items():
        tree = ast.parse(open(path).read())
        top = set()
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                top.update(imported(node, known))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
                continue  # for type checkers only
        top.update(lazy_attributes(tree))
        # A package's own modules import it while it initialises (rankjax.tasks.crowd
        # imports rankjax.tasks.base): Python's ordinary package pattern, no cycle.
        edges[name] = {t for t in top if t != name and not name.startswith(t + ".")}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for inner in ast.walk(node):
                    for target in imported(inner, known):
                        if target != "rankjax" and target != name:
                            lazy.append((os.path.relpath(path, ROOT).replace(os.sep, "/"),
                                         target, inner.lineno))
    return edges, lazy


def test_no_module_imports_itself_through_others():
    edges, _ = graph()
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_rankjax_import_hides_inside_a_function():
    _, lazy = graph()
    assert not lazy, sorted(set(lazy))


def test_the_package_s_lazy_attribute_is_an_edge_and_loads_on_first_use():
    """`import rankjax` loads no other rankjax module; `rankjax.load` is rankjax.api.load
    once used, and the graph has the edge rankjax -> rankjax.api."""
    edges, _ = graph()
    assert "rankjax.api" in edges["rankjax"]
    code = ("import sys, rankjax; before = sorted(m for m in sys.modules if m.startswith("
            "'rankjax.')); load = rankjax.load; import rankjax.api; "
            "print(before, load is rankjax.api.load)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, check=True)
    assert out.stdout.split()[-2:] == ["['rankjax.platform']", "True"], out.stdout


# The longest a function of the library may be: one screen.
LONGEST_FUNCTION = 60


def long_functions(package: str) -> list[tuple[str, str, int]]:
    """(file, function, lines) of every function of `package` longer than LONGEST_FUNCTION."""
    found = []
    for folder, _, files in os.walk(package):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                for node in ast.walk(ast.parse(open(path).read())):
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        lines = node.end_lineno - node.lineno + 1
                        if lines > LONGEST_FUNCTION:
                            found.append((os.path.relpath(path, ROOT), node.name, lines))
    return found


def test_every_function_fits_on_a_screen(tmp_path):
    assert not long_functions(PACKAGE), long_functions(PACKAGE)
    # The check can fail: a function of 61 lines is found, one of 60 is not.
    (tmp_path / "m.py").write_text("def long():\n" + "    x = 1\n" * 60 +
                                   "def short():\n" + "    x = 1\n" * 59)
    assert [(f, n) for _, f, n in long_functions(str(tmp_path))] == [("long", 61)]


def test_the_graph_sees_a_cycle_when_there_is_one(tmp_path, monkeypatch):
    """The cycle test can fail: a package whose two modules import each other."""
    package = tmp_path / "rankjax"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from rankjax import b\n")
    (package / "b.py").write_text("import os\n\n\ndef f():\n    from rankjax import a\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", str(package))
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    edges, lazy = graph()
    assert edges["rankjax.a"] == {"rankjax.b"} and lazy == [
        ("rankjax/b.py", "rankjax.a", 5)]
    (package / "b.py").write_text("from rankjax import a\n")
    with pytest.raises(AssertionError, match="rankjax.a -> rankjax.b -> rankjax.a"):
        test_no_module_imports_itself_through_others()


@pytest.mark.parametrize("module", ["rankjax.config", "rankjax.presets", "rankjax.api",
                                    "rankjax.checks",
                                    "rankjax.active", "rankjax.cli"])
def test_a_module_imports_alone(module):
    """A few modules, each in a fresh interpreter (all of them: see the closing note of
    the change that made the layers; each start costs a TensorFlow and JAX import)."""
    out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]


HEAVY = ("jax", "flax", "tensorflow", "tensorflow_datasets", "torch")


def heavy_modules_after(code: str) -> list[str]:
    """The heavy libraries in sys.modules after running `code` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(sorted(m for m in "
                          f"{HEAVY!r} if m in sys.modules))"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("argv", [["train.py", "--help"], ["train.py", "--task", "iqa", "--help"],
                                  ["train.py", "--list_presets"], ["eval.py", "--help"]])
def test_help_loads_neither_jax_nor_tensorflow(argv):
    """--help and --list_presets answer from rankjax.config and rankjax.presets alone (the
    time it takes: BENCHMARKS.md, benchmarks/startup.py); the check can fail, as importing
    what a run needs shows."""
    code = (f"import runpy, sys, contextlib, io; sys.argv = {argv!r}\n"
            f"with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            f"    runpy.run_path({argv[0]!r}, run_name='__main__')")
    assert heavy_modules_after(code) == "[]"


def test_the_check_of_heavy_modules_can_fail():
    """What a run needs (rankjax.commands, imported alone) loads JAX and TensorFlow."""
    found = heavy_modules_after("import rankjax.commands")
    assert "'jax'" in found and "'tensorflow'" in found


def test_reading_annotations_loads_neither_jax_nor_tensorflow():
    assert heavy_modules_after("from rankjax.data import readers") == "[]"
