"""Packaging: the files mdvib needs at run time are found through importlib.resources and ship in the wheel.

The LAMMPS templates (``lammps_inputs/``) and the plugin sources (``plugins/``)
live outside ``mdvib/`` and are mapped into the package by ``pyproject.toml``;
these tests catch a mapping, a package-data pattern or a subpackage that falls
out of the explicit package list.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from importlib import resources as importlib_resources
from pathlib import Path

import pytest

from mdvib import resources
from mdvib.errors import MdvibError

ROOT = Path(__file__).resolve().parents[1]
#: What the wheel must contain, relative to site-packages.
REQUIRED_IN_WHEEL = [
    "mdvib/_lammps_inputs/equilibrate.in",
    "mdvib/_lammps_inputs/production.in",
    "mdvib/_plugins/CMakeLists.txt",
    "mdvib/_plugins/mdvib_plugin.cpp",
    "mdvib/_plugins/pair_mdvib_nequip.cpp",
    "mdvib/_plugins/pair_mdvib_nequip.h",
    "mdvib/resources.py",
    "mdvib/data/demo_campaign.toml",
    "mdvib/data/si_sw_300K.dump.gz",
    "mdvib/data/models/si_allegro.nequip.pt2",
    "mdvib/data/models/si_nequip.nequip.pt2",
]


def test_templates_found_through_importlib_resources():
    folder = Path(str(importlib_resources.files(resources.TEMPLATES_PACKAGE)))
    assert resources.lammps_templates_dir() == folder
    for name in ("equilibrate.in", "production.in"):
        path = resources.lammps_template(name)
        assert path == folder / name and path.is_file()
        assert "mdvib" in path.read_text().splitlines()[0]


def test_plugin_sources_found_through_importlib_resources():
    folder = resources.plugin_sources()
    assert folder == Path(str(importlib_resources.files(resources.PLUGINS_PACKAGE)))
    names = [p.name for p in resources.plugin_source_files()]
    assert names == ["CMakeLists.txt", "mdvib_plugin.cpp", "pair_mdvib_nequip.cpp", "pair_mdvib_nequip.h"]


def test_data_found_through_importlib_resources():
    from mdvib.cli.demo import demo_campaign_file, demo_trajectory
    from mdvib.engines.mlip import BUILTIN_MODELS, BUILTIN_MODELS_DIR

    assert BUILTIN_MODELS_DIR == resources.builtin_models_dir()
    assert all(path.is_file() for path in BUILTIN_MODELS.values())
    assert demo_campaign_file().is_file() and demo_trajectory().is_file()


def test_missing_resources_fail_clearly(monkeypatch):
    with pytest.raises(MdvibError, match=r"'nope\.in' not found .*available: .*equilibrate\.in"):
        resources.lammps_template("nope.in")
    with pytest.raises(MdvibError, match="data file .*missing"):
        resources.data_file("nope.toml")
    monkeypatch.setattr(resources, "PLUGINS_PACKAGE", "mdvib._no_such_resources")
    with pytest.raises(MdvibError, match=r"plugin sources .*missing from this mdvib installation; reinstall"):
        resources.plugin_sources()


def test_every_subpackage_is_listed_for_the_wheel():
    """pyproject.toml lists packages explicitly (packages.find cannot map lammps_inputs/ and plugins/)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mdvib").rglob("__init__.py")}
    missing = sorted(on_disk - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="setuptools not installed")
def test_wheel_ships_templates_plugin_sources_and_data(tmp_path):
    """Build the wheel from a copy of the tree (a build/ left in the checkout could add stale files)."""
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("mdvib", "lammps_inputs", "plugins"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                             "-q", "-w", str(tmp_path / "dist"), str(source)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("mdvib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in REQUIRED_IN_WHEEL if name not in names]
    assert not missing, f"{wheel.name} lacks {missing}"
    modules = {".".join(Path(n).parent.parts) for n in names if n.endswith("/__init__.py")}
    assert {"mdvib", "mdvib.engines", "mdvib._lammps_inputs", "mdvib._plugins"} <= modules
    assert not any(n.startswith(("tests/", "scripts/", "benchmarks/")) for n in names)
