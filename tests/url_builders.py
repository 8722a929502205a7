"""Every test builds its own app (isolation), and building one costs about 0.09 s of CPU, most of it
werkzeug compiling two URL builder functions for each of the app's ~90 URL rules (Python source
made from an AST, then `compile()`): about 6 CPU minutes of a CI run. The builder of a rule is a
pure function of the rule's parsed parts and constant defaults (it reaches the rule's converters
through the rule it is bound to, at call time), so the same rule in the next test's app can reuse
the function compiled for the last one. `reuse_url_builders` installs that, for the tests only;
with a werkzeug whose internals differ it installs nothing, and the tests just run slower.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

Builder = Callable[..., tuple[str, str]]


def _key(rule: Rule, append_unknown: bool) -> tuple[Any, ...]:
    converters = rule._converters  # werkzeug's own parse of the rule
    defaults = rule.defaults or {}
    constant = sorted(
        (name, converters[name].to_url(value) if name in converters else repr(value))
        for name, value in defaults.items()
    )
    return rule.rule, tuple(rule._trace), append_unknown, tuple(constant)


def reuse_url_builders() -> bool:
    """Make werkzeug compile each distinct rule's builders once per process; True if installed."""
    compile_builder = getattr(Rule, "_compile_builder", None)
    if (
        compile_builder is None
        or getattr(compile_builder, "reused", False)
        or not hasattr(Rule("/"), "_trace")
    ):
        return False
    compiled: dict[tuple[Any, ...], Builder] = {}

    def reused(self: Rule, append_unknown: bool = True) -> Builder:
        key = _key(self, append_unknown)
        if key not in compiled:
            compiled[key] = compile_builder(self, append_unknown)
        return compiled[key]

    reused.reused = True  # type: ignore[attr-defined]
    Rule._compile_builder = reused  # type: ignore[method-assign]
    return True
