"""Harmonic phonons (frequencies, eigenvectors) from force constants, in the SED's cells and basis order.

Force constants come from phonopy files or a directory written by ``mdvib tdep``
(:func:`mdvib.io.phonopy_files.read_phonopy`). phonopy does the lattice dynamics.

Phase convention. phonopy's dynamical matrix carries the phase of atom
positions, e^{iq·(r(j′l′) − r(j0))}, so a mode displaces atom (l, b) by
∝ e_b e^{iq·(R_l + r_b)}/√m_b. The SED's lattice sums carry only e^{iq·R_l}
(:mod:`.lattice`), so the eigenvectors used for the projection are
ẽ_b(q, ν) = e_b(q, ν) e^{iq·r_b}, with r_b the SED's own basis positions.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from mdvib.analysis.sed.lattice import CellBasisMap
from mdvib.errors import SettingsError
from mdvib.io.phonopy_files import read_phonopy

#: Largest distance (Å) between a basis atom and its phonopy primitive atom modulo the lattice.
MATCH_TOLERANCE_A = 0.05


@dataclasses.dataclass
class HarmonicModes:
    """phonopy model matched to an SED's basis.

    Attributes
    ----------
    phonon : phonopy.Phonopy
        The model (force constants set).
    primitive_atom : ndarray, shape (n_basis,), int64
        phonopy primitive atom of each SED basis atom.
    source : str
        File the force constants came from.
    """

    phonon: object
    primitive_atom: np.ndarray
    source: str

    def _phonopy_q(self, cells: CellBasisMap, reduced: np.ndarray) -> np.ndarray:
        lattice = np.asarray(self.phonon.primitive.cell, float)
        return cells.cartesian(reduced) @ lattice.T / (2.0 * np.pi)

    def frequencies(self, cells: CellBasisMap, reduced: np.ndarray) -> np.ndarray:
        """Harmonic frequencies, THz, shape (n_q, 3 n_basis) (negative: imaginary)."""
        self.phonon.run_qpoints(self._phonopy_q(cells, reduced), with_eigenvectors=False)
        return np.asarray(self.phonon.qpoints.frequencies, float)

    def modes(self, cells: CellBasisMap, reduced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frequencies (THz, shape (n_q, n_modes)) and eigenvectors ẽ (shape (n_q, 3 n_basis, n_modes)).

        Eigenvector rows are ordered (basis atom, Cartesian direction) in the
        SED's basis order, with the phase e^{iq·r_b} of the module docstring.
        """
        self.phonon.run_qpoints(self._phonopy_q(cells, reduced), with_eigenvectors=True)
        found = self.phonon.qpoints
        vectors = np.asarray(found.eigenvectors, complex)  # (n_q, 3 n_prim, n_modes), rows (atom j, α)
        rows = (3 * self.primitive_atom[:, None] + np.arange(3)[None, :]).reshape(-1)
        phase = np.exp(1j * cells.cartesian(reduced) @ cells.basis_positions.T)  # (n_q, n_basis)
        vectors = vectors[:, rows, :] * np.repeat(phase, 3, axis=1)[:, :, None]
        return np.asarray(found.frequencies, float), vectors


def load_modes(path: str | Path, cells: CellBasisMap) -> HarmonicModes:
    """Read force constants with phonopy and match its primitive cell to the SED's basis.

    Parameters
    ----------
    path : str or Path
        phonopy YAML file, or a directory holding ``phonopy.yaml`` (``mdvib tdep -o DIR``).
    cells : CellBasisMap
        The SED's cells; its unit cell must be phonopy's primitive cell up to
        a choice of lattice vectors and origin, in the same orientation.

    Raises
    ------
    SettingsError
        If the file cannot be read, has no force constants, or its primitive
        cell does not match the SED's unit cell (the message says how).
    """
    phonon = read_phonopy(path, "--fc")
    path = Path(path) / "phonopy.yaml" if Path(path).is_dir() else Path(path)
    primitive = phonon.primitive
    n_prim = len(primitive.symbols)
    if n_prim != cells.n_basis:
        raise SettingsError(f"--fc {path}: phonopy's primitive cell has {n_prim} atoms but the SED's unit cell has "
                            f"{cells.n_basis}; give --unitcell with phonopy's primitive cell")
    lattice = np.asarray(primitive.cell, float)
    transform = cells.unit_cell @ np.linalg.inv(lattice)
    if np.abs(transform - np.rint(transform)).max() > 1e-3 or round(abs(np.linalg.det(np.rint(transform)))) != 1:
        raise SettingsError(f"--fc {path}: phonopy's primitive cell {np.round(lattice, 4).tolist()} (Å) is not the "
                            f"SED's unit cell {np.round(cells.unit_cell, 4).tolist()} up to a choice of vectors: "
                            "the two must describe the same lattice in the same orientation")
    positions = np.asarray(primitive.positions, float)
    symbols = list(primitive.symbols)
    match = np.empty(cells.n_basis, dtype=np.int64)
    for b, r in enumerate(cells.basis_positions):
        offset = (r[None, :] - positions) @ np.linalg.inv(lattice)
        distance = np.linalg.norm((offset - np.rint(offset)) @ lattice, axis=1)
        j = int(np.argmin(distance))
        if distance[j] > MATCH_TOLERANCE_A or symbols[j] != cells.basis_species[b]:
            raise SettingsError(f"--fc {path}: basis atom {b} ({cells.basis_species[b]} at "
                                f"{np.round(r, 4).tolist()} Å) has no phonopy primitive atom at its place (nearest: "
                                f"{symbols[j]}, {distance[j]:.3f} Å away modulo the lattice): the force constants "
                                "belong to another structure or origin")
        match[b] = j
    if np.unique(match).size != cells.n_basis:
        raise SettingsError(f"--fc {path}: two basis atoms match the same phonopy atom")
    return HarmonicModes(phonon=phonon, primitive_atom=match, source=str(path))
