"""Instrument-resolved INS spectra (simulate), temperature series, and ``mdvib ins`` end to end."""

from __future__ import annotations

import numpy as np
import pytest

from mdvib.cli.main import main
from mdvib.errors import SettingsError
from mdvib.results import load_result
from mdvib.spectroscopy.ins import EnergyBins, IncoherentDOSModel, get_instrument, simulate
from mdvib.spectroscopy.ins.series import combine
from mdvib.units import KB_EV_PER_K

GRID = np.linspace(0.0, 150.0, 3001)


def two_band_dos() -> np.ndarray:
    return np.exp(-0.5 * ((GRID - 30.0) / 2.0) ** 2) + 0.5 * np.exp(-0.5 * ((GRID - 80.0) / 2.0) ** 2)


def models(temperatures=(10.0, 150.0, 300.0), species=("H",)):
    dos = np.stack([two_band_dos()] * len(species))
    return [IncoherentDOSModel.from_arrays(GRID, dos, species, t) for t in temperatures]


def tosca_q(energies: np.ndarray, angle_deg: float) -> np.ndarray:
    """|Q| on a TOSCA bank by hand: E = 2.0721 k² (meV, 1/Å), E_f = 3.967 meV."""
    k_i, k_f = np.sqrt((energies + 3.967) / 2.0721), np.sqrt(3.967 / 2.0721)
    return np.sqrt(k_i ** 2 + k_f ** 2 - 2 * k_i * k_f * np.cos(np.radians(angle_deg)))


def test_tosca_spectrum_peaks_q_and_intensity():
    tosca = get_instrument("tosca")
    bins = EnergyBins.up_to(500.0, 0.25)
    (model,) = models((10.0,))
    result = simulate([model], tosca, bins, max_order=4)
    e = result.energies_mev
    positive = e > 5
    np.testing.assert_allclose(result.q_inv_angstrom[result.banks.index("backward"), positive],
                               tosca_q(e[positive], 134.989), rtol=2e-4)
    average = result.bank_average()[0]
    peak = e[positive][np.argmax(average[positive])]
    assert peak == pytest.approx(30.0, abs=0.3)
    # broadening conserves each bank's inelastic intensity (the kernel lies inside the axis)
    np.testing.assert_allclose(result.intensity.sum(axis=-1), result.unbroadened.sum(axis=-1), rtol=1e-6)
    # the unbroadened backward bank equals the route evaluated at the hand-computed |Q| (gain side beyond -E_f: 0)
    q = np.where(e > -3.967, tosca_q(np.maximum(e, -3.967), 134.989), 0.0)
    by_hand = model.orders(bins, q, 4)[1:].sum(axis=(0, 1)) * (e > -3.967)
    np.testing.assert_allclose(result.unbroadened[0, result.banks.index("backward")], by_hand,
                               rtol=1e-3, atol=1e-6 * by_hand.max())
    # the resolution is TOSCA's: σ at the peak 0.310 + 0.005 E + 8.07e-7 E² meV
    sigma = result.resolution_sigma_mev[0, np.argmin(abs(e - 30.0))]
    assert sigma == pytest.approx(0.310 + 0.005 * 30 + 8.07e-7 * 900, rel=2e-3)
    assert (result.partial.sum(axis=2) == pytest.approx(result.intensity, rel=1e-9, abs=1e-12))


def test_temperature_series_debye_waller_and_bose_factor():
    tosca = get_instrument("tosca")
    bins = EnergyBins.up_to(200.0, 0.25)
    result = simulate(models(), tosca, bins, max_order=4)
    e = result.energies_mev
    fundamental = result.bank_average()[:, np.argmin(abs(e - 30.0))]
    # warmer: larger ⟨u²⟩, so the Debye-Waller factor lowers the fundamental
    assert fundamental[0] > fundamental[1] > fundamental[2]
    assert result.labels == ("10 K", "150 K", "300 K")


