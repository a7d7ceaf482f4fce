"""Instrument-resolved INS spectra of a temperature series: one axis, one normalisation.

:func:`simulate` evaluates each route (one :class:`~mdvib.spectroscopy.ins.model.PowderModel`
per temperature or model) at the instrument's |Q|, sums the orders and
broadens with the instrument's energy resolution:

* indirect geometry (TOSCA, VISION, TFXA): |Q| is fixed by E on each analyser
  bank, so every bank gives one spectrum S(E) = Σ_s c_s σ_s S_s(Q(E),E)
  (:class:`INSSpectrum`);
* direct geometry (MARI, MAPS, SEQUOIA, ARCS): a powder map S(|Q|,E) over the
  kinematically accessible region, and its |Q|-average as a cut (:class:`INSMap`).

Intensities are per atom of the sample in barn/(meV) (c_s σ_s S_s summed over
species; divide by 4π for barn/(sr meV) per atom, and multiply by k_f/k_i for
the double-differential cross section), the same for every temperature so the
series compares directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from mdvib.errors import SettingsError
from mdvib.results import Provenance, quantity, result_type, save_h5_or_csv
from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.spectroscopy.ins.instruments import broaden
from mdvib.spectroscopy.ins.model import PowderModel
from mdvib.units import THZ_TO_INV_CM, THZ_TO_MEV

#: meV → cm⁻¹.
MEV_TO_INV_CM: float = THZ_TO_INV_CM / THZ_TO_MEV

#: Default highest multiphonon order.
DEFAULT_ORDERS = 10

#: Default bin width, meV (TOSCA's resolution is 0.31 meV at best).
DEFAULT_BIN_MEV = 0.25

#: |Q| points of a direct-geometry map.
DEFAULT_Q_POINTS = 200


@result_type
@dataclasses.dataclass(frozen=True)
class INSSpectrum:
    """Indirect-geometry INS spectra of a temperature (or model) series.

    Every intensity is c_s σ_s S_s summed as stated, per atom, barn/meV, on one
    energy axis for all entries; ``intensity`` excludes the elastic line.
    """

    instrument: str = quantity("", "()", "instrument name")
    instrument_description: str = quantity("", "()", "instrument settings and the source of its resolution model")
    energies_mev: np.ndarray = quantity("meV", "(n_E,)", "energy-transfer bin centres (E < 0: energy gain)")
    labels: tuple[str, ...] = quantity("", "(n_entries,)", "name of each entry (input file or model)")
    temperatures_k: np.ndarray = quantity("K", "(n_entries,)", "temperature of each entry")
    banks: tuple[str, ...] = quantity("", "(n_banks,)", "analyser banks")
    q_inv_angstrom: np.ndarray = quantity("1/Å", "(n_banks, n_E)", "|Q| of each bank at each energy (0: inaccessible)")
    accessible: np.ndarray = quantity("", "(n_banks, n_E)", "whether the bank reaches that energy transfer")
    intensity: np.ndarray = quantity("barn/meV", "(n_entries, n_banks, n_E)",
                                     "resolution-broadened S, orders 1 … max_order, per atom")
    orders: np.ndarray = quantity("barn/meV", "(n_entries, n_banks, n_orders, n_E)",
                                  "broadened contribution of each order 1 … max_order")
    partial: np.ndarray = quantity("barn/meV", "(n_entries, n_banks, n_species, n_E)",
                                   "broadened contribution of each species (orders 1 … max_order)")
    unbroadened: np.ndarray = quantity("barn/meV", "(n_entries, n_banks, n_E)", "intensity before resolution")
    resolution_sigma_mev: np.ndarray = quantity("meV", "(n_banks, n_E)", "Gaussian σ of the energy resolution")
    species: tuple[str, ...] = quantity("", "(n_species,)", "scatterers")
    cross_sections_barn: np.ndarray = quantity("barn", "(n_species,)", "bound cross sections used")
    elastic: np.ndarray = quantity("barn", "(n_entries, n_banks)", "elastic (order 0) intensity e^{-2W}·Σc σ at E=0")
    max_order: int = quantity("", "()", "highest multiphonon order included")
    route: str = quantity("", "()", "dos (incoherent approximation) or phonons (force constants)")
    intensity_err: np.ndarray = quantity("barn/meV", "(n_entries, n_banks, n_E)",
                                         "standard error of the fundamentals from the DOS's block errors "
                                         "(DOS route with errors only)", optional=True)
    provenance: Provenance = dataclasses.field(default=None)

    def bank_average(self) -> np.ndarray:
        """Mean over the banks (what TOSCA and VISION reduce to), barn/meV, shape ``(n_entries, n_E)``."""
        return self.intensity.mean(axis=1)

    def spectrum(self, bank: str = "average") -> np.ndarray:
        """Intensity of one bank (or ``"average"``), shape ``(n_entries, n_E)``."""
        if bank == "average":
            return self.bank_average()
        if bank not in self.banks:
            raise SettingsError(f"{self.instrument} has banks {', '.join(self.banks)} (or 'average'), not {bank!r}")
        return self.intensity[:, self.banks.index(bank)]

    def spectrum_err(self, bank: str = "average") -> np.ndarray | None:
        """Standard error of :meth:`spectrum` (fundamentals from the DOS's block errors), or ``None``.

        The banks' errors come from the same DOS errors, so the average's error is their mean.
        """
        if self.intensity_err is None:
            return None
        if bank == "average":
            return self.intensity_err.mean(axis=1)
        self.spectrum(bank)
        return self.intensity_err[:, self.banks.index(bank)]

    def save(self, path) -> None:
        """Write ``.h5`` (typed) or ``.csv`` (energy, then one column per entry and bank), by extension."""
        save_h5_or_csv(self, path)

    def to_csv(self) -> str:
        """CSV: ``energy_meV,energy_cm-1`` then ``<label>:<bank>``, ``<label>:average`` (and
        ``<label>:average_err``) columns, barn/meV per atom."""
        names = ["energy_meV", "energy_cm-1"]
        columns = [self.energies_mev, self.energies_mev * MEV_TO_INV_CM]
        for k, label in enumerate(self.labels):
            for b, bank in enumerate(self.banks):
                names.append(f"{label}:{bank}")
                columns.append(self.intensity[k, b])
            if len(self.banks) > 1:
                names.append(f"{label}:average")
                columns.append(self.intensity[k].mean(axis=0))
            if self.intensity_err is not None:
                names.append(f"{label}:average_err")
                columns.append(self.intensity_err[k].mean(axis=0))
        body = np.column_stack(columns)
        return "\n".join([",".join(names)] + [",".join(f"{v:.8g}" for v in row) for row in body]) + "\n"

    def summary(self) -> str:
        """Human-readable summary: instrument, entries, strongest peaks of the bank average."""
        from scipy.signal import find_peaks

        lines = [f"{self.instrument}: {len(self.labels)} spectra, banks {', '.join(self.banks)}, orders 1-"
                 f"{self.max_order}, {self.route} route, axis {self.energies_mev[0]:g} … {self.energies_mev[-1]:g} "
                 f"meV"]
        positive = self.energies_mev > 0
        for label, temperature, spectrum in zip(self.labels, self.temperatures_k, self.bank_average()):
            s = spectrum[positive]
            index, props = find_peaks(s, prominence=0.05 * s.max()) if s.max() > 0 else ([], {})
            best = sorted(np.asarray(index)[np.argsort(props["prominences"])[::-1][:6]]) if len(index) else []
            peaks = ", ".join(f"{self.energies_mev[positive][i]:.1f}" for i in best)
            name = label if label.endswith(" K") else f"{label} ({temperature:.4g} K)"
            lines.append(f"  {name}: peaks at {peaks or 'none'} meV")
        return "\n".join(lines)


@result_type
@dataclasses.dataclass(frozen=True)
class INSMap:
    """Direct-geometry powder S(|Q|,E) maps of a temperature (or model) series, with their |Q|-averaged cuts."""

    instrument: str = quantity("", "()", "instrument name")
    instrument_description: str = quantity("", "()", "instrument settings and the source of its resolution model")
    incident_energy_mev: float = quantity("meV", "()", "incident energy E_i")
    energies_mev: np.ndarray = quantity("meV", "(n_E,)", "energy-transfer bin centres (E < 0: energy gain)")
    q_inv_angstrom: np.ndarray = quantity("1/Å", "(n_Q,)", "|Q| grid of the map")
    labels: tuple[str, ...] = quantity("", "(n_entries,)", "name of each entry")
    temperatures_k: np.ndarray = quantity("K", "(n_entries,)", "temperature of each entry")
    intensity: np.ndarray = quantity("barn/meV", "(n_entries, n_Q, n_E)",
                                     "broadened S(|Q|,E), orders 1 … max_order; 0 outside the detector coverage")
    accessible: np.ndarray = quantity("", "(n_Q, n_E)", "whether the detectors cover (|Q|, E)")
    cut: np.ndarray = quantity("barn/meV", "(n_entries, n_E)", "mean of the map over the accessible |Q| at each E")
    q_min: np.ndarray = quantity("1/Å", "(n_E,)", "lowest accessible |Q| at each E (0 where none)")
    q_max: np.ndarray = quantity("1/Å", "(n_E,)", "highest accessible |Q| at each E (0 where none)")
    resolution_sigma_mev: np.ndarray = quantity("meV", "(n_E,)", "Gaussian σ of the energy resolution")
    species: tuple[str, ...] = quantity("", "(n_species,)", "scatterers")
    cross_sections_barn: np.ndarray = quantity("barn", "(n_species,)", "bound cross sections used")
    max_order: int = quantity("", "()", "highest multiphonon order included")
    route: str = quantity("", "()", "dos (incoherent approximation) or phonons (force constants)")
    provenance: Provenance = dataclasses.field(default=None)

    def spectrum(self, bank: str = "average") -> np.ndarray:
        """The |Q|-averaged cuts, shape ``(n_entries, n_E)`` (``bank`` is accepted for symmetry and ignored)."""
        return self.cut

    def save(self, path) -> None:
        """Write ``.h5`` (typed, with the maps) or ``.csv`` (the cuts), by extension."""
        save_h5_or_csv(self, path)

    def to_csv(self) -> str:
        """CSV of the cuts: ``energy_meV,energy_cm-1,q_min,q_max`` then one column per entry, barn/meV/atom."""
        names = ["energy_meV", "energy_cm-1", "q_min_1/A", "q_max_1/A", *self.labels]
        body = np.column_stack([self.energies_mev, self.energies_mev * MEV_TO_INV_CM, self.q_min, self.q_max,
                                *self.cut])
        return "\n".join([",".join(names)] + [",".join(f"{v:.8g}" for v in row) for row in body]) + "\n"

    def summary(self) -> str:
        """Instrument, E_i, |Q| range and entries."""
        return (f"{self.instrument}: E_i = {self.incident_energy_mev:g} meV, |Q| {self.q_inv_angstrom[0]:.2f} … "
                f"{self.q_inv_angstrom[-1]:.2f} 1/Å, {len(self.labels)} maps ("
                + ", ".join(self.labels) + ")")


def default_bins(instrument, width_mev: float = DEFAULT_BIN_MEV) -> EnergyBins:
    """An axis wide enough for the instrument: up to E_i (direct) or its top energy (indirect).

    Indirect instruments without a stated range get 500 meV (TOSCA's and VISION's range).
    """
    top = getattr(instrument, "incident_energy_mev", None) or getattr(instrument, "max_energy_mev", None) or 500.0
    return EnergyBins.up_to(float(top), width_mev)


def simulate(models: Sequence[PowderModel], instrument, bins: EnergyBins | None = None,
             max_order: int = DEFAULT_ORDERS, labels: Sequence[str] | None = None,
             q_points: int = DEFAULT_Q_POINTS, provenance: Provenance | None = None) -> INSSpectrum | INSMap:
    """Instrument-resolved spectra of each model on one axis.

    Parameters
    ----------
    models : sequence of PowderModel
        One per temperature (or per model); they must share the species and cross sections.
    instrument : Instrument
        From :func:`mdvib.spectroscopy.ins.instruments.get_instrument`.
    bins : EnergyBins, optional
        Energy axis; default :func:`default_bins`.
    max_order : int
        Highest multiphonon order (default 10).
    labels : sequence of str, optional
        Name of each entry; default ``"<T> K"``.
    q_points : int
        |Q| grid size of a direct-geometry map.
    provenance : Provenance, optional
        Recorded in the result.

    Returns
    -------
    INSSpectrum or INSMap
        By the instrument's geometry.
    """
    models = list(models)
    if not models:
        raise SettingsError("no input to simulate an INS spectrum from")
    species = models[0].species
    for model in models[1:]:
        if model.species != species or not np.allclose(model.cross_sections_barn, models[0].cross_sections_barn):
            raise SettingsError(f"the inputs of one series must have the same scatterers: {species} vs "
                                f"{model.species}")
    labels = tuple(labels) if labels is not None else tuple(f"{m.temperature_k:g} K" for m in models)
    if len(labels) != len(models):
        raise SettingsError(f"{len(labels)} labels for {len(models)} inputs")
    bins = bins or default_bins(instrument)
    if provenance is None:
        provenance = Provenance.now(inputs=(), reader="", source_units={}, frame_spacing_fs=0.0, selection={},
                                    n_frames=0, n_atoms=0, settings={"instrument": instrument.settings(),
                                                                      "max_order": int(max_order)})
    route = models[0].route
    common = dict(labels=labels, temperatures_k=np.array([m.temperature_k for m in models]), species=species,
                  cross_sections_barn=np.asarray(models[0].cross_sections_barn, dtype=float), max_order=int(max_order),
                  route=route, provenance=provenance)
    if instrument.geometry == "direct":
        return _direct(models, instrument, bins, max_order, q_points, common)
    return _indirect(models, instrument, bins, max_order, common)


def _indirect(models, instrument, bins: EnergyBins, max_order: int, common: dict) -> INSSpectrum:
    energies = bins.centres_mev
    banks = tuple(instrument.banks)
    q = np.stack([instrument.momentum_transfer(energies, bank) for bank in banks])
    sigma = np.nan_to_num(np.stack([instrument.sigma_mev(energies, bank) for bank in banks]))
    reachable = np.isfinite(q)
    q_eval = np.where(reachable, q, 0.0)
    n_entries, n_banks, n_species = len(models), len(banks), len(common["species"])
    # one evaluation per model for all banks, one broadening per bank for all models
    s = np.stack([model.orders(bins, q_eval, max_order) for model in models])       # (entry, order, species, bank, E)
    s = s * reachable
    elastic = s[:, 0].sum(axis=(1, 3)) * bins.width_mev                              # (entry, bank)
    inelastic = s[:, 1:]
    unbroadened = inelastic.sum(axis=(1, 2))                                          # (entry, bank, E)
    orders = np.empty((n_entries, n_banks, max_order, len(bins)))
    partial = np.empty((n_entries, n_banks, n_species, len(bins)))
    for b in range(n_banks):
        rows = np.concatenate([inelastic[:, :, :, b].sum(axis=2), inelastic[:, :, :, b].sum(axis=1)], axis=1)
        smooth = broaden(bins, rows, sigma[b])
        orders[:, b], partial[:, b] = smooth[:, :max_order], smooth[:, max_order:]
    errors = [model.one_phonon_error(bins, q_eval) if hasattr(model, "one_phonon_error") else None
              for model in models]
    intensity_err = None
    if all(e is not None for e in errors):      # species in quadrature, then the resolution (a smooth error band)
        total = np.sqrt((np.stack(errors) ** 2).sum(axis=1)) * reachable           # (entry, bank, E)
        intensity_err = np.stack([broaden(bins, total[:, b], sigma[b]) for b in range(n_banks)], axis=1)
    return INSSpectrum(instrument=instrument.name, instrument_description=instrument.describe(),
                       energies_mev=energies, banks=banks,
                       q_inv_angstrom=q_eval, accessible=reachable, intensity=orders.sum(axis=2), orders=orders,
                       partial=partial, unbroadened=unbroadened, resolution_sigma_mev=sigma, elastic=elastic,
                       intensity_err=intensity_err, **common)


def _direct(models, instrument, bins: EnergyBins, max_order: int, q_points: int, common: dict) -> INSMap:
    energies = bins.centres_mev
    q_low, q_high = instrument.q_limits(energies)
    if not np.any(np.isfinite(q_high)):
        raise SettingsError(f"{instrument.describe()}: no energy of the axis is accessible")
    q = np.linspace(0.0, float(np.nanmax(q_high)), q_points)
    with np.errstate(invalid="ignore"):
        inside = (q[:, None] >= q_low[None, :]) & (q[:, None] <= q_high[None, :])
    sigma = np.nan_to_num(instrument.sigma_mev(energies))
    grid = np.broadcast_to(q[:, None], (q_points, len(bins)))
    maps = np.empty((len(models), q_points, len(bins)))
    for k, model in enumerate(models):
        s = model.orders(bins, grid, max_order)[1:].sum(axis=(0, 1))      # (Q, E)
        maps[k] = broaden(bins, s, sigma)
    counts = inside.sum(axis=0)
    with np.errstate(invalid="ignore"):
        cut = np.where(counts > 0, (maps * inside).sum(axis=1) / np.maximum(counts, 1), 0.0)
    maps = np.where(inside, maps, 0.0)
    return INSMap(instrument=instrument.name, instrument_description=instrument.describe(),
                  incident_energy_mev=float(instrument.incident_energy_mev),
                  energies_mev=energies, q_inv_angstrom=q, intensity=maps, accessible=inside, cut=cut,
                  q_min=np.nan_to_num(q_low), q_max=np.nan_to_num(q_high),
                  resolution_sigma_mev=sigma, **common)
