"""The core (domain, rules, routing) is plain Python: it imports no framework and no adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE_PACKAGES = ("connector/domain", "connector/rules", "connector/routing")
FORBIDDEN = (
    "flask",
    "sqlalchemy",
    "rq",
    "redis",
    "requests",
    "httpx",
    "platforms",
    "carriers",
    "connector.db",
    "connector.web",
    "connector.services",
    "connector.jobs",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _imported_names(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every module a source imports, as an absolute dotted name, with its line number.

    In ``from .. import db`` the imported name may be a submodule, so it counts as
    ``connector.db`` whenever the package it comes from is not itself the problem.
    """
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(module, is_package).split(".")
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if _is_forbidden(base):
                names.append((node.lineno, base))
            else:
                names.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return names


def _is_forbidden(name: str) -> bool:
    return any(name == banned or name.startswith(f"{banned}.") for banned in FORBIDDEN)


def _violations(source: str, module: str, is_package: bool = False) -> list[str]:
    return [
        f"{module}:{line} imports {name}"
        for line, name in _imported_names(source, module, is_package)
        if _is_forbidden(name)
    ]


def _core_modules() -> list[Path]:
    return sorted(path for package in CORE_PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_core_modules_import_no_framework_and_no_adapter():
    problems = [
        problem
        for path in _core_modules()
        for problem in _violations(
            path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py"
        )
    ]

    assert problems == []


def test_the_boundary_check_reads_every_core_package():
    modules = {_module_name(path) for path in _core_modules()}

    assert {
        "connector.domain",
        "connector.domain.money",
        "connector.domain.returns",
        "connector.rules.engine",
        "connector.rules.policy",
        "connector.routing.engine",
    } <= modules


@pytest.mark.parametrize(
    ("source", "module", "is_package", "imported"),
    [
        ("import flask", "connector.rules.engine", False, "flask"),
        ("import sqlalchemy.orm", "connector.rules.engine", False, "sqlalchemy.orm"),
        ("from sqlalchemy import select", "connector.rules.engine", False, "sqlalchemy"),
        ("from rq import Queue", "connector.routing.engine", False, "rq"),
        ("import redis", "connector.routing.engine", False, "redis"),
        ("import requests", "connector.domain.money", False, "requests"),
        ("import httpx", "connector.domain.money", False, "httpx"),
        ("from platforms.sandbox import adapter", "connector.domain.orders", False, "platforms"),
        ("import carriers.ratecard.adapter", "connector.domain.logistics", False, "carriers"),
        ("from connector.db.models import Return", "connector.rules.engine", False, "connector.db"),
        ("from ..db import models", "connector.rules.engine", False, "connector.db"),
        ("from .. import db", "connector.rules.engine", False, "connector.db"),
        ("from ..web.api import returns", "connector.routing.engine", False, "connector.web"),
        ("from ...services import x", "connector.rules.sub.mod", False, "connector.services"),
        ("from .. import jobs", "connector.rules", True, "connector.jobs"),
    ],
)
def test_the_boundary_check_catches_a_forbidden_import(source, module, is_package, imported):
    (problem,) = _violations(source, module, is_package)

    assert problem.startswith(f"{module}:1 imports {imported}")


@pytest.mark.parametrize(
    ("source", "module", "is_package"),
    [
        ("from decimal import Decimal", "connector.domain.money", False),
        ("from ..domain.money import Money", "connector.rules.engine", False),
        ("from .policy import Policy", "connector.rules.engine", False),
        ("from . import engine", "connector.rules", True),
        ("from connector.domain import returns", "connector.routing.engine", False),
        ("import requests_toolbelt", "connector.domain.money", False),
        ("from ..dbtools import x", "connector.rules.engine", False),
    ],
)
def test_the_boundary_check_allows_the_core_and_the_standard_library(source, module, is_package):
    assert _violations(source, module, is_package) == []


def test_relative_imports_resolve_from_the_importing_package():
    assert _imported_names("from ..domain.money import Money", "connector.rules.engine") == [
        (1, "connector.domain.money.Money")
    ]
    assert _imported_names("from .policy import Policy", "connector.rules", is_package=True) == [
        (1, "connector.rules.policy.Policy")
    ]
    assert _imported_names("from . import engine", "connector.rules.policy") == [
        (1, "connector.rules.engine")
    ]
