"""The public facade: ``import sstrkit`` is fast and every name in ``sstrkit.__all__`` resolves.

The names are loaded lazily (PEP 562 ``__getattr__``); type checkers see them through the
``TYPE_CHECKING`` imports of ``sstrkit/__init__.py``, which must name the same objects.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import sstrkit

INIT = Path(sstrkit.__file__)
PUBLIC = [n for n in sstrkit.__all__ if n != "__version__"]


def _type_checking_imports() -> dict[str, str]:
    """name → module of the imports under ``if TYPE_CHECKING:`` in ``__init__.py``."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    block = next(
        n
        for n in tree.body
        if isinstance(n, ast.If) and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING"
    )
    out: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names:
            assert alias.asname is None
            out[alias.name] = node.module
    return out


def test_all_is_sorted_and_complete() -> None:
    assert sstrkit.__all__ == sorted(sstrkit.__all__)
    assert len(set(sstrkit.__all__)) == len(sstrkit.__all__)
    assert "__version__" in sstrkit.__all__
    assert 20 <= len(PUBLIC) <= 40


def test_type_checking_imports_match_the_lazy_table() -> None:
    seen = _type_checking_imports()
    assert set(seen) == set(PUBLIC)
    assert set(sstrkit._LAZY) == set(PUBLIC)
    for name, module in seen.items():
        target = sstrkit._LAZY[name]  # where ``__getattr__`` loads it from at run time
        # a submodule is imported as ``from sstrkit import catalog``
        assert module == (target.rpartition(".")[0] if name in sstrkit._MODULES else target)


@pytest.mark.parametrize("name", PUBLIC)
def test_name_resolves_to_its_module_object(name: str) -> None:
    value = getattr(sstrkit, name)
    module = importlib.import_module(sstrkit._LAZY[name])
    if name in sstrkit._MODULES:
        assert value is module
    else:
        assert value is getattr(module, name)
        assert inspect.getdoc(value), f"sstrkit.{name} has no docstring (API reference)"
    assert name in dir(sstrkit)


def test_from_import_and_star_import() -> None:
    from sstrkit import Volume, catalog, errors, fit_curve  # noqa: F401

    namespace: dict[str, object] = {}
    exec("from sstrkit import *", namespace)
    assert set(sstrkit.__all__) <= set(namespace)
    assert errors.SstrkitError is sstrkit.SstrkitError
    assert catalog.regimen("NETTER-1").cycles == 4


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        _ = sstrkit.no_such_thing
    assert not hasattr(sstrkit, "read_serie")


def test_version_stays_a_literal_in_init() -> None:
    # hatch reads the version from this file with a regular expression
    assert f'__version__ = "{sstrkit.__version__}"' in INIT.read_text(encoding="utf-8")


def test_import_is_lazy() -> None:
    """``import sstrkit`` loads no submodule, numpy or typing (``sstrkit --help`` startup)."""
    code = (
        "import sys; before = set(sys.modules); import sstrkit; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "sstrkit" in out
    assert [m for m in out if m.startswith("sstrkit.")] == []
    assert {"numpy", "typing", "importlib"}.isdisjoint(out), out
