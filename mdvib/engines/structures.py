"""Starting structures for LAMMPS runs: a crystal lattice or any file ASE reads.

Structures are :class:`ase.Atoms`; :func:`write_lammps_data` writes them as a
LAMMPS data file (``atom_style atomic``, metal units, with a ``Masses``
section) whose atom types follow the potential's element order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mdvib.errors import SettingsError
from mdvib.results import atomic_path


@dataclass(frozen=True)
class LatticeSpec:
    """A bulk crystal built with :func:`ase.build.bulk` (conventional cubic cell when possible).

    Attributes
    ----------
    element : str
        Chemical symbol, or a formula for compound structures (``"NaCl"`` with ``rocksalt``).
    crystalstructure : str
        ``sc``, ``fcc``, ``bcc``, ``diamond``, ``hcp``, ``rocksalt``, ``zincblende``, ...
    a : float
        Lattice constant, Å.
    supercell : tuple of int
        Repetitions of the (cubic) cell along its three vectors.
    c : float or None
        Second lattice constant for hexagonal structures, Å.
    """

    element: str
    crystalstructure: str
    a: float
    supercell: tuple[int, int, int]
    c: float | None = None

    def build(self):
        """The supercell as :class:`ase.Atoms`.

        Raises
        ------
        SettingsError
            If ASE cannot build the lattice or the supercell is not three positive integers.
        """
        from ase.build import bulk

        if len(self.supercell) != 3 or any(int(n) < 1 for n in self.supercell):
            raise SettingsError(f"supercell must be three positive integers, got {list(self.supercell)}")
        try:
            cell = bulk(self.element, self.crystalstructure, a=self.a, c=self.c, cubic=self.crystalstructure != "hcp",
                        orthorhombic=self.crystalstructure == "hcp")
        except (ValueError, KeyError, RuntimeError) as exc:
            raise SettingsError(
                f"cannot build {self.crystalstructure} {self.element} with a={self.a} Å: {exc}") from exc
        return cell * tuple(int(n) for n in self.supercell)


def read_structure(path: str | Path, index: int | str = -1):
    """Read a structure with :func:`ase.io.read` (POSCAR, extxyz, CIF, LAMMPS data, ...).

    Parameters
    ----------
    path : path
        Structure file.
    index : int or str
        Which image of a multi-image file (default: the last).

    Raises
    ------
    SettingsError
        If the file is missing or ASE cannot read it.
    """
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"structure file {path} not found")
    try:
        return ase.io.read(path, index=index)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise SettingsError(f"{path}: ASE cannot read this structure ({type(exc).__name__}: {exc}); "
                            "give a format ASE knows (POSCAR, extxyz, CIF, ...)") from exc


def write_lammps_data(atoms, path: str | Path, elements: tuple[str, ...]) -> Path:
    """Write ``atoms`` as a LAMMPS data file with types in ``elements`` order (atomically).

    Parameters
    ----------
    atoms : ase.Atoms
        Periodic structure.
    path : path
        Output data file.
    elements : tuple of str
        Chemical symbols of LAMMPS types 1, 2, ... (the potential's element order).

    Raises
    ------
    SettingsError
        If the structure has an element the potential does not list, or is not periodic in 3D.
    """
    import ase.io

    present = set(atoms.get_chemical_symbols())
    missing = sorted(present - set(elements))
    if missing:
        raise SettingsError(f"the structure contains {missing}, which the potential's elements {list(elements)} "
                            "do not include")
    if not all(atoms.pbc) or atoms.cell.rank != 3:
        raise SettingsError("the structure must be periodic in three dimensions with a full cell")
    path = Path(path)
    with atomic_path(path) as tmp:
        ase.io.write(tmp, atoms, format="lammps-data", masses=True, specorder=list(elements), atom_style="atomic",
                     units="metal")
    return path
