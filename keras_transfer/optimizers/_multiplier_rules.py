"""Resolves the learning-rate multiplier of each variable for `LayerwiseLR`.

Three sources, looked up in this order: regular expressions searched in
`variable.path` (first match wins), exact variable paths (what depth decay
resolves to), then 1.0. A callable replaces all three.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping

import keras

DEFAULT_RULE = "default (no rule matched)"


def check_multiplier(value: object, arg: str, key: object = None) -> float:
    """Returns `value` as a float if it is a finite number >= 0, else raises."""
    where = f"{arg}[{key!r}]" if key is not None else arg
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"`{arg}` values must be non-negative floats (learning-rate multipliers). "
            f"Received: {where}={value!r} of type {type(value).__name__}"
        )
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"`{arg}` values must be finite and >= 0 (0 freezes a variable, 1 keeps "
            f"the base learning rate). Received: {where}={value!r}"
        )
    return value


def _check_patterns(multipliers: object) -> dict[str, float]:
    if multipliers is None:
        return {}
    if isinstance(multipliers, Mapping):
        items = list(multipliers.items())
    elif isinstance(multipliers, (list, tuple)) and all(
        isinstance(item, (list, tuple)) and len(item) == 2 for item in multipliers
    ):
        items = [tuple(item) for item in multipliers]
    else:
        raise TypeError(
            "`multipliers` must be a dict mapping regular expressions (searched in "
            "`variable.path`) to non-negative floats, a list of (pattern, float) pairs, "
            f"or a callable `variable -> float`. Received: multipliers={multipliers!r}"
        )
    patterns = {}
    for pattern, value in items:
        if not isinstance(pattern, str):
            raise TypeError(
                "`multipliers` keys must be regular-expression strings. "
                f"Received: multipliers key {pattern!r} of type {type(pattern).__name__}"
            )
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(
                f"`multipliers` key {pattern!r} is not a valid regular expression "
                f"({error}). Escape literal characters with `re.escape`. "
                f"Received: multipliers={dict(items)!r}"
            ) from None
        patterns[pattern] = check_multiplier(value, "multipliers", pattern)
    return patterns


def _check_paths(path_multipliers: object) -> dict[str, float]:
    if path_multipliers is None:
        return {}
    if not isinstance(path_multipliers, Mapping) or not all(
        isinstance(k, str) for k in path_multipliers
    ):
        raise TypeError(
            "`path_multipliers` must be a dict mapping exact variable paths to "
            f"non-negative floats. Received: path_multipliers={path_multipliers!r}"
        )
    return {
        path: check_multiplier(value, "path_multipliers", path)
        for path, value in path_multipliers.items()
    }


class MultiplierRules:
    """The validated rules and a per-variable cache of resolved multipliers.

    Args:
        multipliers: dict/pairs of regex -> float, a callable, or None.
        path_multipliers: dict of exact variable path -> float, or None.
        path_rules: optional human-readable rule name per exact path (table only).
    """

    def __init__(
        self,
        multipliers: object,
        path_multipliers: object,
        path_rules: Mapping[str, str] | None = None,
    ) -> None:
        self.function: Callable[[keras.Variable], float] | None = None
        if callable(multipliers) and not isinstance(multipliers, Mapping):
            self.function = multipliers
            self.patterns: dict[str, float] = {}
        else:
            self.patterns = _check_patterns(multipliers)
        self.paths = _check_paths(path_multipliers)
        self.path_rules = dict(path_rules or {})
        self._compiled = [(re.compile(p), p, m) for p, m in self.patterns.items()]

    def resolve(self, variable: keras.Variable) -> tuple[float, str]:
        """Returns `(multiplier, rule)` for `variable`."""
        path = getattr(variable, "path", variable.name)
        if self.function is not None:
            value = self.function(variable)
            return check_multiplier(
                value, "multipliers", f"callable({path})"
            ), "callable"
        for compiled, pattern, value in self._compiled:
            if compiled.search(path):
                return value, f"pattern {pattern!r}"
        stored = self._stored_path(path)
        if stored is not None:
            return self.paths[stored], self.path_rules.get(stored, f"path {stored!r}")
        return 1.0, DEFAULT_RULE

    def _stored_path(self, path: str) -> str | None:
        if path in self.paths:
            return path
        # Keras drops model-name prefixes from `variable.path` when a `.keras`
        # file is reloaded ("tiny/body/kernel" -> "body/kernel").
        candidates = [p for p in self.paths if same_weight(p, path)]
        if len({self.paths[p] for p in candidates}) == 1:
            return candidates[0]
        if candidates:
            warnings.warn(
                f"LayerwiseLR: variable path {path!r} matches several `path_multipliers` "
                f"entries with different values ({ {p: self.paths[p] for p in candidates} }); "
                f"using {candidates[0]!r}. HINT: give the layers unique names.",
                stacklevel=4,
            )
            return candidates[0]
        return None

    def unmatched_patterns(self, variables: Iterable[keras.Variable]) -> list[str]:
        """The patterns that match the path of none of `variables`."""
        paths = [getattr(v, "path", v.name) for v in variables]
        return [
            pattern
            for compiled, pattern, _ in self._compiled
            if not any(compiled.search(path) for path in paths)
        ]

    def warn_unmatched(
        self, variables: list[keras.Variable], checked_against: str
    ) -> None:
        """Warns (stacklevel 3: the caller's caller) about patterns matching nothing."""
        unmatched = self.unmatched_patterns(variables)
        if not unmatched:
            return
        sample = [getattr(v, "path", v.name) for v in variables[:5]]
        warnings.warn(
            f"LayerwiseLR: the `multipliers` pattern(s) {unmatched} match no variable "
            f"path among the {len(variables)} {checked_against} (e.g. {sample}); those "
            "variables keep multiplier 1.0. HINT: patterns are `re.search`ed in "
            "`variable.path`; print `optimizer.multiplier_table(model)` to check. If the "
            "matching layers are frozen now and unfrozen later (GradualUnfreeze), pass "
            "`model=` so the patterns are checked against all of the model's weights, "
            "or `warn_unmatched=False`.",
            stacklevel=3,
        )


def same_weight(a: str, b: str) -> bool:
    """Whether two variable paths can name the same weight (one a `/`-suffix of the other)."""
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def decay_path_multipliers(
    decay: float, groups: list
) -> tuple[dict[str, float], dict[str, str]]:
    """Exact path -> `decay ** depth` for every weight of `groups` (top first)."""
    paths: dict[str, float] = {}
    rules: dict[str, str] = {}
    for depth, group in enumerate(groups):
        for weight in group.weights:
            path = getattr(weight, "path", weight.name)
            if path not in paths:
                paths[path] = float(decay**depth)
                rules[path] = f"decay: group {group.name!r} (depth {depth})"
    return paths, rules


def format_table(rows: list[tuple[str, float, str]], unmatched: list[str]) -> str:
    """A plain-text table of `(path, multiplier, rule)` rows."""
    header = ("variable path", "multiplier", "rule")
    width = max([len(header[0])] + [len(r[0]) for r in rows])
    lines = [f"{header[0]:<{width}}  {header[1]:>10}  {header[2]}"]
    lines.append("-" * len(lines[0]))
    for path, value, rule in rows:
        lines.append(f"{path:<{width}}  {value:>10.6g}  {rule}")
    if unmatched:
        lines.append(f"patterns matching no variable: {unmatched}")
    return "\n".join(lines)
