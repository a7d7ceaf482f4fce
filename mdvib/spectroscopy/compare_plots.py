"""Figure of simulated spectra against a measured one: overlay (upper panel) and residuals (lower panel)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mdvib.errors import SettingsError  # noqa: E402
from mdvib.results import atomic_path  # noqa: E402
from mdvib.spectroscopy.compare import ComparisonScore  # noqa: E402
from mdvib.spectroscopy.measured import MeasuredSpectrum  # noqa: E402
from mdvib.units import THZ_TO_INV_CM, THZ_TO_MEV  # noqa: E402

#: Energy units of the x axis → factor from meV.
AXIS_UNITS: dict[str, float] = {"meV": 1.0, "cm-1": THZ_TO_INV_CM / THZ_TO_MEV}
_AXIS_LABELS = {"meV": "energy transfer (meV)", "cm-1": "energy transfer (cm$^{-1}$)"}


def plot_comparison(path: str | os.PathLike, bin_centres_mev: np.ndarray, simulated: Sequence[np.ndarray],
                    labels: Sequence[str], measured: MeasuredSpectrum, scores: Sequence[ComparisonScore],
                    energy_unit: str = "meV") -> None:
    """Overlay the measurement (with error bars) and each scaled simulation; residuals below.

    Parameters
    ----------
    path : path
        Output image, written atomically; the extension picks the format (``.png``, ``.pdf``, ``.svg``).
    bin_centres_mev : numpy.ndarray
        Simulation bin centres, meV, shape ``(n_E,)``.
    simulated : sequence of numpy.ndarray
        Each simulated spectrum, shape ``(n_E,)``, as passed to :func:`~mdvib.spectroscopy.compare.compare`.
    labels : sequence of str
        Legend entry of each simulation.
    measured : MeasuredSpectrum
        The measured spectrum (drawn over the union of the compared ranges).
    scores : sequence of ComparisonScore
        The score of each simulation; its scale and background draw the model
        (scale · simulated + background), its residuals the lower panel:
        (measured − model)/σ, or measured − model when the measurement has no errors.
    energy_unit : {"meV", "cm-1"}
        Unit of the x axis.

    Raises
    ------
    SettingsError
        For an unknown unit or sequences of different lengths.
    """
    if energy_unit not in AXIS_UNITS:
        raise SettingsError(f"unknown energy unit {energy_unit!r} for the plot; choose one of "
                            f"{', '.join(AXIS_UNITS)}")
    if not (len(simulated) == len(labels) == len(scores)) or not scores:
        raise SettingsError(f"{len(simulated)} simulated spectra, {len(labels)} labels and {len(scores)} scores; "
                            "give one label and one score per simulated spectrum (at least one)")
    factor = AXIS_UNITS[energy_unit]
    centres = np.asarray(bin_centres_mev, dtype=float)
    simulated = [np.asarray(sim, dtype=float) for sim in simulated]
    for sim, label in zip(simulated, labels):
        if sim.shape != centres.shape:
            raise SettingsError(f"simulated spectrum {label!r} has shape {sim.shape}, the bins {centres.shape}")
    low = min(float(s.energy_range_mev[0]) for s in scores)
    high = max(float(s.energy_range_mev[1]) for s in scores)
    half = 0.5 * (centres[1] - centres[0]) if centres.size > 1 else 0.0
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7.5, 5.5), height_ratios=(3, 1),
                                      layout="constrained")
    shown = (measured.energies_mev >= low - half) & (measured.energies_mev <= high + half)
    x = measured.energies_mev[shown] * factor
    if measured.errors is not None:
        top.errorbar(x, measured.intensity[shown], yerr=measured.errors[shown], fmt="o", ms=2.5, lw=0.6,
                     color="k", label=measured.label or "measured", zorder=1)
    else:
        top.plot(x, measured.intensity[shown], "o", ms=2.5, color="k", label=measured.label or "measured", zorder=1)
    for sim, label, score in zip(simulated, labels, scores):
        inside = (centres >= score.energy_range_mev[0]) & (centres <= score.energy_range_mev[1])
        model = score.model_on(centres[inside], sim[inside])
        text = f"{label}: ×{score.scale:.3g}, χ²$_{{red}}$ {score.reduced_chi2:.3g}"
        line, = top.plot(centres[inside] * factor, model, lw=1.3, label=text, zorder=2)
        bottom.plot(score.energies_mev * factor, score.residual, lw=0.9, color=line.get_color())
    weighted = all(s.weighted for s in scores)
    top.set_ylabel("intensity (measured units)")
    top.legend(frameon=False, fontsize=8)
    bottom.axhline(0.0, color="0.5", lw=0.6)
    if weighted:
        for level in (-2.0, 2.0):
            bottom.axhline(level, color="0.7", lw=0.5, ls="--")
    bottom.set_ylabel("(meas. − model)/σ" if weighted else "meas. − model")
    bottom.set_xlabel(_AXIS_LABELS[energy_unit])
    bottom.set_xlim((low - half) * factor, (high + half) * factor)
    fmt = os.path.splitext(str(path))[1].lstrip(".") or "png"
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150)
    finally:
        plt.close(fig)
