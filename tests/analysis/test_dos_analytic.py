"""DOS analyser against analytic limits: harmonic oscillators, Langevin free particles, equipartition."""

import numpy as np
import pytest

from mdvib.analysis.dos import DOSAnalysis
from mdvib.analysis.spectral import quantum_correction
from mdvib.constants.neutron import bound_cross_section
from mdvib.io._masses import masses_for_species
from mdvib.trajectory import Trajectory
from mdvib.units import AMU_A2_PER_FS2_IN_EV, H_EV_PER_THZ, KB_EV_PER_K

T = 300.0


def oscillator_trajectory(species, frequencies_thz, n_frames=4000, dt_fs=2.0, seed=1):
    """Independent 3D harmonic oscillators with equipartition amplitude, exact solution."""
    rng = np.random.default_rng(seed)
    masses = masses_for_species(species)
    omega = 2 * np.pi * np.asarray(frequencies_thz) * 1e-3  # rad/fs
    speed = np.sqrt(2 * KB_EV_PER_K * T / (masses * AMU_A2_PER_FS2_IN_EV))  # Å/fs amplitude: <½mv²> = ½kT per dof
    phase = rng.uniform(0, 2 * np.pi, (len(species), 3))
    t = np.arange(n_frames) * dt_fs
    arg = omega[None, :, None] * t[:, None, None] + phase[None]
    positions = (speed / omega)[None, :, None] * np.cos(arg)
    velocities = -speed[None, :, None] * np.sin(arg)
    return Trajectory.from_arrays(positions, species, dt_fs, velocities=velocities)


@pytest.fixture(scope="module")
def two_species():
    species = ["Si"] * 40 + ["O"] * 20
    freqs = np.where(np.arange(60) < 40, 5.0, 12.0)
    return oscillator_trajectory(species, freqs)


def test_single_oscillator_gives_one_line_with_area_three(two_species):
    species = ["Ar"] * 10
    traj = oscillator_trajectory(species, np.full(10, 7.3), n_frames=3000, dt_fs=1.0)
    result = DOSAnalysis(window=600, blocks=3).run(traj)
    nu = result.frequencies_thz
    assert np.trapezoid(result.total, nu) == pytest.approx(3.0, rel=1e-10)
    peak = nu[np.argmax(result.total)]
    assert abs(peak - 7.3) <= nu[1]  # within one grid spacing
    near = np.abs(nu - 7.3) < 3 * result.resolution_fwhm_thz
    assert np.trapezoid(np.where(near, result.total, 0), nu) == pytest.approx(3.0, rel=0.02)


def test_partials_sum_to_total_and_carry_concentration(two_species):
    result = DOSAnalysis(window=500).run(two_species)
    nu = result.frequencies_thz
    np.testing.assert_allclose(result.partial.sum(axis=0), result.total, atol=1e-12)
    np.testing.assert_allclose(np.trapezoid(result.partial, nu, axis=1), [2.0, 1.0], rtol=1e-3)
    np.testing.assert_allclose(result.peaks(), [5.0, 12.0], atol=nu[1])
    assert result.species == ("Si", "O")


def test_raw_power_integrates_to_kinetic_energy_and_temperature(two_species):
    result = DOSAnalysis(window=500).run(two_species)
    n_atoms = 60
    kinetic = np.trapezoid(result.raw_power.sum(axis=0), result.frequencies_thz)
    assert kinetic == pytest.approx(1.5 * n_atoms * KB_EV_PER_K * T, rel=2e-3)
    # kinetic temperature uses 3N-3 degrees of freedom
    assert result.temperature_k == pytest.approx(T * 3 * n_atoms / (3 * n_atoms - 3), rel=2e-3)


