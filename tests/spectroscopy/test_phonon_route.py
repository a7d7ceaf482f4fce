"""INS from force constants (mdvib.spectroscopy.ins.phonon_route).

Inputs: tests/data/ins/phonons/ (SW silicon and a toy O–H crystal, phonopy
finite displacements; ORIGIN.md). Analytic limits (detailed balance, the sum
over orders, an Einstein oscillator's Poisson weights), abinslib 0.3.0 (order 1
and 2, same modes and |Q|), Euphonic 2.1.1 (Q → 0 of order 1 against its
neutron-weighted PDOS), and bad input.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.constants as sc

from mdvib.errors import SettingsError
from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.spectroscopy.ins.model import cross_sections
from mdvib.spectroscopy.ins.phonon_route import MIN_ENERGY_MEV, PhononPowderModel

phonopy = pytest.importorskip("phonopy")

DATA = Path(__file__).resolve().parents[1] / "data" / "ins" / "phonons"
#: ħ²/(2 amu) in meV Å², written out here from CODATA (not the module's constant).
HBAR2_2AMU = (1.054571817e-34) ** 2 / (2 * 1.66053906660e-27) / 1.602176634e-22 * 1e20
#: TOSCA final energy (meV) and backscattering angle (PHYSICS.md).
TOSCA_EF_MEV, TOSCA_ANGLE_DEG = 3.967, 134.989


def tosca_q(energies_mev: np.ndarray) -> np.ndarray:
    """|Q| (Å⁻¹) of TOSCA's backscattering bank at |E| (cosine law, ħ²/2m_n = 2.0721 meV Å²)."""
    ki2 = (np.abs(energies_mev) + TOSCA_EF_MEV) / 2.072124
    kf2 = TOSCA_EF_MEV / 2.072124
    return np.sqrt(ki2 + kf2 - 2 * np.sqrt(ki2 * kf2) * np.cos(np.radians(TOSCA_ANGLE_DEG)))


def phonopy_mesh(folder: str, mesh):
    """Frequencies (meV), eigenvectors (k, mode, atom, 3), weights, the phonopy object: read by phonopy alone."""
    files = DATA / folder
    phonon = phonopy.load(str(files / "phonopy.yaml"), force_constants_filename=str(files / "FORCE_CONSTANTS"),
                          log_level=0, is_symmetry=False)
    phonon.run_mesh(mesh, is_gamma_center=True, is_mesh_symmetry=False, with_eigenvectors=True)
    freq = phonon.mesh.frequencies * sc.h / sc.e * 1e15      # THz → meV
    n_q, n_modes = freq.shape
    vectors = phonon.mesh.eigenvectors.transpose(0, 2, 1).reshape(n_q, n_modes, -1, 3)
    return freq, vectors, phonon.mesh.weights / phonon.mesh.weights.sum(), phonon


@pytest.fixture(scope="module")
def si_300():
    return PhononPowderModel.from_phonopy(DATA / "si" / "phonopy.yaml", 300.0, mesh=(6, 6, 6))


@pytest.fixture(scope="module")
def oh_300():
    return PhononPowderModel.from_phonopy(DATA / "oh", 300.0, mesh=(4, 4, 4))


# ------------------------------------------------------------------ analytic limits

@pytest.mark.parametrize("temperature", [5.0, 300.0, 1000.0])
def test_detailed_balance_on_every_bin(oh_300, temperature):
    model = oh_300.with_temperature(temperature)
    bins = EnergyBins.up_to(1000.0, 1.0)
    q = np.repeat([[2.0], [6.0]], len(bins), axis=1)             # constant |Q| rows: gain and loss at the same Q
    orders = model.orders(bins, q, 6).sum(axis=1)                 # (order, n_Q, n_E)
    z = bins.zero_index
    k = np.arange(1, bins.n_positive + 1)
    boltzmann = np.exp(-bins.centres_mev[z + k] / (sc.k / sc.e * 1e3 * temperature))
    for n, spectrum in enumerate(orders):
        scale = spectrum.max()
        np.testing.assert_allclose(spectrum[:, z - k], boltzmann * spectrum[:, z + k], rtol=1e-9,
                                   atol=1e-12 * scale, err_msg=f"order {n}")
    if temperature >= 300:                                       # the gain side is filled
        assert orders[1][:, z - k].sum() > 0.01 * orders[1][:, z + k].sum()


