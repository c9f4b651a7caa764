"""No code of ours touches private Keras, except `keras_transfer/_keras_internals.py`.

The rule (STYLE.md, DESIGN.md): private Keras changes between releases, so every
use of it lives in `_keras_internals.py`, each assumption tested in
`tests/test_keras_internals.py`. This test reads every `.py` file under
`keras_transfer/`, `tests/` and `benchmarks/` (those two files exempt) and
fails, naming `file:line` and the expression, on:

- any `keras.src` import, attribute chain (`keras.src.x`), or dotted string
  (`"keras.src.backend.config"`, as `monkeypatch.setattr` or `importlib` take);
- any `keras.<...>._name` chain, or a dotted string such as `"keras.ops._x"`;
- any `X._name` (single leading underscore, not a dunder), also written
  `getattr(X, "_name")`, `setattr`/`hasattr`/`delattr` or `vars(X)["_name"]`,
  unless `_name` is ours: defined in `keras_transfer/` or `benchmarks/` (or,
  for a test file, in that file) as a module-level name, a module, a
  function, method or class, a class attribute, or assigned as
  `self._name = ...` / `cls._name = ...`. A name of ours that Keras's own
  classes also have (`_name` of a Keras layer, say) is allowed only as
  `self._name` / `cls._name` inside a class that defines it.

Not flagged: `mod._name` where `mod` is an imported module of another library
(`argparse._SubParsersAction`), and the few `NOT_KERAS` entries below (another
library's object that the AST cannot tell from a Keras one). The planted
examples at the end show what is and is not flagged.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("keras_transfer", "tests", "benchmarks")
EXEMPT = ("keras_transfer/_keras_internals.py", "tests/test_keras_internals.py")
SHARED = ("keras_transfer", "benchmarks")  # their private names are ours everywhere
KERAS_SRC = re.compile(r"keras\.src(\.\w+)*")
KERAS_PRIVATE_PATH = re.compile(r"keras(\.\w+)*\._(?!_)\w*")
ACCESSORS = ("getattr", "setattr", "hasattr", "delattr")
# Modules whose private names are Keras's (or could be): the others (`argparse`,
# `torch`, ...) are other libraries, whose private names are not this rule's.
KERAS_MODULES = ("keras", "tf_keras", "tensorflow", "keras_transfer")
# (file, name): private names of other libraries' objects that this test cannot
# tell from Keras's. Each entry says whose it is; an entry no longer used fails.
NOT_KERAS = {
    ("tests/test_cli.py", "_actions"): "argparse.ArgumentParser's sub-commands",
    ("benchmarks/_throughput_legacy.py", "_jit_compile"): (
        "a tf_keras (Keras 2) model of the legacy peer; its public "
        "`model.jit_compile` would do"
    ),
}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _python_files() -> list[Path]:
    files = []
    for folder in SCANNED:
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if ".venv" not in f.parts]


def _relative(path: Path, root: Path = ROOT) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


# --- what is ours -------------------------------------------------------------


def _defined_names(tree: ast.AST, relative: str) -> set[str]:
    """Private names `tree` defines: module, functions, classes, attributes of self."""
    names = {p.removesuffix(".py") for p in relative.split("/") if _is_private(p)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets
        ):
            names.update(
                c.value
                for c in ast.walk(node.value)
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            )
    return {n for n in names if _is_private(n)}


def _class_defined_names(cls: ast.ClassDef) -> set[str]:
    """Private names a class body defines (methods, class attributes, `self._x =`)."""
    names = set()
    for node in ast.walk(cls):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)
    for node in cls.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return {n for n in names if _is_private(n)}


def _keras_private_names() -> set[str]:
    """Private attribute names of Keras's public base classes and typical instances."""
    classes = [
        keras.layers.Layer,
        keras.layers.Dense,
        keras.layers.BatchNormalization,
        keras.Model,
        keras.Sequential,
        keras.Variable,
        keras.optimizers.Optimizer,
        keras.optimizers.Adam,
        keras.optimizers.LossScaleOptimizer,
        keras.optimizers.schedules.LearningRateSchedule,
        keras.callbacks.Callback,
        keras.losses.Loss,
        keras.metrics.Metric,
        keras.initializers.Initializer,
        keras.regularizers.Regularizer,
        keras.constraints.Constraint,
        keras.DTypePolicy,
    ]
    names = {n for cls in classes for n in dir(cls)}
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    model.optimizer.build(model.trainable_variables)
    for obj in (model, model.layers[0], model.optimizer, model.weights[0]):
        names.update(vars(obj))
    return {n for n in names if _is_private(n)}


