"""Energy resolution of INS instruments: σ(E) models and the Gaussian broadening they drive.

A resolution model turns energy transfers (meV, both signs) into the standard
deviation σ (meV) of a Gaussian; :func:`broaden` spreads the intensity of every
source bin E_j with its own σ(E_j). Instruments
(:mod:`mdvib.spectroscopy.ins.instruments`) decide where a model is undefined
(E_i ≤ 0, E ≥ E_i) and return NaN there; here NaN and 0 both mean "leave the
bin as it is".

Models
------
* :class:`PolynomialResolution` — σ(E) = Σ_k c_k E^k (meV), e.g. TOSCA's
  2.5 + 0.005E + 1e-7E² cm⁻¹ of Dymkowski et al., Physica B 551 (2018) 443;
* :class:`IncidentFractionResolution` — FWHM = r·E_i with E_i = E + E_f, the
  relative resolution ΔE/E of an indirect-geometry instrument whose timing and
  primary flight path dominate;
* :class:`ResinsResolution` — any model of the ``resins`` library (PyChop
  time-width models of chopper spectrometers, TOSCA's polynomial), called
  through its public ``Instrument.get_resolution_function``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np
import scipy.fft
import scipy.special

from mdvib.errors import SettingsError
from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.units import THZ_TO_INV_CM, THZ_TO_MEV

#: cm⁻¹ per meV.
MEV_TO_INV_CM: float = THZ_TO_INV_CM / THZ_TO_MEV

#: FWHM / σ of a Gaussian, 2√(2 ln 2).
FWHM_PER_SIGMA: float = 2.0 * np.sqrt(2.0 * np.log(2.0))

#: Largest ratio of neighbouring kernel widths in :func:`broaden` (peak error ≤ 0.1 %).
KERNEL_RATIO: float = 1.05
#: Kernels reach this many σ on each side (weight lost beyond: 2e-9).
KERNEL_HALF_WIDTH_SIGMA: float = 6.0
#: σ below this fraction of a bin leaves ≥ 1 − 6e-7 of the intensity in its bin: treated as no broadening.
NEGLIGIBLE_SIGMA_BINS: float = 0.1


class ResolutionModel(Protocol):
    """σ(E) of an instrument's Gaussian energy resolution.

    Attributes
    ----------
    source : str
        Where the model and its numbers come from (citation).
    """

    source: str

    def sigma_mev(self, energy_mev: np.ndarray) -> np.ndarray:
        """σ in meV at each energy transfer (meV), same shape; NaN where the model is undefined."""

    def record(self) -> dict[str, Any]:
        """JSON-able description (provenance)."""


@dataclasses.dataclass(frozen=True)
class PolynomialResolution:
    """σ(E) = Σ_k c_k E^k with E and σ in meV.

    Attributes
    ----------
    coefficients_mev : tuple of float
        c_0, c_1, ... (c_k in meV^(1−k)).
    source : str
        Citation of the coefficients.
    """

    coefficients_mev: tuple[float, ...]
    source: str

    def __post_init__(self):
        if not self.coefficients_mev or not np.all(np.isfinite(self.coefficients_mev)):
            raise SettingsError(f"resolution polynomial coefficients must be finite numbers, not "
                                f"{self.coefficients_mev!r}")

    @classmethod
    def from_units(cls, coefficients, units: str, source: str, fwhm: bool = False) -> PolynomialResolution:
        """A polynomial given in ``units`` ("meV" or "cm-1", for E and σ alike), of σ or (``fwhm``) of the FWHM."""
        scale = {"mev": 1.0, "cm-1": MEV_TO_INV_CM}.get(str(units).lower())
        if scale is None:
            raise SettingsError(f"resolution units {units!r}: use 'meV' or 'cm-1'")
        c = np.asarray(coefficients, dtype=float)
        # σ_u = Σ a_k E_u^k with E_u = s E, σ = σ_u / s  ⇒  c_k = a_k s^(k−1)
        c = c * scale ** (np.arange(len(c)) - 1.0)
        if fwhm:
            c = c / FWHM_PER_SIGMA
        return cls(tuple(float(x) for x in c), source)

    def sigma_mev(self, energy_mev: np.ndarray) -> np.ndarray:
        """σ in meV (polynomial evaluated as is; the instrument masks where it is undefined)."""
        return np.polynomial.polynomial.polyval(np.asarray(energy_mev, dtype=float), self.coefficients_mev)

    def record(self) -> dict[str, Any]:
        return {"model": "polynomial", "sigma_coefficients_meV": list(self.coefficients_mev), "source": self.source}


@dataclasses.dataclass(frozen=True)
class IncidentFractionResolution:
    """FWHM(E) = r · E_i with E_i = E + E_f (indirect geometry).

    Attributes
    ----------
    fwhm_fraction : float
        r = ΔE_FWHM / E_i.
    final_energy_mev : float
        E_f, meV.
    source : str
        Citation of r.
    """

    fwhm_fraction: float
    final_energy_mev: float
    source: str

    def __post_init__(self):
        if not np.isfinite(self.fwhm_fraction) or not 0 < self.fwhm_fraction < 1:
            raise SettingsError(f"relative resolution ΔE/E must lie between 0 and 1, not {self.fwhm_fraction!r}")

    def sigma_mev(self, energy_mev: np.ndarray) -> np.ndarray:
        """σ in meV; NaN where E_i ≤ 0."""
        incident = np.asarray(energy_mev, dtype=float) + self.final_energy_mev
        return np.where(incident > 0, self.fwhm_fraction * incident / FWHM_PER_SIGMA, np.nan)

    def record(self) -> dict[str, Any]:
        return {"model": "fraction of E_i", "fwhm_fraction": self.fwhm_fraction, "source": self.source}


class ResinsResolution:
    """A ``resins`` resolution model, e.g. PyChop for a chopper spectrometer at one E_i and frequency.

    Parameters
    ----------
    instrument : str
        resins instrument name (``"MARI"``, ``"SEQUOIA"``, ``"TOSCA"``, ...).
    version : str, optional
        resins instrument version (default: resins' default).
    model : str, optional
        resins model name (default: the instrument's default model).
    **options
        Passed to ``get_resolution_function`` (``chopper_package``, ``e_init``, ``chopper_frequency``).

    Raises
    ------
    SettingsError
        When resins rejects the options (E_i or frequency out of range, no transmission, unknown package).
    """

    def __init__(self, instrument: str, version: str | None = None, model: str | None = None, **options):
        import resins

        try:
            inst = resins.Instrument.from_default(instrument, version)
            self._model = inst.get_resolution_function(model, **options)
        except Exception as error:     # resins raises its own types (InvalidInputError, NoTransmissionError, ...)
            settings = ", ".join(f"{k}={v!r}" for k, v in options.items())
            raise SettingsError(f"{instrument} ({settings}): resins refuses these settings: {error}") from error
        self.instrument = instrument
        self.version = inst.version
        self.model = model or inst.default_model
        self.options = dict(options)
        self.source = "; ".join(self._model.citation) + f" (resins {resins.__version__}, model {self.model})"

    def sigma_mev(self, energy_mev: np.ndarray) -> np.ndarray:
        """σ in meV from the resins model, same shape as ``energy_mev``."""
        energy = np.asarray(energy_mev, dtype=float)
        sigma = self._model.get_characteristics(energy.reshape(-1, 1))["sigma"]
        return np.asarray(sigma, dtype=float).reshape(energy.shape)

    def record(self) -> dict[str, Any]:
        return {"model": f"resins {self.instrument}/{self.version}/{self.model}", "options": self.options,
                "source": self.source}


def broaden(bins: EnergyBins, intensity: np.ndarray, sigma_mev: np.ndarray) -> np.ndarray:
    """Gaussian broadening whose width follows the source bin: bin j is spread with σ(E_j).

    Parameters
    ----------
    bins : EnergyBins
        The energy axis.
    intensity : numpy.ndarray
        Bin averages per meV on ``bins.centres_mev``, shape ``(..., n_E)``.
    sigma_mev : numpy.ndarray
        Gaussian σ in meV of each source bin, shape ``(n_E,)``; 0 or NaN: that bin is not broadened.

    Returns
    -------
    numpy.ndarray
        Same shape as ``intensity``. Each bin's integral is conserved except the part of its
        kernel that falls outside the axis.

    Notes
    -----
    The kernel of bin j is the Gaussian integrated over each target bin. σ values are
    bracketed on a geometric grid σ_k (ratio :data:`KERNEL_RATIO`); bin j goes to the two
    neighbouring kernels with weights that reproduce its variance σ_j² exactly, and each
    kernel is one convolution over the window its source bins occupy. The shape error
    against the exact kernel is below 0.1 % of the peak.
    """
    intensity = np.asarray(intensity, dtype=float)
    sigma = np.asarray(sigma_mev, dtype=float)
    n_e = len(bins)
    if intensity.shape[-1:] != (n_e,) or sigma.shape != (n_e,):
        raise SettingsError(f"broaden: intensity {intensity.shape} and σ {sigma.shape} must both end in the "
                            f"{n_e} energy bins")
    if np.any(sigma < 0):
        raise SettingsError(f"broaden: σ must be ≥ 0 meV, found {np.nanmin(sigma):g}")
    width = bins.width_mev
    sigma_bins = np.where(np.isfinite(sigma), sigma, 0.0) / width
    wide = sigma_bins >= NEGLIGIBLE_SIGMA_BINS
    out = np.where(wide, 0.0, intensity)
    if not wide.any():
        return out
    low, high = sigma_bins[wide].min(), sigma_bins[wide].max()
    n_kernels = max(0, int(np.ceil(np.log(high / low) / np.log(KERNEL_RATIO) - 1e-12))) + 1
    sources = np.flatnonzero(wide)
    s = sigma_bins[sources]
    if n_kernels == 1:                      # one σ for all: a single kernel
        grid, k, upper = np.array([low]), np.zeros(s.size, dtype=int), np.zeros(s.size)
    else:
        grid = low * (high / low) ** (np.arange(n_kernels) / (n_kernels - 1))
        k = np.clip(np.searchsorted(grid, s, side="right") - 1, 0, n_kernels - 2)
        upper = (s ** 2 - grid[k] ** 2) / (grid[k + 1] ** 2 - grid[k] ** 2)
    for index in range(n_kernels):
        weights = np.zeros(n_e)
        weights[sources[k == index]] += 1.0 - upper[k == index]
        weights[sources[k + 1 == index]] += upper[k + 1 == index]
        _convolve_into(out, intensity, weights, grid[index])
    return out


def _convolve_into(out: np.ndarray, intensity: np.ndarray, weights: np.ndarray, sigma_bins: float) -> None:
    """Add the convolution of ``intensity · weights`` with one bin-integrated Gaussian to ``out``."""
    used = np.flatnonzero(weights)
    if used.size == 0:
        return
    half = int(np.ceil(KERNEL_HALF_WIDTH_SIGMA * sigma_bins)) + 1
    offsets = np.arange(-half, half + 1)
    kernel = np.diff(scipy.special.ndtr((np.append(offsets, half + 1) - 0.5) / sigma_bins))
    first, last = used[0], used[-1] + 1
    length = last - first + kernel.size - 1           # the full linear convolution, by FFT (no wrap-around)
    n_fft = scipy.fft.next_fast_len(length, real=True)
    spread = scipy.fft.irfft(scipy.fft.rfft(intensity[..., first:last] * weights[first:last], n_fft, axis=-1)
                             * scipy.fft.rfft(kernel, n_fft), n_fft, axis=-1)[..., :length]
    start = first - half                    # axis index of spread[..., 0]
    lo, hi = max(start, 0), min(start + spread.shape[-1], out.shape[-1])
    out[..., lo:hi] += spread[..., lo - start:hi - start]
