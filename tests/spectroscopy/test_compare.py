"""Scoring simulated INS spectra against measured ones: fitted scale and background, χ², shift, peaks, ranking."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import curve_fit
from scipy.stats import pearsonr

from mdvib.errors import FitError, SettingsError
from mdvib.results import load_result
from mdvib.spectroscopy.compare import ComparisonScore, best_match, compare, ranking_table
from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.spectroscopy.measured import MeasuredSpectrum

BINS = EnergyBins.up_to(100.0, 0.25)
CENTRES = BINS.centres_mev
WIDTH = BINS.width_mev
#: Peaks of the synthetic spectrum: (centre meV, height, σ meV).
PEAKS = ((20.0, 1.0, 1.2), (35.5, 0.6, 1.5), (61.0, 1.4, 2.0), (82.0, 0.5, 2.5))
#: Measured points: two per simulation bin (5 … 94.75 meV), a quarter bin either side of the centre.
MEASURED_E = np.arange(4.875, 94.875, 0.125) + 0.0625


def spectrum(energies, shift=0.0, widen=1.0):
    """Sum of Gaussians at the PEAKS, moved up by ``shift`` meV, widths × ``widen``."""
    return sum(h * np.exp(-0.5 * ((energies - c - shift) / (s * widen)) ** 2) for c, h, s in PEAKS)


def measured(values, errors=None, seed=0, label="synthetic", energies=MEASURED_E):
    """A MeasuredSpectrum of ``values`` with Gaussian noise of standard deviation ``errors``."""
    if errors is not None:
        values = values + np.random.default_rng(seed).normal(0.0, errors)
    return MeasuredSpectrum(energies, values, errors, "", "meV", label)


def noise(values):
    return 0.02 + 0.03 * values


# ----------------------------------------------------------------- scale, χ², errors


def test_scaled_noisy_copy_recovers_the_scale_and_reduced_chi2_near_one():
    truth = 2.7 * spectrum(MEASURED_E)
    sigma = noise(truth)
    score = compare(CENTRES, spectrum(CENTRES), measured(truth, sigma), label="copy")
    assert abs(score.scale - 2.7) < 3 * score.scale_err
    assert score.weighted and score.dof == score.energies_mev.size - 1
    assert abs(score.reduced_chi2 - 1.0) < 4 * np.sqrt(2.0 / score.dof)
    # rebinning: two points per bin, mean intensity and σ_b = √(σ₁² + σ₂²)/2
    assert score.energies_mev.size == MEASURED_E.size // 2
    expected_err = np.sqrt(sigma[0::2] ** 2 + sigma[1::2] ** 2) / 2
    np.testing.assert_allclose(score.measured_err, expected_err, rtol=1e-12)
    # hand formula of the one-parameter weighted fit: a = Σ s y/σ² / Σ s²/σ², σ_a = (Σ s²/σ²)^(-1/2)
    s, y, e = score.simulated, score.measured, score.measured_err
    assert score.scale == pytest.approx(np.sum(s * y / e**2) / np.sum(s**2 / e**2), rel=1e-10)
    assert score.scale_err == pytest.approx(np.sum(s**2 / e**2) ** -0.5, rel=1e-10)
    assert score.chi2 == pytest.approx(np.sum(((y - score.scale * s) / e) ** 2), rel=1e-10)
    # the noise-free copy: cosine and Pearson exactly 1, χ² 0
    on_centres = CENTRES[80:460]
    copy = MeasuredSpectrum(on_centres, 2.7 * spectrum(on_centres), np.full(on_centres.size, 0.1), "", "meV", "exact")
    exact = compare(CENTRES, spectrum(CENTRES), copy)
    assert exact.scale == pytest.approx(2.7, rel=1e-12) and exact.chi2 == pytest.approx(0.0, abs=1e-18)
    assert exact.cosine == pytest.approx(1.0, abs=1e-12) and exact.pearson == pytest.approx(1.0, abs=1e-12)


def test_similarities_match_scipy():
    truth = 2.7 * spectrum(MEASURED_E)
    score = compare(CENTRES, spectrum(CENTRES), measured(truth, noise(truth), seed=3))
    assert score.pearson == pytest.approx(pearsonr(score.measured, score.simulated).statistic, rel=1e-10)
    cosine = score.measured @ score.simulated / np.linalg.norm(score.measured) / np.linalg.norm(score.simulated)
    assert score.cosine == pytest.approx(cosine, rel=1e-12)


@pytest.mark.parametrize("background, truth_bg", [("flat", (0.4,)), ("linear", (0.3, 0.01))])
def test_backgrounds_are_recovered_and_agree_with_curve_fit(background, truth_bg):
    base = 2.7 * spectrum(MEASURED_E)
    bg = truth_bg[0] + (truth_bg[1] * MEASURED_E if len(truth_bg) > 1 else 0.0)
    sigma = noise(base + bg)
    data = measured(base + bg, sigma, seed=5)
    score = compare(CENTRES, spectrum(CENTRES), data, background=background)
    assert abs(score.scale - 2.7) < 3 * score.scale_err
    for value, err, truth in zip(score.background_coefficients, score.background_errors, truth_bg):
        assert abs(value - truth) < 3 * err
    assert abs(score.reduced_chi2 - 1.0) < 4 * np.sqrt(2.0 / score.dof)

    # independent implementation: scipy's non-linear least squares on the same rebinned data
    def model(x, a, *c):
        return a * spectrum(x) + sum(ck * x**k for k, ck in enumerate(c))

    p, cov = curve_fit(model, score.energies_mev, score.measured, p0=[1.0] + [0.0] * len(truth_bg),
                       sigma=score.measured_err, absolute_sigma=True)
    np.testing.assert_allclose([score.scale, *score.background_coefficients], p, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose([score.scale_err, *score.background_errors], np.sqrt(np.diag(cov)), rtol=1e-5)
    # without the background the same data fit badly
    assert compare(CENTRES, spectrum(CENTRES), data).reduced_chi2 > 5


def test_unweighted_measurement_gives_a_sum_of_squares_and_says_so():
    values = 2.7 * spectrum(MEASURED_E) + np.random.default_rng(1).normal(0, 0.05, MEASURED_E.size)
    score = compare(CENTRES, spectrum(CENTRES), measured(values), label="plain")
    assert not score.weighted and score.measured_err is None
    assert score.chi2 == pytest.approx(np.sum((score.measured - score.model) ** 2), rel=1e-12)
    np.testing.assert_allclose(score.residual, score.measured - score.model)
    s = score.simulated
    # parameter error from the residual scatter: σ_a² = (SS/dof) / Σ s²
    assert score.scale_err == pytest.approx(np.sqrt(score.chi2 / score.dof / np.sum(s**2)), rel=1e-10)
    assert any("unweighted" in note for note in score.notes)
    assert "unweighted" in score.summary() and "SS/dof" in ranking_table([score])


# ----------------------------------------------------------------- shift and peaks


def test_shifted_copy_recovers_the_shift_and_the_matched_peaks_show_it():
    truth = 2.7 * spectrum(MEASURED_E, shift=1.3)
    sigma = 0.005 + 0.01 * truth
    score = compare(CENTRES, spectrum(CENTRES), measured(truth, sigma, seed=2), resolution_mev=0.5)
    assert abs(score.shift_mev - 1.3) < 0.1 * WIDTH
    assert score.reduced_chi2 > 50 > score.shifted_reduced_chi2
    assert abs(score.shifted_reduced_chi2 - 1.0) < 0.3
    assert score.matched_peaks_mev.shape == (4, 3)
    np.testing.assert_allclose(score.matched_peaks_mev[:, 0], [p[0] for p in PEAKS], atol=0.02)
    np.testing.assert_allclose(score.matched_peaks_mev[:, 2], 1.3, atol=0.1)
    # the opposite sign: measured below the simulation
    down = compare(CENTRES, spectrum(CENTRES), measured(2.7 * spectrum(MEASURED_E, shift=-0.8)))
    assert abs(down.shift_mev + 0.8) < 0.1 * WIDTH


def test_peaks_match_within_the_resolution_only():
    truth = 2.7 * spectrum(MEASURED_E)
    score = compare(CENTRES, spectrum(CENTRES), measured(truth), resolution_mev=0.4)
    assert score.matched_peaks_mev.shape == (4, 3)
    np.testing.assert_allclose(score.matched_peaks_mev[:, 2], 0.0, atol=0.02)
    # one measured peak moved by 3 meV (≫ FWHM 0.94 meV) while the others stay: three matches
    moved = truth + 2.7 * 1.4 * (np.exp(-0.5 * ((MEASURED_E - 64.0) / 2.0) ** 2)
                                  - np.exp(-0.5 * ((MEASURED_E - 61.0) / 2.0) ** 2))
    score = compare(CENTRES, spectrum(CENTRES), measured(moved), resolution_mev=0.4)
    assert sorted(score.matched_peaks_mev[:, 0].round(1)) == [20.0, 35.5, 82.0]


# ----------------------------------------------------------------- ranking


def _temperature_candidates():
    """Three 'temperatures': peak widths grow with T and the energy-gain side follows detailed balance."""
    kb = 0.08617333   # meV/K
    out = {}
    for t in (50.0, 150.0, 300.0):
        loss = spectrum(np.abs(CENTRES), widen=1.0 + t / 300.0)
        out[t] = np.where(CENTRES >= 0, loss, loss * np.exp(-np.abs(CENTRES) / (kb * t)))
    return out


def test_best_match_picks_the_right_temperature():
    candidates = _temperature_candidates()
    energies = np.arange(-30.0, 95.0, 0.25) + 0.1
    truth = 1.9 * np.interp(energies, CENTRES, candidates[150.0])
    data = measured(truth, noise(truth), seed=11, energies=energies)
    scores = [compare(CENTRES, sim, data, energy_range=(-30.0, 95.0), label=f"{t:g} K") for t, sim in
              candidates.items()]
    best = best_match(scores)
    assert best.label == "150 K"
    assert best.reduced_chi2 < 2 < min(s.reduced_chi2 for s in scores if s is not best)
    table = ranking_table(scores)
    assert table.splitlines()[1].split()[1] == "150" and "best: 150 K" in table


def test_ties_go_to_the_higher_cosine_then_to_the_first():
    truth = 2.7 * spectrum(MEASURED_E)
    score = compare(CENTRES, spectrum(CENTRES), measured(truth, noise(truth)), label="a")
    b = score.__class__(**{**score.__dict__, "label": "b"})
    c = score.__class__(**{**score.__dict__, "label": "c", "cosine": score.cosine + 1e-3})
    assert best_match([score, b]).label == "a" and best_match([b, score]).label == "b"
    assert best_match([score, b, c]).label == "c"


def test_ranking_refuses_mixed_inputs():
    truth = 2.7 * spectrum(MEASURED_E)
    weighted = compare(CENTRES, spectrum(CENTRES), measured(truth, noise(truth)))
    plain = compare(CENTRES, spectrum(CENTRES), measured(truth))
    other = compare(CENTRES, spectrum(CENTRES), measured(truth, noise(truth), label="other sample"))
    with pytest.raises(SettingsError, match=r"weighted and unweighted"):
        best_match([weighted, plain])
    with pytest.raises(SettingsError, match=r"different measurements"):
        ranking_table([weighted, other])
    with pytest.raises(SettingsError, match=r"no comparison scores"):
        best_match([])


# ----------------------------------------------------------------- files


def test_score_saves_to_h5_and_csv(tmp_path):
    truth = 2.7 * spectrum(MEASURED_E)
    score = compare(CENTRES, spectrum(CENTRES), measured(truth, noise(truth)), background="linear",
                    resolution_mev=0.4, label="300 K")
    score.save(tmp_path / "score.h5")
    back = load_result(tmp_path / "score.h5")
    assert isinstance(back, ComparisonScore) and back.label == "300 K" and back.weighted is True
    for name in ("scale", "chi2", "reduced_chi2", "shift_mev", "cosine"):
        assert getattr(back, name) == getattr(score, name)
    for name in ("energies_mev", "model", "residual", "measured_err", "matched_peaks_mev", "background_errors"):
        np.testing.assert_array_equal(getattr(back, name), getattr(score, name))
    score.save(tmp_path / "score.csv")
    text = (tmp_path / "score.csv").read_text()
    assert text.startswith("# 300 K vs synthetic")
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    assert lines[header] == "energy_meV,measured,measured_err,simulated,model,residual"
    table = np.loadtxt(tmp_path / "score.csv", delimiter=",", skiprows=header + 1)
    np.testing.assert_allclose(table[:, [0, 4]], np.column_stack([score.energies_mev, score.model]), rtol=1e-7)


# ----------------------------------------------------------------- bad input


def test_no_overlap_says_what_each_covers():
    far = MeasuredSpectrum(np.arange(200.0, 300.0, 1.0), np.ones(100), None, "far.dat", "meV", "far")
    with pytest.raises(SettingsError, match=r"far.dat: no overlap: the measurement covers 200 … 299 meV, the "
                                            r"simulation bins -100.125 … 100.125 meV"):
        compare(CENTRES, spectrum(CENTRES), far)
    near = measured(spectrum(MEASURED_E))
    with pytest.raises(SettingsError, match=r"no overlap.*energy_range 96 … 99 meV"):
        compare(CENTRES, spectrum(CENTRES), near, energy_range=(96.0, 99.0))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"background": "cubic"}, SettingsError, r"unknown background 'cubic'; choose one of none, flat, linear"),
    ({"energy_range": (50.0, 10.0)}, SettingsError, r"low < high"),
    ({"resolution_mev": np.ones(3)}, SettingsError, r"resolution_mev has shape \(3,\)"),
    ({"resolution_mev": -1.0}, SettingsError, r"non-negative Gaussian σ"),
    ({"energy_range": (20.0, 20.2), "background": "linear"}, FitError, r"1 compared bin\(s\) for 3 fitted"),
    ({"max_shift_mev": 0.0}, SettingsError, r"max_shift_mev must be a positive"),
])
def test_bad_settings(kwargs, error, message):
    truth = 2.7 * spectrum(MEASURED_E)
    with pytest.raises(error, match=message):
        compare(CENTRES, spectrum(CENTRES), measured(truth, noise(truth)), **kwargs)


def test_bad_simulation_axes():
    data = measured(spectrum(MEASURED_E))
    with pytest.raises(SettingsError, match=r"simulated has shape \(5,\), the bins \(801,\)"):
        compare(CENTRES, np.ones(5), data)
    with pytest.raises(SettingsError, match=r"bins must be uniform"):
        compare(np.geomspace(1.0, 100.0, 50), np.ones(50), data)
    with pytest.raises(FitError, match=r"is zero over"):
        compare(CENTRES, np.zeros_like(CENTRES), data)
    with pytest.raises(FitError, match=r"degenerate with the background"):
        compare(CENTRES, np.ones_like(CENTRES), data, background="flat")


def test_zero_error_in_a_compared_bin_is_refused():
    errors = np.full(MEASURED_E.size, 0.1)
    errors[100:102] = 0.0
    with pytest.raises(SettingsError, match=r"zero error in 1 compared bin\(s\) \(first at 17.5 meV\)"):
        compare(CENTRES, spectrum(CENTRES), measured(spectrum(MEASURED_E), errors))


def test_elastic_line_in_range_is_noted():
    energies = np.arange(-20.0, 60.0, 0.25)
    data = MeasuredSpectrum(energies, spectrum(np.abs(energies)), None, "", "meV", "x")
    score = compare(CENTRES, spectrum(np.abs(CENTRES)), data)
    assert any("E = 0" in note for note in score.notes)
    assert not any("E = 0" in n for n in compare(CENTRES, spectrum(np.abs(CENTRES)), data,
                                                  energy_range=(3.0, 60.0)).notes)


# ----------------------------------------------------------------- plots


def test_plot_comparison_writes_overlay_and_residuals(tmp_path):
    import matplotlib

    from mdvib.spectroscopy.compare_plots import plot_comparison

    truth = 2.7 * spectrum(MEASURED_E)
    data = measured(truth, noise(truth))
    sims = [spectrum(CENTRES), spectrum(CENTRES, widen=1.3)]
    scores = [compare(CENTRES, sim, data, background="flat", label=name) for sim, name in zip(sims, ("a", "b"))]
    plot_comparison(tmp_path / "cmp.png", CENTRES, sims, ["a", "b"], data, scores)
    assert (tmp_path / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        plot_comparison(tmp_path / "cmp.svg", CENTRES, sims, ["a", "b"], data, scores, energy_unit="cm-1")
    svg = (tmp_path / "cmp.svg").read_text()
    assert "energy transfer (cm" in svg and "(meas. − model)/σ" in svg and "synthetic" in svg
    plain = measured(truth)
    plot_comparison(tmp_path / "plain.svg", CENTRES, sims[:1], ["a"], plain, [compare(CENTRES, sims[0], plain)])
    assert (tmp_path / "plain.svg").stat().st_size > 0
    assert not list(tmp_path.glob(".*.tmp"))


def test_plot_comparison_bad_input(tmp_path):
    from mdvib.spectroscopy.compare_plots import plot_comparison

    data = measured(spectrum(MEASURED_E))
    score = compare(CENTRES, spectrum(CENTRES), data)
    with pytest.raises(SettingsError, match=r"unknown energy unit 'K'"):
        plot_comparison(tmp_path / "x.png", CENTRES, [spectrum(CENTRES)], ["a"], data, [score], energy_unit="K")
    with pytest.raises(SettingsError, match=r"1 simulated spectra, 2 labels and 1 scores"):
        plot_comparison(tmp_path / "x.png", CENTRES, [spectrum(CENTRES)], ["a", "b"], data, [score])
    with pytest.raises(SettingsError, match=r"simulated spectrum 'a' has shape \(3,\)"):
        plot_comparison(tmp_path / "x.png", CENTRES, [np.ones(3)], ["a"], data, [score])
    assert not (tmp_path / "x.png").exists()
