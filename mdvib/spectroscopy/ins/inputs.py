"""What ``mdvib ins`` and ``[analysis.ins]`` start from: DOS results or force constants, one per temperature.

An input is any of

* an mdvib DOS result (``dos.h5`` from ``mdvib dos`` or a campaign): the
  incoherent-approximation route (:mod:`~mdvib.spectroscopy.ins.multiphonon`);
* force constants: a phonopy YAML file, or a folder holding one (an
  ``mdvib tdep`` output folder, phonopy's own files): the phonon route
  (:mod:`~mdvib.spectroscopy.ins.phonon_route`);
* a campaign temperature folder ``T_<T>K/`` (its ``dos.h5``, or its ``tdep/``
  with ``route="phonons"``), or a campaign folder (all of its temperatures).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from mdvib.errors import SettingsError
from mdvib.results import load_result
from mdvib.spectroscopy.ins.model import PowderModel

#: Routes an input can take.
ROUTES = ("auto", "dos", "phonons")

#: Folder name of one campaign temperature.
TEMPERATURE_FOLDER = re.compile(r"T_(?P<value>[0-9.]+)K")

#: Phonopy file names recognised in a force-constant folder.
PHONOPY_FILES = ("phonopy.yaml", "phonopy_params.yaml", "phonopy_disp.yaml")


@dataclasses.dataclass(frozen=True)
class RouteOptions:
    """Settings shared by every input of a series.

    Attributes
    ----------
    kind : str
        Cross section: ``total``, ``coherent`` or ``incoherent``.
    isotopes : dict
        Symbol → isotope, e.g. ``{"H": "D"}``.
    masses : dict
        Symbol → mass (amu), DOS route.
    occupations : str
        ``quantum`` or ``classical`` (DOS route).
    mesh : tuple of int
        q-mesh of the phonon route.
    """

    kind: str = "total"
    isotopes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    masses: Mapping[str, float] = dataclasses.field(default_factory=dict)
    occupations: str = "quantum"
    mesh: tuple[int, int, int] = (12, 12, 12)


def expand(paths: Sequence[str | Path]) -> list[Path]:
    """Campaign folders replaced by their temperature folders (ascending T); other paths unchanged."""
    out: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise SettingsError(f"{path}: no such file or folder")
        temperatures = sorted((float(m["value"]), child) for child in path.iterdir() if child.is_dir()
                              and (m := TEMPERATURE_FOLDER.fullmatch(child.name))) if path.is_dir() else []
        if temperatures:
            out.extend(child for _, child in temperatures)
        else:
            out.append(path)
    return out


def load_models(paths: Sequence[str | Path], temperatures: Sequence[float] | None = None, route: str = "auto",
                options: RouteOptions | None = None) -> tuple[list[PowderModel], list[str]]:
    """One model per entry of the series, with a label each.

    Parameters
    ----------
    paths : sequence of path
        Inputs (see the module docstring).
    temperatures : sequence of float, optional
        K. None: each DOS's own temperature (force constants then need one).
        One value: every input at that temperature. Several values and one
        input: that input at each (a harmonic temperature series). As many as
        inputs: pairwise.
    route : {"auto", "dos", "phonons"}
        Which route; ``auto``: by the kind of each input (a campaign
        temperature folder takes its DOS).
    options : RouteOptions, optional
        Cross sections, isotopes, occupations, mesh.

    Returns
    -------
    (list of PowderModel, list of str)
    """
    if route not in ROUTES:
        raise SettingsError(f"unknown route {route!r}; choose one of {ROUTES}")
    options = options or RouteOptions()
    files = expand(paths)
    temps = list(temperatures) if temperatures else [None]
    if len(files) == 1 and len(temps) > 1:
        pairs = [(files[0], t) for t in temps]
    elif len(temps) == 1:
        pairs = [(f, temps[0]) for f in files]
    elif len(temps) == len(files):
        pairs = list(zip(files, temps))
    else:
        raise SettingsError(f"{len(temps)} temperatures for {len(files)} inputs: give one temperature, one per "
                            "input, or several for a single input")
    models, labels, loaded = [], [], {}
    for path, temperature in pairs:
        if path in loaded and temperature is not None:     # one lattice-dynamics or DOS read per input
            model = loaded[path].with_temperature(temperature)
        else:
            model = loaded[path] = _load_one(path, temperature, route, options)
        models.append(model)
        labels.append(_label(path, model.temperature_k, len(pairs) > len(set(files))))
    return models, labels


def _load_one(path: Path, temperature: float | None, route: str, options: RouteOptions) -> PowderModel:
    kind = route if route != "auto" else _kind(path)
    if kind == "dos":
        from mdvib.spectroscopy.ins.multiphonon import IncoherentDOSModel

        source = path / "dos.h5" if path.is_dir() else path
        if not source.is_file():
            raise SettingsError(f"{path}: no DOS result (dos.h5) here; run the dos analysis first, or use "
                                "--route phonons for force constants")
        dos = load_result(source)
        if type(dos).__name__ != "DOSResult":
            raise SettingsError(f"{source}: a {type(dos).__name__}, not a DOS result")
        return IncoherentDOSModel.from_dos(dos, temperature_k=temperature, kind=options.kind,
                                           isotopes=options.isotopes, masses=options.masses,
                                           occupations=options.occupations)
    from mdvib.spectroscopy.ins.phonon_route import PhononPowderModel

    source = path / "tdep" if path.is_dir() and (path / "tdep").is_dir() else path
    if temperature is None:
        raise SettingsError(f"{path}: force constants carry no temperature; give --temperature K")
    return PhononPowderModel.from_phonopy(source, temperature, mesh=options.mesh, kind=options.kind,
                                          isotopes=options.isotopes)


def _kind(path: Path) -> str:
    """``dos`` or ``phonons`` for an input given without ``--route``."""
    if path.is_dir():
        if (path / "dos.h5").is_file():
            return "dos"
        if (path / "tdep").is_dir() or any((path / name).is_file() for name in PHONOPY_FILES) \
                or (path / "FORCE_CONSTANTS").is_file():
            return "phonons"
        raise SettingsError(f"{path}: holds neither a DOS result (dos.h5) nor force constants (phonopy YAML, "
                            "FORCE_CONSTANTS, an mdvib tdep folder)")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return "dos"
    if suffix in (".yaml", ".yml"):
        return "phonons"
    raise SettingsError(f"{path}: not an INS input; give a DOS result (.h5), a phonopy YAML file or a folder "
                        "holding either")


def _label(path: Path, temperature: float, several_per_file: bool) -> str:
    match = TEMPERATURE_FOLDER.fullmatch(path.name)
    if match and not several_per_file:
        return f"{float(match['value']):g} K"
    stem = path.parent.name if path.name in ("dos.h5", "tdep", "phonopy.yaml") else path.stem if path.is_file() \
        else path.name
    return f"{stem} {temperature:.4g} K"
