"""INS from a partial DOS: the incoherent approximation with the multiphonon expansion (the MD/PIMD route).

docs/physics.md, "INS from a partial DOS". For each species s with the
unit-normalised partial DOS ĝ_s(E) (∫₀^∞ ĝ_s dE = 1, one Cartesian direction):

* γ_s = ∫₀^∞ ĝ_s(E) coth(βE/2) / E dE (1/meV), the Debye–Waller exponent
  2W_s(Q) = ħ²Q²γ_s / (2m_s) and the mean-square displacement per direction
  ⟨u_x²⟩_s = ħ²γ_s / (2m_s) (Å²);
* one-phonon shape on both sides of the axis,
  A_1(E) = ĝ_s(|E|) / (E γ_s (1 − e^{−βE})), which integrates to 1 and obeys
  A_1(−E) = e^{−βE} A_1(E) (detailed balance), and A_n = A_1 ⊛ A_{n−1};
* S_{s,n}(Q,E) = c_s σ_s (2W_s)ⁿ e^{−2W_s} / n! · A_n(E), order 0 being the
  elastic line, so Σ_n ∫S_{s,n} dE = c_s σ_s.

``occupations="classical"`` replaces the Bose factors by their classical
limits (coth(βE/2) → 2/(βE), 1/(1 − e^{−βE}) → 1/(βE)): a spectrum symmetric in
E, the one a classical MD correlation function gives directly.

The DOS of an MD run is never exactly zero at E → 0 (the lag window broadens
the acoustic onset, and diffusion adds a finite g(0)), which makes γ diverge.
Below ``debye_cutoff_mev`` the DOS is therefore replaced by the Debye form
ĝ(E_c)(E/E_c)² before normalising; the cutoff used is recorded.

Written here rather than taken from abinslib/Euphonic because neither works from
a DOS: both need phonon eigenvectors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from mdvib.errors import SettingsError
from mdvib.io._masses import masses_for_species
from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.spectroscopy.ins.model import (
    HBAR2_OVER_2AMU_MEV_A2,
    ThermalRoute,
    check_temperature,
    cross_sections,
    isotope_mass,
    self_convolutions,
)
from mdvib.units import THZ_TO_MEV

#: Bose statistics of the expansion.
OCCUPATIONS = ("quantum", "classical")

#: Negative DOS values down to this fraction of the maximum (the ringing and noise of an MD spectrum) are set to
#: zero; deeper ones are refused as a wrong input.
NEGATIVE_TOLERANCE = 0.02

#: Sub-samples per bin when averaging A_1 over a bin (midpoints, so E = 0 is never evaluated).
SUBSAMPLES = 16


@dataclasses.dataclass(frozen=True)
class IncoherentDOSModel(ThermalRoute):
    """Powder S(Q,E) of the incoherent approximation from partial DOS (a :class:`PowderModel`).

    Build it with :meth:`from_dos` (an mdvib DOS result) or :meth:`from_arrays`.

    Attributes
    ----------
    species : tuple of str
        Species names (isotopes as ``"D"`` where substituted).
    temperature_k : float
        Temperature of the Bose and Debye–Waller factors, K.
    cross_sections_barn : numpy.ndarray
        σ_s, barn, shape ``(n_species,)``.
    concentrations : numpy.ndarray
        Atom fraction c_s, shape ``(n_species,)``.
    masses_amu : numpy.ndarray
        m_s, amu, shape ``(n_species,)``.
    energies_mev : numpy.ndarray
        Energies of the DOS grid, meV, ascending from 0, shape ``(n_grid,)``.
    unit_dos : numpy.ndarray
        ĝ_s on that grid, 1/meV, each of unit area, shape ``(n_species, n_grid)``.
    occupations : str
        ``"quantum"`` or ``"classical"``.
    debye_cutoff_mev : float
        Below this energy the DOS was replaced by its Debye (E²) form.
    cross_section_kind : str
        ``"total"``, ``"coherent"`` or ``"incoherent"``.
    unit_dos_err : numpy.ndarray or None
        Standard error of ĝ_s (the DOS's block error, same scaling), 1/meV,
        shape ``(n_species, n_grid)``; ``None`` without one.
    """

    species: tuple[str, ...]
    temperature_k: float
    cross_sections_barn: np.ndarray
    concentrations: np.ndarray
    masses_amu: np.ndarray
    energies_mev: np.ndarray
    unit_dos: np.ndarray
    occupations: str = "quantum"
    debye_cutoff_mev: float = 0.0
    cross_section_kind: str = "total"
    unit_dos_err: np.ndarray | None = None
    route: ClassVar[str] = "dos"

    @classmethod
    def from_dos(cls, dos, temperature_k: float | None = None, kind: str = "total",
                 isotopes: Mapping[str, str] | None = None, masses: Mapping[str, float] | None = None,
                 occupations: str = "quantum", debye_cutoff_mev: float | None = None) -> IncoherentDOSModel:
        """From an mass-weighted :class:`~mdvib.analysis.dos.DOSResult`.

        Parameters
        ----------
        dos : DOSResult
            Its partial DOS (1/THz per atom of the system) are used; it must be
            mass weighted (the neutron weights are applied here).
        temperature_k : float, optional
            Temperature of the Bose factors, K; default: the kinetic
            temperature the DOS records (MD runs at the temperature of interest).
        kind : {"total", "coherent", "incoherent"}
            Cross section weighting the species.
        isotopes : mapping, optional
            Symbol → isotope (``{"H": "D"}``): its cross section and mass are used.
        masses : mapping, optional
            Symbol → mass in amu, overriding the standard (or isotope) masses.
        occupations : {"quantum", "classical"}
            Bose statistics.
        debye_cutoff_mev : float, optional
            Below this the DOS takes the Debye form; default: the DOS
            resolution (FWHM of its lag window), at least two grid spacings.
        """
        source = _source_name(dos)
        if getattr(dos, "weights", "mass") != "mass":
            raise SettingsError(f"{source}: the DOS is {dos.weights}-weighted; INS needs the mass-weighted partial "
                                f"DOS (recompute with --weights mass: the neutron weights are applied by INS)")
        if temperature_k is None:
            temperature_k = getattr(dos, "temperature_k", None)
            if temperature_k is None or not np.isfinite(temperature_k):
                raise SettingsError(f"{source}: the DOS records no temperature; give one (--temperature K)")
        partial = np.asarray(dos.partial, dtype=float) / THZ_TO_MEV
        partial_err = getattr(dos, "partial_err", None)
        partial_err = None if partial_err is None else np.asarray(partial_err, dtype=float) / THZ_TO_MEV
        energies = np.asarray(dos.frequencies_thz, dtype=float) * THZ_TO_MEV
        if debye_cutoff_mev is None:
            resolution = getattr(dos, "resolution_fwhm_thz", None)
            debye_cutoff_mev = max((resolution or 0.0) * THZ_TO_MEV, 2.0 * (energies[1] - energies[0]))
        return cls.from_arrays(energies, partial, dos.species, temperature_k, concentrations=dos.concentrations,
                               kind=kind, isotopes=isotopes, masses=masses, occupations=occupations,
                               debye_cutoff_mev=debye_cutoff_mev, source=source, partial_dos_err=partial_err)

    @classmethod
    def from_arrays(cls, energies_mev: np.ndarray, partial_dos: np.ndarray, species: Sequence[str],
                    temperature_k: float, concentrations: np.ndarray | None = None, kind: str = "total",
                    isotopes: Mapping[str, str] | None = None, masses: Mapping[str, float] | None = None,
                    occupations: str = "quantum", debye_cutoff_mev: float = 0.0,
                    source: str = "the DOS", partial_dos_err: np.ndarray | None = None) -> IncoherentDOSModel:
        """From partial DOS on an energy grid.

        Parameters
        ----------
        energies_mev : numpy.ndarray
            Uniform or not, strictly ascending, starting at or above 0, meV, shape ``(n_grid,)``.
        partial_dos : numpy.ndarray
            Partial DOS of each species, any normalisation (each is scaled to
            unit area), shape ``(n_species, n_grid)``.
        species : sequence of str
            Chemical symbols.
        temperature_k : float
            Temperature, K (≥ 0).
        concentrations : numpy.ndarray, optional
            Atom fractions; default: the areas of ``partial_dos`` (DOS partials
            that sum to the total carry them), normalised.
        kind, isotopes, masses, occupations, debye_cutoff_mev
            As in :meth:`from_dos`.
        source : str
            Name of the input, for error messages.
        partial_dos_err : numpy.ndarray, optional
            Standard errors of ``partial_dos`` (same units and shape): they give
            the one-phonon error band of the spectra.
        """
        energies = np.asarray(energies_mev, dtype=float)
        dos = np.atleast_2d(np.asarray(partial_dos, dtype=float))
        species = tuple(species)
        _check_grid(energies, dos, species, source)
        check_temperature(temperature_k)
        if occupations not in OCCUPATIONS:
            raise SettingsError(f"unknown occupations {occupations!r}; choose one of {OCCUPATIONS}")
        if occupations == "classical" and temperature_k == 0:
            raise SettingsError("classical occupations need a temperature above 0 K")
        areas = np.trapezoid(dos, energies, axis=1)
        if concentrations is None:
            concentrations = areas / areas.sum()
        concentrations = np.asarray(concentrations, dtype=float)
        isotopes = dict(isotopes or {})
        names = tuple(isotopes.get(s, s) for s in species)
        sigma = cross_sections(species, kind, isotopes)
        mass_table = {s: isotope_mass(isotopes[s]) for s in isotopes}
        mass_table.update(masses or {})
        species_masses = masses_for_species(species, mass_table)
        unit = np.clip(_debye_low_energy(energies, dos, debye_cutoff_mev), 0.0, None)
        if energies[0] == 0.0 and np.any(unit[:, 0] > 1e-3 * unit.max(axis=1)):
            raise SettingsError(f"{source}: the DOS does not vanish at E = 0, so the Debye-Waller factor diverges; "
                                "give a Debye cutoff (debye_cutoff_mev) below which it takes the form g ∝ E²")
        scale = 1.0 / np.trapezoid(unit, energies, axis=1)[:, None]
        unit_err = None
        if partial_dos_err is not None:
            unit_err = np.atleast_2d(np.asarray(partial_dos_err, dtype=float))
            if unit_err.shape != dos.shape or not np.all(np.isfinite(unit_err)) or np.any(unit_err < 0):
                raise SettingsError(f"{source}: the DOS errors must be finite, ≥ 0 and shaped like the DOS "
                                    f"{dos.shape}, not {unit_err.shape}")
            unit_err = np.where(energies < debye_cutoff_mev, 0.0, unit_err) * scale
        return cls(species=names, temperature_k=float(temperature_k), cross_sections_barn=sigma,
                   concentrations=concentrations, masses_amu=species_masses, energies_mev=energies,
                   unit_dos=unit * scale, occupations=occupations, debye_cutoff_mev=float(debye_cutoff_mev),
                   cross_section_kind=kind, unit_dos_err=unit_err)


    @property
    def gamma_per_mev(self) -> np.ndarray:
        """γ_s = ∫ ĝ_s coth(βE/2)/E dE, 1/meV, shape ``(n_species,)``."""
        energies = self.energies_mev
        ratio = np.zeros_like(self.unit_dos)
        positive = energies > 0
        ratio[:, positive] = self.unit_dos[:, positive] * _thermal_weight(energies[positive], self.beta_per_mev,
                                                                          self.occupations)
        # E → 0: the Debye form ĝ ≈ aE² makes the integrand aE·coth(βE/2) → 2a/β (quantum and classical alike)
        if energies[0] == 0.0 and energies[1] > 0:
            a = self.unit_dos[:, 1] / energies[1] ** 2
            ratio[:, 0] = 2.0 * a / self.beta_per_mev if np.isfinite(self.beta_per_mev) else 0.0
        return np.trapezoid(ratio, energies, axis=1)

    @property
    def mean_square_displacement_a2(self) -> np.ndarray:
        """⟨u_x²⟩_s per Cartesian direction, Å², shape ``(n_species,)``."""
        return HBAR2_OVER_2AMU_MEV_A2 * self.gamma_per_mev / self.masses_amu

    def debye_waller_exponent(self, q_inv_angstrom: np.ndarray) -> np.ndarray:
        """2W_s(Q) = Q²⟨u_x²⟩_s, shape ``(n_species, *q.shape)``."""
        q2 = np.asarray(q_inv_angstrom, dtype=float) ** 2
        return self.mean_square_displacement_a2.reshape((-1,) + (1,) * q2.ndim) * q2

    def one_phonon_shape(self, bins: EnergyBins) -> np.ndarray:
        """A_1 per species on ``bins`` (bin averages, unit area), 1/meV, shape ``(n_species, n_E)``.

        The loss side (and the E = 0 bin) are bin averages of ĝ(|E|)/(E(1 − e^{−βE}));
        each gain bin is its mirror times e^{−β|E|}, so detailed balance holds bin by bin.
        ĝ/E is what is interpolated between DOS points: it is linear (aE) in the
        Debye region, where interpolating ĝ linearly would make A_1 grow as 1/E.
        The bins must hold the whole DOS (:meth:`multiphonon_shapes` sees to it).
        """
        shape = self._thermal_bin_average(bins, self.unit_dos)
        area = shape.sum(axis=1) * bins.width_mev
        if np.any(area <= 0):
            raise SettingsError("the DOS has no weight on the energy axis: widen the axis (--max-energy)")
        return shape / area[:, None]

    def one_phonon_error(self, bins: EnergyBins, q_inv_angstrom: np.ndarray) -> np.ndarray | None:
        """Standard error of the fundamentals c_s σ_s S_{s,1}(Q,E) from the DOS's block errors, barn/meV.

        Linear propagation through A_1 at fixed γ_s (the Debye–Waller factor's
        own error is second order), shape ``(n_species, *q.shape)``; ``None``
        when the DOS has no errors.
        """
        if self.unit_dos_err is None:
            return None
        full = EnergyBins(bins.width_mev, max(bins.n_positive, self._reach(bins)))
        shape = self._thermal_bin_average(full, self.unit_dos)
        error = self._thermal_bin_average(full, self.unit_dos_err) / (shape.sum(axis=1) * full.width_mev)[:, None]
        extra = full.n_positive - bins.n_positive
        error = error[:, extra:len(full) - extra]
        q = np.asarray(q_inv_angstrom, dtype=float)
        two_w = self.debye_waller_exponent(q)
        weight = (self.concentrations * self.cross_sections_barn).reshape((-1,) + (1,) * q.ndim)
        return weight * two_w * np.exp(-two_w) * error.reshape((len(self.species),) + (1,) * (q.ndim - 1)
                                                                + (len(bins),))

    def _reach(self, bins: EnergyBins) -> int:
        """Bins above zero that hold the highest energy with DOS weight."""
        top = self.energies_mev[np.flatnonzero(self.unit_dos.max(axis=0) > 0)[-1]]
        return int(np.ceil(top / bins.width_mev)) + 1

    def _thermal_bin_average(self, bins: EnergyBins, values: np.ndarray) -> np.ndarray:
        """Both-sided bin averages of values(|E|)/(E(1 − e^{−βE})), shape ``(n_species, n_E)``, not normalised."""
        offsets = ((np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5) * bins.width_mev
        centres = bins.centres_mev[bins.zero_index:]
        points = (centres[:, None] + offsets[None, :]).ravel()
        energies = self.energies_mev
        with np.errstate(divide="ignore", invalid="ignore"):
            per_energy = np.where(energies > 0, values / energies, 0.0)      # g/E, → 0 at E = 0
        over_e = np.stack([np.interp(np.abs(points), energies, h, right=0.0) for h in per_energy])
        beta = self.beta_per_mev
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            if self.occupations == "classical":
                factor = 1.0 / (beta * np.abs(points))
                mirror = np.ones_like(centres)
            else:           # g/(E(1 − e^{−βE})) = (g/|E|)·(n + 1) for E > 0, (g/|E|)·n for E < 0
                factor = np.where(points > 0, 1.0 / -np.expm1(-beta * points), 1.0 / np.expm1(-beta * points))
                mirror = np.exp(-beta * centres)
        factor = np.nan_to_num(factor, nan=0.0, posinf=0.0)
        loss = (over_e * factor).reshape(len(values), centres.size, SUBSAMPLES).mean(axis=2)
        gain = (loss * mirror)[:, :0:-1]
        return np.concatenate([gain, loss], axis=1)

    def multiphonon_shapes(self, bins: EnergyBins, max_order: int) -> np.ndarray:
        """A_n for n = 1 … max_order on ``bins``, 1/meV, shape ``(max_order, n_species, n_E)``.

        Computed on an axis that holds the whole DOS and cropped afterwards, so an
        axis ending below the highest phonon loses that intensity instead of
        rescaling the rest (and keeps the difference processes E − E′ of higher orders).
        """
        _check_order(max_order)
        full = EnergyBins(bins.width_mev, max(bins.n_positive, self._reach(bins)))
        shapes = self_convolutions(self.one_phonon_shape(full), full.width_mev, max_order)
        extra = full.n_positive - bins.n_positive
        return shapes[..., extra:len(full) - extra]

    def orders(self, bins: EnergyBins, q_inv_angstrom: np.ndarray, max_order: int) -> np.ndarray:
        """c_s σ_s S_{s,n}(Q,E) in barn/meV per atom, shape ``(max_order + 1, n_species, *q.shape)``.

        See :class:`~mdvib.spectroscopy.ins.model.PowderModel`.
        """
        q = np.asarray(q_inv_angstrom, dtype=float)
        if q.shape[-1] != len(bins):
            raise SettingsError(f"|Q| has {q.shape[-1]} energies on its last axis, the axis has {len(bins)} bins")
        shapes = self.multiphonon_shapes(bins, max_order)
        two_w = self.debye_waller_exponent(q)
        weight = (self.concentrations * self.cross_sections_barn).reshape((-1,) + (1,) * q.ndim)
        out = np.zeros((max_order + 1, len(self.species), *q.shape))
        elastic = np.zeros(len(bins))
        elastic[bins.zero_index] = 1.0 / bins.width_mev
        out[0] = weight * np.exp(-two_w) * elastic
        poisson = weight * np.exp(-two_w)
        for n in range(1, max_order + 1):
            poisson = poisson * two_w / n
            out[n] = poisson * shapes[n - 1].reshape((len(self.species),) + (1,) * (q.ndim - 1) + (len(bins),))
        return np.nan_to_num(out, nan=0.0)


def _thermal_weight(energies: np.ndarray, beta: float, occupations: str) -> np.ndarray:
    """coth(βE/2)/E (quantum) or 2/(βE²) (classical), the γ integrand over ĝ."""
    if occupations == "classical":
        return 2.0 / (beta * energies ** 2)
    return 1.0 / (energies * np.tanh(0.5 * beta * energies))


def _debye_low_energy(energies: np.ndarray, dos: np.ndarray, cutoff_mev: float) -> np.ndarray:
    """The DOS with the part below ``cutoff_mev`` replaced by ĝ(E_c)(E/E_c)², shape as ``dos``."""
    out = dos.copy()
    if cutoff_mev <= 0:
        return out
    if cutoff_mev >= energies[-1]:
        raise SettingsError(f"the Debye cutoff {cutoff_mev:g} meV lies above the whole DOS "
                            f"(which ends at {energies[-1]:g} meV)")
    below = energies < cutoff_mev
    at_cutoff = np.array([np.interp(cutoff_mev, energies, g) for g in dos])
    out[:, below] = at_cutoff[:, None] * (energies[below] / cutoff_mev) ** 2
    return out


def _check_grid(energies: np.ndarray, dos: np.ndarray, species: tuple[str, ...], source: str) -> None:
    if energies.ndim != 1 or energies.size < 3:
        raise SettingsError(f"{source}: the energy grid needs at least 3 points, got shape {energies.shape}")
    if not np.all(np.isfinite(energies)) or energies[0] < 0:
        raise SettingsError(f"{source}: the energy grid must be finite and start at or above 0 meV "
                            f"(first value {energies[0]:g})")
    steps = np.diff(energies)
    if np.any(steps <= 0):
        k = int(np.argmax(steps <= 0))
        raise SettingsError(f"{source}: the energy grid is not strictly ascending at point {k + 1} "
                            f"({energies[k]:g} then {energies[k + 1]:g} meV)")
    if dos.shape != (len(species), energies.size):
        raise SettingsError(f"{source}: partial DOS of shape {dos.shape} for {len(species)} species on "
                            f"{energies.size} energies")
    if not np.all(np.isfinite(dos)):
        raise SettingsError(f"{source}: the partial DOS has non-finite values")
    if np.any(dos < -NEGATIVE_TOLERANCE * np.abs(dos).max(axis=1, keepdims=True)):
        s, k = np.unravel_index(np.argmin(dos / np.abs(dos).max(axis=1, keepdims=True)), dos.shape)
        raise SettingsError(f"{source}: the partial DOS of {species[s]} is negative ({dos[s, k]:.3g}, more than "
                            f"{NEGATIVE_TOLERANCE:.0%} of its maximum) at {energies[k]:g} meV")
    if np.any(np.trapezoid(dos, energies, axis=1) <= 0):
        empty = [species[s] for s in np.flatnonzero(np.trapezoid(dos, energies, axis=1) <= 0)]
        raise SettingsError(f"{source}: the partial DOS of {', '.join(empty)} is zero")


def _check_order(max_order: int) -> None:
    if int(max_order) != max_order or max_order < 1:
        raise SettingsError(f"the highest multiphonon order must be an integer ≥ 1, not {max_order!r}")



def _source_name(dos) -> str:
    provenance = getattr(dos, "provenance", None)
    inputs = getattr(provenance, "inputs", None) if provenance is not None else None
    return f"the DOS of {inputs[0]}" if inputs else "the DOS"
