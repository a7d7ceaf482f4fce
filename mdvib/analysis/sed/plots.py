"""SED figures: dispersion heat map, per-q line spectra with their fits, linewidth against frequency.

Every figure is written atomically (:func:`mdvib.plot.save_figure`) with
matplotlib's Agg backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mdvib.analysis.sed.analysis import SEDResult
from mdvib.analysis.sed.lifetimes import LifetimeTable, damped_oscillator, lorentzian
from mdvib.plot import save_figure

_SHAPES = {"lorentzian": lorentzian, "dho": damped_oscillator}


def _label(name: str) -> str:
    return "Γ" if name in ("G", "Gamma") else name


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_sed_map(result: SEDResult, path: str | Path, dispersion: tuple[np.ndarray, np.ndarray] | None = None,
                 max_frequency_thz: float | None = None, title: str | None = None) -> None:
    """Heat map of log₁₀ Φ′(q, ν) along the q-points, with an optional dispersion overlaid.

    Parameters
    ----------
    result : SEDResult
    path : str or Path
        Image file (``.png``, ``.pdf``, ``.svg``).
    dispersion : (ndarray, ndarray), optional
        ``(distances (n,), frequencies (n, n_bands) THz)`` drawn as lines
        (harmonic or effective force constants); without it the result's own
        ``harmonic_thz`` (if any) is drawn as points.
    max_frequency_thz : float, optional
        Upper limit of the frequency axis (default: 10 % above the highest
        frequency with appreciable intensity).
    title : str, optional
    """
    plt = _pyplot()
    nu = result.frequencies_thz
    x = result.distances if result.q_kind == "path" else np.arange(len(result.distances), dtype=float)
    edges = np.concatenate([[x[0] - 0.5 * (x[1] - x[0]) if x.size > 1 else x[0] - 0.5],
                            0.5 * (x[1:] + x[:-1]),
                            [x[-1] + 0.5 * (x[-1] - x[-2]) if x.size > 1 else x[0] + 0.5]])
    intensity = np.log10(np.maximum(result.sed, result.sed.max() * 1e-6))
    max_frequency_thz = max_frequency_thz or _top_frequency(result)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    mesh = ax.pcolormesh(x, nu, intensity.T, shading="nearest", cmap="inferno")
    fig.colorbar(mesh, ax=ax, label="log₁₀ Φ′ (eV/THz)")
    if dispersion is not None:
        ax.plot(dispersion[0], dispersion[1], color="white", lw=0.8, alpha=0.8)
    elif result.harmonic_thz is not None:
        for band in result.harmonic_thz.T:
            ax.plot(x, band, "o", ms=2.5, mfc="none", mec="white", alpha=0.8)
    if result.q_kind == "path":
        ticks = result.distances[result.label_indices]
        ax.set_xticks(ticks, [_label(n) for n in result.labels])
        for t in ticks:
            ax.axvline(t, color="white", lw=0.5, alpha=0.5)
        ax.set_xlabel("wave vector")
    else:
        ax.set_xlabel("q index")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, max_frequency_thz)
    ax.set_ylabel("frequency (THz)")
    ax.set_title(title or f"SED, T = {result.temperature_k:.0f} K")
    fig.tight_layout()
    save_figure(fig, path)


def _top_frequency(result: SEDResult) -> float:
    """10 % above the highest frequency where Φ′ exceeds 10⁻³ of its maximum, THz."""
    strong = np.flatnonzero(result.sed.max(axis=0) > 1e-3 * result.sed.max())
    return 1.1 * float(result.frequencies_thz[strong[-1]]) if strong.size else float(result.frequencies_thz[-1])


def plot_line_spectra(result: SEDResult, table: LifetimeTable | None, path: str | Path,
                      q_indices: list[int] | None = None) -> None:
    """Φ′(ν) (and Φ_ν with force constants) at a few q, with the fitted peaks.

    Parameters
    ----------
    result : SEDResult
    table : LifetimeTable, optional
        Fits to draw.
    path : str or Path
        Image file.
    q_indices : list of int, optional
        q-points to show (default: the labelled points, at most 6).
    """
    plt = _pyplot()
    if q_indices is None:
        q_indices = list(dict.fromkeys(int(k) for k in result.label_indices))[:6] or [0]
    nu = result.frequencies_thz
    fig, axes = plt.subplots(len(q_indices), 1, figsize=(7, 1.9 * len(q_indices) + 0.6), sharex=True, squeeze=False)
    names = {int(k): _label(n) for k, n in zip(result.label_indices, result.labels)}
    for ax, q in zip(axes[:, 0], q_indices):
        ax.semilogy(nu, result.sed[q], color="black", lw=0.8, label="Φ′")
        if result.sed_err is not None:
            ax.fill_between(nu, np.maximum(result.sed[q] - result.sed_err[q], 1e-12), result.sed[q] + result.sed_err[q],
                            color="grey", alpha=0.3, lw=0)
        if table is not None:
            shape = _SHAPES[table.model]
            for r in np.flatnonzero(table.q_index == q):
                ax.semilogy(nu, shape(nu, table.amplitude[r], table.frequency_thz[r], table.fwhm_thz[r]),
                            lw=0.8, ls="--")
        top = result.sed[q].max()
        ax.set_ylim(top * 1e-4, top * 3)
        ax.set_ylabel("eV/THz")
        reduced = ", ".join(f"{v:.3g}" for v in result.qpoints_reduced[q])
        ax.set_title(f"q {q}: ({reduced})" + (f" {names[q]}" if q in names else ""), fontsize=9)
    axes[-1, 0].set_xlabel("frequency (THz)")
    axes[-1, 0].set_xlim(0, _top_frequency(result))
    fig.tight_layout()
    save_figure(fig, path)


def plot_linewidths(tables: list[tuple[str, LifetimeTable]], path: str | Path) -> None:
    """FWHM Γ (THz) against peak frequency, with error bars, one series per table (e.g. per temperature).

    Fits whose standard error exceeds their width are left out (the legend
    says how many); the axis is logarithmic.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, table in tables:
        good = table.fwhm_err_thz < table.fwhm_thz
        dropped = int((~good).sum())
        note = f" ({dropped} uncertain fits not shown)" if dropped else ""
        ax.errorbar(table.frequency_thz[good], table.fwhm_thz[good], yerr=table.fwhm_err_thz[good], fmt="o", ms=3,
                    capsize=2, label=f"{label}{note}")
    ax.set_yscale("log")
    ax.set_xlabel("frequency (THz)")
    ax.set_ylabel("linewidth Γ, FWHM (THz)")
    secondary = ax.secondary_yaxis("right", functions=(lambda g: 2 * np.pi * g, lambda w: w / (2 * np.pi)))
    secondary.set_ylabel("Γ_ω = 1/τ (rad/ps)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def dense_dispersion(result: SEDResult, frequencies_at, points_per_segment: int = 40):
    """Harmonic dispersion on a dense sampling of the result's path: ``(distances, frequencies)``.

    Parameters
    ----------
    result : SEDResult
        With ``q_kind == "path"``.
    frequencies_at : callable
        ``frequencies_at(reduced (n, 3)) -> (n, n_bands)`` THz, e.g.
        ``lambda k: modes.frequencies(cells, k)``.
    points_per_segment : int
        Points between consecutive labelled q.
    """
    reduced, distances = [], []
    marks = list(result.label_indices)
    for a, b in zip(marks[:-1], marks[1:]):
        if result.distances[b] == result.distances[a]:
            continue  # a break in the path
        s = np.linspace(0.0, 1.0, points_per_segment)
        reduced.append(result.qpoints_reduced[a] + s[:, None] * (result.qpoints_reduced[b] - result.qpoints_reduced[a]))
        distances.append(result.distances[a] + s * (result.distances[b] - result.distances[a]))
    reduced = np.concatenate(reduced)
    distances = np.concatenate(distances)
    return distances, frequencies_at(reduced)
