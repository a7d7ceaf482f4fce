"""What both INS routes hand to an instrument: the σ-weighted powder S(Q,E) order by order.

A *route* (the incoherent multiphonon expansion of a partial DOS,
:mod:`mdvib.spectroscopy.ins.multiphonon`, or the mode-resolved phonon
calculation from force constants, :mod:`mdvib.spectroscopy.ins.phonon_route`)
is an object with the :class:`PowderModel` interface. Instruments only evaluate
it at their |Q| and broaden the result, so a new route or a new instrument needs
no change to the other.

Conventions (docs/physics.md, "INS"):

* intensities are per atom of the sample, c_s σ_s S_s(Q,E) summed over what the
  caller asks for, in barn/meV (bin averages on :class:`~mdvib.spectroscopy.ins.bins.EnergyBins`);
* order 0 is the elastic line e^{-2W} σ in the E = 0 bin, so that summing all
  orders conserves the total intensity: Σ_n ∫ S_n dE = Σ_s c_s σ_s;
* both sides of the axis are filled: energy loss E > 0 and energy gain E < 0,
  with S(Q,−E) = e^{−βE} S(Q,E).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import scipy.constants as _sc

from mdvib.constants.neutron import bound_cross_section
from mdvib.errors import SettingsError
from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.units import KB_EV_PER_K

#: ħ²/(2 u) in meV·Å² (u the atomic mass unit, CODATA): 2W = HBAR2_OVER_2AMU_MEV_A2 · Q² γ / m[amu].
HBAR2_OVER_2AMU_MEV_A2: float = _sc.hbar ** 2 / (2.0 * _sc.atomic_mass) / _sc.e * 1e3 * 1e20


class PowderModel(Protocol):
    """The interface of an INS route.

    Attributes
    ----------
    species : tuple of str
        Names of the scatterers the second axis of :meth:`orders` runs over
        (chemical symbols, isotopes as ``"D"``).
    temperature_k : float
        Temperature of the Bose and Debye–Waller factors, K.
    cross_sections_barn : numpy.ndarray
        σ_s used as weights, barn, shape ``(n_species,)``.
    route : str
        ``"dos"`` or ``"phonons"``, recorded in the spectra.
    """

    route: str
    species: tuple[str, ...]
    temperature_k: float
    cross_sections_barn: np.ndarray

    def orders(self, bins: EnergyBins, q_inv_angstrom: np.ndarray, max_order: int) -> np.ndarray:
        """σ-weighted powder S_n(Q,E) per order and species.

        Parameters
        ----------
        bins : EnergyBins
            Energy-transfer axis (both sides).
        q_inv_angstrom : numpy.ndarray
            |Q| in Å⁻¹, shape ``(n_E,)`` (one |Q| per energy bin: indirect
            geometry) or ``(n_Q, n_E)`` (a map: direct geometry).
        max_order : int
            Highest order n (≥ 1).

        Returns
        -------
        numpy.ndarray
            c_s σ_s S_{s,n}(Q,E) in barn/meV per atom, shape
            ``(max_order + 1, n_species, *q_inv_angstrom.shape)``; index 0 is the elastic line.
        """


def check_temperature(temperature_k) -> None:
    """Refuse a temperature that is not a number of kelvin ≥ 0."""
    if temperature_k is None or not np.isfinite(temperature_k) or temperature_k < 0:
        raise SettingsError(f"the temperature must be a number of kelvin ≥ 0, not {temperature_k!r}")


def isotope_mass(symbol: str) -> float:
    """Mass of an element or isotope (``"D"``, ``"B11"``), amu."""
    from mdvib.constants.neutron import isotope

    return float(isotope(symbol).mass)


class ThermalRoute:
    """What both routes share about temperature: β and a copy at another T (a mixin of frozen dataclasses)."""

    temperature_k: float

    def with_temperature(self, temperature_k: float):
        """The same route at another temperature (same DOS or modes, no new lattice dynamics)."""
        check_temperature(temperature_k)
        return dataclasses.replace(self, temperature_k=float(temperature_k))

    @property
    def beta_per_mev(self) -> float:
        """β = 1/k_BT in 1/meV (infinite at 0 K)."""
        kt = KB_EV_PER_K * 1e3 * self.temperature_k
        return np.inf if kt == 0 else 1.0 / kt


def cross_sections(species: Sequence[str], kind: str = "total",
                   isotopes: Mapping[str, str] | None = None) -> np.ndarray:
    """Bound cross sections (Sears 1992 via periodictable) of each species, barn.

    Parameters
    ----------
    species : sequence of str
        Chemical symbols as the trajectory or force constants name them.
    kind : {"total", "coherent", "incoherent"}
        Which cross section weights the spectrum (the incoherent approximation
        uses the total by default).
    isotopes : mapping, optional
        Symbol → isotope used for its cross section, e.g. ``{"H": "D", "B": "B11"}``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_species,)``.
    """
    isotopes = dict(isotopes or {})
    unknown = sorted(set(isotopes) - set(species))
    if unknown:
        raise SettingsError(f"isotope substitution for {', '.join(unknown)}, which the input does not contain "
                            f"(species: {', '.join(species)})")
    return np.array([bound_cross_section(isotopes.get(s, s), kind) for s in species])


def self_convolutions(one_phonon: np.ndarray, width_mev: float, max_order: int) -> np.ndarray:
    """A_n = A_1 ⊛ A_{n−1} for n = 1 … max_order, on the same symmetric bins.

    Parameters
    ----------
    one_phonon : numpy.ndarray
        A_1 per meV on symmetric bins (centre bin E = 0), shape ``(..., n_E)``;
        the convolution runs over the last axis.
    width_mev : float
        Bin width, meV.
    max_order : int
        Highest order.

    Returns
    -------
    numpy.ndarray
        Shape ``(max_order, ..., n_E)``: index n−1 holds A_n, cropped to the
        input's bins (what lies beyond ±E_max is dropped; the caller checks),
        non-negative.

    Notes
    -----
    Done in Fourier space on an axis long enough that nothing wraps
    (max_order times the input), so all orders cost one FFT pair each.
    """
    n_e = one_phonon.shape[-1]
    half = n_e // 2
    length = max_order * (n_e - 1) + 1
    fft_length = int(2 ** np.ceil(np.log2(length)))
    spectrum = np.fft.rfft(one_phonon, n=fft_length, axis=-1) * width_mev
    out = np.empty((max_order, *one_phonon.shape))
    power = np.ones_like(spectrum)
    for n in range(1, max_order + 1):
        power = power * spectrum
        full = np.fft.irfft(power, n=fft_length, axis=-1)[..., :n * (n_e - 1) + 1] / width_mev
        centre = n * half       # index of E = 0 in the n-fold convolution
        out[n - 1] = full[..., centre - half:centre + half + 1]
    np.maximum(out, 0.0, out=out)     # FFT round-off leaves values of order 1e-17 below zero
    return out