def test_sum_over_orders_is_the_cross_section():
    """Cubic Si (isotropic A): Σ_n ∫S_n dE = σ at a |Q| where 2W ≈ 1, and each order ≈ e^{−X}Xⁿ/n!."""
    model = PhononPowderModel.from_phonopy(DATA / "si", 300.0, mesh=(8, 8, 8))
    a = model.debye_waller_tensors_a2
    np.testing.assert_allclose(a[0], np.eye(3) * a[0, 0, 0], atol=1e-9)        # site symmetry -43m
    x_target = 1.0
    q_value = math.sqrt(3 * x_target / np.trace(a[0]))
    bins = EnergyBins.up_to(900.0, 0.5)
    orders = model.orders(bins, np.full(len(bins), q_value), 10)
    areas = orders.sum(axis=(1, 2)) * bins.width_mev
    sigma = cross_sections(["Si"])[0]
    assert abs(areas.sum() / sigma - 1) < 1e-3
    poisson = sigma * np.exp(-x_target) * x_target ** np.arange(11) / [math.factorial(n) for n in range(11)]
    np.testing.assert_allclose(areas[:6], poisson[:6], rtol=2e-3)


def test_einstein_oscillator_gives_poisson_weights():
    """One atom, three degenerate modes at E0: order n has area e^{−X}Xⁿ/n!, X = Q²ħ²coth(βE0/2)/(2ME0), at nE0."""
    e0, mass, temperature, q_value = 40.0, 2.0, 400.0, 5.0
    model = PhononPowderModel.from_modes(np.full((1, 3), e0), np.eye(3).reshape(1, 3, 1, 3).astype(complex), [1.0],
                                         [mass], ["H"], temperature)
    beta = 1.0 / (sc.k / sc.e * 1e3 * temperature)
    x = q_value ** 2 * HBAR2_2AMU / (mass * e0) / math.tanh(beta * e0 / 2)
    bins = EnergyBins.up_to(600.0, 0.5)
    per_atom = model.atom_orders(bins, np.full(len(bins), q_value), 8)[:, 0]
    areas = per_atom.sum(axis=1) * bins.width_mev
    expected = np.exp(-x) * x ** np.arange(9) / [math.factorial(n) for n in range(9)]
    np.testing.assert_allclose(areas, expected, rtol=1e-6)
    for n in range(1, 4):       # loss peaks at n E0; the gain side of order 1 at −E0 with e^{−βE0}
        assert np.argmax(per_atom[n, bins.zero_index:]) * bins.width_mev == pytest.approx(n * e0)
    z, k = bins.zero_index, int(e0 / bins.width_mev)
    assert per_atom[1, z - k] / per_atom[1, z + k] == pytest.approx(math.exp(-beta * e0), rel=1e-12)


def test_two_phonon_peaks_of_two_einstein_oscillators():
    """Two isotropic Einstein oscillators: order 2 = e^{−X}/2 (Σ_i X_i⁺δ(E − E_i) + X_i⁻δ(E + E_i))^{⊛2}, by hand.

    X_i^± = Q² w_i ħ²/(2ME_i) (n_i + 1 | n_i); the mixed pairs give E_2 − E_1 and the
    zero bin, creation pairs 2E_1, E_1 + E_2, 2E_2, annihilation pairs their mirrors.
    """
    (e1, e2), (w1, w2), mass, temperature, q_value = (20.0, 50.0), (0.4, 0.6), 6.0, 300.0, 3.0
    energies = np.array([[e1] * 3, [e2] * 3])
    vectors = np.tile(np.eye(3).reshape(1, 3, 1, 3), (2, 1, 1, 1)).astype(complex)
    model = PhononPowderModel.from_modes(energies, vectors, [w1, w2], [mass], ["Li"], temperature)
    beta = 1.0 / (sc.k / sc.e * 1e3 * temperature)
    n1, n2 = (1.0 / math.expm1(beta * e) for e in (e1, e2))
    x1 = q_value ** 2 * w1 * HBAR2_2AMU / (mass * e1)
    x2 = q_value ** 2 * w2 * HBAR2_2AMU / (mass * e2)
    up1, down1, up2, down2 = x1 * (n1 + 1), x1 * n1, x2 * (n2 + 1), x2 * n2
    dw = math.exp(-(up1 + down1 + up2 + down2))
    expected = {2 * e1: up1 ** 2 / 2, e1 + e2: up1 * up2, 2 * e2: up2 ** 2 / 2, e2 - e1: up2 * down1,
                e1 - e2: up1 * down2, 0.0: up1 * down1 + up2 * down2, -2 * e1: down1 ** 2 / 2,
                -e1 - e2: down1 * down2, -2 * e2: down2 ** 2 / 2}
    bins = EnergyBins.up_to(120.0, 1.0)
    second = model.atom_orders(bins, np.full(len(bins), q_value), 2)[2, 0] * bins.width_mev
    found = {bins.centres_mev[k]: second[k] for k in np.flatnonzero(second > 1e-12 * second.max())}
    assert sorted(found) == sorted(expected)
    for energy, weight in expected.items():
        assert found[energy] == pytest.approx(dw * weight, rel=1e-7), f"peak at {energy} meV"


