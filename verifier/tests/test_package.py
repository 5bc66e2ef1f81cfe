"""The distribution itself: what a wheel carries, what it needs, what it never imports."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
PACKAGE = PROJECT / "shapestoken_verifier"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(out), str(PROJECT)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (built,) = out.glob("shapestoken_verifier-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_carries_the_typed_package(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for module in ("__init__", "dpop", "verifier", "starlette", "replay"):
        assert f"shapestoken_verifier/{module}.py" in names
    assert "shapestoken_verifier/py.typed" in names
    assert not any(name.startswith(("tests/", "service/")) for name in names)


def test_the_wheel_needs_pyjwt_and_httpx_only(wheel: zipfile.ZipFile) -> None:
    (metadata_name,) = [name for name in wheel.namelist() if name.endswith("/METADATA")]
    metadata = Parser().parsestr(wheel.read(metadata_name).decode())
    assert metadata["Name"] == "shapestoken-verifier"
    assert metadata["Requires-Python"] == ">=3.10"
    required = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert sorted(required) == ["httpx>=0.28", "pyjwt[crypto]>=2.14"]


def test_it_never_imports_the_service() -> None:
    code = (
        "import sys, shapestoken_verifier, shapestoken_verifier.starlette, "
        "shapestoken_verifier.replay; "
        "print(sorted(m for m in sys.modules if m == 'service' or m.startswith('service.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_the_source_runs_on_python_3_10(path: Path) -> None:
    # What Python 3.11 added: datetime.UTC, typing.Self, tomllib, except*.
    tree = ast.parse(path.read_text(), feature_version=(3, 10))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = {alias.name for alias in node.names}
            assert not (node.module == "datetime" and "UTC" in names)
            assert not (node.module in ("typing", "typing_extensions") and "Self" in names)
        if isinstance(node, ast.Import):
            assert "tomllib" not in {alias.name for alias in node.names}
        if isinstance(node, ast.Attribute):
            assert node.attr != "UTC" or not isinstance(node.value, ast.Name)
