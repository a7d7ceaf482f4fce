"""Phonon linewidths and lifetimes from SED peaks (docs/physics.md, "Spectral energy density").

Each peak is fitted on the linear-frequency axis with

* a Lorentzian A / (1 + ((ν − ν₀)/(Γ/2))²), or
* a damped harmonic oscillator (the velocity spectrum of a Langevin
  oscillator) A (Γν)² / ((ν² − ν₀²)² + (Γν)²), whose FWHM is exactly Γ;

Γ is the FWHM in THz, Γ_ω = 2πΓ the FWHM in rad/ps and the lifetime is
τ = 1/Γ_ω = 1/(2πΓ) ps (pySED's code writes twice its documented τ).

With force constants the mode-projected spectra Φ_ν are fitted one peak each,
started from the harmonic frequency; without them Φ′ is fitted at each q with
a set number of peaks (the most prominent maxima), branches numbered by
frequency. Points are weighted by the block standard errors when the SED has
at least :data:`MIN_BLOCKS_FOR_WEIGHTS` blocks (fewer give too noisy an error
estimate per point); the fit errors are scaled by the residuals. Fits that
fail or end on the edge of their window are dropped with a warning; a width
below two frequency bins is flagged as resolution-limited.
scipy's ``curve_fit`` does the fitting.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from mdvib.analysis.sed.analysis import SEDResult
from mdvib.errors import SettingsError
from mdvib.results import Provenance, quantity, result_type, save_h5_or_csv

#: Peak models.
MODELS = ("lorentzian", "dho")
#: Half-width of the fitted window around a peak, in units of the initial FWHM estimate.
WINDOW_FWHMS = 5.0
#: Fewer blocks than this: the points of a fit are not weighted by their block errors.
MIN_BLOCKS_FOR_WEIGHTS = 4
#: Maxima closer than this many frequency bins are one peak (the more prominent is kept).
MIN_PEAK_SEPARATION_BINS = 3
#: A fitted FWHM below this many frequency bins is resolution-limited (flagged).
RESOLUTION_BINS = 2.0


def lorentzian(nu: np.ndarray, amplitude: float, centre: float, fwhm: float) -> np.ndarray:
    """Lorentzian of peak height ``amplitude`` at ``centre`` with full width ``fwhm`` (same unit as ``nu``)."""
    return amplitude / (1.0 + ((nu - centre) / (0.5 * fwhm)) ** 2)


def damped_oscillator(nu: np.ndarray, amplitude: float, centre: float, fwhm: float) -> np.ndarray:
    """Velocity spectrum of a damped oscillator, peak height ``amplitude`` at ``centre``, FWHM ``fwhm``."""
    width = (fwhm * nu) ** 2
    return amplitude * width / ((nu ** 2 - centre ** 2) ** 2 + width)


_SHAPES = {"lorentzian": lorentzian, "dho": damped_oscillator}


def _sum_of_peaks(shape):
    def model(nu, *params):
        out = np.zeros_like(nu)
        for k in range(0, len(params), 3):
            out += shape(nu, *params[k:k + 3])
        return out

    return model


@result_type
@dataclasses.dataclass(frozen=True)
class LifetimeTable:
    """Fitted SED peaks: one row per (q, branch)."""

    q_index: np.ndarray = quantity("", "(n_rows,)", "index of the q-point in the SED")
    qpoints_reduced: np.ndarray = quantity("1", "(n_rows, 3)", "q, reduced coordinates of the unit cell's reciprocal")
    distance: np.ndarray = quantity("1/Å", "(n_rows,)", "path coordinate of the q-point")
    branch: np.ndarray = quantity("", "(n_rows,)", "mode (with force constants) or peak number at this q")
    frequency_thz: np.ndarray = quantity("THz", "(n_rows,)", "fitted peak frequency ν₀")
    frequency_err_thz: np.ndarray = quantity("THz", "(n_rows,)", "standard error of ν₀")
    fwhm_thz: np.ndarray = quantity("THz", "(n_rows,)", "fitted FWHM Γ (linear frequency)")
    fwhm_err_thz: np.ndarray = quantity("THz", "(n_rows,)", "standard error of Γ")
    lifetime_ps: np.ndarray = quantity("ps", "(n_rows,)", "τ = 1/(2πΓ)")
    lifetime_err_ps: np.ndarray = quantity("ps", "(n_rows,)", "standard error of τ")
    amplitude: np.ndarray = quantity("eV/THz", "(n_rows,)", "fitted peak height")
    resolution_limited: np.ndarray = quantity("", "(n_rows,)", "1 when Γ is below two frequency bins")
    model: str = quantity("", "()", "lorentzian or dho")
    source: str = quantity("", "()", "modes (Φ_ν per mode) or peaks (Φ′ per q)")
    resolution_thz: float = quantity("THz", "()", "frequency spacing of the fitted spectra")
    harmonic_thz: np.ndarray = quantity("THz", "(n_rows,)", "harmonic frequency of the mode", optional=True)
    temperature_k: float = quantity("K", "()", "kinetic temperature of the SED", optional=True)
    provenance: Provenance = dataclasses.field(default=None)

    @property
    def linewidth_rad_per_ps(self) -> np.ndarray:
        """Γ_ω = 2πΓ, rad/ps, shape (n_rows,)."""
        return 2.0 * np.pi * self.fwhm_thz

    def save(self, path) -> None:
        """Write ``.h5`` (typed, with units) or ``.csv``, chosen by extension."""
        save_h5_or_csv(self, path)

    def to_csv(self) -> str:
        """CSV text, one row per (q, branch); units in the column names."""
        names = ["q_index", "qa", "qb", "qc", "distance_1/A", "branch", "frequency_THz", "frequency_err_THz",
                 "fwhm_THz", "fwhm_err_THz", "linewidth_rad/ps", "lifetime_ps", "lifetime_err_ps", "amplitude_eV/THz",
                 "resolution_limited"]
        if self.harmonic_thz is not None:
            names.append("harmonic_THz")
        lines = [",".join(names)]
        for r in range(self.q_index.size):
            row = [f"{self.q_index[r]:d}", *(f"{x:.6g}" for x in self.qpoints_reduced[r]),
                   f"{self.distance[r]:.6g}", f"{self.branch[r]:d}"]
            row += [f"{x:.6g}" for x in (self.frequency_thz[r], self.frequency_err_thz[r], self.fwhm_thz[r],
                                          self.fwhm_err_thz[r], self.linewidth_rad_per_ps[r], self.lifetime_ps[r],
                                          self.lifetime_err_ps[r], self.amplitude[r])]
            row.append(f"{self.resolution_limited[r]:d}")
            if self.harmonic_thz is not None:
                row.append(f"{self.harmonic_thz[r]:.6g}")
            lines.append(",".join(row))
        return "\n".join(lines) + "\n"

    def summary(self, max_rows: int = 12) -> str:
        """The table's first rows, human-readable."""
        lines = [f"{self.q_index.size} peaks fitted ({self.model}, {self.source}); τ = 1/(2π·FWHM)",
                 "    q  branch   ν (THz)       FWHM (THz)        τ (ps)"]
        for r in range(min(self.q_index.size, max_rows)):
            flag = " (resolution-limited)" if self.resolution_limited[r] else ""
            lines.append(f"  {self.q_index[r]:3d}  {self.branch[r]:6d}  {self.frequency_thz[r]:7.3f} ± "
                         f"{self.frequency_err_thz[r]:.3f}  {self.fwhm_thz[r]:.4f} ± {self.fwhm_err_thz[r]:.4f}  "
                         f"{self.lifetime_ps[r]:7.3f} ± {self.lifetime_err_ps[r]:.3f}{flag}")
        if self.q_index.size > max_rows:
            lines.append(f"  … {self.q_index.size - max_rows} more rows in the table")
        return "\n".join(lines)