def test_modes_in_the_zero_bin_count_both_ways():
    """Modes inside the E = 0 bin enter with n + 1 and n: order-1 area X e^{−X}; the isotropic shape matches order 1."""
    energies = np.array([[0.8] * 3, [30.0] * 3])
    vectors = np.tile(np.eye(3).reshape(1, 3, 1, 3), (2, 1, 1, 1)).astype(complex)
    model = PhononPowderModel.from_modes(energies, vectors, [1.0, 3.0], [12.0], ["C"], 300.0)
    beta = 1.0 / (sc.k / sc.e * 1e3 * 300.0)
    msd = sum(w * HBAR2_2AMU / (12.0 * e) / math.tanh(beta * e / 2) for w, e in ((0.25, 0.8), (0.75, 30.0)))
    bins = EnergyBins.up_to(100.0, 2.0)
    q_value = 1.5
    first = model.fundamentals(bins, np.full(len(bins), q_value))[0]
    x = q_value ** 2 * msd
    assert first.sum() * bins.width_mev == pytest.approx(x * np.exp(-x), rel=1e-7)   # CODATA 2018 here, 2022 in scipy
    tiny = 1e-4
    low_q = model.fundamentals(bins, np.full(len(bins), tiny))[0]
    np.testing.assert_allclose(model.one_phonon_shape(bins)[0], low_q / (low_q.sum() * bins.width_mev), rtol=1e-6)


def test_with_temperature_reuses_the_modes(si_300):
    bins = EnergyBins.up_to(300.0, 1.0)
    q = tosca_q(bins.centres_mev)
    again = PhononPowderModel.from_phonopy(DATA / "si", 20.0, mesh=(6, 6, 6))
    np.testing.assert_allclose(si_300.with_temperature(20.0).orders(bins, q, 4), again.orders(bins, q, 4),
                               rtol=1e-12, atol=1e-15)
    # a map (n_Q, n_E) gives the same rows as each |Q| alone
    rows = np.stack([q, 2 * q])
    both = si_300.orders(bins, rows, 3)
    np.testing.assert_allclose(both[:, :, 1], si_300.orders(bins, 2 * q, 3), rtol=1e-12)


# ------------------------------------------------------------------ abinslib

def euphonic_modes(folder: str, mesh):
    """phonopy's modes on ``mesh`` as Euphonic ``QpointPhononModes`` (and the mode energies, meV)."""
    euphonic = pytest.importorskip("euphonic")
    freq, vectors, weights, phonon = phonopy_mesh(folder, mesh)
    primitive = phonon.primitive
    crystal = euphonic.Crystal(euphonic.ureg.Quantity(np.asarray(primitive.cell), "angstrom"),
                               np.asarray(primitive.scaled_positions), np.array(primitive.symbols),
                               euphonic.ureg.Quantity(np.asarray(primitive.masses), "amu"))
    modes = euphonic.QpointPhononModes(crystal, np.asarray(phonon.mesh.qpoints),
                                       euphonic.ureg.Quantity(freq, "meV"), vectors, weights=weights)
    return modes, freq


def abinslib_inputs(folder: str, mesh, temperature: float):
    euphonic = pytest.importorskip("euphonic")
    pytest.importorskip("abinslib")
    from abinslib.displacements import Displacements

    modes, freq = euphonic_modes(folder, mesh)
    displacements = Displacements.from_modes(modes, euphonic.ureg.Quantity(temperature, "K"),
                                             frequency_min=euphonic.ureg.Quantity(MIN_ENERGY_MEV, "meV"))
    return modes, displacements, freq


