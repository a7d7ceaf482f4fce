"""Scores of a simulated INS spectrum against a measured one, and the ranking of candidates.

:func:`compare` puts the measured spectrum on the simulation's energy bins and
fits it (docs/physics.md, "INS", comparison with measurement):

* rebinning: the measured points whose energy falls in a bin are averaged,
  their errors combined as σ_b = √(Σσ_i²)/n_b; bins holding no point are left
  out;
* fit: measured ≈ a·simulated (+ c₀, or + c₀ + c₁E) by weighted linear least
  squares (weights 1/σ_b²); parameter standard errors from the covariance
  (ĀᵀWĀ)⁻¹. Without measured errors every bin has weight 1, χ² is a plain sum
  of squares (the score says so) and the parameter errors are scaled by the
  residual scatter χ²/dof;
* χ² = Σ((y − model)/σ)², reduced by dof = bins − parameters;
* cosine similarity and Pearson correlation of the background-subtracted
  measured spectrum with the simulated one over the same bins (unweighted);
* energy shift δ: measured ≈ model with the simulation moved to higher
  energy by δ (δ > 0: the measured peaks lie above the simulated ones),
  the δ minimising χ² of the full fit (integer-bin scan, then a bounded
  Brent/parabolic refinement with the simulation interpolated by a cubic
  spline);
* peaks: :func:`scipy.signal.find_peaks` with a prominence threshold on both
  spectra, positions refined by a parabola fitted over each peak's top half; a
  simulated peak at E is matched to the nearest free measured peak within the
  tolerance (the resolution FWHM at E, at least one bin; two bins without a
  resolution) of E + δ, or of E when that matches more peaks (one misplaced
  peak pulls δ away from the others).

:func:`best_match` picks the lowest reduced χ² among candidates (e.g. one
simulation per temperature) against one measured spectrum.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from mdvib.errors import FitError, SettingsError
from mdvib.results import quantity, result_type, save_h5_or_csv
from mdvib.spectroscopy.measured import MeasuredSpectrum

#: Background models: name → number of background parameters.
BACKGROUNDS: dict[str, int] = {"none": 0, "flat": 1, "linear": 2}

#: Default peak prominence, as a fraction of the spectrum's largest value in the compared range.
DEFAULT_PROMINENCE = 0.05

#: FWHM of a Gaussian in units of its standard deviation, 2√(2 ln 2).
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

#: Relative tolerance on the spacing of the simulation's bin centres.
UNIFORM_RTOL = 1e-6


@result_type
@dataclasses.dataclass(frozen=True)
class ComparisonScore:
    """How well one simulated spectrum, scaled (plus background), describes a measured one.

    Arrays over ``n_bins`` hold the simulation bins that contain measured
    points within the compared range; ``residual`` is (measured − model)/σ
    when ``weighted``, else measured − model in the measured intensity unit.
    """

    label: str = quantity("", "()", "name of the simulated spectrum (temperature, model)")
    measured_label: str = quantity("", "()", "name of the measured spectrum")
    measured_path: str = quantity("", "()", "file of the measured spectrum")
    background: str = quantity("", "()", "background model: none, flat or linear")
    weighted: bool = quantity("", "()", "whether χ² uses measured errors (False: unit weights, sum of squares)")
    scale: float = quantity("", "()", "fitted factor a: measured ≈ a · simulated (+ background)")
    scale_err: float = quantity("", "()", "standard error of scale")
    background_coefficients: np.ndarray = quantity("", "(n_background,)",
                                                   "c0 (measured unit) and c1 (per meV) of the background")
    background_errors: np.ndarray = quantity("", "(n_background,)", "standard errors of the background coefficients")
    chi2: float = quantity("", "()", "χ² of the fit at zero shift")
    dof: int = quantity("", "()", "degrees of freedom, bins − fitted parameters")
    reduced_chi2: float = quantity("", "()", "χ² / dof")
    cosine: float = quantity("", "()", "cosine similarity of background-subtracted measured and simulated")
    pearson: float = quantity("", "()", "Pearson correlation of background-subtracted measured and simulated")
    shift_mev: float = quantity("meV", "()", "δ minimising χ²: measured ≈ simulated moved up in energy by δ")
    shifted_reduced_chi2: float = quantity("", "()", "χ²/dof of the fit with the simulation shifted by δ")
    energy_range_mev: np.ndarray = quantity("meV", "(2,)", "lowest and highest bin centre compared")
    energies_mev: np.ndarray = quantity("meV", "(n_bins,)", "centres of the compared bins")
    measured: np.ndarray = quantity("", "(n_bins,)", "measured intensity averaged in each bin")
    simulated: np.ndarray = quantity("", "(n_bins,)", "simulated intensity in each bin, unscaled")
    model: np.ndarray = quantity("", "(n_bins,)", "scale · simulated + background")
    residual: np.ndarray = quantity("", "(n_bins,)", "(measured − model)/σ, or measured − model when unweighted")
    simulated_peaks_mev: np.ndarray = quantity("meV", "(n_sim_peaks,)", "peaks found in the simulation")
    measured_peaks_mev: np.ndarray = quantity("meV", "(n_meas_peaks,)", "peaks found in the measurement")
    matched_peaks_mev: np.ndarray = quantity("meV", "(n_matched, 3)",
                                             "matched peaks: simulated, measured, measured − simulated")
    notes: tuple[str, ...] = quantity("", "(n_notes,)", "caveats of this comparison")
    measured_err: np.ndarray = quantity("", "(n_bins,)", "standard error of measured (None: unweighted)",
                                        optional=True)

    def save(self, path) -> None:
        """Write ``.h5`` (typed) or ``.csv`` (summary as ``#`` lines, then the per-bin columns), by extension."""
        save_h5_or_csv(self, path)

    def to_csv(self) -> str:
        """CSV: ``#`` summary lines, then ``energy_meV,measured[,measured_err],simulated,model,residual``."""
        names = ["energy_meV", "measured"]
        columns = [self.energies_mev, self.measured]
        if self.measured_err is not None:
            names.append("measured_err")
            columns.append(self.measured_err)
        names += ["simulated", "model", "residual"]
        columns += [self.simulated, self.model, self.residual]
        body = np.column_stack(columns)
        head = ["# " + line for line in self.summary().splitlines()]
        return "\n".join(head + [",".join(names)] + [",".join(f"{v:.8g}" for v in row) for row in body]) + "\n"

    def summary(self) -> str:
        """Human-readable summary: fit, scores, shift, matched peaks, notes."""
        kind = "χ²" if self.weighted else "sum of squares (unweighted: the measurement has no errors)"
        lines = [f"{self.label or 'simulation'} vs {self.measured_label}: {self.energies_mev.size} bins, "
                 f"{self.energy_range_mev[0]:g} … {self.energy_range_mev[1]:g} meV, background {self.background}",
                 f"  scale {self.scale:.6g} ± {self.scale_err:.2g}"]
        names = ("c0", "c1 (per meV)")
        for name, value, err in zip(names, self.background_coefficients, self.background_errors):
            lines.append(f"  background {name} {value:.6g} ± {err:.2g}")
        lines += [f"  {kind} {self.chi2:.6g}, dof {self.dof}, reduced {self.reduced_chi2:.4g}",
                  f"  cosine {self.cosine:.4f}, Pearson {self.pearson:.4f}",
                  f"  shift {self.shift_mev:+.3f} meV (measured above simulated when > 0); reduced "
                  f"{'χ²' if self.weighted else 'sum of squares'} there {self.shifted_reduced_chi2:.4g}"]
        if self.matched_peaks_mev.size:
            pairs = ", ".join(f"{s:.2f}→{m:.2f}" for s, m, _ in self.matched_peaks_mev)
            lines.append(f"  matched peaks (simulated→measured, meV): {pairs}")
        lines.append(f"  peaks: {self.simulated_peaks_mev.size} simulated, {self.measured_peaks_mev.size} measured, "
                     f"{self.matched_peaks_mev.shape[0]} matched")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def model_on(self, energies_mev: np.ndarray, simulated: np.ndarray) -> np.ndarray:
        """scale · simulated + background on any energies (meV), e.g. every bin of the simulation."""
        return self.scale * np.asarray(simulated, dtype=float) + _background_columns(
            np.asarray(energies_mev, dtype=float), self.background) @ self.background_coefficients


def compare(bin_centres_mev: np.ndarray, simulated: np.ndarray, measured: MeasuredSpectrum,
            background: str = "none", energy_range: tuple[float, float] | None = None,
            resolution_mev: float | np.ndarray | None = None, label: str = "",
            max_shift_mev: float | None = None, prominence: float = DEFAULT_PROMINENCE) -> ComparisonScore:
    """Fit a measured spectrum with a scaled simulated one and score the agreement.

    Parameters
    ----------
    bin_centres_mev : numpy.ndarray
        Centres of uniform energy bins, meV, shape ``(n_E,)`` ascending
        (e.g. :attr:`EnergyBins.centres_mev <mdvib.spectroscopy.ins.bins.EnergyBins.centres_mev>`).
    simulated : numpy.ndarray
        Simulated intensity in those bins (any unit; bin averages), shape ``(n_E,)``.
    measured : MeasuredSpectrum
        From :func:`~mdvib.spectroscopy.measured.load_measured`.
    background : {"none", "flat", "linear"}
        Background added to the scaled simulation: none, c₀, or c₀ + c₁E.
    energy_range : (float, float), optional
        Lowest and highest bin centre to compare, meV; default every bin that
        holds measured points. Exclude the elastic line (|E| ≲ 3σ of the
        resolution) when the simulation has none.
    resolution_mev : float or numpy.ndarray, optional
        Gaussian σ of the energy resolution, meV, a number or one per bin
        (shape ``(n_E,)``; 0 where unknown, e.g. bins a bank does not reach);
        sets the peak-matching tolerance (FWHM, at least one bin).
    label : str
        Name of the simulation (temperature, model) in tables.
    max_shift_mev : float, optional
        Largest |δ| scanned, meV; default a tenth of the compared range, at least 5 bins.
    prominence : float
        Smallest peak prominence, as a fraction of each spectrum's largest value
        in the range (measured peaks must also stand 3 median σ above their surroundings).

    Returns
    -------
    ComparisonScore

    Raises
    ------
    SettingsError
        For bins that are not uniform, arrays of mismatched shapes, an unknown
        background, an empty or reversed range, no measured point in the
        compared range, or a zero error in a compared bin.
    FitError
        When fewer bins than fitted parameters + 1 remain, or the simulation is
        zero or degenerate with the background over the range.
    """
    centres, sim, width = _check_axis(bin_centres_mev, simulated)
    if background not in BACKGROUNDS:
        raise SettingsError(f"unknown background {background!r}; choose one of {', '.join(BACKGROUNDS)}")
    sigma_res = _resolution(resolution_mev, centres)
    y, err, counts = _rebin(measured, centres, width)
    keep = counts > 0
    if energy_range is not None:
        low, high = (float(v) for v in energy_range)
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise SettingsError(f"energy_range must be (low, high) in meV with low < high, not {energy_range!r}")
        keep &= (centres >= low) & (centres <= high)
    index = np.flatnonzero(keep)
    if index.size == 0:
        wanted = f", energy_range {energy_range[0]:g} … {energy_range[1]:g} meV" if energy_range is not None else ""
        raise SettingsError(f"{measured.path or measured.label}: no overlap: the measurement covers "
                            f"{measured.energies_mev[0]:g} … {measured.energies_mev[-1]:g} meV, the simulation bins "
                            f"{centres[0] - width / 2:g} … {centres[-1] + width / 2:g} meV{wanted}; widen the "
                            "simulation axis or change energy_range")
    energies, y, sim_used = centres[index], y[index], sim[index]
    weighted = err is not None
    sigma = err[index] if weighted else np.ones_like(y)
    if weighted and np.any(sigma <= 0):
        zero = energies[sigma <= 0]
        raise SettingsError(f"{measured.path or measured.label}: zero error in {zero.size} compared bin(s) (first at "
                            f"{zero[0]:g} meV), which would get infinite weight; crop those energies with "
                            "energy_range or give the file proper errors")
    n_params = 1 + BACKGROUNDS[background]
    if index.size < n_params + 1:
        raise FitError(f"{measured.path or measured.label}: {index.size} compared bin(s) for {n_params} fitted "
                       "parameter(s); widen energy_range or use finer simulation bins")
    if not np.any(sim_used != 0):
        raise FitError(f"the simulation {label!r} is zero over {energies[0]:g} … {energies[-1]:g} meV; nothing to "
                       "scale")
    design = np.column_stack([sim_used, _background_columns(energies, background)])
    coefficients, covariance, chi2 = _linear_fit(design, y, sigma, weighted, label)
    dof = index.size - n_params
    model = design @ coefficients
    residual = (y - model) / sigma if weighted else y - model
    signal = y - design[:, 1:] @ coefficients[1:]
    cosine, pearson = _similarities(signal, sim_used)

    notes = []
    if not weighted:
        notes.append("unweighted: the measurement has no errors, so χ² is a sum of squares in the measured unit "
                     "and parameter errors come from the residual scatter")
    if energies[0] <= 0.5 * width and energies[-1] >= -0.5 * width:
        notes.append("the compared range includes E = 0: the measured elastic line is not in the inelastic "
                     "simulation; pass energy_range to exclude it")
    shift, shifted_chi2, at_edge = _best_shift(centres, sim, energies, y, sigma, weighted, background, width,
                                               max_shift_mev)
    if at_edge:
        notes.append(f"the best shift lies at the edge of the scanned ±{at_edge:g} meV; the offset may be larger "
                     "(raise max_shift_mev)")
    sim_peaks = _peaks(energies, sim_used, prominence, None)
    meas_peaks = _peaks(energies, signal, prominence, sigma if weighted else None)
    tolerance = (FWHM_PER_SIGMA * np.maximum(np.interp(sim_peaks, centres, sigma_res), width / FWHM_PER_SIGMA)
                 if sigma_res is not None else np.full(sim_peaks.shape, 2.0 * width))
    matched = _match_peaks(sim_peaks, meas_peaks, shift, tolerance)
    errors = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    return ComparisonScore(
        label=label, measured_label=measured.label, measured_path=measured.path, background=background,
        weighted=weighted, scale=float(coefficients[0]), scale_err=float(errors[0]),
        background_coefficients=coefficients[1:].copy(), background_errors=errors[1:].copy(),
        chi2=float(chi2), dof=int(dof), reduced_chi2=float(chi2 / dof), cosine=cosine, pearson=pearson,
        shift_mev=float(shift), shifted_reduced_chi2=float(shifted_chi2 / dof),
        energy_range_mev=np.array([energies[0], energies[-1]]), energies_mev=energies, measured=y,
        measured_err=sigma if weighted else None, simulated=sim_used, model=model, residual=residual,
        simulated_peaks_mev=sim_peaks, measured_peaks_mev=meas_peaks, matched_peaks_mev=matched,
        notes=tuple(notes))


def best_match(scores: Sequence[ComparisonScore]) -> ComparisonScore:
    """The candidate with the lowest reduced χ².

    Ties (reduced χ² equal to 1 part in 10⁹) go to the higher cosine
    similarity, then to the candidate given first.

    Raises
    ------
    SettingsError
        For no scores, or scores against different measured spectra, or
        weighted and unweighted scores mixed (their χ² do not compare).
    """
    return _ranked(scores)[0]


def ranking_table(scores: Sequence[ComparisonScore]) -> str:
    """Text table of the candidates, best first: rank, label, scale ± error, χ²_red, cosine, shift (meV)."""
    ranked = _ranked(scores)
    chi_name = "chi2_red" if ranked[0].weighted else "SS/dof"
    width = max(5, *(len(s.label) for s in ranked))
    lines = [f"{'rank':>4}  {'label':<{width}}  {'scale':>22}  {chi_name:>10}  {'cosine':>7}  {'shift_meV':>9}"]
    for rank, s in enumerate(ranked, start=1):
        scale = f"{s.scale:.5g} ± {s.scale_err:.2g}"
        lines.append(f"{rank:>4}  {s.label:<{width}}  {scale:>22}  {s.reduced_chi2:>10.4g}  {s.cosine:>7.4f}  "
                     f"{s.shift_mev:>+9.3f}")
    lines.append(f"best: {ranked[0].label} (lowest {chi_name} against {ranked[0].measured_label})")
    if not ranked[0].weighted:
        lines.append("unweighted: the measurement has no errors; SS is the sum of squared residuals")
    return "\n".join(lines)


def _ranked(scores: Sequence[ComparisonScore]) -> list[ComparisonScore]:
    scores = list(scores)
    if not scores:
        raise SettingsError("no comparison scores to rank")
    paths = {(s.measured_path, s.measured_label) for s in scores}
    if len(paths) > 1:
        raise SettingsError(f"the scores compare against different measurements ({', '.join(sorted(map(str, paths)))}"
                            "); rank candidates against one measured spectrum")
    if len({s.weighted for s in scores}) > 1:
        raise SettingsError("weighted and unweighted scores cannot be ranked together (χ² and sums of squares "
                            "differ in kind)")
    order = sorted(range(len(scores)), key=lambda i: (_rounded(scores[i].reduced_chi2), -scores[i].cosine, i))
    return [scores[i] for i in order]


def _rounded(value: float) -> float:
    """``value`` to 9 significant digits, so that reduced χ² equal up to round-off tie."""
    return float(f"{value:.9g}")


def _check_axis(bin_centres_mev, simulated) -> tuple[np.ndarray, np.ndarray, float]:
    centres = np.asarray(bin_centres_mev, dtype=float)
    sim = np.asarray(simulated, dtype=float)
    if centres.ndim != 1 or centres.size < 2:
        raise SettingsError(f"bin_centres_mev must be a 1-D array of at least 2 bin centres, not shape {centres.shape}")
    if sim.shape != centres.shape:
        raise SettingsError(f"simulated has shape {sim.shape}, the bins {centres.shape}; give one intensity per bin "
                            "(one bank or the bank average of one entry)")
    if not (np.all(np.isfinite(centres)) and np.all(np.isfinite(sim))):
        raise SettingsError("the bin centres and the simulated spectrum must be finite")
    steps = np.diff(centres)
    width = float(steps.mean())
    if width <= 0 or np.max(np.abs(steps - width)) > UNIFORM_RTOL * width:
        raise SettingsError(f"the simulation bins must be uniform and ascending (spacings {steps.min():g} … "
                            f"{steps.max():g} meV); use EnergyBins.centres_mev")
    return centres, sim, width


def _resolution(resolution_mev, centres: np.ndarray) -> np.ndarray | None:
    if resolution_mev is None:
        return None
    sigma = np.asarray(resolution_mev, dtype=float)
    if sigma.ndim == 0:
        sigma = np.full(centres.shape, float(sigma))
    if sigma.shape != centres.shape:
        raise SettingsError(f"resolution_mev has shape {sigma.shape}; give one σ (meV) or one per bin "
                            f"{centres.shape}")
    if not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
        raise SettingsError("resolution_mev must be non-negative Gaussian σ values in meV (0: no resolution known "
                            "there, peaks then match within one bin)")
    return np.array(sigma)


def _rebin(measured: MeasuredSpectrum, centres: np.ndarray, width: float):
    """Mean measured intensity per bin, its standard error (None without errors), points per bin."""
    first_edge = centres[0] - 0.5 * width
    index = np.floor((measured.energies_mev - first_edge) / width).astype(int)
    inside = (index >= 0) & (index < centres.size)
    index = index[inside]
    counts = np.bincount(index, minlength=centres.size)
    sums = np.bincount(index, weights=measured.intensity[inside], minlength=centres.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        err = None
        if measured.errors is not None:
            variance = np.bincount(index, weights=measured.errors[inside] ** 2, minlength=centres.size)
            err = np.sqrt(variance) / np.maximum(counts, 1)
    return mean, err, counts


def _background_columns(energies: np.ndarray, background: str) -> np.ndarray:
    """Design-matrix columns of the background, shape ``(n, n_background)``."""
    columns = [np.ones_like(energies), energies][:BACKGROUNDS[background]]
    return np.column_stack(columns) if columns else np.zeros((energies.size, 0))


def _linear_fit(design: np.ndarray, y: np.ndarray, sigma: np.ndarray, weighted: bool, label: str):
    """Weighted least squares: coefficients, covariance, χ²."""
    a = design / sigma[:, None]
    b = y / sigma
    # Column scaling keeps the normal matrix well conditioned when E (meV) and the spectrum differ by decades.
    norms = np.linalg.norm(a, axis=0)
    if np.any(norms == 0):
        raise FitError(f"the fit of {label!r} has an all-zero column; the simulation is zero over the range")
    q, r = np.linalg.qr(a / norms)
    if np.min(np.abs(np.diag(r))) < 1e-10 * np.max(np.abs(np.diag(r))):
        raise FitError(f"the simulation {label!r} is degenerate with the background over the compared range (e.g. "
                       "flat); use background='none' or a wider energy_range")
    scaled = np.linalg.solve(r, q.T @ b)
    coefficients = scaled / norms
    r_inv = np.linalg.inv(r)
    covariance = (r_inv @ r_inv.T) / np.outer(norms, norms)
    chi2 = float(np.sum((b - a @ coefficients) ** 2))
    if not weighted:
        dof = y.size - design.shape[1]
        covariance = covariance * chi2 / dof
    return coefficients, covariance, chi2


def _similarities(signal: np.ndarray, sim: np.ndarray) -> tuple[float, float]:
    """Cosine similarity and Pearson correlation of two spectra over the same bins."""
    norm = np.linalg.norm(signal) * np.linalg.norm(sim)
    cosine = float(signal @ sim / norm) if norm > 0 else float("nan")
    a, b = signal - signal.mean(), sim - sim.mean()
    spread = np.linalg.norm(a) * np.linalg.norm(b)
    pearson = float(a @ b / spread) if spread > 0 else float("nan")
    return cosine, pearson


def _best_shift(centres, sim, energies, y, sigma, weighted, background, width, max_shift_mev):
    """δ minimising χ² with the simulation moved up by δ; its χ²; the scan limit if δ lies at it (else 0)."""
    from scipy.interpolate import CubicSpline
    from scipy.optimize import minimize_scalar

    spline = CubicSpline(centres, sim)
    columns = _background_columns(energies, background)

    def chi2(delta: float) -> float:
        moved = spline(np.clip(energies - delta, centres[0], centres[-1]))
        design = np.column_stack([moved, columns])
        a = design / sigma[:, None]
        b = y / sigma
        coefficients, *_ = np.linalg.lstsq(a, b, rcond=None)
        return float(np.sum((b - a @ coefficients) ** 2))

    span = energies[-1] - energies[0]
    limit = float(max_shift_mev) if max_shift_mev is not None else max(5.0 * width, 0.1 * span)
    if not np.isfinite(limit) or limit <= 0:
        raise SettingsError(f"max_shift_mev must be a positive number of meV, not {max_shift_mev!r}")
    steps = max(1, int(np.floor(limit / width)))
    grid = width * np.arange(-steps, steps + 1)
    values = np.array([chi2(d) for d in grid])
    k = int(np.argmin(values))
    low, high = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    best = minimize_scalar(chi2, bounds=(low, high), method="bounded", options={"xatol": 1e-4 * width})
    shift, value = (float(best.x), float(best.fun)) if best.fun <= values[k] else (float(grid[k]), float(values[k]))
    at_edge = limit if k in (0, grid.size - 1) else 0.0
    return shift, value, at_edge


def _peaks(energies: np.ndarray, spectrum: np.ndarray, prominence: float, sigma: np.ndarray | None) -> np.ndarray:
    """Peak energies (meV), ascending: the vertex of a parabola fitted over each peak's top half.

    The half-maximum window lies symmetric about the true centre of a
    symmetric peak, so the vertex is unbiased and uses every bin of the top
    (noise averages out better than with three bins).
    """
    from scipy.signal import find_peaks

    top = float(np.max(spectrum)) if spectrum.size else 0.0
    if not top > 0:
        return np.zeros(0)
    threshold = prominence * top
    if sigma is not None:
        threshold = max(threshold, 3.0 * float(np.median(sigma)))
    index, props = find_peaks(spectrum, prominence=threshold, width=0, rel_height=0.5)
    out = []
    for i, left, right in zip(index, props["left_ips"], props["right_ips"]):
        lo, hi = int(np.ceil(left)), int(np.floor(right)) + 1
        lo, hi = min(lo, i - 1), max(hi, i + 2)
        if lo < 0 or hi > spectrum.size:
            out.append(energies[i])
            continue
        x = energies[lo:hi] - energies[i]
        c2, c1, _ = np.polyfit(x, spectrum[lo:hi], 2)
        vertex = -c1 / (2.0 * c2) if c2 < 0 else 0.0
        out.append(energies[i] + float(np.clip(vertex, x[0], x[-1])))
    return np.array(out, dtype=float)


def _match_peaks(sim_peaks: np.ndarray, meas_peaks: np.ndarray, shift: float, tolerance: np.ndarray) -> np.ndarray:
    """Pairs (simulated, measured, measured − simulated), shape ``(n_matched, 3)``, ascending.

    Matched one to one, nearest first, within ``tolerance`` of E_sim + shift
    and of E_sim; the set with more pairs is kept (the shifted one on a tie),
    so a uniform offset and a single misplaced peak are both handled.
    """
    with_shift = _pairs(sim_peaks, meas_peaks, shift, tolerance)
    without = _pairs(sim_peaks, meas_peaks, 0.0, tolerance)
    return without if without.shape[0] > with_shift.shape[0] else with_shift


def _pairs(sim_peaks: np.ndarray, meas_peaks: np.ndarray, shift: float, tolerance: np.ndarray) -> np.ndarray:
    candidates = sorted(
        (abs(m - (s + shift)), i, j)
        for i, s in enumerate(sim_peaks) for j, m in enumerate(meas_peaks)
        if abs(m - (s + shift)) <= tolerance[i]
    )
    used_sim, used_meas, pairs = set(), set(), []
    for _, i, j in candidates:
        if i in used_sim or j in used_meas:
            continue
        used_sim.add(i)
        used_meas.add(j)
        pairs.append((sim_peaks[i], meas_peaks[j], meas_peaks[j] - sim_peaks[i]))
    pairs.sort()
    return np.array(pairs, dtype=float).reshape(-1, 3)
