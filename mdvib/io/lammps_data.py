"""Reader of LAMMPS data files (``write_data``, ``read_data`` input): one structure, metal units.

Used for the ideal reference supercell of TDEP fits
(:func:`mdvib.analysis.tdep.read_reference`). Files with an ``Atoms # atomic``
section, a ``Masses`` section and types named by ``type_map`` are parsed
directly (no ASE import, ~0.4 s saved); anything else (other atom styles,
missing masses, no ``type_map``) goes through ASE's ``lammps-data`` reader
with ``atom_style atomic``.

Box conversion as in LAMMPS (restricted triclinic): cell vectors
``a = (xhi-xlo, 0, 0)``, ``b = (xy, yhi-ylo, 0)``, ``c = (xz, yz, zhi-zlo)``;
positions stay absolute (the box origin is not subtracted), as in dumps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mdvib.errors import SettingsError

__all__ = ["LammpsData", "read_lammps_data"]


@dataclass(frozen=True)
class LammpsData:
    """A structure read from a LAMMPS data file.

    Attributes
    ----------
    cell : ndarray, shape (3, 3)
        Cell vectors as rows, Å.
    positions : ndarray, shape (N, 3)
        Cartesian positions, Å, in ascending-id order (fast path) or file order (ASE).
    species : tuple of str, length N
        Chemical symbols.
    masses : ndarray, shape (N,)
        Masses, amu.
    atom_ids : ndarray, shape (N,), int64, or None
        Atom ids, when the file gives them.
    path : str
        Source file.
    """

    cell: np.ndarray
    positions: np.ndarray
    species: tuple[str, ...]
    masses: np.ndarray
    atom_ids: np.ndarray | None
    path: str


def read_lammps_data(path: str | Path, type_map: dict[int, str] | None = None) -> LammpsData:
    """Read a LAMMPS data file with ``atom_style atomic`` (metal units).

    Parameters
    ----------
    path : str or Path
        The data file.
    type_map : dict, optional
        ``{type: symbol}`` for numeric atom types; without it ASE guesses the
        elements from the masses.

    Raises
    ------
    SettingsError
        If the file cannot be read.
    """
    path = Path(path)
    if type_map:
        data = _read_atomic(path, type_map)
        if data is not None:
            return data
    import ase.io

    z_of_type = None
    if type_map:
        from ase.data import atomic_numbers

        z_of_type = {int(t): atomic_numbers[s] for t, s in type_map.items()}
    try:
        atoms = ase.io.read(path, format="lammps-data", atom_style="atomic", Z_of_type=z_of_type)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise SettingsError(f"{path}: cannot read the LAMMPS data file ({exc}); "
                            "give a data file with atom_style atomic (write_data writes one)") from exc
    ids = atoms.arrays.get("id")
    return LammpsData(
        cell=np.array(atoms.cell[:], float),
        positions=np.array(atoms.positions, float),
        species=tuple(atoms.get_chemical_symbols()),
        masses=np.array(atoms.get_masses(), float),
        atom_ids=None if ids is None else np.asarray(ids, dtype=np.int64),
        path=str(path),
    )


def _read_atomic(path: Path, type_map: dict[int, str]) -> LammpsData | None:
    """Parse a data file with an ``Atoms # atomic`` section directly.

    Returns ``None`` for anything beyond that simple layout (other atom styles,
    missing masses, types ``type_map`` does not name), which then goes through ASE.
    """
    lines = [line.split("#")[0].strip() if not line.lstrip().startswith("Atoms") else line.strip()
             for line in path.read_text().splitlines()]
    bounds, tilt, n_atoms = {}, np.zeros(3), None
    masses: dict[int, float] = {}
    rows: list[list[str]] = []
    section = None
    for line in lines[1:]:
        if not line:
            continue
        words = line.split()
        if words[0][0].isalpha():
            section = words[0]
            if section == "Atoms" and "#" in line and line.split("#")[1].strip() != "atomic":
                return None
            continue
        if section is None:
            if words[-1] == "atoms":
                n_atoms = int(words[0])
            elif len(words) == 4 and words[2][1:] + words[3][1:] in ("lohi",) and words[2][0] == words[3][0]:
                bounds[words[2][0]] = (float(words[0]), float(words[1]))
            elif words[-3:] == ["xy", "xz", "yz"]:
                tilt = np.array([float(w) for w in words[:3]])
        elif section == "Masses":
            masses[int(words[0])] = float(words[1])
        elif section == "Atoms":
            rows.append(words)
    if n_atoms is None or len(rows) != n_atoms or set(bounds) != {"x", "y", "z"}:
        return None
    data = np.array([[float(w) for w in row[:5]] for row in rows])
    data = data[np.argsort(data[:, 0])]
    types = data[:, 1].astype(int)
    if any(t not in type_map or t not in masses for t in set(types.tolist())):
        return None
    (xlo, xhi), (ylo, yhi), (zlo, zhi) = bounds["x"], bounds["y"], bounds["z"]  # positions stay absolute, as in dumps
    xy, xz, yz = tilt
    cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
    return LammpsData(cell=cell, positions=data[:, 2:5], species=tuple(type_map[t] for t in types),
                      masses=np.array([masses[t] for t in types]), atom_ids=data[:, 0].astype(np.int64),
                      path=str(path))
