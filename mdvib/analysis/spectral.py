"""From correlation functions to one-sided spectra: lag windows, FFT, quantum corrections.

Conventions (docs/physics.md, "From correlation to spectrum"): linear frequency ν in THz; the two-sided spectrum is
P(ν) = ∫ C(t) e^{-2πiνt} dt, so ∫P dν = C(0); the one-sided spectrum returned
here is S(ν) = 2P(ν) on ν ≥ 0, whose trapezoid integral over the discrete grid
equals C(0) exactly (discrete Parseval).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from mdvib.errors import SettingsError
from mdvib.units import H_EV_PER_THZ, KB_EV_PER_K


def _hann(lags: np.ndarray, n: int) -> np.ndarray:
    return 0.5 * (1.0 + np.cos(np.pi * lags / n))


def _gaussian(lags: np.ndarray, n: int) -> np.ndarray:
    # standard deviation n/3: the window has fallen to 1 % at the last lag
    return np.exp(-0.5 * (3.0 * lags / n) ** 2)


#: Lag-window functions w(τ) on 0 ≤ τ < n (w(0) = 1). ``cos2`` is cos²(πτ/2n),
#: identical to the Hann window written as 0.5(1 + cos(πτ/n)).
LAG_WINDOWS = {
    "none": lambda lags, n: np.ones_like(lags, dtype=float),
    "hann": _hann,
    "cos2": _hann,
    "gaussian": _gaussian,
}


#: Fewer lags than this are refused: no spectrum worth the name (an error naming --window and --blocks).
MIN_WINDOW = 10


def check_spectrum_settings(window: int | None, window_function: str, blocks: int) -> None:
    """Validate the settings every correlation-spectrum analyser shares (DOS, IR, Raman).

    Parameters
    ----------
    window : int or None
        Lags of the correlation (``None``: the analyser's default).
    window_function : str
        A key of :data:`LAG_WINDOWS`.
    blocks : int
        Blocks for the error bars.

    Raises
    ------
    SettingsError
        For a window shorter than :data:`MIN_WINDOW`, an unknown window function or ``blocks < 1``.
    """
    if window is not None and window < MIN_WINDOW:
        raise SettingsError(f"a window of {window} lags is too short for a spectrum: pass --window {MIN_WINDOW} "
                            f"or more (window >= {MIN_WINDOW} frames)")
    if window_function not in LAG_WINDOWS:
        raise SettingsError(f"unknown window function {window_function!r}; choose one of {sorted(LAG_WINDOWS)}")
    if blocks < 1:
        raise SettingsError(f"blocks must be >= 1, got {blocks}")


def lag_window(name: str, n: int) -> np.ndarray:
    """Lag window of length ``n`` (w(0) = 1), shape (n,).

    Raises
    ------
    SettingsError
        For an unknown window name.
    """
    if name not in LAG_WINDOWS:
        raise SettingsError(f"unknown window function {name!r}; choose one of {sorted(LAG_WINDOWS)}")
    return LAG_WINDOWS[name](np.arange(n, dtype=float), n)


def frequency_grid_thz(window: int, dt_fs: float, oversample: int = 1) -> np.ndarray:
    """Frequencies ν_k = k / (2 p W Δt), k = 0..pW, in THz, shape (p·window + 1,), p = ``oversample``."""
    n = oversample * window
    return np.arange(n + 1) / (2.0 * n * dt_fs * 1e-3)


def one_sided_spectrum(
    correlation: np.ndarray, dt_fs: float, window_function: str = "hann", oversample: int = 1
) -> np.ndarray:
    """One-sided spectrum S(ν) = 2∫C(t)w(t)cos(2πνt)dt of an even correlation function.

    The windowed correlation vanishes beyond the last lag, so ``oversample`` > 1
    (zero padding) evaluates the same continuous transform on a finer grid; it
    adds no resolution.

    Parameters
    ----------
    correlation : ndarray, shape (..., W)
        C(τ) at lags 0..W-1 (any units [C]).
    dt_fs : float
        Lag spacing in fs.
    window_function : str
        One of :data:`LAG_WINDOWS`.
    oversample : int
        Grid refinement factor p.

    Returns
    -------
    ndarray, shape (..., p·W + 1)
        S(ν) on :func:`frequency_grid_thz`, in [C]/THz.
    """
    n = correlation.shape[-1]
    damped = correlation * lag_window(window_function, n)
    gap = np.zeros(damped.shape[:-1] + (2 * (oversample - 1) * n + 1,))
    even = np.concatenate([damped, gap, damped[..., :0:-1]], axis=-1)
    two_sided = scipy.fft.rfft(even, axis=-1).real * (dt_fs * 1e-3)
    return 2.0 * two_sided


def resolution_fwhm_thz(window: int, dt_fs: float, window_function: str) -> float:
    """FWHM of the line shape a lag window imposes on a sharp mode, THz.

    The line shape is the spectrum of a constant correlation, evaluated on a
    grid 64× finer than the analysis grid.
    """
    oversample = 64
    line = one_sided_spectrum(np.ones(window), dt_fs, window_function, oversample)
    freq = frequency_grid_thz(window, dt_fs, oversample)
    half = line[0] / 2.0
    first_below = int(np.argmax(line < half))
    f0, f1 = freq[first_below - 1], freq[first_below]
    l0, l1 = line[first_below - 1], line[first_below]
    return float(2.0 * (f0 + (half - l0) * (f1 - f0) / (l1 - l0)))


def _harmonic(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x / -np.expm1(-np.where(x > 0, x, 1.0)), 1.0)


def _standard(x: np.ndarray) -> np.ndarray:
    return 2.0 / (1.0 + np.exp(-x))


def _schofield(x: np.ndarray) -> np.ndarray:
    return np.exp(x / 2.0)


#: Quantum correction factors Q(x), x = hν/k_BT, applied to a classical spectrum.
QUANTUM_CORRECTIONS = {
    "none": None,
    "harmonic": _harmonic,
    "standard": _standard,
    "schofield": _schofield,
}


def quantum_correction(name: str, frequencies_thz: np.ndarray, temperature_k: float) -> np.ndarray:
    """Quantum correction factor on a frequency grid.

    Parameters
    ----------
    name : {"none", "harmonic", "standard", "schofield"}
        harmonic: x/(1−e^{−x}); standard: 2/(1+e^{−x}); Schofield: e^{x/2}.
    frequencies_thz : ndarray
        Linear frequencies, THz.
    temperature_k : float
        Temperature, K (must be > 0 unless ``name`` is ``"none"``).
    """
    if name not in QUANTUM_CORRECTIONS:
        raise SettingsError(f"unknown quantum correction {name!r}; choose one of {sorted(QUANTUM_CORRECTIONS)}")
    if name != "none" and not temperature_k > 0:
        raise SettingsError(f"quantum correction {name!r} needs a positive temperature, got {temperature_k}")
    frequencies_thz = np.asarray(frequencies_thz, dtype=float)
    if name == "none":
        return np.ones_like(frequencies_thz)
    return QUANTUM_CORRECTIONS[name](H_EV_PER_THZ * frequencies_thz / (KB_EV_PER_K * temperature_k))


def central_difference_damping(frequencies_thz: np.ndarray, dt_fs: float) -> np.ndarray:
    """Power kept by central-difference velocities, sinc²(2πνΔt) = (sin(2πνΔt) / (2πνΔt))².

    Velocities (r(t+Δt) − r(t−Δt)) / 2Δt of a mode r ∝ e^{2πiνt} are its true
    velocity times sin(2πνΔt)/(2πνΔt), so a spectrum from them is the true one
    times this factor (1 at ν = 0, 0 at the Nyquist frequency 1/(2Δt)).

    Parameters
    ----------
    frequencies_thz : ndarray
        Linear frequencies ν, THz (any shape).
    dt_fs : float
        Time between the differenced frames, fs.

    Returns
    -------
    ndarray
        Dimensionless factor, the shape of ``frequencies_thz``.
    """
    return np.sinc(2.0 * np.asarray(frequencies_thz, dtype=float) * dt_fs * 1e-3) ** 2
