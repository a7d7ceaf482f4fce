"""matplotlib figures for mdvib results (written atomically, Agg backend)."""

from __future__ import annotations

import os

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mdvib.results import atomic_path  # noqa: E402
from mdvib.units import THZ_TO_MEV  # noqa: E402

_WEIGHT_LABELS = {
    "mass": "phonon DOS g(ν)",
    "neutron": "neutron-weighted DOS G(ν)",
    "none": "velocity spectrum (unweighted)",
}


def _upper_frequency(nu, spectrum, level: float = 0.01) -> float:
    """Highest frequency where the spectrum exceeds ``level`` × its maximum, plus 15 %, capped at the grid end.

    A level rather than a fraction of the integral: the statistical noise floor
    of an MD spectrum spreads a little weight up to the Nyquist frequency.
    """
    spectrum = np.asarray(spectrum)
    peak = np.max(spectrum) if spectrum.size else 0.0
    if not peak > 0:
        return float(nu[-1])
    edge = nu[np.flatnonzero(spectrum > level * peak)[-1]]
    return float(min(nu[-1], 1.15 * edge))


def save_figure(fig, path: str | os.PathLike, dpi: int = 150) -> None:
    """Write a figure atomically (format from the extension, PNG without one) and close it."""
    fmt = os.path.splitext(str(path))[1].lstrip(".") or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    plt.close(fig)


def _finish_spectrum_figure(fig, ax, path, title: str | None) -> None:
    """Add the meV axis, title and legend to a spectrum plot and save it atomically (format from the extension)."""
    top = ax.secondary_xaxis("top", functions=(lambda f: f * THZ_TO_MEV, lambda e: e / THZ_TO_MEV))
    top.set_xlabel("energy (meV)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(frameon=False)
    save_figure(fig, path)


def plot_dos(result, path: str | os.PathLike, title: str | None = None) -> None:
    """Plot a :class:`~mdvib.analysis.dos.DOSResult`: total ± standard error and partials.

    Parameters
    ----------
    result : DOSResult
        The DOS to draw.
    path : path
        Output image; the extension picks the format (``.png``, ``.pdf``, ``.svg``).
    title : str, optional
        Figure title; defaults to the input file name and temperature.
    """
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    nu = result.frequencies_thz
    ax.plot(nu, result.total, color="k", lw=1.4, label="total")
    if result.total_err is not None:
        ax.fill_between(nu, result.total - result.total_err, result.total + result.total_err,
                        color="k", alpha=0.25, lw=0, label="± standard error")
    if len(result.species) > 1:
        for k, symbol in enumerate(result.species):
            line, = ax.plot(nu, result.partial[k], lw=1.0, label=symbol)
            if result.partial_err is not None:
                ax.fill_between(nu, result.partial[k] - result.partial_err[k],
                                result.partial[k] + result.partial_err[k], color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("frequency ν (THz)")
    ax.set_ylabel(f"{_WEIGHT_LABELS[result.weights]} (1/THz per atom)")
    ax.set_xlim(0, _upper_frequency(nu, result.total))
    ax.set_ylim(bottom=0)
    if title is None and result.provenance is not None:
        title = f"{os.path.basename(result.provenance.inputs[0])}  T_kin = {result.temperature_k:.0f} K"
    _finish_spectrum_figure(fig, ax, path, title)


def plot_dos_series(results, labels, path: str | os.PathLike, title: str | None = None) -> None:
    """Plot several DOS curves on one figure, e.g. a temperature series.

    Parameters
    ----------
    results : sequence of DOSResult
        The DOS curves, all with the same weighting, in drawing order (colours
        run from blue to red along the sequence).
    labels : sequence of str
        Legend entry of each curve (``"300 K"``).
    path : path
        Output image; the extension picks the format (``.png``, ``.pdf``, ``.svg``).
    title : str, optional
        Figure title.
    """
    results = list(results)
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    # cold → hot without a pale middle (coolwarm fades to grey at its centre)
    colours = plt.get_cmap("plasma")(np.linspace(0.0, 0.85, len(results)) if len(results) > 1 else [0.0])
    upper = 0.0
    for result, label, colour in zip(results, labels, colours, strict=True):
        nu = result.frequencies_thz
        ax.plot(nu, result.total, color=colour, lw=1.3, label=label)
        if result.total_err is not None:
            ax.fill_between(nu, result.total - result.total_err, result.total + result.total_err,
                            color=colour, alpha=0.2, lw=0)
        upper = max(upper, _upper_frequency(nu, result.total))
    ax.set_xlabel("frequency ν (THz)")
    ax.set_ylabel(f"{_WEIGHT_LABELS[results[0].weights]} (1/THz per atom)")
    ax.set_xlim(0, upper)
    ax.set_ylim(bottom=0)
    _finish_spectrum_figure(fig, ax, path, title)