def test_neutron_weighting_follows_sigma_over_mass(two_species):
    mass = DOSAnalysis(window=500).run(two_species)
    neutron = DOSAnalysis(window=500, weights="neutron").run(two_species)
    sigma = np.array([bound_cross_section("Si"), bound_cross_section("O")])
    m = masses_for_species(["Si", "O"])
    c = np.array([2 / 3, 1 / 3])
    expected = (sigma / m)[:, None] * mass.partial / np.dot(c, sigma / m)
    np.testing.assert_allclose(neutron.partial, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(neutron.cross_sections_barn, sigma)
    assert np.trapezoid(neutron.total, neutron.frequencies_thz) == pytest.approx(3.0, rel=1e-3)


def test_langevin_free_particle_gives_lorentzian():
    """Ornstein-Uhlenbeck velocities, C(t) = C(0) e^{-γ|t|}: a Lorentzian 12γ/(γ² + (2πν)²) per atom.

    Sampled every Δt the process is AR(1), C(τ) = C(0) a^τ with a = e^{-γΔt}. The
    estimator is unbiased, so its expectation with a Hann lag window of W lags is
    g(ν) = 6Δt [1 + 2 Σ_{τ=1}^{W-1} w(τ) a^τ cos(2πντΔt)], evaluated here by direct summation.
    """
    rng = np.random.default_rng(3)
    n_atoms, n_frames, dt, window = 200, 6000, 1.0, 800
    gamma = 0.02  # 1/fs
    masses = masses_for_species(["Ar"] * n_atoms)
    sigma_v = np.sqrt(KB_EV_PER_K * T / (masses * AMU_A2_PER_FS2_IN_EV))
    decay = np.exp(-gamma * dt)
    v = np.empty((n_frames, n_atoms, 3))
    v[0] = rng.normal(size=(n_atoms, 3)) * sigma_v[:, None]
    kick = np.sqrt(1 - decay**2) * sigma_v[:, None]
    for k in range(1, n_frames):
        v[k] = decay * v[k - 1] + kick * rng.normal(size=(n_atoms, 3))
    traj = Trajectory.from_arrays(np.cumsum(v, axis=0) * dt, ["Ar"] * n_atoms, dt, velocities=v)
    result = DOSAnalysis(window=window, window_function="hann", blocks=6).run(traj)
    nu = result.frequencies_thz
    dt_ps = dt * 1e-3
    lags = np.arange(1, window)
    hann = 0.5 * (1 + np.cos(np.pi * lags / window))
    expected = 6 * dt_ps * (1 + 2 * (hann * decay**lags * np.cos(2 * np.pi * np.outer(nu, lags) * dt_ps)).sum(axis=1))
    gamma_thz = gamma * 1e3  # 1/ps
    lorentzian = 12 * gamma_thz / (gamma_thz**2 + (2 * np.pi * nu) ** 2)
    band = nu < 20  # where the spectrum holds 90 % of its weight
    np.testing.assert_allclose(expected[band], lorentzian[band], rtol=0.05)
    np.testing.assert_allclose(result.total[band], expected[band], rtol=0.06)
    # the standard errors have the size of the actual deviations
    ratio = np.median(np.abs(result.total - expected)[band] / result.total_err[band])
    assert 0.2 < ratio < 3.0


def test_equipartition_temperature_from_gaussian_velocities():
    rng = np.random.default_rng(5)
    n_atoms, n_frames = 500, 400
    masses = masses_for_species(["Cu"] * n_atoms)
    v = (rng.normal(size=(n_frames, n_atoms, 3))
         * np.sqrt(KB_EV_PER_K * 450.0 / (masses * AMU_A2_PER_FS2_IN_EV))[:, None])
    traj = Trajectory.from_arrays(np.zeros_like(v), ["Cu"] * n_atoms, 1.0, velocities=v)
    result = DOSAnalysis(window=50, blocks=4).run(traj)
    expected = 450.0 * 3 * n_atoms / (3 * n_atoms - 3)
    assert result.temperature_k == pytest.approx(expected, rel=0.01)
    assert result.temperature_err_k < 5.0


def test_velocities_from_positions_match_true_velocities(two_species):
    exact = DOSAnalysis(window=500).run(two_species)
    derived = DOSAnalysis(window=500, from_positions=True).run(two_species)
    np.testing.assert_allclose(derived.peaks(), exact.peaks())
    # central differences damp a line at ν by sinc(2πνΔt): 12 THz, 2 fs → 0.981
    ratio = derived.raw_power.sum() / exact.raw_power.sum()
    assert 0.95 < ratio < 1.0
    assert derived.provenance.n_frames == exact.provenance.n_frames - 2


def test_quantum_correction_factors():
    nu = np.array([1e-9, 1.0, 10.0, 100.0])
    x = H_EV_PER_THZ * nu / (KB_EV_PER_K * 100.0)
    np.testing.assert_allclose(quantum_correction("harmonic", nu, 100.0), x / (1 - np.exp(-x)))
    np.testing.assert_allclose(quantum_correction("standard", nu, 100.0), 2 / (1 + np.exp(-x)))
    np.testing.assert_allclose(quantum_correction("schofield", nu, 100.0), np.exp(x / 2))
    np.testing.assert_allclose(quantum_correction("harmonic", nu, 100.0)[0], 1.0, rtol=1e-6)


def test_quantum_correction_is_applied_to_the_spectrum(two_species):
    classical = DOSAnalysis(window=500).run(two_species)
    corrected = DOSAnalysis(window=500, quantum_correction="harmonic", temperature_k=T).run(two_species)
    factor = quantum_correction("harmonic", classical.frequencies_thz, T)
    np.testing.assert_allclose(corrected.total, classical.total * factor, rtol=1e-12, atol=1e-15)


def test_error_bars_only_with_several_blocks():
    short = DOSAnalysis(window=200, blocks=4).run(
        oscillator_trajectory(["Si"] * 30, np.linspace(3, 15, 30), n_frames=1600, seed=2))
    assert short.total_err is not None and np.all(short.total_err >= 0)
    single = DOSAnalysis(window=200, blocks=1).run(
        oscillator_trajectory(["Si"] * 30, np.linspace(3, 15, 30), n_frames=1600, seed=2))
    assert single.total_err is None and single.temperature_err_k is None
