"""Temperature series: one fit per trajectory with the same reference and cutoffs, compared.

Each trajectory (one per temperature) is fitted by its own
:class:`~mdvib.analysis.tdep.fit.TDEPAnalysis` with the same settings;
:func:`write_series_outputs` writes every fit's files into ``OUTDIR/T_<T>K/``
(:func:`~mdvib.analysis.tdep.export.write_outputs`), all dispersions on one
figure, and :class:`TemperatureSeries`: the frequencies at the special points
of the dispersion path against temperature (HDF5 and a CSV table).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mdvib.analysis.tdep.export import PhononSpectrum, plot_dispersion, write_outputs
from mdvib.analysis.tdep.fit import TDEPAnalysis, TDEPResult
from mdvib.analysis.tdep.reference import Reference
from mdvib.errors import SettingsError
from mdvib.results import quantity, result_type, save_result, write_text_atomic
from mdvib.trajectory import Trajectory


def check_temperatures(temperatures_k: Sequence[float], n_trajectories: int) -> None:
    """Require one distinct, non-negative temperature per trajectory.

    Raises
    ------
    SettingsError
        Naming the count or the repeated/negative value.
    """
    if len(temperatures_k) != n_trajectories:
        raise SettingsError(f"a temperature series needs one temperature per trajectory: got {n_trajectories} "
                            f"trajectories and {len(temperatures_k)} temperatures")
    if len(set(temperatures_k)) != len(temperatures_k):
        raise SettingsError(f"temperatures must differ (each names its output folder), got {list(temperatures_k)}")
    if min(temperatures_k) < 0:
        raise SettingsError(f"temperatures must be >= 0 K, got {list(temperatures_k)}")


def fit_series(analysis: TDEPAnalysis, trajectories: Sequence[Trajectory], temperatures_k: Sequence[float],
               start: int = 0, stop: int | None = None, step: int | str = 1, workers: int = 1,
               scheduler: str | None = None) -> list[TDEPResult]:
    """Fit every trajectory with the settings of ``analysis``, each at its own temperature.

    Parameters
    ----------
    analysis : TDEPAnalysis
        Reference, cutoffs and fit settings shared by all (copied; each copy gets its temperature).
    trajectories : sequence of Trajectory
        One per temperature.
    temperatures_k : sequence of float
        Temperature of each trajectory, K.
    start, stop, step
        Frame selection applied to every trajectory (``step="auto"``: each its own stride).
    workers, scheduler
        Parallel execution of each fit (:meth:`TDEPAnalysis.run`).

    Returns
    -------
    list of TDEPResult
        In the order given.

    Raises
    ------
    SettingsError
        If the temperatures do not match the trajectories (count, repeats).
    """
    check_temperatures(temperatures_k, len(trajectories))
    results = []
    for trajectory, temperature in zip(trajectories, temperatures_k):
        at_temperature = copy.copy(analysis)
        at_temperature.temperature_k = float(temperature)
        results.append(at_temperature.run(trajectory, start=start, stop=stop, step=step, workers=workers,
                                          scheduler=scheduler))
    return results


@result_type
@dataclasses.dataclass(frozen=True)
class TemperatureSeries:
    """Frequencies at the special points of the dispersion path for each temperature's fit."""

    temperatures_k: np.ndarray = quantity("K", "(n_T,)", "temperatures, ascending")
    point_labels: tuple[str, ...] = quantity("", "(n_points,)", "special points of the path (seekpath)")
    point_qpoints: np.ndarray = quantity("1", "(n_points, 3)", "their reduced coordinates (primitive reciprocal)")
    point_frequencies: np.ndarray = quantity("THz", "(n_T, n_points, n_bands)", "frequencies, ascending per point")
    min_frequencies: np.ndarray = quantity("THz", "(n_T,)", "lowest frequency on the mesh and path of each fit")
    n_snapshots: np.ndarray = quantity("", "(n_T,)", "snapshots fitted at each temperature")
    strides: np.ndarray = quantity("frames", "(n_T,)", "frames between fitted snapshots")
    r2: np.ndarray = quantity("", "(n_T,)", "R² of the forces of each fit")
    anharmonicity: np.ndarray = quantity("", "(n_T,)", "σ_A of each fit")
    trajectories: tuple[str, ...] = quantity("", "(n_T,)", "trajectory file of each temperature")

    @classmethod
    def from_fits(cls, fits: Sequence[tuple[TDEPResult, PhononSpectrum]]) -> TemperatureSeries:
        """Collect fits (each with its spectrum) into a series sorted by temperature.

        Raises
        ------
        SettingsError
            If a fit has no temperature, or the spectra follow different paths.
        """
        if any(result.temperature_k is None for result, _ in fits):
            raise SettingsError("every fit of a temperature series needs its temperature")
        fits = sorted(fits, key=lambda pair: pair[0].temperature_k)
        labels = fits[0][1].point_labels
        if any(spectrum.point_labels != labels for _, spectrum in fits):
            raise SettingsError("the fits of a temperature series must share the dispersion path (same crystal and "
                                "unit cell)")
        results = [result for result, _ in fits]
        return cls(
            temperatures_k=np.array([r.temperature_k for r in results], float),
            point_labels=labels,
            point_qpoints=fits[0][1].point_qpoints,
            point_frequencies=np.array([s.point_frequencies for _, s in fits]),
            min_frequencies=np.array([s.min_frequency for _, s in fits]),
            n_snapshots=np.array([r.n_snapshots for r in results]),
            strides=np.array([r.stride or 0 for r in results]),
            r2=np.array([r.r2 for r in results]),
            anharmonicity=np.array([r.anharmonicity for r in results]),
            trajectories=tuple(str(r.provenance.inputs[0]) if r.provenance else "" for r in results),
        )

    def save(self, path) -> None:
        """Write to HDF5."""
        save_result(self, path)

    def table(self) -> str:
        """CSV: one row per special point and band, one frequency column (THz) per temperature."""
        header = ["point", "q1", "q2", "q3", "band"] + [f"{t:g}K_THz" for t in self.temperatures_k]
        lines = ["# frequencies (THz) at the special points of the dispersion path, one column per temperature; "
                 "bands ascending at each point; q in reduced coordinates of the primitive reciprocal lattice",
                 ",".join(header)]
        for p, (label, q) in enumerate(zip(self.point_labels, self.point_qpoints)):
            for band in range(self.point_frequencies.shape[2]):
                values = ",".join(f"{f:.5f}" for f in self.point_frequencies[:, p, band])
                lines.append(f"{label},{q[0]:.6g},{q[1]:.6g},{q[2]:.6g},{band + 1},{values}")
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """Distinct frequencies at each special point, one column per temperature (THz)."""
        width = max(8, *(len(f"{t:g} K") for t in self.temperatures_k))
        lines = ["frequencies at special points (THz) vs temperature:",
                 "       " + " ".join(f"{f'{t:g} K':>{width}}" for t in self.temperatures_k)]
        for p, label in enumerate(self.point_labels):
            # one row per distinct branch, by the degeneracies of the lowest temperature's fit
            distinct = np.concatenate([[True], np.diff(self.point_frequencies[0, p]) > 1e-3])
            name = label
            for band in np.flatnonzero(distinct):
                if abs(self.point_frequencies[:, p, band]).max() < 0.05:
                    continue  # acoustic zeros at Γ
                lines.append(f"  {name:>3}{':' if name else ' '} "
                             + " ".join(f"{f:>{width}.3f}" for f in self.point_frequencies[:, p, band]))
                name = ""
        lines.append("lowest frequency: " + ", ".join(f"{f:.3f}" for f in self.min_frequencies) + " THz")
        return "\n".join(lines)


