"""The two INS routes on one harmonic system: the DOS route (incoherent approximation) against the FC route.

The partial DOS is built here from phonopy's own modes (|e|²-weighted histogram
of the same Γ-centred mesh); the FC route computes from the force constants.
For cubic Si every site tensor is isotropic, so the two must agree up to the
spread of mode energies inside a bin; for the anisotropic H of the O–H crystal
they agree where the Debye–Waller factor does not matter (small |Q|), and the
isotropic approximation overestimates the fundamentals at TOSCA's |Q|.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mdvib.io.phonopy_files import read_phonopy
from mdvib.spectroscopy.ins import EnergyBins, IncoherentDOSModel, get_instrument, simulate
from mdvib.spectroscopy.ins.phonon_route import PhononPowderModel
from mdvib.units import THZ_TO_MEV

DATA = Path(__file__).parents[1] / "data" / "ins" / "phonons"
MESH = 12


def histogram_dos(name: str, temperature_k: float) -> IncoherentDOSModel:
    """DOS route from the |e|²-weighted histogram of phonopy's modes on the Γ-centred 12³ mesh."""
    phonon = read_phonopy(DATA / name / "phonopy.yaml")
    phonon.run_mesh([MESH] * 3, with_eigenvectors=True, is_mesh_symmetry=False, is_gamma_center=True)
    energies = phonon.mesh.frequencies * THZ_TO_MEV                        # (n_q, n_modes)
    n_q, n_modes = energies.shape
    weight = (np.abs(phonon.mesh.eigenvectors.reshape(n_q, n_modes // 3, 3, n_modes)) ** 2).sum(axis=2)
    symbols = list(phonon.primitive.symbols)
    species = list(dict.fromkeys(symbols))
    edges = np.arange(0.0, energies.max() + 1.0, 0.05)
    partial = []
    for symbol in species:
        atoms = [i for i, s in enumerate(symbols) if s == symbol]
        counts, _ = np.histogram(energies, edges, weights=weight[:, atoms].sum(axis=1) * (energies > 0.5))
        partial.append(counts)
    grid = np.concatenate([[0.0], 0.5 * (edges[1:] + edges[:-1])])
    dos = np.concatenate([np.zeros((len(species), 1)), np.array(partial, float)], axis=1)
    concentrations = np.array([symbols.count(s) for s in species]) / len(symbols)
    return IncoherentDOSModel.from_arrays(grid, dos, species, temperature_k, concentrations=concentrations)


@pytest.mark.parametrize("temperature_k", [10.0, 300.0])
def test_cubic_si_routes_agree(temperature_k):
    fc = PhononPowderModel.from_phonopy(DATA / "si" / "phonopy.yaml", temperature_k, mesh=(MESH,) * 3)
    dos = histogram_dos("si", temperature_k)
    np.testing.assert_allclose(dos.mean_square_displacement_a2,
                               np.trace(fc.debye_waller_tensors_a2, axis1=1, axis2=2)[:1] / 3, rtol=2e-3)
    bins = EnergyBins.up_to(300.0, 0.25)
    tosca = get_instrument("tosca")
    a, b = simulate([fc], tosca, bins, 10), simulate([dos], tosca, bins, 10)
    for n in range(3):      # orders 1-3, bank-averaged, TOSCA resolution
        fc_order, dos_order = a.orders[0, :, n].mean(axis=0), b.orders[0, :, n].mean(axis=0)
        assert dos_order.sum() == pytest.approx(fc_order.sum(), rel=1e-3)
        assert np.abs(dos_order - fc_order).max() < 0.05 * fc_order.max()


def test_anisotropic_h_routes_agree_at_small_q_and_differ_by_the_debye_waller_factor_at_tosca():
    fc = PhononPowderModel.from_phonopy(DATA / "oh" / "phonopy.yaml", 10.0, mesh=(MESH,) * 3)
    dos = histogram_dos("oh", 10.0)
    np.testing.assert_allclose(dos.mean_square_displacement_a2,
                               np.trace(fc.debye_waller_tensors_a2, axis1=1, axis2=2) / 3, rtol=2e-3)
    bins = EnergyBins.up_to(300.0, 0.25)
    small = np.full(len(bins), 0.3)                 # 2W ≈ 1e-3: the Debye-Waller factor is 1
    fc_one, dos_one = fc.orders(bins, small, 2)[1].sum(axis=0), dos.orders(bins, small, 2)[1].sum(axis=0)
    assert dos_one.sum() == pytest.approx(fc_one.sum(), rel=2e-3)
    # at TOSCA's |Q| (≈ 8 1/Å at 100 meV) the H stretch sees exp(-Q²α), α > Tr A/3 along the bond:
    # the isotropic DOS route overestimates the fundamentals
    tosca = get_instrument("tosca")
    a, b = simulate([fc], tosca, bins, 4), simulate([dos], tosca, bins, 4)
    assert b.orders[0, :, 0].sum() > 1.05 * a.orders[0, :, 0].sum()
