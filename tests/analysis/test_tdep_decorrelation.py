"""Automatic stride: integrated autocorrelation times of synthetic series with known τ.

The SW-Si MD check (stride chosen on a real trajectory, frequencies still within
0.5 % of phonopy) is ``test_tdep.py::test_cli_automatic_stride_on_md``.
"""

from __future__ import annotations

import numpy as np
import pytest

from mdvib.analysis.tdep import Reference, TDEPAnalysis
from mdvib.analysis.tdep.decorrelation import estimate_decorrelation, sokal_tau, stride_from_tau
from mdvib.errors import SettingsError
from mdvib.trajectory import Trajectory
from tests.lammps_helpers import SI_MASS_AMU, diamond_si_supercell


def _reference() -> Reference:
    cell, positions = diamond_si_supercell(2)
    n = len(positions)
    return Reference(cell=cell, positions=positions, species=("Si",) * n, masses=np.full(n, SI_MASS_AMU))


def _ar1(phi: float, shape: tuple[int, ...], sigma: float, seed: int) -> np.ndarray:
    """Stationary AR(1) series x(t) = φ x(t−1) + √(1 − φ²) σ ξ(t) along axis 0."""
    rng = np.random.default_rng(seed)
    x = np.empty(shape)
    x[0] = rng.normal(0.0, sigma, shape[1:])
    noise = rng.normal(0.0, sigma * np.sqrt(1.0 - phi**2), shape)
    for t in range(1, shape[0]):
        x[t] = phi * x[t - 1] + noise[t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9, 0.98])
def test_sokal_tau_of_an_exponential(phi):
    """ρ(k) = φ^k: τ_int = (1 + φ) / (2 (1 − φ)) (Sokal's window truncates e^{−6} of the tail)."""
    rho = phi ** np.arange(2000)
    tau, window, converged = sokal_tau(rho)
    assert converged and window >= 6 * tau - 1
    assert tau == pytest.approx((1 + phi) / (2 * (1 - phi)), rel=5e-3)


def test_sokal_tau_not_converged_and_strides():
    tau, window, converged = sokal_tau(np.ones(10))
    assert not converged and window == 9 and tau == pytest.approx(9.5)
    assert [stride_from_tau(t) for t in (-0.2, 0.5, 0.51, 5.0, 5.2)] == [1, 1, 2, 10, 11]


@pytest.mark.parametrize("series, tau", [("displacements", 5.0), ("displacements", 12.0), ("forces", 3.0)])
def test_ar1_trajectory_tau_within_20_percent(series, tau):
    """Displacements (or forces) of 64 atoms follow independent AR(1) processes.

    The series correlated is the squared, mass-weighted one; for a Gaussian AR(1)
    with coefficient φ its autocorrelation is φ^{2k}, so τ_int = (1 + φ²) / (2 (1 − φ²)):
    φ² = (2τ − 1) / (2τ + 1) gives the τ wanted.
    """
    reference = _reference()
    phi = np.sqrt((2 * tau - 1) / (2 * tau + 1))
    shape = (4000, reference.n_atoms, 3)
    moving = _ar1(phi, shape, 0.03, seed=int(10 * tau))
    still = np.random.default_rng(1).normal(0.0, 0.03, shape)  # uncorrelated: no effect on τ of the other series
    u, f = (moving, still) if series == "displacements" else (0.2 * still, moving)
    traj = Trajectory.from_arrays(reference.positions + u, ["Si"] * reference.n_atoms, 2.0, forces=f,
                                  cells=reference.cell)
    found = TDEPAnalysis(reference, rc2=4.0, decorrelation_series=series).measure_decorrelation(traj)
    assert found.series == series and found.converged and found.n_frames == 4000 and found.n_channels == 192
    assert found.tau_int_frames == pytest.approx(tau, rel=0.2)
    assert found.stride == stride_from_tau(found.tau_int_frames)


def test_uncorrelated_frames_give_stride_one():
    rng = np.random.default_rng(2)
    u = rng.normal(0.0, 0.02, (500, 8, 3))
    found = estimate_decorrelation([(u[:250], u[:250]), (u[250:], u[250:])], 500, np.full(8, 28.0))
    assert abs(found.tau_int_frames - 0.5) < 0.1 and found.stride == 1


def test_bad_decorrelation_input():
    with pytest.raises(SettingsError, match="unknown decorrelation series"):
        TDEPAnalysis(_reference(), rc2=4.0, decorrelation_series="velocities")
    u = np.zeros((5, 8, 3))
    with pytest.raises(SettingsError, match="at least 8 consecutive frames"):
        estimate_decorrelation([(u, u)], 5, np.full(8, 28.0))
    with pytest.raises(SettingsError, match="do not vary"):
        estimate_decorrelation([(np.zeros((10, 8, 3)), u)], 10, np.full(8, 28.0))
    reference = _reference()
    traj = Trajectory.from_arrays(reference.positions[None], ["Si"] * reference.n_atoms, 1.0,
                                  forces=np.zeros((1, reference.n_atoms, 3)), cells=reference.cell)
    with pytest.raises(SettingsError, match="positive integer or 'auto'"):
        TDEPAnalysis(reference, rc2=4.0).run(traj, step="often")