def test_direct_geometry_map_kinematics_and_detailed_balance():
    sequoia = get_instrument("sequoia", incident_energy_mev=100.0, chopper_frequency_hz=300.0)
    bins = EnergyBins.up_to(100.0, 0.5)
    series = simulate(models((300.0,)), sequoia, bins, max_order=3)
    e, q = series.energies_mev, series.q_inv_angstrom
    q_low, q_high = sequoia.q_limits(e)
    with np.errstate(invalid="ignore"):
        expected = (q[:, None] >= q_low) & (q[:, None] <= q_high)
    np.testing.assert_array_equal(series.accessible, expected)
    assert not series.accessible[:, e >= 100.0].any()
    counts = series.accessible.sum(axis=0)
    inside = counts > 0
    np.testing.assert_allclose(series.cut[0, inside], (series.intensity[0] * series.accessible).sum(axis=0)[inside]
                               / counts[inside], rtol=1e-12)
    # the unbroadened map obeys detailed balance: evaluate the route at one |Q| for E and -E
    (model,) = models((300.0,))
    s = model.orders(bins, np.full(len(bins), 4.0), 3)[1:].sum(axis=(0, 1))
    k = bins.zero_index
    energy = e[k + 60]
    assert s[k - 60] / s[k + 60] == pytest.approx(np.exp(-energy / (KB_EV_PER_K * 1e3 * 300.0)), rel=1e-6)


