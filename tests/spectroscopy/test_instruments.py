"""Instruments (kinematics, resolution) and energy-dependent Gaussian broadening.

Reference numbers: docs/physics.md "INS" (TOSCA |Q| and σ(E), the SEQUOIA σ table), the
textbook constants E[meV] = 2.0721 k²[Å⁻²] and E[meV] = 81.804/λ²[Å²] (Squires,
Introduction to the Theory of Thermal Neutron Scattering), resins called directly, and
scipy's Gaussian filter.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import resins
from scipy.ndimage import gaussian_filter1d
from scipy.special import ndtr

from mdvib.errors import SettingsError
from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.spectroscopy.ins.instruments import (
    DirectGeometry,
    IndirectGeometry,
    get_instrument,
    instrument_names,
    load_instrument_file,
)
from mdvib.spectroscopy.ins.resolution import PolynomialResolution, broaden

DATA = Path(__file__).parents[1] / "data" / "ins" / "instruments"
E_PER_K2 = 2.0721      # meV Å², Squires
E_LAMBDA2 = 81.804     # meV Å², Squires


def _k(energy):
    return np.sqrt(np.asarray(energy, dtype=float) / E_PER_K2)


# ---------------------------------------------------------------- registry


def test_registry_names_and_geometries():
    names = instrument_names()
    assert {"tosca", "vision", "tfxa", "mari", "maps", "sequoia", "arcs"} <= set(names)
    for name in names:
        settings = {"incident_energy_mev": 100.0} if name in ("mari", "maps", "sequoia", "arcs") else {}
        inst = get_instrument(name.upper(), **settings)
        assert inst.geometry in ("indirect", "direct")
        assert isinstance(inst, IndirectGeometry if inst.geometry == "indirect" else DirectGeometry)
        json.dumps(inst.settings())                       # JSON-able provenance
        line = inst.describe()
        assert "\n" not in line and inst.name in line and "resolution:" in line


def test_unknown_instrument_suggests_names():
    with pytest.raises(SettingsError, match=r"tosaca.*did you mean tosca.*known instruments: .*vision"):
        get_instrument("tosaca")


def test_chopper_settings_are_checked():
    with pytest.raises(SettingsError, match="MARI.*give incident_energy_mev"):
        get_instrument("mari")
    with pytest.raises(SettingsError, match="positive number of meV, not -5"):
        get_instrument("mari", incident_energy_mev=-5.0)
    with pytest.raises(SettingsError, match="unknown setting incident_energy"):
        get_instrument("maps", incident_energy=100.0)
    with pytest.raises(SettingsError, match="TOSCA takes no settings.*incident_energy_mev"):
        get_instrument("tosca", incident_energy_mev=100.0)
    with pytest.raises(SettingsError, match="resins refuses"):
        get_instrument("mari", incident_energy_mev=100.0, chopper_frequency_hz=425.0)   # not a multiple of 50 Hz
    with pytest.raises(SettingsError, match="resins refuses"):
        get_instrument("sequoia", incident_energy_mev=100.0, chopper="no-such-package")


# ---------------------------------------------------------------- indirect geometry


def test_tosca_momentum_transfer_at_100_mev():
    tosca = get_instrument("tosca")
    assert tosca.final_energy_mev == pytest.approx(3.967)
    assert tosca.momentum_transfer(np.array([100.0]), "backward")[0] == pytest.approx(8.121, abs=1e-3)
    assert tosca.momentum_transfer(np.array([100.0]), "forward")[0] == pytest.approx(6.183, abs=1e-3)


def test_indirect_momentum_transfer_hand_formula_and_limits():
    tosca = get_instrument("tosca")
    energy = np.array([-10.0, -3.967, -2.0, 0.0, 37.0, 250.0])
    k_f = _k(3.967)
    with np.errstate(invalid="ignore"):
        k_i = _k(energy + 3.967)
    for bank, angle in tosca.banks.items():
        expected = np.sqrt(k_i ** 2 + k_f ** 2 - 2 * k_i * k_f * np.cos(np.radians(angle)))
        q = tosca.momentum_transfer(energy, bank)
        assert np.all(np.isnan(q[:2]))                  # E_i ≤ 0: not reachable
        np.testing.assert_allclose(q[2:], expected[2:], rtol=1e-4)
        # elastic: |Q| = 2 k_f sin(θ/2)
        assert q[3] == pytest.approx(2 * k_f * np.sin(np.radians(angle) / 2), rel=1e-4)


def test_unknown_bank():
    with pytest.raises(SettingsError, match="TOSCA has no bank 'middle'; its banks are forward, backward"):
        get_instrument("tosca").momentum_transfer(np.array([10.0]), "middle")
    with pytest.raises(SettingsError, match="no bank 'forward'"):
        get_instrument("tfxa").sigma_mev(np.array([10.0]), "forward")


def test_tosca_sigma_is_the_published_polynomial():
    tosca = get_instrument("tosca")
    energy = np.array([-3.0, 0.0, 10.0, 100.0, 250.0, 500.0])
    expected = 0.310 + 0.005 * energy + 8.07e-7 * energy ** 2           # docs/physics.md, meV
    np.testing.assert_allclose(tosca.sigma_mev(energy, "backward"), expected, rtol=2e-3)
    # the same polynomial from its cm⁻¹ form, converted here with 1 meV = 8.06554 cm⁻¹
    cm = energy * 8.06554
    np.testing.assert_allclose(tosca.sigma_mev(energy), (2.5 + 0.005 * cm + 1e-7 * cm ** 2) / 8.06554, rtol=1e-5)
    assert np.isnan(tosca.sigma_mev(np.array([-4.0]))[0])               # below −E_f


def test_vision_final_energy_from_bragg_condition():
    vision = get_instrument("vision")
    wavelength = 2 * 3.348 * np.sin(np.radians(45.0))                   # PG(002), Å
    assert vision.final_energy_mev == pytest.approx(E_LAMBDA2 / wavelength ** 2, rel=1e-4)
    assert 3.5 <= vision.final_energy_mev <= 3.65                       # docs/physics.md range
    assert vision.banks == {"forward": 45.0, "backward": 135.0}
    energy = np.array([0.0, 100.0, 400.0])
    np.testing.assert_allclose(vision.sigma_mev(energy) * 2 * np.sqrt(2 * np.log(2)),
                               0.012 * (energy + vision.final_energy_mev), rtol=1e-12)


def test_tfxa_geometry():
    tfxa = get_instrument("tfxa")
    assert list(tfxa.banks) == ["backward"]
    assert tfxa.banks["backward"] == pytest.approx(135.0, abs=0.02)
    assert tfxa.final_energy_mev == pytest.approx(3.909)
    assert tfxa.sigma_mev(np.array([100.0]))[0] * 2.3548 == pytest.approx(0.02 * 103.909, rel=1e-4)


def test_tosca_sigma_equals_resins_abins_model():
    """mdvib evaluates TOSCA's polynomial itself (no resins import); resins' TOSCA 'AbINS' model is the reference."""
    reference = resins.Instrument.from_default("TOSCA", "TOSCA").get_resolution_function("AbINS")
    energy = np.linspace(0.0, 500.0, 26)
    expected = reference.get_characteristics(energy[:, None])["sigma"]
    np.testing.assert_allclose(get_instrument("tosca").sigma_mev(energy), np.ravel(expected), rtol=1e-10)


# ---------------------------------------------------------------- direct geometry


@pytest.mark.parametrize("name, resins_name, ei, frequency",
                         [("mari", "MARI", 100.0, 400), ("maps", "MAPS", 300.0, 500),
                          ("sequoia", "SEQUOIA", 60.0, 240), ("arcs", "ARCS", 200.0, 300)])
def test_direct_sigma_equals_resins(name, resins_name, ei, frequency):
    inst = get_instrument(name, incident_energy_mev=ei, chopper_frequency_hz=frequency)
    reference = resins.Instrument.from_default(resins_name).get_resolution_function(e_init=ei,
                                                                                   chopper_frequency=frequency)
    energy = np.linspace(0.0, 0.95 * ei, 17)
    expected = reference.get_characteristics(energy[:, None])["sigma"]
    np.testing.assert_allclose(inst.sigma_mev(energy), expected, rtol=1e-12)
    # energy gain: held at σ(0); E ≥ E_i: no neutrons
    np.testing.assert_allclose(inst.sigma_mev(np.array([-0.5 * ei, -1.0])), expected[0], rtol=1e-12)
    assert np.all(np.isnan(inst.sigma_mev(np.array([ei, 1.5 * ei]))))


def test_sequoia_table_of_physics_notes():
    # default chopper package of resins' SEQUOIA model (PyChop_fit v2): ARCS-100-1.5-AST
    sequoia = get_instrument("sequoia", incident_energy_mev=100.0, chopper_frequency_hz=300.0)
    assert sequoia.chopper == "ARCS-100-1.5-AST"
    np.testing.assert_allclose(sequoia.sigma_mev(np.array([0.0, 25.0, 50.0, 75.0])),
                               [1.076, 0.941, 0.832, 0.753], atol=6e-4)


def test_q_limits_hand_formula():
    mari = get_instrument("mari", incident_energy_mev=100.0)
    low_deg, high_deg = mari.angle_range_deg
    energy = np.array([-40.0, 0.0, 30.0, 99.0, 100.0, 120.0])
    q_low, q_high = mari.q_limits(energy)
    k_i = _k(100.0)
    with np.errstate(invalid="ignore"):
        k_f = _k(100.0 - energy)
    for q, angle in ((q_low, low_deg), (q_high, high_deg)):
        expected = np.sqrt(k_i ** 2 + k_f ** 2 - 2 * k_i * k_f * np.cos(np.radians(angle)))
        np.testing.assert_allclose(q[:4], expected[:4], rtol=1e-4)
        assert np.all(np.isnan(q[4:]))                  # E ≥ E_i
    assert q_low[1] == pytest.approx(2 * k_i * np.sin(np.radians(low_deg) / 2), rel=1e-4)
    assert np.all(q_low[:4] < q_high[:4])


def test_angle_range_setting():
    maps = get_instrument("maps", incident_energy_mev=100.0, angle_range_deg=(5.0, 30.0))
    assert maps.angle_range_deg == (5.0, 30.0) and maps.settings()["angle_source"] == "user setting"
    with pytest.raises(SettingsError, match="angle range"):
        get_instrument("maps", incident_energy_mev=100.0, angle_range_deg=(30.0, 5.0))


# ---------------------------------------------------------------- user files


def test_user_file_round_trip_equals_builtin_tosca():
    user = load_instrument_file(DATA / "tosca_like.toml")
    tosca = get_instrument("tosca")
    assert user.name == "TOSCA-file" and user.geometry == "indirect"
    energy = EnergyBins.up_to(500.0, 0.5).centres_mev
    np.testing.assert_allclose(user.sigma_mev(energy), tosca.sigma_mev(energy), rtol=1e-6, equal_nan=True)
    for bank in tosca.banks:
        np.testing.assert_allclose(user.momentum_transfer(energy, bank), tosca.momentum_transfer(energy, bank),
                                   rtol=1e-12, equal_nan=True)
    assert "Dymkowski" in user.describe()
    assert json.loads(json.dumps(user.settings()))["banks"] == {"forward": 45.0, "backward": 134.98885653282196}


def test_user_direct_file_fwhm_polynomial():
    user = load_instrument_file(DATA / "chopper.toml")
    assert user.geometry == "direct" and user.incident_energy_mev == 80.0 and user.angle_range_deg == (5.0, 120.0)
    energy = np.array([0.0, 40.0, 79.0])
    np.testing.assert_allclose(user.sigma_mev(energy), (3.0 - 0.02 * energy) / 2.35482, rtol=1e-5)
    assert np.isnan(user.sigma_mev(np.array([80.0]))[0])


def _write(tmp_path, text):
    path = tmp_path / "inst.toml"
    path.write_text(text)
    return path


GOOD = 'name = "X"\ngeometry = "indirect"\nfinal_energy_mev = 4.0\n[banks]\nback = 135.0\n[resolution]\nsigma = [0.3]\n'


def test_user_file_errors_name_file_and_key(tmp_path):
    path = _write(tmp_path, GOOD.replace("final_energy_mev = 4.0\n", ""))
    with pytest.raises(SettingsError, match=rf"{path}: missing key 'final_energy_mev'"):
        load_instrument_file(path)
    path = _write(tmp_path, GOOD.replace("name", "colour = 1\nname"))
    with pytest.raises(SettingsError, match=rf"{path}: unknown key 'colour'"):
        load_instrument_file(path)
    path = _write(tmp_path, GOOD.replace("sigma = [0.3]", "sigma = [0.3]\nwidth = 2"))
    with pytest.raises(SettingsError, match=rf"{path}: unknown key \[resolution\] 'width'"):
        load_instrument_file(path)
    path = _write(tmp_path, GOOD.replace("sigma = [0.3]", "sigma = [0.3]\nfwhm = [1.0]"))
    with pytest.raises(SettingsError, match="exactly one of sigma, fwhm, relative_fwhm"):
        load_instrument_file(path)
    path = _write(tmp_path, GOOD.replace("back = 135.0", 'back = "wide"'))
    with pytest.raises(SettingsError, match=rf"{path}: key 'banks.back' must be a number"):
        load_instrument_file(path)
    path = _write(tmp_path, GOOD.replace("4.0", "-4.0"))
    with pytest.raises(SettingsError, match=rf"{path}: .*final energy must be a positive number"):
        load_instrument_file(path)
    path = _write(tmp_path, GOOD.replace('"indirect"', '"sideways"'))
    with pytest.raises(SettingsError, match=rf"{path}: key 'geometry'"):
        load_instrument_file(path)
    path = _write(tmp_path, GOOD.replace("sigma = [0.3]", "sigma = [0.3]\nunits = 'K'"))
    with pytest.raises(SettingsError, match=rf"{path}: resolution units 'K'"):
        load_instrument_file(path)
    path = _write(tmp_path, "name = ")
    with pytest.raises(SettingsError, match=rf"{path}: not valid TOML"):
        load_instrument_file(path)
    with pytest.raises(SettingsError, match="cannot read"):
        load_instrument_file(tmp_path / "absent.toml")


def test_user_polynomial_negative_sigma_is_undefined(tmp_path):
    inst = load_instrument_file(_write(tmp_path, GOOD.replace("[0.3]", "[1.0, -0.01]")))
    sigma = inst.sigma_mev(np.array([50.0, 150.0]))
    assert sigma[0] == pytest.approx(0.5) and np.isnan(sigma[1])


# ---------------------------------------------------------------- broadening


def _exact(bins, intensity, sigma):
    """Dense reference: bin j spread by the Gaussian of σ_j integrated over each target bin."""
    edges, centres = bins.edges_mev, bins.centres_mev
    matrix = np.eye(len(bins))
    for j, s in enumerate(sigma):
        if np.isfinite(s) and s > 0:
            matrix[:, j] = np.diff(ndtr((edges - centres[j]) / s))
    return intensity @ matrix.T


def test_delta_becomes_unit_gaussian_of_its_sigma():
    bins = EnergyBins(0.1, 600)
    delta = np.zeros(len(bins))
    j = bins.zero_index + 150                         # E = 15 meV
    delta[j] = 1.0 / bins.width_mev                   # unit area
    sigma = np.full(len(bins), 0.8)
    out = broaden(bins, delta, sigma)
    energy = bins.centres_mev - bins.centres_mev[j]
    assert out.sum() * bins.width_mev == pytest.approx(1.0, abs=1e-8)
    assert (out * energy).sum() * bins.width_mev == pytest.approx(0.0, abs=1e-10)
    # variance of a bin-integrated Gaussian: σ² + Δ²/12
    assert (out * energy ** 2).sum() * bins.width_mev == pytest.approx(0.8 ** 2 + 0.1 ** 2 / 12, rel=1e-6)
    gaussian = np.exp(-energy ** 2 / (2 * 0.8 ** 2)) / (np.sqrt(2 * np.pi) * 0.8)
    np.testing.assert_allclose(out, gaussian, atol=2e-3 * gaussian.max())


def test_variable_sigma_matches_exact_kernels_and_conserves_area():
    bins = EnergyBins(0.25, 500)
    energy = bins.centres_mev
    sigma = np.where(energy > -3.967, 0.31 + 0.005 * energy + 8.07e-7 * energy ** 2, np.nan)
    rng = np.random.default_rng(3)
    intensity = rng.random((3, len(bins)))
    intensity[:, :20] = intensity[:, -20:] = 0.0      # kernels stay inside the axis
    out = broaden(bins, intensity, sigma)
    np.testing.assert_allclose(out, _exact(bins, intensity, sigma), atol=5e-4 * intensity.max())
    np.testing.assert_allclose(out.sum(axis=-1), intensity.sum(axis=-1), rtol=1e-9)


def test_constant_sigma_equals_gaussian_filter():
    bins = EnergyBins(0.1, 400)
    rng = np.random.default_rng(7)
    intensity = np.convolve(rng.random(len(bins)), np.ones(9) / 9, mode="same")
    sigma = 1.2                                        # 12 bins
    out = broaden(bins, intensity, np.full(len(bins), sigma))
    # the bin-integrated kernel has variance σ² + Δ²/12
    reference = gaussian_filter1d(intensity, np.hypot(sigma, bins.width_mev / np.sqrt(12)) / bins.width_mev,
                                  mode="constant", truncate=8.0)
    inner = slice(100, -100)
    np.testing.assert_allclose(out[inner], reference[inner], atol=1e-4 * intensity.max())


def test_zero_or_nan_sigma_leaves_bins_alone_and_shapes_are_kept():
    bins = EnergyBins(0.5, 50)
    intensity = np.random.default_rng(1).random((2, 3, len(bins)))
    sigma = np.zeros(len(bins))
    sigma[:10] = np.nan
    np.testing.assert_array_equal(broaden(bins, intensity, sigma), intensity)
    sigma[60:] = 2.0
    out = broaden(bins, intensity, sigma)
    assert out.shape == intensity.shape
    np.testing.assert_array_equal(out[..., :30], intensity[..., :30])     # beyond the 6σ reach (25 bins)


def test_broaden_bad_input():
    bins = EnergyBins(0.5, 50)
    with pytest.raises(SettingsError, match="101 energy bins"):
        broaden(bins, np.ones(100), np.ones(101))
    with pytest.raises(SettingsError, match="σ must be ≥ 0"):
        broaden(bins, np.ones(101), -np.ones(101))


def test_broaden_is_fast_for_many_rows():
    bins = EnergyBins.up_to(500.0, 0.25)              # 4001 bins
    energy = bins.centres_mev
    sigma = get_instrument("tosca").sigma_mev(energy)
    intensity = np.random.default_rng(0).random((4 * 11 * 5 * 2, len(bins)))
    broaden(bins, intensity[:2], sigma)
    start = time.perf_counter()
    broaden(bins, intensity, sigma)
    assert time.perf_counter() - start < 1.0          # ≈ 0.1 s on one core; generous for shared machines


def test_polynomial_units_conversion():
    # σ = 10 cm⁻¹ constant → 10/8.06554 meV; linear term is unit-free; quadratic scales by 8.06554
    model = PolynomialResolution.from_units([10.0, 0.01, 1e-6], "cm-1", "test")
    np.testing.assert_allclose(model.coefficients_mev, [10.0 / 8.06554, 0.01, 1e-6 * 8.06554], rtol=1e-5)