def write_series_outputs(results: Sequence[TDEPResult], outdir: str | Path, unitcell: Reference | None = None,
                         plot: bool = True) -> tuple[TemperatureSeries, list[PhononSpectrum], list[Path]]:
    """Write each fit to OUTDIR/T_<T>K/ and the series to OUTDIR/{series.h5, frequencies_vs_T.csv, dispersion.png}.

    Parameters
    ----------
    results : sequence of TDEPResult
        Fits of the same crystal, each with its temperature.
    outdir : str or Path
        Output directory.
    unitcell : Reference, optional
        Unit cell for phonopy (default: spglib's standardised cell).
    plot : bool
        Draw each temperature's dispersion.png and the combined OUTDIR/dispersion.png.

    Returns
    -------
    series : TemperatureSeries
    spectra : list of PhononSpectrum
        Of each fit, in the order of ``results``.
    written : list of Path
    """
    outdir = Path(outdir)
    fits, written = [], []
    for result in results:
        if result.temperature_k is None:
            raise SettingsError("every fit of a temperature series needs its temperature")
        _, spectrum, files = write_outputs(result, outdir / f"T_{result.temperature_k:g}K", unitcell, plot=plot)
        fits.append((result, spectrum))
        written += files
    series = TemperatureSeries.from_fits(fits)
    series.save(outdir / "series.h5")
    write_text_atomic(outdir / "frequencies_vs_T.csv", series.table())
    written += [outdir / "series.h5", outdir / "frequencies_vs_T.csv"]
    if plot:
        ordered = sorted(fits, key=lambda pair: pair[0].temperature_k)
        plot_dispersion([(f"{r.temperature_k:g} K", s) for r, s in ordered], outdir / "dispersion.png")
        written.append(outdir / "dispersion.png")
    return series, [spectrum for _, spectrum in fits], written