@dataclasses.dataclass
class _Fit:
    q: int
    branch: int
    params: np.ndarray
    errors: np.ndarray
    harmonic: float | None


def fit_lifetimes(result: SEDResult, model: str = "lorentzian", peaks: int | None = None,
                  min_frequency_thz: float | None = None) -> LifetimeTable:
    """Fit every peak of an SED.

    Parameters
    ----------
    result : SEDResult
        With ``mode_sed`` (force constants given) each mode is fitted once;
        otherwise Φ′ at each q with ``peaks`` peaks.
    model : {"lorentzian", "dho"}
        Peak shape.
    peaks : int, optional
        Peaks per q without force constants (default 3 n_basis, the number
        of branches; fewer are fitted where Φ′ has fewer maxima).
    min_frequency_thz : float, optional
        Peaks below this are not fitted (default: 3 frequency bins; the
        acoustic modes at Γ are skipped).

    Returns
    -------
    LifetimeTable
    """
    if model not in MODELS:
        raise SettingsError(f"unknown peak model {model!r}; choose one of {list(MODELS)}")
    if peaks is not None and peaks < 1:
        raise SettingsError(f"peaks must be >= 1, got {peaks}")
    nu = result.frequencies_thz
    bin_width = float(nu[1] - nu[0])
    floor = 3.0 * bin_width if min_frequency_thz is None else float(min_frequency_thz)
    fits, failed = [], []
    weighted = result.sed_err is not None and result.blocks >= MIN_BLOCKS_FOR_WEIGHTS
    if result.mode_sed is not None:
        for q in range(result.sed.shape[0]):
            for m in range(result.mode_sed.shape[1]):
                harmonic = float(result.harmonic_thz[q, m])
                if harmonic < floor:
                    continue
                err = result.mode_sed_err[q, m] if weighted else None
                fit = _fit_peaks(nu, result.mode_sed[q, m], err, [harmonic], model, bin_width)
                (fits.append(_Fit(q, m, fit[0], fit[1], harmonic)) if fit is not None else failed.append((q, m)))
        source = "modes"
    else:
        count = 3 * result.n_basis if peaks is None else peaks
        for q in range(result.sed.shape[0]):
            err = result.sed_err[q] if weighted else None
            guesses = _peak_guesses(nu, result.sed[q], count, floor)
            if not guesses:
                continue
            fit = _fit_peaks(nu, result.sed[q], err, guesses, model, bin_width)
            if fit is None:
                failed.append((q, -1))
                continue
            order = np.argsort(fit[0][1::3])
            for branch, k in enumerate(order):
                fits.append(_Fit(q, branch, fit[0][3 * k:3 * k + 3], fit[1][3 * k:3 * k + 3], None))
        source = "peaks"
    if failed:
        warnings.warn(f"{len(failed)} peak fit(s) failed or left their window and are not in the table (first: "
                      f"q {failed[0][0]}" + (f", mode {failed[0][1]}" if failed[0][1] >= 0 else "") + ")",
                      stacklevel=2)
    return _table(result, fits, model, source, bin_width)


