"""Figures of simulated INS: spectra of a temperature series, the multiphonon build-up, powder maps."""

from __future__ import annotations

import os

import numpy as np

from mdvib.errors import SettingsError
from mdvib.plot import plt, save_figure
from mdvib.spectroscopy.ins.spectrum import MEV_TO_INV_CM, INSMap, INSSpectrum

#: Energy units of the x axes.
ENERGY_UNITS = {"meV": 1.0, "cm-1": MEV_TO_INV_CM}


def _energy_scale(unit: str) -> float:
    if unit not in ENERGY_UNITS:
        raise SettingsError(f"unknown energy unit {unit!r}; choose one of {sorted(ENERGY_UNITS)}")
    return ENERGY_UNITS[unit]


def _upper_energy(energies: np.ndarray, spectra: np.ndarray, level: float = 0.005) -> float:
    """Highest energy where any spectrum exceeds ``level`` × the largest value, plus 10 %."""
    peak = float(np.max(spectra)) if spectra.size else 0.0
    if not peak > 0:
        return float(energies[-1])
    above = np.flatnonzero(np.any(spectra > level * peak, axis=0))
    return float(min(energies[-1], 1.1 * energies[above[-1]]))


def plot_spectra(result: INSSpectrum | INSMap, path: str | os.PathLike, bank: str = "average",
                 energy_unit: str = "meV", title: str | None = None) -> None:
    """Spectra of every entry on one axis (one normalisation); with one entry, also its orders.

    Parameters
    ----------
    result : INSSpectrum or INSMap
        Indirect spectra (``bank``: a bank name or ``"average"``) or direct-geometry cuts.
    path : path
        Image file; the extension picks the format.
    bank : str
        Which bank of an indirect instrument.
    energy_unit : {"meV", "cm-1"}
        x axis.
    title : str, optional
        Figure title (default: the instrument).
    """
    scale = _energy_scale(energy_unit)
    spectra = result.spectrum(bank)
    energies = result.energies_mev
    positive = energies > 0
    e = energies[positive] * scale
    single = len(result.labels) == 1 and isinstance(result, INSSpectrum)
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    colours = plt.cm.coolwarm(np.linspace(0, 1, max(len(result.labels), 2)))
    errors = result.spectrum_err(bank) if isinstance(result, INSSpectrum) else None
    for k, label in enumerate(result.labels):
        colour = "k" if single else colours[k]
        ax.plot(e, spectra[k][positive], color=colour, lw=1.2, label=label)
        if errors is not None:
            ax.fill_between(e, (spectra[k] - errors[k])[positive], (spectra[k] + errors[k])[positive], color=colour,
                            alpha=0.25, lw=0, label="± standard error (fundamentals)" if k == 0 else None)
    if single:
        orders = result.orders[0].mean(axis=0) if bank == "average" else result.orders[0, result.banks.index(bank)]
        ax.plot(e, orders[0][positive], lw=0.9, label="fundamentals (order 1)")
        if result.max_order >= 2:
            ax.plot(e, orders[1][positive], lw=0.9, label="order 2")
        if result.max_order >= 3:
            ax.plot(e, orders[2:].sum(axis=0)[positive], lw=0.9, label=f"orders 3-{result.max_order}")
    ax.set_xlim(0, _upper_energy(e, spectra[:, positive]))
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"energy transfer ({energy_unit})")
    ax.set_ylabel("S(Q,E)·σ per atom (barn/meV)")
    where = f", {bank} bank{'s' if bank == 'average' else ''}" if isinstance(result, INSSpectrum) else \
        ", |Q|-averaged cut"
    ax.set_title(title or f"{result.instrument}{where}", fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def plot_map(result: INSMap, path: str | os.PathLike, entry: int = 0, energy_unit: str = "meV",
             title: str | None = None) -> None:
    """Powder map S(|Q|,E) of one entry (log colour scale) over the detector coverage."""
    scale = _energy_scale(energy_unit)
    positive = result.energies_mev >= 0
    e = result.energies_mev[positive] * scale
    data = np.where(result.accessible, result.intensity[entry], np.nan)[:, positive]
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    finite = data[np.isfinite(data) & (data > 0)]
    if finite.size:
        from matplotlib.colors import LogNorm

        top = float(np.percentile(finite, 99.5))
        norm = LogNorm(vmin=top * 1e-3, vmax=top)
        mesh = ax.pcolormesh(result.q_inv_angstrom, e, data.T, shading="auto", norm=norm, cmap="viridis")
        fig.colorbar(mesh, ax=ax, label="S(|Q|,E)·σ (barn/meV per atom)")
    ax.set_xlabel("|Q| (1/Å)")
    ax.set_ylabel(f"energy transfer ({energy_unit})")
    ax.set_title(title or f"{result.instrument}: {result.labels[entry]}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
