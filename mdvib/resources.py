"""Files mdvib ships beside its code, found with :mod:`importlib.resources`.

Three resource trees travel with the package, in an editable install and in a
wheel alike:

* ``mdvib._lammps_inputs`` — the LAMMPS input templates, ``lammps_inputs/`` of
  the source tree (mapped into the package by ``pyproject.toml``);
* ``mdvib._plugins`` — the C++ sources of the LAMMPS plugin, ``plugins/`` of the
  source tree (mapped the same way), compiled by ``mdvib build-plugins``;
* ``mdvib/data/`` — the demo dump and campaign, and ``models/`` with the tiny
  NequIP/Allegro test models.

Each function returns a real directory or file on disk (LAMMPS and CMake need
paths) and raises :class:`~mdvib.errors.MdvibError` naming what is missing and
how to fix the installation, so a broken install fails at the first lookup
rather than deep inside a LAMMPS or CMake run.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from mdvib.errors import MdvibError

#: Resource package of the LAMMPS input templates (``lammps_inputs/`` in the source tree).
TEMPLATES_PACKAGE = "mdvib._lammps_inputs"
#: Resource package of the plugin's C++ sources (``plugins/`` in the source tree).
PLUGINS_PACKAGE = "mdvib._plugins"
#: Suffixes of the plugin source files (what CMake builds, and what the plugin cache key hashes).
PLUGIN_SOURCE_SUFFIXES = (".cpp", ".h", ".txt")

_REINSTALL = ("reinstall mdvib (pip install mdvib, or pip install -e . from a clone); "
              "a source checkout needs lammps_inputs/ and plugins/ beside mdvib/")


def _on_disk(resource: Traversable, what: str) -> Path:
    """``resource`` as a :class:`~pathlib.Path`; mdvib is always installed as plain files."""
    if not isinstance(resource, Path):
        raise MdvibError(f"{what} is inside an archive ({resource}); LAMMPS and CMake need files on disk: "
                         "install mdvib unpacked (pip install, not a zip import)")
    return resource


def _package_dir(package: str, what: str) -> Path:
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise MdvibError(f"{what} (Python package {package}) is missing from this mdvib installation; "
                         f"{_REINSTALL}") from exc
    path = _on_disk(root, what)
    if not path.is_dir():
        raise MdvibError(f"{what} directory {path} does not exist; {_REINSTALL}")
    return path


def lammps_templates_dir() -> Path:
    """Directory of the LAMMPS input templates (``*.in``)."""
    return _package_dir(TEMPLATES_PACKAGE, "the LAMMPS input templates")


def lammps_template(name: str) -> Path:
    """Path of the LAMMPS input template ``name`` (e.g. ``"production.in"``).

    Raises
    ------
    MdvibError
        No such template (the message lists the available ones), or the
        templates are missing from the installation.
    """
    folder = lammps_templates_dir()
    path = folder / name
    if not path.is_file():
        available = ", ".join(sorted(p.name for p in folder.glob("*.in"))) or "none"
        raise MdvibError(f"LAMMPS input template {name!r} not found in {folder} (available: {available})")
    return path


def plugin_sources() -> Path:
    """Directory of the plugin's C++ sources and ``CMakeLists.txt`` (the ``cmake -S`` directory).

    Raises
    ------
    MdvibError
        The sources or their ``CMakeLists.txt`` are missing from the installation.
    """
    folder = _package_dir(PLUGINS_PACKAGE, "the LAMMPS plugin sources")
    if not (folder / "CMakeLists.txt").is_file():
        raise MdvibError(f"the LAMMPS plugin sources in {folder} lack CMakeLists.txt; {_REINSTALL}")
    return folder


def plugin_source_files() -> list[Path]:
    """The plugin's source files (``*.cpp``, ``*.h``, ``CMakeLists.txt``), sorted by name."""
    return sorted(p for p in plugin_sources().iterdir() if p.suffix in PLUGIN_SOURCE_SUFFIXES)


def data_path(*parts: str) -> Path:
    """Path of ``mdvib/data/<parts...>`` (e.g. ``data_path("demo_campaign.toml")``).

    The path is not checked: callers that need the file say which one is missing.
    """
    return _on_disk(resources.files("mdvib"), "mdvib's data directory").joinpath("data", *parts)


def data_file(*parts: str) -> Path:
    """Like :func:`data_path`, but the file must exist.

    Raises
    ------
    MdvibError
        The file is missing from the installation.
    """
    path = data_path(*parts)
    if not path.is_file():
        raise MdvibError(f"mdvib data file {path} is missing; {_REINSTALL}")
    return path


def builtin_models_dir() -> Path:
    """Directory of the tiny NequIP/Allegro test models (``mdvib/data/models``)."""
    return data_path("models")