def test_save_load_and_csv(tmp_path):
    result = simulate(models((10.0, 300.0)), get_instrument("tosca"), EnergyBins.up_to(100.0, 0.5), max_order=2)
    result.save(tmp_path / "ins.h5")
    loaded = load_result(tmp_path / "ins.h5")
    np.testing.assert_array_equal(loaded.intensity, result.intensity)
    assert loaded.labels == result.labels and loaded.banks == ("forward", "backward")
    result.save(tmp_path / "ins.csv")
    header = (tmp_path / "ins.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["energy_meV", "energy_cm-1"] and "300 K:average" in header
    table = np.loadtxt(tmp_path / "ins.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 1], table[:, 0] * 8.0655439, rtol=1e-6)


def test_series_refuses_spectra_on_different_axes():
    tosca = get_instrument("tosca")
    a = simulate(models((10.0,)), tosca, EnergyBins.up_to(100.0, 0.5), max_order=2)
    b = simulate(models((300.0,)), tosca, EnergyBins.up_to(100.0, 0.25), max_order=2)
    with pytest.raises(SettingsError, match="one normalisation"):
        combine([a, b])
    joined = combine([a, simulate(models((300.0,)), tosca, EnergyBins.up_to(100.0, 0.5), max_order=2)])
    assert joined.labels == ("10 K", "300 K") and joined.intensity.shape[0] == 2


def test_models_with_other_scatterers_are_refused():
    with pytest.raises(SettingsError, match="same scatterers"):
        simulate(models((10.0,)) + models((10.0,), species=("C",)), get_instrument("tosca"))


# ---------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def dos_file(tmp_path_factory):
    """The DOS of the built-in SW-Si dump (216 atoms, 300 K), by ``mdvib dos``."""
    from mdvib.resources import data_file

    folder = tmp_path_factory.mktemp("dos")
    assert main(["dos", str(data_file("si_sw_300K.dump.gz")), "--types", "1=Si", "--dt", "1", "--quiet",
                 "-o", str(folder / "dos.h5")]) == 0
    return folder / "dos.h5"


def test_cli_tosca_from_a_dos_result(dos_file, tmp_path, capsys):
    out = tmp_path / "ins"
    assert main(["ins", str(dos_file), "--temperature", "10", "300", "-o", str(out)]) == 0
    for name in ("ins.h5", "ins.csv", "ins.png", "ins.h5.provenance.yaml"):
        assert (out / name).stat().st_size > 0, name
    result = load_result(out / "ins.h5")
    assert result.instrument == "TOSCA" and result.temperatures_k.tolist() == [10.0, 300.0]
    printed = capsys.readouterr().out
    assert "TOSCA: 2 spectra" in printed and "peaks at" in printed
    # the same as the API on the same DOS
    dos = load_result(dos_file)
    direct = simulate([IncoherentDOSModel.from_dos(dos, temperature_k=t) for t in (10.0, 300.0)],
                      get_instrument("tosca"))
    np.testing.assert_allclose(result.intensity, direct.intensity, rtol=1e-12, atol=0)


def test_cli_scores_a_measured_spectrum_and_finds_its_temperature(dos_file, tmp_path, capsys):
    """A 'measurement' made from the 150 K simulation (×40, noise, errors): 150 K wins, the scale is recovered."""
    dos = load_result(dos_file)
    truth = simulate([IncoherentDOSModel.from_dos(dos, temperature_k=150.0)], get_instrument("tosca"))
    e, s = truth.energies_mev, truth.bank_average()[0]
    keep = (e > 5) & (e < 150)
    rng = np.random.default_rng(7)
    error = 0.01 * 40 * s[keep].max() * np.ones(keep.sum())
    measured = tmp_path / "measured.txt"
    np.savetxt(measured, np.column_stack([e[keep], 40 * s[keep] + rng.normal(0, error), error]),
               header="energy (meV)  intensity  error")
    out = tmp_path / "ins"
    assert main(["ins", str(dos_file), "--temperature", "20", "150", "600", "--measured", str(measured),
                 "--fit-range", "5", "150", "--quiet", "-o", str(out)]) == 0
    ranking = (out / "comparison.csv").read_text().splitlines()
    best = ranking[1].split(",")
    assert best[0].endswith("150 K") and best[-1] == "1"
    assert float(best[1]) == pytest.approx(40.0, rel=0.01)
    assert (out / "comparison.png").stat().st_size > 0


@pytest.mark.parametrize(("argv", "message"), [
    (["--instrument", "toska"], "did you mean tosca"),
    (["--instrument", "mari"], "incident_energy_mev"),
    (["--bin-width", "-1"], "bin width"),
    (["--isotope", "Si"], "SYMBOL=ISOTOPE"),
    (["--isotope", "H=D"], "isotope substitution for H"),
])
def test_cli_bad_options_are_one_line_errors(dos_file, tmp_path, capsys, argv, message):
    assert main(["ins", str(dos_file), *argv, "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_bad_inputs(tmp_path, capsys):
    assert main(["ins", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "out")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("nothing\n")
    assert main(["ins", str(tmp_path / "notes.txt"), "-o", str(tmp_path / "out")]) == 1
    assert "not an INS input" in capsys.readouterr().err


def test_proportional_dos_errors_give_the_same_fraction_of_the_fundamentals():
    dos = two_band_dos()
    model = IncoherentDOSModel.from_arrays(GRID, dos[None], ["H"], 100.0, partial_dos_err=0.1 * dos[None])
    result = simulate([model], get_instrument("tosca"), EnergyBins.up_to(300.0, 0.25), max_order=3)
    np.testing.assert_allclose(result.intensity_err, 0.1 * result.orders[:, :, 0], rtol=1e-9,
                               atol=1e-12 * result.intensity.max())
    assert models()[0].unit_dos_err is None
    assert simulate(models((10.0,)), get_instrument("tosca"), EnergyBins.up_to(100.0, 0.5), 2).intensity_err is None


def test_error_band_equals_the_scatter_of_block_by_block_spectra():
    """The propagated error of a 4-block DOS equals the standard error of the 4 blocks' own INS spectra."""
    from mdvib.analysis.dos import DOSAnalysis
    from mdvib.resources import data_file
    from mdvib.trajectory import Trajectory

    trajectory = Trajectory.open(data_file("si_sw_300K.dump.gz"), type_map={1: "Si"}, dt_fs=1.0)
    edges = np.linspace(0, trajectory.n_frames, 5).astype(int)
    whole = DOSAnalysis(window=100, blocks=4).run(trajectory)
    blocks = [DOSAnalysis(window=100, blocks=1).run(trajectory, start=a, stop=b) for a, b in zip(edges, edges[1:])]
    tosca, bins = get_instrument("tosca"), EnergyBins.up_to(150.0, 0.25)
    ins = simulate([IncoherentDOSModel.from_dos(whole, temperature_k=300.0)], tosca, bins, 1)
    each = simulate([IncoherentDOSModel.from_dos(d, temperature_k=300.0) for d in blocks], tosca, bins, 1)
    scatter = each.bank_average().std(axis=0, ddof=1) / 2.0
    band = (ins.energies_mev > 5) & (ins.energies_mev < 75)
    rms = np.sqrt((ins.spectrum_err()[0][band] ** 2).mean() / (scatter[band] ** 2).mean())
    assert rms == pytest.approx(1.0, abs=0.05)