@pytest.mark.parametrize("folder, mesh, temperature", [("si", (4, 4, 4), 300.0), ("oh", (4, 4, 4), 150.0)])
def test_fundamentals_agree_with_abinslib(folder, mesh, temperature):
    """abinslib's almost-isotropic fundamentals (n+1 Bose factor, Q² of each mode's bin on TOSCA) = our loss side."""
    from abinslib.almost_isotropic_incoherent import calculate_almost_isotropic_incoherent_spectra
    from euphonic import ureg

    modes, displacements, freq = abinslib_inputs(folder, mesh, temperature)
    model = PhononPowderModel.from_phonopy(DATA / folder, temperature, mesh=mesh)
    # abinslib's atomic displacements are half of A (its docstring): 2·them = Σ w B coth
    np.testing.assert_allclose(2 * displacements.to_atomic_displacements().to("angstrom**2").magnitude,
                               model.debye_waller_tensors_a2, rtol=1e-6, atol=1e-12)
    bins = EnergyBins.up_to(1.1 * freq.max(), 0.5)
    q = tosca_q(bins.centres_mev)
    nominal_q2 = tosca_q(np.rint(freq / bins.width_mev) * bins.width_mev) ** 2
    theirs = calculate_almost_isotropic_incoherent_spectra(
        modes, displacements, displacements.to_atomic_displacements(), ureg.Quantity(nominal_q2, "1/angstrom**2"),
        ureg.Quantity(bins.edges_mev[bins.zero_index:], "meV")).y_data.magnitude     # (atom, loss bins), per meV
    ours = model.atom_orders(bins, q, 1)[1][:, bins.zero_index:]
    scale = theirs.max()
    np.testing.assert_allclose(ours[:, 1:], theirs[:, 1:], rtol=1e-6, atol=1e-9 * scale)
    np.testing.assert_allclose(ours.sum(axis=1), theirs.sum(axis=1), rtol=1e-6)


@pytest.mark.parametrize("folder, temperature", [("si", 0.0), ("si", 300.0), ("oh", 0.0)])
def test_two_phonon_agrees_with_abinslib(folder, temperature):
    """abinslib's combination spectrum sums ordered pairs with 1/(15C), i.e. 2·ours − the overtones; compare peaks.

    abinslib has creation pairs only: at 300 K the comparison starts above the highest
    fundamental, where no mixed (create one, annihilate one) pair lands.
    """
    from abinslib.almost_isotropic_incoherent import calculate_almost_isotropic_incoherent_combination_spectra
    from euphonic import ureg

    mesh, q_value = (4, 4, 4), 4.0
    modes, displacements, freq = abinslib_inputs(folder, mesh, temperature)
    model = PhononPowderModel.from_phonopy(DATA / folder, temperature, mesh=mesh)
    bins = EnergyBins.up_to(2.2 * freq.max(), 0.5)
    edges = bins.edges_mev[bins.zero_index:]
    n_q, n_b = freq.shape
    theirs = calculate_almost_isotropic_incoherent_combination_spectra(
        modes, displacements, displacements.to_atomic_displacements(),
        ureg.Quantity(np.full((n_q, n_b, n_q, n_b), q_value ** 2), "1/angstrom**2"),
        ureg.Quantity(edges, "meV")).y_data.magnitude
    # overtones by hand: Q⁴/30 (TrB² + 2B:B)(n+1)² w² e^{−Q²TrA/3} at 2E
    b = displacements.n_plus_one.to("angstrom**2").magnitude                   # (k, mode, atom, 3, 3)
    a = 2 * displacements.to_atomic_displacements().to("angstrom**2").magnitude
    w = modes.weights / modes.weights.sum()
    values = (np.trace(b, axis1=3, axis2=4) ** 2 + 2 * np.einsum("kmaij,kmaij->kma", b, b)) * w[:, None, None] ** 2
    overtones = np.stack([np.histogram(2 * freq.ravel(), edges, weights=values[..., i].ravel())[0]
                          for i in range(b.shape[2])]) / bins.width_mev
    overtones *= q_value ** 4 / 30 * np.exp(-q_value ** 2 * np.trace(a, axis1=1, axis2=2) / 3)[:, None]
    expected = (theirs + overtones) / 2
    ours = model.atom_orders(bins, np.full(len(bins), q_value), 2)[2][:, bins.zero_index:]
    energies = bins.centres_mev[bins.zero_index:]
    region = energies > (freq.max() + 1 if temperature > 0 else 0.0)
    window = 10.0                                                           # meV, per "peak"
    labels = np.floor(energies[region] / window).astype(int)
    for atom in range(len(model.masses_amu)):
        ours_w = np.bincount(labels, weights=ours[atom, region])
        theirs_w = np.bincount(labels, weights=expected[atom, region])
        big = theirs_w > 0.02 * theirs_w.max()
        np.testing.assert_allclose(ours_w[big], theirs_w[big], rtol=0.02, err_msg=f"atom {atom}, 10 meV windows")
        assert ours[atom, region].sum() == pytest.approx(expected[atom, region].sum(), rel=2e-3)


