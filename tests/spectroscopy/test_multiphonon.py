"""INS from a partial DOS (incoherent approximation, multiphonon expansion): analytic limits and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mdvib.errors import SettingsError
from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.spectroscopy.ins.model import HBAR2_OVER_2AMU_MEV_A2, self_convolutions
from mdvib.spectroscopy.ins.multiphonon import IncoherentDOSModel
from mdvib.units import KB_EV_PER_K

GRID = np.linspace(0.0, 120.0, 4801)


def einstein(energy_mev: float, width: float = 0.3) -> np.ndarray:
    """A narrow Gaussian DOS (an Einstein oscillator) on GRID."""
    return np.exp(-0.5 * ((GRID - energy_mev) / width) ** 2)


def beta(temperature_k: float) -> float:
    return 1.0 / (KB_EV_PER_K * 1e3 * temperature_k)


def test_hbar2_over_2amu_matches_the_neutron_value():
    # ħ²/(2 m_n) = 2.0721 meV Å² (the neutron energy E = 2.0721 k² meV, k in 1/Å), m_n = 1.00866 u
    assert HBAR2_OVER_2AMU_MEV_A2 / 1.00866491595 == pytest.approx(2.07212, rel=1e-5)


def test_einstein_oscillator_gamma_msd_and_poisson_orders():
    e0, temperature = 40.0, 300.0
    model = IncoherentDOSModel.from_arrays(GRID, einstein(e0)[None], ["H"], temperature)
    expected_gamma = 1.0 / (e0 * math.tanh(0.5 * beta(temperature) * e0))
    assert model.gamma_per_mev[0] == pytest.approx(expected_gamma, rel=2e-4)
    # ⟨u_x²⟩ = ħ²/(2mE0) coth(βE0/2)
    assert model.mean_square_displacement_a2[0] == pytest.approx(
        HBAR2_OVER_2AMU_MEV_A2 / model.masses_amu[0] * expected_gamma, rel=2e-4)
    bins = EnergyBins.up_to(600.0, 0.5)
    q = np.full(len(bins), 6.0)
    s = model.orders(bins, q, 10)
    two_w = 36.0 * model.mean_square_displacement_a2[0]
    sigma = model.cross_sections_barn[0]
    for n in range(11):
        area = s[n, 0].sum() * bins.width_mev
        assert area == pytest.approx(sigma * two_w ** n * math.exp(-two_w) / math.factorial(n), rel=1e-6)


def test_zero_kelvin_orders_sit_at_multiples_of_the_oscillator_energy():
    model = IncoherentDOSModel.from_arrays(GRID, einstein(25.0)[None], ["Si"], 0.0)
    bins = EnergyBins.up_to(200.0, 0.25)
    s = model.orders(bins, np.full(len(bins), 8.0), 5)
    energies = bins.centres_mev
    for n in range(1, 6):
        peak = energies[np.argmax(s[n, 0])]
        assert peak == pytest.approx(25.0 * n, abs=0.25)
        assert s[n, 0][energies < 0].sum() < 1e-12 * s[n, 0].sum()      # no energy gain at 0 K (FFT round-off)


def test_detailed_balance_and_total_intensity_of_a_two_band_dos():
    temperature = 200.0
    dos = np.exp(-0.5 * ((GRID - 20) / 4) ** 2) + 0.6 * np.exp(-0.5 * ((GRID - 55) / 3) ** 2)
    model = IncoherentDOSModel.from_arrays(GRID, dos[None], ["C"], temperature)
    bins = EnergyBins.up_to(800.0, 0.5)
    s = model.orders(bins, np.full(len(bins), 7.0), 10)
    total = s.sum(axis=(0, 1))
    k = bins.zero_index
    loss, gain = total[k + 1:], total[:k][::-1]
    significant = gain > 1e-9 * total.max()
    assert significant.sum() > 200
    np.testing.assert_allclose(gain[significant] / loss[significant],
                               np.exp(-beta(temperature) * bins.centres_mev[k + 1:][significant]), rtol=1e-5)
    # all orders, elastic included, carry the whole cross section when the axis holds them
    assert s.sum() * bins.width_mev == pytest.approx(model.cross_sections_barn[0], rel=1e-3)


def test_partial_weights_follow_concentration_and_cross_section():
    dos = np.stack([einstein(20.0), einstein(50.0)])
    model = IncoherentDOSModel.from_arrays(GRID, dos, ["H", "O"], 10.0, concentrations=np.array([2 / 3, 1 / 3]))
    bins = EnergyBins.up_to(100.0, 0.5)
    s = model.orders(bins, np.full(len(bins), 0.5), 3)
    areas = s.sum(axis=(0, 2)) * bins.width_mev
    np.testing.assert_allclose(areas, model.concentrations * model.cross_sections_barn, rtol=1e-3)
    assert model.cross_sections_barn[0] == pytest.approx(82.02, rel=1e-3)      # Sears: H total 82.02 b


def test_isotope_changes_cross_section_and_mass():
    dos = einstein(30.0)[None]
    hydrogen = IncoherentDOSModel.from_arrays(GRID, dos, ["H"], 100.0)
    deuterium = IncoherentDOSModel.from_arrays(GRID, dos, ["H"], 100.0, isotopes={"H": "D"})
    assert deuterium.species == ("D",)
    assert deuterium.cross_sections_barn[0] == pytest.approx(7.64, rel=1e-3)    # Sears: D total 7.64 b
    assert deuterium.masses_amu[0] == pytest.approx(2.0141, rel=1e-4)
    assert deuterium.mean_square_displacement_a2[0] == pytest.approx(
        hydrogen.mean_square_displacement_a2[0] * hydrogen.masses_amu[0] / deuterium.masses_amu[0], rel=1e-12)


def test_classical_occupations_are_symmetric_and_tend_to_quantum_at_high_temperature():
    dos = einstein(5.0, 0.5)[None]
    classical = IncoherentDOSModel.from_arrays(GRID, dos, ["Ar"], 300.0, occupations="classical")
    quantum = IncoherentDOSModel.from_arrays(GRID, dos, ["Ar"], 300.0)
    bins = EnergyBins.up_to(40.0, 0.1)
    a = classical.one_phonon_shape(bins)[0]
    np.testing.assert_allclose(a, a[::-1], rtol=1e-12, atol=1e-15)
    # βE0 = 0.19 at 300 K: ⟨u²⟩ classical 2/(βE0²) vs quantum coth(βE0/2)/E0 differ by (βE0)²/12 ≈ 0.3 %
    ratio = classical.gamma_per_mev[0] / quantum.gamma_per_mev[0]
    x = beta(300.0) * 5.0
    assert ratio == pytest.approx((2 / x) / (1 / math.tanh(x / 2)), rel=2e-3)


def test_debye_low_energy_form_makes_gamma_finite_for_a_dos_with_weight_at_zero():
    dos = np.exp(-0.5 * ((GRID - 10) / 6) ** 2)          # g(0) > 0: γ would diverge
    model = IncoherentDOSModel.from_arrays(GRID, dos[None], ["Si"], 300.0, debye_cutoff_mev=1.0)
    low = (GRID > 0) & (GRID < 1.0)
    np.testing.assert_allclose(model.unit_dos[0, low] / GRID[low] ** 2,
                               model.unit_dos[0, np.searchsorted(GRID, 1.0)] / 1.0, rtol=0.02)
    assert np.isfinite(model.gamma_per_mev[0])


def test_self_convolution_matches_numpy_convolve():
    rng = np.random.default_rng(3)
    a = rng.random(41)
    twofold = self_convolutions(a, 0.5, 3)
    full = np.convolve(a, a) * 0.5
    np.testing.assert_allclose(twofold[1], full[20:61], rtol=1e-10, atol=1e-14)
    threefold = np.convolve(full, a) * 0.5
    np.testing.assert_allclose(twofold[2], threefold[40:81], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("energies", "dos", "message"), [
    (GRID[::-1], einstein(20.0)[None], "not strictly ascending"),
    (GRID - 1.0, einstein(20.0)[None], "start at or above 0"),
    (GRID, -einstein(20.0)[None], "negative"),
    (GRID, np.zeros((1, GRID.size)), "is zero"),
    (GRID, einstein(20.0)[None, :-1], "shape"),
])
def test_bad_dos_is_refused(energies, dos, message):
    with pytest.raises(SettingsError, match=message):
        IncoherentDOSModel.from_arrays(energies, dos, ["H"], 100.0)


def test_bad_settings_are_refused():
    dos = einstein(20.0)[None]
    with pytest.raises(SettingsError, match="unknown element"):
        IncoherentDOSModel.from_arrays(GRID, dos, ["Qq"], 100.0)
    with pytest.raises(SettingsError, match="temperature"):
        IncoherentDOSModel.from_arrays(GRID, dos, ["H"], float("nan"))
    with pytest.raises(SettingsError, match="isotope substitution for Li"):
        IncoherentDOSModel.from_arrays(GRID, dos, ["H"], 100.0, isotopes={"Li": "Li7"})
    model = IncoherentDOSModel.from_arrays(GRID, dos, ["H"], 100.0)
    bins = EnergyBins.up_to(50.0, 0.5)
    with pytest.raises(SettingsError, match="order"):
        model.orders(bins, np.ones(len(bins)), 0)
    with pytest.raises(SettingsError, match="bins"):
        model.orders(bins, np.ones(3), 2)


def test_dos_result_without_temperature_and_neutron_weighted_dos_are_refused():
    class FakeDOS:          # the attributes from_dos reads, as a DOSResult without a temperature has them
        weights = "mass"
        temperature_k = None
        frequencies_thz = GRID / 4.1356677
        partial = einstein(20.0)[None]
        species = ("H",)
        concentrations = np.array([1.0])
        resolution_fwhm_thz = 0.1
        provenance = None

    with pytest.raises(SettingsError, match="records no temperature"):
        IncoherentDOSModel.from_dos(FakeDOS())
    FakeDOS.weights = "neutron"
    with pytest.raises(SettingsError, match="mass-weighted"):
        IncoherentDOSModel.from_dos(FakeDOS(), temperature_k=10.0)


def test_an_axis_below_the_dos_loses_that_intensity_instead_of_rescaling_the_rest():
    dos = einstein(20.0) + einstein(60.0)
    model = IncoherentDOSModel.from_arrays(GRID, dos[None], ["H"], 10.0)
    wide, short = EnergyBins.up_to(200.0, 0.5), EnergyBins.up_to(40.0, 0.5)
    q = 2.0
    full = model.orders(wide, np.full(len(wide), q), 2)
    cut = model.orders(short, np.full(len(short), q), 2)
    inside = slice(wide.zero_index - short.n_positive, wide.zero_index + short.n_positive + 1)
    np.testing.assert_allclose(cut, full[..., inside], rtol=1e-9, atol=1e-12 * full.max())
    # order 1 keeps only the 20 meV line: half of the one-phonon weight per 1/E, i.e. 3/4 of it
    assert cut[1].sum() / full[1].sum() == pytest.approx(0.75, rel=0.01)


def test_debye_dos_gives_a_finite_one_phonon_shape_at_zero_energy():
    """g = aE² (coarse grid): A_1 → a/(γβ) as E → 0, flat over the first bins rather than growing as 1/E."""
    grid = np.linspace(0.0, 30.0, 61)                     # 0.5 meV spacing, coarser than the bins
    model = IncoherentDOSModel.from_arrays(grid, (grid ** 2)[None], ["Si"], 300.0)
    bins = EnergyBins.up_to(40.0, 0.1)
    shape = model.one_phonon_shape(bins)[0]
    k = bins.zero_index
    a = model.unit_dos[0, 1] / grid[1] ** 2
    limit = a / (model.gamma_per_mev[0] * beta(300.0))
    np.testing.assert_allclose(shape[k:k + 4], limit, rtol=0.03)