def _peak_guesses(nu: np.ndarray, spectrum: np.ndarray, count: int, floor: float) -> list[float]:
    """Frequencies of the ``count`` most prominent maxima above ``floor``."""
    from scipy.signal import find_peaks

    above = nu >= floor
    index, props = find_peaks(spectrum * above, prominence=0.02 * float(spectrum[above].max(initial=0.0)),
                              distance=MIN_PEAK_SEPARATION_BINS)
    keep = index[np.argsort(props["prominences"])[::-1][:count]]
    return sorted(float(nu[k]) for k in keep)


def _half_width(nu: np.ndarray, spectrum: np.ndarray, peak: int, bin_width: float) -> float:
    """FWHM estimate from the half-maximum crossings around ``peak``."""
    half = 0.5 * spectrum[peak]
    left = peak
    while left > 0 and spectrum[left] > half:
        left -= 1
    right = peak
    while right < spectrum.size - 1 and spectrum[right] > half:
        right += 1
    return max((right - left) * bin_width, 2.0 * bin_width)


def _fit_peaks(nu, spectrum, err, guesses, model, bin_width):
    """Fit ``len(guesses)`` peaks; ``(params, errors)`` (each (3 n_peaks,)) or ``None`` when the fit fails."""
    from scipy.optimize import curve_fit

    p0, lower, upper, windows = [], [], [], []
    for k, guess in enumerate(guesses):
        others = np.abs(np.delete(np.asarray(guesses, float), k) - guess)
        spacing = float(others.min()) if others.size else np.inf
        near = np.abs(nu - guess) <= min(max(0.2 * guess, 5 * bin_width), max(0.5 * spacing, bin_width))
        peak = int(np.flatnonzero(near)[np.argmax(spectrum[near])])
        fwhm = _half_width(nu, spectrum, peak, bin_width)
        centre = float(nu[peak])
        reach = min(fwhm + bin_width, max(0.5 * spacing, bin_width))  # a peak may not wander onto its neighbour
        p0 += [float(spectrum[peak]), centre, fwhm]
        lower += [0.0, centre - reach, 0.1 * bin_width]
        upper += [np.inf, centre + reach, 50 * fwhm]
        windows.append((centre - WINDOW_FWHMS * fwhm, centre + WINDOW_FWHMS * fwhm))
    mask = np.zeros(nu.size, dtype=bool)
    for lo, hi in windows:
        mask |= (nu >= lo) & (nu <= hi)
    if mask.sum() <= len(p0):
        return None
    sigma = None
    if err is not None:
        sigma = np.maximum(err[mask], 1e-3 * float(spectrum[mask].max()))
    try:
        params, cov = curve_fit(_sum_of_peaks(_SHAPES[model]), nu[mask], spectrum[mask], p0=p0,
                                bounds=(lower, upper), sigma=sigma, absolute_sigma=False,
                                maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    errors = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(errors))):
        return None
    centres, low, high = params[1::3], np.array(lower[1::3]), np.array(upper[1::3])
    if np.any(np.isclose(centres, low, rtol=0, atol=1e-6 * bin_width)) or np.any(
            np.isclose(centres, high, rtol=0, atol=1e-6 * bin_width)):
        return None  # a peak pinned to the edge of its window: not a fit
    return params, errors