# ------------------------------------------------------------------ Euphonic

def test_low_q_limit_is_euphonics_neutron_weighted_dos():
    """S₁/Q² at Q → 0, 0 K = ħ²/(3 M_avg E) Σ_a PDOS^neutron_a(E) (Euphonic: σ_a M_avg/M_a PDOS_a per atom); A = 2W."""
    euphonic = pytest.importorskip("euphonic")
    modes, freq = euphonic_modes("oh", (4, 4, 4))
    model = PhononPowderModel.from_phonopy(DATA / "oh", 0.0, mesh=(4, 4, 4))
    sigma = dict(zip(model.species, model.cross_sections_barn))
    bins = EnergyBins.up_to(1.05 * freq.max(), 0.5)
    edges = bins.edges_mev[bins.zero_index:]
    pdos = modes.calculate_pdos(euphonic.ureg.Quantity(edges, "meV"), weighting="coherent-plus-incoherent",
                                cross_sections={s: euphonic.ureg.Quantity(v, "barn") for s, v in sigma.items()})
    neutron = pdos.y_data.to("barn/meV").magnitude.sum(axis=0)
    energies = bins.centres_mev[bins.zero_index:]
    q_small = 1e-3
    ours = model.orders(bins, np.full(len(bins), q_small), 1)[1].sum(axis=0)[bins.zero_index:] / q_small ** 2
    with np.errstate(divide="ignore"):
        expected = HBAR2_2AMU / (3 * np.mean(modes.crystal.atom_mass.to("amu").magnitude) * energies) * neutron
    check = (energies >= 20.0) & (neutron > 0)
    # in a bin E_k ± ΔE/2 the modes' E_k/E_ν differ from 1 by at most (ΔE/2)/(E_k − ΔE/2)
    half = 0.5 * bins.width_mev
    assert np.all(np.abs(ours[check] / expected[check] - 1) <= half / (energies[check] - half) + 1e-6)
    assert np.all(ours[(energies >= 20.0) & (neutron == 0)] == 0)
    # Euphonic's Debye–Waller exponent W (Squires: ħ/(4M) Σ w e e*/ω coth) is half of A; symmetrised by Euphonic
    dw = modes.calculate_debye_waller(euphonic.ureg.Quantity(300.0, "K"),
                                      frequency_min=euphonic.ureg.Quantity(MIN_ENERGY_MEV, "meV"))
    np.testing.assert_allclose(model.with_temperature(300.0).debye_waller_tensors_a2,
                               2 * dw.debye_waller.to("angstrom**2").magnitude, rtol=1e-6, atol=1e-10)


# ------------------------------------------------------------------ inputs and bad input

def test_folder_yaml_and_object_give_the_same_model(tmp_path):
    from_file = PhononPowderModel.from_phonopy(DATA / "oh" / "phonopy.yaml", 100.0, mesh=(2, 2, 2))
    from_folder = PhononPowderModel.from_phonopy(DATA / "oh", 100.0, mesh=(2, 2, 2))
    *_, phonon = phonopy_mesh("oh", (2, 2, 2))
    from_object = PhononPowderModel.from_phonopy(phonon, 100.0, mesh=(2, 2, 2))
    phonon.save(tmp_path / "phonopy.yaml", settings={"force_constants": True})      # as `mdvib tdep -o DIR` writes it
    (tmp_path / "FORCE_CONSTANTS").write_text("not read: the YAML file's own force constants come first\n")
    from_tdep_folder = PhononPowderModel.from_phonopy(tmp_path, 100.0, mesh=(2, 2, 2))
    for other in (from_folder, from_object, from_tdep_folder):
        np.testing.assert_allclose(other.tensors_a2, from_file.tensors_a2, rtol=1e-10, atol=1e-14)
    assert from_file.species == ("O", "H") and from_file.route == "phonons"
    assert from_file.energies_mev.size == 8 * 6 - 3            # the three acoustic modes at Γ are left out
    deuterated = PhononPowderModel.from_phonopy(phonon, 100.0, mesh=(2, 2, 2), isotopes={"H": "D"})
    assert deuterated.masses_amu[1] == pytest.approx(2.014, abs=1e-3)
    assert phonon.primitive.masses[1] == pytest.approx(1.008, abs=1e-3)   # the caller's object keeps its masses


