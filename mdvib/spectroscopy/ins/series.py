"""A temperature series of simulated INS spectra, and its scores against a measured spectrum.

:func:`combine` joins spectra computed separately (one per campaign
temperature) into one result, refusing spectra that do not share the axis,
instrument and cross sections (their intensities would not be comparable);
:func:`compare_series` scores every entry against a measurement, ranks them
and draws the overlay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mdvib.errors import SettingsError
from mdvib.results import write_text_atomic
from mdvib.spectroscopy.ins.spectrum import INSMap, INSSpectrum

#: Fields holding one row per entry (concatenated by :func:`combine`).
_PER_ENTRY = ("labels", "temperatures_k", "intensity", "orders", "partial", "unbroadened", "elastic", "cut",
              "intensity_err")


def combine(results: Sequence[INSSpectrum | INSMap], labels: Sequence[str] | None = None) -> INSSpectrum | INSMap:
    """One result holding every entry of ``results`` (relabelled with ``labels`` if given)."""
    results = list(results)
    if not results:
        raise SettingsError("no INS spectra to combine")
    first = results[0]
    for other in results[1:]:
        if type(other) is not type(first) or other.instrument != first.instrument \
                or other.energies_mev.shape != first.energies_mev.shape \
                or not np.allclose(other.energies_mev, first.energies_mev) \
                or not np.allclose(other.cross_sections_barn, first.cross_sections_barn):
            raise SettingsError("these INS spectra were computed with different instruments, energy axes or cross "
                                "sections and cannot share one normalisation; simulate them with the same settings")
    joined = {}
    for field in dataclasses.fields(first):
        if field.name not in _PER_ENTRY:
            continue
        values = [getattr(r, field.name) for r in results]
        if field.name == "labels":
            joined[field.name] = tuple(v for value in values for v in value)
        elif any(value is None for value in values):     # optional fields (errors) only when every entry has them
            joined[field.name] = None
        else:
            joined[field.name] = np.concatenate(values)
    if labels is not None:
        if len(labels) != len(joined["labels"]):
            raise SettingsError(f"{len(labels)} labels for {len(joined['labels'])} spectra")
        joined["labels"] = tuple(labels)
    return dataclasses.replace(first, **joined)


def compare_series(series: INSSpectrum | INSMap, settings: Mapping, stem: str | Path) -> list:
    """Score each entry of ``series`` against the measured spectrum ``settings["measured"]``.

    Parameters
    ----------
    series : INSSpectrum or INSMap
        The simulated spectra (indirect: the bank ``settings["bank"]``; direct: the cuts).
    settings : mapping
        ``measured`` (path), and optionally ``measured_units``, ``background``,
        ``bank``, ``fit_range`` ((lo, hi) meV).
    stem : path
        Writes ``<stem>.csv`` (the ranking, best first) and ``<stem>.png`` (overlay and residuals).

    Returns
    -------
    list of ComparisonScore
        In the order of the entries.
    """
    from mdvib.spectroscopy.compare import compare, ranking_table
    from mdvib.spectroscopy.compare_plots import plot_comparison
    from mdvib.spectroscopy.measured import load_measured

    measured = load_measured(settings["measured"], units=settings.get("measured_units"))
    spectra = series.spectrum(settings.get("bank", "average"))
    sigma = series.resolution_sigma_mev
    resolution = sigma.mean(axis=0) if sigma.ndim == 2 else sigma
    fit_range = settings.get("fit_range")
    scores = [compare(series.energies_mev, spectrum, measured, background=settings.get("background", "none"),
                      energy_range=tuple(fit_range) if fit_range else None, resolution_mev=resolution, label=label)
              for label, spectrum in zip(series.labels, spectra)]
    stem = Path(stem)
    write_text_atomic(stem.with_suffix(".csv"), _ranking_csv(scores))
    write_text_atomic(stem.with_suffix(".txt"), ranking_table(scores) + "\n")
    plot_comparison(stem.with_suffix(".png"), series.energies_mev, list(spectra), list(series.labels), measured,
                    scores)
    return scores


def _ranking_csv(scores) -> str:
    from mdvib.spectroscopy.compare import best_match

    best = best_match(scores)
    lines = ["label,scale,scale_err,reduced_chi2,cosine,pearson,shift_meV,best"]
    for s in sorted(scores, key=lambda s: s.reduced_chi2):
        lines.append(f"{s.label},{s.scale:.8g},{s.scale_err:.8g},{s.reduced_chi2:.8g},{s.cosine:.8g},"
                     f"{s.pearson:.8g},{s.shift_mev:.8g},{int(s is best)}")
    return "\n".join(lines) + "\n"