def _table(result: SEDResult, fits: list[_Fit], model: str, source: str, bin_width: float) -> LifetimeTable:
    if not fits:
        raise SettingsError("no SED peak could be fitted (spectra too noisy or all peaks below the minimum "
                            "frequency); use a longer trajectory or more segments")
    params = np.array([f.params for f in fits])
    errors = np.array([f.errors for f in fits])
    q = np.array([f.q for f in fits], dtype=np.int64)
    fwhm, fwhm_err = params[:, 2], errors[:, 2]
    lifetime = 1.0 / (2.0 * np.pi * fwhm)
    return LifetimeTable(
        q_index=q, qpoints_reduced=result.qpoints_reduced[q], distance=result.distances[q],
        branch=np.array([f.branch for f in fits], dtype=np.int64),
        frequency_thz=params[:, 1], frequency_err_thz=errors[:, 1], fwhm_thz=fwhm, fwhm_err_thz=fwhm_err,
        lifetime_ps=lifetime, lifetime_err_ps=lifetime * fwhm_err / fwhm, amplitude=params[:, 0],
        resolution_limited=(fwhm < RESOLUTION_BINS * bin_width).astype(np.int64), model=model, source=source,
        resolution_thz=bin_width,
        harmonic_thz=None if source == "peaks" else np.array([f.harmonic for f in fits]),
        temperature_k=result.temperature_k, provenance=result.provenance)