def test_deuteration_changes_mass_and_cross_section():
    hydrogen = PhononPowderModel.from_phonopy(DATA / "oh", 10.0, mesh=(2, 2, 2))
    deuterium = PhononPowderModel.from_phonopy(DATA / "oh", 10.0, mesh=(2, 2, 2), isotopes={"H": "D"})
    assert deuterium.species == ("O", "D")
    assert deuterium.cross_sections_barn[1] == pytest.approx(7.64, abs=0.01)       # Sears 1992: D total 7.64 b
    stretch_ratio = hydrogen.energies_mev.max() / deuterium.energies_mev.max()
    reduced = [16.0 * m / (16.0 + m) for m in (1.008, 2.014)]
    assert stretch_ratio == pytest.approx(math.sqrt(reduced[1] / reduced[0]), rel=0.01)


def test_unknown_element_is_refused():
    with pytest.raises(SettingsError, match="unknown element 'Xx'"):
        PhononPowderModel.from_modes(np.full((1, 3), 10.0), np.eye(3).reshape(1, 3, 1, 3), [1.0], [10.0], ["Xx"], 10.0)
    with pytest.raises(SettingsError, match="isotope substitution for N"):
        PhononPowderModel.from_phonopy(DATA / "oh", 10.0, mesh=(1, 1, 1), isotopes={"N": "N15"})


def test_missing_force_constants_names_the_path(tmp_path):
    shutil.copy(DATA / "oh" / "phonopy.yaml", tmp_path / "phonopy.yaml")
    with pytest.raises(SettingsError, match=f"{tmp_path}.*no force constants"):
        PhononPowderModel.from_phonopy(tmp_path, 10.0)
    with pytest.raises(SettingsError, match="absent.yaml: not found"):
        PhononPowderModel.from_phonopy(tmp_path / "absent.yaml", 10.0)


@pytest.mark.parametrize("mesh", [(-4, 4, 4), (0, 2, 2), (2, 2), (2.5, 2, 2)])
def test_bad_mesh_is_refused(mesh):
    with pytest.raises(SettingsError, match="mesh must be three integers ≥ 1"):
        PhononPowderModel.from_phonopy(DATA / "si", 10.0, mesh=mesh)


def test_imaginary_modes_are_refused_naming_the_wavevector():
    energies = np.array([[0.0, 0.0, 0.0], [-3.0, 12.0, 15.0]])
    vectors = np.tile(np.eye(3).reshape(1, 3, 1, 3), (2, 1, 1, 1))
    message = r"imaginary modes, the worst -3\.000 meV .* wavevector \[0\.5, 0\.0, 0\.0\]"
    with pytest.raises(SettingsError, match=message):
        PhononPowderModel.from_modes(energies, vectors, [1, 1], [28.0], ["Si"], 10.0,
                                     qpoints=np.array([[0, 0, 0], [0.5, 0, 0]]))


@pytest.mark.parametrize("bad", [-1.0, float("nan"), None])
def test_bad_temperature_is_refused(si_300, bad):
    with pytest.raises(SettingsError, match="temperature must be a number of kelvin"):
        si_300.with_temperature(bad)


def test_bad_q_and_order_are_refused(si_300):
    bins = EnergyBins.up_to(50.0, 1.0)
    with pytest.raises(SettingsError, match=r"\|Q\| of shape \(7,\)"):
        si_300.orders(bins, np.ones(7), 2)
    with pytest.raises(SettingsError, match="order must be an integer ≥ 1"):
        si_300.orders(bins, np.ones(len(bins)), 0)
    with pytest.raises(SettingsError, match=r"\|Q\| must be finite and ≥ 0"):
        si_300.orders(bins, np.full(len(bins), -1.0), 2)


def test_modes_all_below_the_threshold_are_refused():
    with pytest.raises(SettingsError, match="no mode lies above 0.5 meV"):
        PhononPowderModel.from_modes(np.full((1, 3), 0.1), np.eye(3).reshape(1, 3, 1, 3), [1.0], [10.0], ["C"], 10.0)
