"""A non-editable install must still serve the script and render the demo."""

from __future__ import annotations

import zipfile
from pathlib import Path

from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_the_browser_assets(tmp_path: Path) -> None:
    builder = WheelBuilder(str(ROOT))
    (wheel,) = list(builder.build(directory=str(tmp_path), versions=["standard"]))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "service/_assets/static/js/shapes-token.js",
        "service/_assets/static/js/shapes-token.mjs",
        "service/_assets/liquid_snippets/shapes-token.liquid",
        "service/dev/templates/demo.liquid",
        "service/py.typed",
        "service/web/app.py",
        # The Redis state's scripts, read with importlib.resources.
        "service/state/lua/clock.lua",
        "service/state/lua/check.lua",
        # `shapestoken db upgrade` from an installed wheel, and the dashboard's pages.
        "service/store/migrations/env.py",
        "service/store/migrations/script.py.mako",
        "service/store/migrations/versions/v0001_api_tokens.py",
        "service/store/migrations/versions/v0002_token_list_index.py",
        "service/store/migrations/versions/v0004_runtime_admin.py",
        "service/web/admin/templates/base.html",
        "service/web/admin/templates/created.html",
        "service/web/admin/templates/clients.html",
        "service/web/admin/templates/activity.html",
        "service/web/admin/static/admin.css",
        "service/web/admin/static/admin.js",
    ):
        assert required in names, required
    assert not any(name.startswith(("tests/", "bench/")) for name in names)


def test_the_wheel_depends_on_the_verifier_in_this_repository(tmp_path: Path) -> None:
    # One implementation of the DPoP checks: the service uses the verifier package's.
    builder = WheelBuilder(str(ROOT))
    (wheel,) = list(builder.build(directory=str(tmp_path), versions=["standard"]))
    archive = zipfile.ZipFile(wheel)
    (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in archive.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist: shapestoken-verifier")
    ]
    assert requires == [f"shapestoken-verifier @ {(ROOT / 'verifier').as_uri()}"]