# --- what is flagged ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Leak:
    file: str
    line: int
    expression: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: `{self.expression}`: {self.why}"


def _chain_root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def _other_libraries(tree: ast.AST) -> set[str]:
    """Local names bound by `import x` / `import x.y as z` of a library not Keras."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in KERAS_MODULES:
                    names.add(alias.asname or alias.name.split(".")[0])
    return names


def _keras_aliases(tree: ast.AST) -> set[str]:
    """Local names bound to Keras or a Keras submodule (`import keras as k`, `from
    keras import ops`)."""
    aliases = {"keras"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "keras" or alias.name.startswith("keras."):
                    aliases.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module == "keras" or (node.module or "").startswith("keras."):
                aliases.update(a.asname or a.name for a in node.names)
    return aliases


class _Finder(ast.NodeVisitor):
    def __init__(self, file: str, ours: set[str], keras_names: set[str], tree: ast.AST):
        self.file = file
        self.ours = ours
        self.keras_names = keras_names
        self.keras_roots = _keras_aliases(tree)
        self.other_roots = _other_libraries(tree) - self.keras_roots
        self.not_keras_used: set[tuple[str, str]] = set()
        self.classes: list[set[str]] = []  # private names of each enclosing class
        self.leaks: list[Leak] = []

    def _flag(self, node: ast.AST, why: str) -> None:
        self.leaks.append(Leak(self.file, node.lineno, ast.unparse(node), why))

    def _check_name(self, node: ast.AST, receiver: ast.AST, name: str) -> None:
        """`receiver._name` (or its getattr/vars form) at `node`."""
        if not _is_private(name):
            return
        root = _chain_root(receiver)
        if isinstance(root, ast.Name) and root.id in self.keras_roots:
            self._flag(node, "a private attribute reached from `keras`")
        elif (
            receiver is root
            and isinstance(root, ast.Name)
            and root.id in self.other_roots
        ):
            return  # `argparse._SubParsersAction`: another library's module
        elif (self.file, name) in NOT_KERAS:
            self.not_keras_used.add((self.file, name))
        elif name not in self.ours:
            self._flag(
                node, f"`{name}` is not defined by keras_transfer: private Keras?"
            )
        elif name in self.keras_names and not (
            isinstance(receiver, ast.Name)
            and receiver.id in ("self", "cls")
            and self.classes
            and name in self.classes[-1]
        ):
            self._flag(
                node,
                f"`{name}` is also a private attribute of Keras's classes: only "
                "`self.{name}` inside a class of ours that defines it is ours",
            )

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(_class_defined_names(node))
        self.generic_visit(node)
        self.classes.pop()

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if KERAS_SRC.fullmatch(alias.name):
                self._flag(node, "imports private Keras (`keras.src`)")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0 and (
            KERAS_SRC.fullmatch(module)
            or (module == "keras" and any(a.name == "src" for a in node.names))
        ):
            self._flag(node, "imports private Keras (`keras.src`)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        root = _chain_root(node.value)
        if (
            node.attr == "src"
            and isinstance(root, ast.Name)
            and root.id in self.keras_roots
        ):
            self._flag(node, "private Keras (`keras.src`)")
        self._check_name(node, node.value, node.attr)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if (
            isinstance(node.func, ast.Name)
            and node.func.id in ACCESSORS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            self._check_name(node, node.args[0], node.args[1].value)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        target = node.value
        is_vars = (
            isinstance(target, ast.Call)
            and isinstance(target.func, ast.Name)
            and target.func.id == "vars"
            and len(target.args) == 1
        )
        is_dict = isinstance(target, ast.Attribute) and target.attr == "__dict__"
        key = node.slice
        if (
            (is_vars or is_dict)
            and isinstance(key, ast.Constant)
            and isinstance(key.value, str)
        ):
            receiver = target.args[0] if is_vars else target.value
            self._check_name(node, receiver, key.value)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            if KERAS_SRC.fullmatch(node.value):
                self._flag(node, "names private Keras (`keras.src`)")
            elif KERAS_PRIVATE_PATH.fullmatch(node.value):
                self._flag(node, "names a private attribute of a `keras` module")


def find_leaks(
    files: Iterable[Path],
    keras_names: Iterable[str] = (),
    root: Path = ROOT,
    exempt: Iterable[str] = EXEMPT,
    not_keras_used: set | None = None,
) -> list[Leak]:
    """Every use of private Keras in `files` (under `root`, the repository).

    The `NOT_KERAS` entries met are added to `not_keras_used`, if given.
    """
    parsed = {
        _relative(path, root): ast.parse(path.read_text(), str(path)) for path in files
    }
    shared = set()
    for name, tree in parsed.items():
        if name.startswith(tuple(f"{folder}/" for folder in SHARED)):
            shared |= _defined_names(tree, name)
    leaks = []
    for name, tree in parsed.items():
        if name in exempt:
            continue
        ours = shared | _defined_names(tree, name)
        finder = _Finder(name, ours, set(keras_names), tree)
        finder.visit(tree)
        leaks += finder.leaks
        if not_keras_used is not None:
            not_keras_used |= finder.not_keras_used
    return leaks


@pytest.fixture(scope="module")
def keras_names():
    return _keras_private_names()


def test_no_private_keras_outside_keras_internals(keras_names):
    files = _python_files()
    assert any(_relative(f) == "keras_transfer/lora.py" for f in files)
    used = set()
    leaks = find_leaks(files, keras_names, not_keras_used=used)
    assert not leaks, (
        "Private Keras outside keras_transfer/_keras_internals.py (move each use "
        "there, as a function whose docstring says what Keras does, with a test "
        "in tests/test_keras_internals.py):\n" + "\n".join(map(str, leaks))
    )
    assert used == set(NOT_KERAS), f"unused NOT_KERAS entries: {set(NOT_KERAS) - used}"


PLANTED = {
    "import keras.src": "imports private Keras",
    "from keras.src.backend import config": "imports private Keras",
    "from keras import src": "imports private Keras",
    "import keras as k\nk.src.ops": "private Keras (`keras.src`)",
    "import keras\nx = keras.optimizers.Adam()._learning_rate": "reached from `keras`",
    "from keras import ops\nops._x": "reached from `keras`",
    "import keras\nkeras.utils._private": "reached from `keras`",
    "def f(optimizer):\n    return optimizer._learning_rate": "not defined by",
    "def f(optimizer):\n    return optimizer._iterations": "not defined by",
    "def f(o):\n    return getattr(o, '_distribution_strategy', None)": "not defined by",
    "def f(o):\n    vars(o)['_trainable_variables'] = []": "not defined by",
    "def f(mp):\n    mp.setattr('keras.src.backend.config._KERAS_DIR', 1)": "names private",
    "import importlib\nimportlib.import_module('keras.layers._x')": "private attribute",
    # Ours everywhere, but Keras's too: only `self._name` in a class defining it.
    "def f(layer):\n    return layer._layers": "also a private attribute",
    "import tensorflow as tf\ntf.keras._x": "not defined by",
    "import argparse\ndef f(p: argparse.ArgumentParser):\n    return p._actions": "not defined",
    "import keras\nclass L(keras.layers.Layer):\n    def f(self):\n"
    "        return self._layers": "also a private attribute",
}
ALLOWED = (
    "import keras\nclass L(keras.layers.Layer):\n    def __init__(self):\n"
    "        self._layers = []\n    def f(self):\n        return self._layers",
    "def _helper():\n    pass\n_helper()\nimport sys\nsys.modules[__name__]._helper()",
    "class C:\n    _cache = {}\n    def f(self):\n        return self._cache",
    "import keras\nkeras.layers.Dense(1).__class__.__name__",
    "x = 'keras.src is private'",  # prose, not a dotted path
    "import argparse\nargparse._SubParsersAction",  # another library's module
)


@pytest.mark.parametrize("source, why", PLANTED.items(), ids=list(range(len(PLANTED))))
def test_a_planted_leak_fails(tmp_path, keras_names, source, why):
    ours = tmp_path / "keras_transfer" / "_layers_of_ours.py"
    ours.parent.mkdir()
    ours.write_text("class Mine:\n    def __init__(self):\n        self._layers = []\n")
    planted = tmp_path / "tests" / "test_planted.py"
    planted.parent.mkdir()
    planted.write_text(source + "\n")
    leaks = find_leaks([ours, planted], keras_names, root=tmp_path)
    assert len(leaks) == 1, [str(leak) for leak in leaks]
    assert leaks[0].file == "tests/test_planted.py"
    assert why in leaks[0].why
    assert leaks[0].line == len(source.splitlines()), str(leaks[0])


@pytest.mark.parametrize("source", ALLOWED, ids=list(range(len(ALLOWED))))
def test_our_own_private_names_pass(tmp_path, keras_names, source):
    planted = tmp_path / "test_planted.py"
    planted.write_text(source + "\n")
    assert find_leaks([planted], keras_names, root=tmp_path) == []
