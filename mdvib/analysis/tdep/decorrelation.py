"""Integrated autocorrelation time of the snapshot series, and the stride it implies.

Consecutive MD frames are nearly the same configuration; fitting all of them
costs time without adding information. The stride is chosen from the
integrated autocorrelation time of a per-snapshot series (Sokal, "Monte Carlo
methods in statistical mechanics", 1996, §3):

* series: mass-weighted displacements √m_i u_iα(t) (or mass-weighted forces
  f_iα(t)/√m_i), one channel per atom and direction, in the same reference
  order, with the same drift removal as the fit;
* normalised autocorrelation, summed over channels (a variance-weighted mean
  of the per-channel ones):
  ρ(k) = Σ_c ⟨δx_c(t) δx_c(t+k)⟩ / Σ_c ⟨δx_c²⟩, with δx = x − its time mean;
* τ_int(M) = ½ + Σ_{k=1}^{M} ρ(k) in frames, with Sokal's self-consistent
  window: the smallest M with M ≥ c·τ_int(M) (c = :data:`SOKAL_C`);
* stride = ⌈2 τ_int⌉ (at least 1): 2 τ_int is the statistical inefficiency,
  the spacing of effectively independent samples (for an AR(1) series
  ρ(k) = φ^k, τ_int = (1 + φ) / (2 (1 − φ))).

Displacement correlations in a crystal oscillate (vibrations) and decay as the
modes dephase, so τ_int measures how long a snapshot remembers the previous
displacement pattern — about a third of the slowest vibrational period for
thermalised MD. It says nothing about how long mode energies take to
equilibrate (thermostat, anharmonic coupling): a short NVE run of a
near-harmonic crystal is decorrelated by this measure without sampling the
canonical ensemble.

Correlations are accumulated with :class:`~mdvib.analysis.correlator.BlockedAutocorrelator`
(streamed, memory O(channels × lags)); on large systems a regular subset of
atoms is used so that channels × lags stays within :data:`MAX_CORRELATION_VALUES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from mdvib.analysis.correlator import BlockedAutocorrelator
from mdvib.errors import SettingsError

#: Sokal's window constant: the window M is the smallest with M ≥ c·τ_int(M)
#: (Sokal recommends c ≈ 6 for roughly exponential decays).
SOKAL_C = 6.0

#: Longest lag correlated, frames (τ_int beyond MAX_LAG_FRAMES / SOKAL_C is reported as not converged).
MAX_LAG_FRAMES = 4096

#: Channels × lags held by the correlator (its work arrays take 40 bytes each: ~85 MB).
MAX_CORRELATION_VALUES = 2**21

#: Fewest frames a τ_int estimate is attempted on.
MIN_FRAMES = 8


def _squared_displacements(u: np.ndarray, f: np.ndarray, masses: np.ndarray) -> np.ndarray:
    return masses[None, :, None] * u**2


def _squared_forces(u: np.ndarray, f: np.ndarray, masses: np.ndarray) -> np.ndarray:
    return f**2 / masses[None, :, None]


#: Series whose autocorrelation sets the stride: name → function (u Å, f eV/Å, masses amu) → (n, N, 3).
DECORRELATION_SERIES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "displacements": _squared_displacements,
    "forces": _squared_forces,
}


@dataclass(frozen=True)
class Decorrelation:
    """Integrated autocorrelation time of a snapshot series and the stride chosen from it.

    Attributes
    ----------
    tau_int_frames : float
        Sokal's τ_int = ½ + Σ_{k=1}^{M} ρ(k), in frames of the file.
    window_frames : int
        Sokal window M, frames.
    stride : int
        Chosen stride, ⌈2 τ_int⌉ (at least 1), frames.
    converged : bool
        Whether the window condition M ≥ c·τ_int(M) was met within the lags
        correlated (otherwise τ_int is a lower bound: the trajectory is too short).
    series : str
        Key of :data:`DECORRELATION_SERIES` used.
    n_frames : int
        Frames correlated.
    n_channels : int
        Channels (atoms × 3) correlated.
    """

    tau_int_frames: float
    window_frames: int
    stride: int
    converged: bool
    series: str
    n_frames: int
    n_channels: int


def sokal_tau(rho: np.ndarray, c: float = SOKAL_C) -> tuple[float, int, bool]:
    """Integrated autocorrelation time with Sokal's self-consistent window.

    Parameters
    ----------
    rho : ndarray, shape (n_lags,)
        Normalised autocorrelation ρ(k), k = 0 … n_lags − 1 (ρ(0) = 1).
    c : float
        Window constant.

    Returns
    -------
    tau : float
        τ_int(M) = ½ + Σ_{k=1}^{M} ρ(k), frames.
    window : int
        M, the smallest lag ≥ 1 with M ≥ c·τ_int(M); the last lag if none.
    converged : bool
        Whether such an M exists among the lags given.
    """
    rho = np.asarray(rho, dtype=np.float64)
    if rho.size < 2:
        raise SettingsError(f"need the autocorrelation at two lags or more, got {rho.size}")
    lags = np.arange(1, rho.size)
    taus = 0.5 + np.cumsum(rho[1:])
    ok = np.flatnonzero(lags >= c * taus)
    if ok.size:
        m = int(ok[0])
        return float(taus[m]), int(lags[m]), True
    return float(taus[-1]), int(lags[-1]), False


def stride_from_tau(tau_int_frames: float) -> int:
    """Stride ⌈2 τ_int⌉, at least 1 frame."""
    return max(1, math.ceil(2.0 * tau_int_frames - 1e-9))


def estimate_decorrelation(chunks: Iterable[tuple[np.ndarray, np.ndarray]], n_frames: int, masses: np.ndarray,
                           series: str = "displacements", c: float = SOKAL_C) -> Decorrelation:
    """τ_int and stride from consecutive snapshots, streamed.

    Parameters
    ----------
    chunks : iterable of (u, f)
        Consecutive snapshots in reference order: displacements u (Å) and
        forces f (eV/Å), each of shape (n, N, 3), ``n_frames`` in all.
    n_frames : int
        Total number of snapshots the chunks hold.
    masses : ndarray, shape (N,)
        Atomic masses, amu.
    series : str
        Key of :data:`DECORRELATION_SERIES`.
    c : float
        Sokal's window constant.

    Raises
    ------
    SettingsError
        If the series is unknown, there are fewer than :data:`MIN_FRAMES`
        frames, or the chunks hold another number of frames.
    """
    if series not in DECORRELATION_SERIES:
        raise SettingsError(f"unknown decorrelation series {series!r}; choose one of {list(DECORRELATION_SERIES)}")
    if n_frames < MIN_FRAMES:
        raise SettingsError(f"an automatic stride needs at least {MIN_FRAMES} consecutive frames to correlate, "
                            f"got {n_frames}; give the stride as a number")
    transform = DECORRELATION_SERIES[series]
    masses = np.asarray(masses, dtype=np.float64)
    n_atoms = masses.size
    window = min(n_frames // 2, MAX_LAG_FRAMES)
    atoms = np.arange(n_atoms)
    if 3 * n_atoms * window > MAX_CORRELATION_VALUES:
        keep = max(1, MAX_CORRELATION_VALUES // (3 * window))
        atoms = np.unique(np.linspace(0, n_atoms - 1, keep).round().astype(np.int64))
    n_channels = 3 * atoms.size
    correlator = BlockedAutocorrelator(n_frames, window, np.ones((1, n_channels)), np.zeros(n_channels, np.int64))
    total = np.zeros(n_channels)
    seen = 0
    for u, f in chunks:
        x = transform(u[:, atoms], f[:, atoms], masses[atoms]).reshape(u.shape[0], n_channels)
        if seen + x.shape[0] > n_frames:
            raise SettingsError(f"more than the {n_frames} announced frames were given")
        correlator.push(x)
        total += x.sum(axis=0)
        seen += x.shape[0]
    correlation = correlator.result()[0, 0, 0] - float(np.sum((total / n_frames) ** 2))  # remove the time means
    if correlation[0] <= 0.0:
        raise SettingsError(f"the {series} do not vary over the {n_frames} frames; nothing to correlate")
    tau, m, converged = sokal_tau(correlation / correlation[0], c)
    return Decorrelation(tau_int_frames=tau, window_frames=m, stride=stride_from_tau(tau), converged=converged,
                         series=series, n_frames=n_frames, n_channels=n_channels)
