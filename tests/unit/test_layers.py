"""Who may import whom: the tools never lean on the tests, the oracles share nothing with what
they check, and the producer knows the jobs only through the wire contracts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# package -> top-level packages it must never import
FORBIDDEN = {
    "jobs": {"tests", "local", "bench", "producer", "oracles", "examples"},
    "producer": {"tests", "jobs", "local", "bench", "oracles"},
    "wire": {"tests", "jobs", "producer", "local", "bench", "oracles", "pyspark"},
    "oracles": {"tests", "jobs", "producer", "local", "bench", "wire", "pyspark"},
    "local": {"tests"},
    "bench": {"tests"},
    "observability": {"tests"},
}


def imported(path: Path) -> set[str]:
    """The top-level packages a module imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_a_package_imports_only_what_its_layer_may(package: str) -> None:
    crossing = {
        str(path.relative_to(ROOT)): sorted(imported(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert not {p: c for p, c in crossing.items() if c}
