"""INS from force constants: mode-resolved powder S(Q,E) in the incoherent approximation (the phonon route).

docs/physics.md, "INS", "From force constants". On a Monkhorst–Pack mesh of
wavevectors k with weights w_k (Σ w_k = 1; the full mesh, see below), mode ν of
energy E_ν = ħω_ν and eigenvector e_ν gives each atom a of mass M_a the tensor

    B_{ν,a} = ħ²/(2 M_a E_ν) · Re(e_{ν,a} e*_{ν,a}ᵀ)   (Å², per unit occupation)

and the Debye–Waller tensor is A_a = Σ_ν w_ν B_{ν,a} coth(βE_ν/2) (Å²,
⟨(Q·u)²⟩ = Q·A·Q). With occupation n_ν = 1/(e^{βE_ν} − 1), a mode is created
(energy loss, E > 0) with weight n_ν + 1 and annihilated (gain, E < 0) with n_ν:
expanding exp(Q·(Σ_ν B_ν[(n_ν+1)e^{−iω_νt} + n_ν e^{iω_νt}])·Q) in powers gives
the orders, and (n+1) + n = coth(βE/2) makes every order's area the matching
power of Q·A·Q. Per atom (σ applied afterwards):

* order 1, Q²/3 · w_ν Tr B_ν · (n_ν+1 | n_ν) · exp(−Q²α_ν), with the "almost
  isotropic" powder average α_ν = (Tr A + 2 B_ν:A / Tr B_ν)/5 (the form of
  CLIMAX and AbINS, as abinslib's ``almost_isotropic_incoherent`` writes it);
* order 2, Q⁴/(15C) (Tr B Tr B′ + 2 B:B′) · occupations · exp(−Q² Tr A/3)
  over unordered pairs, C = 2 for overtones, 1 for combinations. Written as
  ½ Σ over ordered pairs of the both-sided histograms H(E) = Σ_ν w_ν B_ν[(n+1)
  δ(E − E_ν) + n δ(E + E_ν)], it is (Q⁴/30)[H_tr ⊛ H_tr + 2 Σ_ij H_ij ⊛ H_ij]:
  creation pairs, annihilation pairs and the mixed ones (E_ν − E_ν′) at the cost
  of seven convolutions per atom, whatever the number of pairs. The histograms
  are taken on bins ``TWO_PHONON_SUBDIVISION`` times finer than the output and
  summed into its bins after the convolution (pair energies within ΔE/27);
* orders n ≥ 3, isotropic: exp(−X) Xⁿ/n! · A_n(E) with X = Q² Tr A/3 and A_n the
  n-fold self-convolution of the unit-area one-phonon shape Σ_ν w_ν Tr B_ν
  (n+1 | n) (:func:`~mdvib.spectroscopy.ins.model.self_convolutions`);
* order 0, the elastic line exp(−X) in the E = 0 bin.

For an isotropic A (cubic sites) α_ν = Tr A/3 and the order-2 area is X²/2, so
Σ_n ∫S_n dE = σ up to the gain-side binning below and what lies beyond the
axis (SW Si, 8³ mesh, 300 K, 2W = 1: 8e-5, a test); otherwise the two
anisotropic orders are the usual approximations and the sum rule holds to their
accuracy (toy O–H crystal at 300 K, Q = 6 Å⁻¹, 2W_H ≈ 0.45: 1.5e-3).

Detailed balance on the bins. Each loss bin E_k = k·ΔE (k ≥ 1) is a sum over
mode (or pair) energies inside it; its mirror gain bin is that loss value
evaluated at the gain bin's |Q| times e^{−βE_k}, so S(Q,−E_k) = e^{−βE_k}
S(Q,E_k) holds bin by bin. The true gain weights n_ν differ from
(n_ν + 1)e^{−βE_k} only by the spread of E_ν inside a bin (relative β ΔE/2 at
most). Modes (and mixed pairs) inside the E = 0 bin enter with both weights.

Modes with E_ν below ``min_energy_mev`` (the acoustic modes at Γ, which have no
finite B) are left out of every sum; modes below −``IMAGINARY_MEV`` are
refused, naming their wavevector. The mesh is the full one (no symmetry
reduction): B is a tensor, and the irreducible wedge alone would give wrong
B:A and B:B′ without rotating each mode's tensors over its star.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np
import scipy.sparse

from mdvib.errors import SettingsError
from mdvib.io.phonopy_files import read_phonopy
from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.spectroscopy.ins.model import (
    HBAR2_OVER_2AMU_MEV_A2,
    ThermalRoute,
    check_temperature,
    cross_sections,
    isotope_mass,
    self_convolutions,
)
from mdvib.units import THZ_TO_MEV

#: Modes below this energy (meV; ≈ 4 cm⁻¹) are left out: the acoustic modes at Γ.
MIN_ENERGY_MEV = 0.5

#: A mode below −this (meV; 0.05 THz, as mdvib's TDEP export counts imaginary modes) is imaginary.
IMAGINARY_MEV = 0.05 * THZ_TO_MEV

#: Sub-bins per output bin of the order-2 histograms (odd, so one sub-bin is centred on E = 0).
TWO_PHONON_SUBDIVISION = 27

@dataclasses.dataclass(frozen=True)
class PhononPowderModel(ThermalRoute):
    """Powder S(Q,E) from harmonic phonon modes (a :class:`~mdvib.spectroscopy.ins.model.PowderModel`).

    Build it with :meth:`from_phonopy` (force constants) or :meth:`from_modes`;
    :meth:`with_temperature` reuses the modes for a temperature series.

    Attributes
    ----------
    species : tuple of str
        Species names (isotopes as ``"D"`` where substituted), in order of first appearance.
    temperature_k : float
        Temperature of the Bose and Debye–Waller factors, K.
    cross_sections_barn : numpy.ndarray
        σ_s, barn, shape ``(n_species,)``.
    atom_species : numpy.ndarray
        Index into ``species`` of each atom of the unit cell, shape ``(n_atoms,)``.
    masses_amu : numpy.ndarray
        Mass of each atom, amu, shape ``(n_atoms,)``.
    energies_mev : numpy.ndarray
        Energy of each mode kept (all wavevectors flattened), meV, shape ``(n_modes,)``.
    weights : numpy.ndarray
        Mesh weight of each mode's wavevector (Σ over wavevectors = 1), shape ``(n_modes,)``.
    tensors_a2 : numpy.ndarray
        B_{ν,a} per unit occupation, Å², shape ``(n_modes, n_atoms, 3, 3)``.
    min_energy_mev : float
        Modes below this energy were left out, meV.
    cross_section_kind : str
        ``"total"``, ``"coherent"`` or ``"incoherent"``.
    source : str
        Where the modes came from (for messages and provenance).
    route : str
        ``"phonons"``, the name results record for this route.
    """

    route: ClassVar[str] = "phonons"

    species: tuple[str, ...]
    temperature_k: float
    cross_sections_barn: np.ndarray
    atom_species: np.ndarray
    masses_amu: np.ndarray
    energies_mev: np.ndarray
    weights: np.ndarray
    tensors_a2: np.ndarray
    min_energy_mev: float = MIN_ENERGY_MEV
    cross_section_kind: str = "total"
    source: str = "the modes"

    @classmethod
    def from_phonopy(cls, source, temperature_k: float, mesh: Sequence[int] = (12, 12, 12), kind: str = "total",
                     isotopes: Mapping[str, str] | None = None, gamma_centred: bool = True,
                     min_energy_mev: float = MIN_ENERGY_MEV) -> PhononPowderModel:
        """From force constants, on a full Monkhorst–Pack mesh (phonopy does the lattice dynamics).

        Parameters
        ----------
        source : str, Path or phonopy.Phonopy
            A phonopy YAML file (``phonopy.yaml``, ``phonopy_disp.yaml``,
            ``phonopy_params.yaml``) with the force constants in it or
            ``FORCE_CONSTANTS``/``force_constants.hdf5``/``FORCE_SETS`` beside it;
            a folder holding ``phonopy.yaml`` (``mdvib tdep -o DIR``); or a
            ``phonopy.Phonopy`` object with force constants set (not modified).
        temperature_k : float
            Temperature, K (≥ 0).
        mesh : sequence of 3 int
            Mesh divisions along the primitive reciprocal lattice vectors (each ≥ 1).
        kind : {"total", "coherent", "incoherent"}
            Cross section weighting the species.
        isotopes : mapping, optional
            Symbol → isotope (``{"H": "D"}``): its cross section and mass are used
            (the modes are computed with the isotope's mass).
        gamma_centred : bool
            Γ-centred mesh (default), or phonopy's Monkhorst–Pack mesh (shifted by
            half a division along even divisions).
        min_energy_mev : float
            Modes below this energy are left out, meV.

        Raises
        ------
        SettingsError
            For a file that is missing or unreadable, no force constants, a bad
            mesh, or imaginary modes (the wavevector is named).
        """
        divisions = _check_mesh(mesh, str(source))
        phonon, name = _phonopy_object(source)
        symbols = list(phonon.primitive.symbols)
        isotopes = dict(isotopes or {})
        cross_sections(symbols, kind, isotopes)      # unknown symbols or substitutions are refused before any work
        original = np.asarray(phonon.primitive.masses, dtype=float)
        masses = np.array([isotope_mass(isotopes[s]) if s in isotopes else m for s, m in zip(symbols, original)])
        try:
            phonon.masses = masses                   # a caller's object gets its masses back below
            phonon.run_mesh(divisions, is_gamma_center=gamma_centred, is_mesh_symmetry=False, with_eigenvectors=True)
            found = phonon.mesh
        finally:
            if isotopes:
                phonon.masses = original
        n_q, n_modes = np.shape(found.frequencies)
        vectors = np.asarray(found.eigenvectors, dtype=complex).transpose(0, 2, 1).reshape(n_q, n_modes, -1, 3)
        return cls.from_modes(np.asarray(found.frequencies) * THZ_TO_MEV, vectors, np.asarray(found.weights, float),
                              masses, symbols, temperature_k, kind=kind, isotopes=isotopes,
                              min_energy_mev=min_energy_mev, qpoints=np.asarray(found.qpoints), source=name)

    @classmethod
    def from_modes(cls, frequencies_mev: np.ndarray, eigenvectors: np.ndarray, weights: np.ndarray,
                   masses_amu: np.ndarray, species: Sequence[str], temperature_k: float, kind: str = "total",
                   isotopes: Mapping[str, str] | None = None, min_energy_mev: float = MIN_ENERGY_MEV,
                   qpoints: np.ndarray | None = None, source: str = "the modes") -> PhononPowderModel:
        """From mode energies and eigenvectors.

        Parameters
        ----------
        frequencies_mev : numpy.ndarray
            Mode energies ħω, meV, shape ``(n_k, n_modes)`` (negative: imaginary).
        eigenvectors : numpy.ndarray
            Unit-norm eigenvectors of the dynamical matrix (not mass weighted),
            complex, shape ``(n_k, n_modes, n_atoms, 3)``.
        weights : numpy.ndarray
            Wavevector weights, any positive scale (normalised here), shape ``(n_k,)``.
        masses_amu : numpy.ndarray
            Masses the modes were computed with, amu, shape ``(n_atoms,)``.
        species : sequence of str
            Chemical symbol of each atom, length ``n_atoms``.
        temperature_k : float
            Temperature, K (≥ 0).
        kind : {"total", "coherent", "incoherent"}
            Cross section weighting the species.
        isotopes : mapping, optional
            Symbol → isotope for the cross sections (the masses are the ones given).
        min_energy_mev : float
            Modes below this energy are left out, meV.
        qpoints : numpy.ndarray, optional
            Wavevectors (reduced), shape ``(n_k, 3)``, named in errors.
        source : str
            Name of the input, for messages.
        """
        energies = np.asarray(frequencies_mev, dtype=float)
        vectors = np.asarray(eigenvectors)
        w = np.asarray(weights, dtype=float)
        masses = np.asarray(masses_amu, dtype=float)
        symbols = tuple(species)
        _check_modes(energies, vectors, w, masses, symbols, source)
        check_temperature(temperature_k)
        if not np.isfinite(min_energy_mev) or min_energy_mev <= 0:
            raise SettingsError(f"the lowest mode energy kept must be a positive number of meV, not {min_energy_mev!r}")
        imaginary = energies < -IMAGINARY_MEV
        if np.any(imaginary):
            k, nu = np.argwhere(imaginary)[np.argmin(energies[imaginary])]
            where = (f"wavevector {np.round(qpoints[k], 4).tolist()} (reduced)" if qpoints is not None
                     else f"k-point {k}")
            raise SettingsError(f"{source}: {int(imaginary.sum())} imaginary modes, the worst "
                                f"{energies[k, nu]:.3f} meV (mode {nu}) at {where}; the structure is not at a minimum "
                                "of these force constants (relax it, or check the supercell and acoustic sum rule)")
        isotopes = dict(isotopes or {})
        names = tuple(dict.fromkeys(symbols))
        sigma = cross_sections(names, kind, isotopes)
        keep = energies >= min_energy_mev
        if not np.any(keep):
            raise SettingsError(f"{source}: no mode lies above {min_energy_mev:g} meV (lower min_energy_mev)")
        k_index, mode_index = np.nonzero(keep)
        e_kept = energies[keep]
        kept_vectors = vectors[k_index, mode_index]                       # (n_kept, n_atoms, 3)
        outer = np.real(kept_vectors[..., :, None] * np.conj(kept_vectors[..., None, :]))
        tensors = HBAR2_OVER_2AMU_MEV_A2 * outer / (masses[None, :, None, None] * e_kept[:, None, None, None])
        return cls(species=tuple(isotopes.get(s, s) for s in names), temperature_k=float(temperature_k),
                   cross_sections_barn=sigma, atom_species=np.array([names.index(s) for s in symbols]),
                   masses_amu=masses, energies_mev=e_kept, weights=(w / w.sum())[k_index], tensors_a2=tensors,
                   min_energy_mev=float(min_energy_mev), cross_section_kind=kind, source=source)


    @property
    def occupations(self) -> np.ndarray:
        """Bose occupation n_ν of each mode, shape ``(n_modes,)`` (zero at 0 K)."""
        with np.errstate(over="ignore"):
            return 1.0 / np.expm1(self.beta_per_mev * self.energies_mev)

    @property
    def debye_waller_tensors_a2(self) -> np.ndarray:
        """A_a = Σ_ν w_ν B_{ν,a} coth(βE_ν/2), Å², shape ``(n_atoms, 3, 3)``."""
        return np.einsum("m,maij->aij", self.weights * (2.0 * self.occupations + 1.0), self.tensors_a2)

    def orders(self, bins: EnergyBins, q_inv_angstrom: np.ndarray, max_order: int) -> np.ndarray:
        """c_s σ_s S_{s,n}(Q,E) in barn/meV per atom of the unit cell, shape ``(max_order + 1, n_species, *q.shape)``.

        See :class:`~mdvib.spectroscopy.ins.model.PowderModel`; per atom, the
        orders of the module docstring.
        """
        q = _check_q(q_inv_angstrom, bins)
        per_atom = self.atom_orders(bins, q, max_order)
        n_atoms = len(self.masses_amu)
        out = np.zeros((per_atom.shape[0], len(self.species), *q.shape))
        for a, s in enumerate(self.atom_species):
            out[:, s] += self.cross_sections_barn[s] / n_atoms * per_atom[:, a]
        return out

    def atom_orders(self, bins: EnergyBins, q: np.ndarray, max_order: int) -> np.ndarray:
        """S_{a,n}(Q,E) per atom without σ, 1/meV, shape ``(max_order + 1, n_atoms, *q.shape)``.

        Arguments as in :meth:`orders`.
        """
        q = _check_q(q, bins)
        if int(max_order) != max_order or max_order < 1:
            raise SettingsError(f"the highest multiphonon order must be an integer ≥ 1, not {max_order!r}")
        max_order = int(max_order)
        q2 = q ** 2
        iso = np.trace(self.debye_waller_tensors_a2, axis1=1, axis2=2) / 3.0
        x = iso.reshape((-1,) + (1,) * q.ndim) * q2                      # (n_atoms, *q.shape)
        dw = np.exp(-x)
        out = np.zeros((max_order + 1, *x.shape))
        out[0, ..., bins.zero_index] = dw[..., bins.zero_index] / bins.width_mev
        out[1] = self.fundamentals(bins, q)
        if max_order >= 2:
            kernel = self.two_phonon_kernel(bins)
            out[2] = dw * q2 ** 2 * kernel.reshape((kernel.shape[0],) + (1,) * (q.ndim - 1) + (len(bins),))
        if max_order >= 3:
            shapes = self_convolutions(self.one_phonon_shape(bins), bins.width_mev, max_order)
            for n in range(3, max_order + 1):
                shape = shapes[n - 1].reshape((shapes.shape[1],) + (1,) * (q.ndim - 1) + (len(bins),))
                out[n] = dw * x ** n / math.factorial(n) * shape
        return out

    def fundamentals(self, bins: EnergyBins, q: np.ndarray) -> np.ndarray:
        """Order 1 per atom, Q²/3 Σ_ν w_ν Tr B_ν (n+1 | n) e^{−Q²α_ν}, 1/meV, shape ``(n_atoms, *q.shape)``.

        ``q`` is |Q| in Å⁻¹ of shape ``(n_E,)`` or ``(n_Q, n_E)``; each mode is
        evaluated at the |Q| of the bin it lands in.
        """
        q = _check_q(q, bins)
        q_rows = np.atleast_2d(q)
        k, inside = self._bin_of_modes(bins)
        trace, alpha = self._traces_and_alpha()
        loss = (self.weights * (self.occupations + 1.0))[inside, None] * trace[inside] / 3.0   # (n_in, n_atoms)
        gain = np.where((k == 0)[:, None], (self.weights * self.occupations)[inside, None] * trace[inside] / 3.0,
                        loss * self._mirror_factors(bins)[k][:, None])
        alpha = alpha[inside]
        out = np.zeros((len(self.masses_amu), q_rows.shape[0], len(bins)))
        for index, weight in ((bins.zero_index + k, loss), (bins.zero_index - k, gain)):
            q2 = q_rows[:, index] ** 2                                      # (n_rows, n_in)
            scatter = scipy.sparse.csr_matrix((np.ones(index.size), (index, np.arange(index.size))),
                                              shape=(len(bins), index.size))
            for a in range(out.shape[0]):
                values = weight[:, a] * q2 * np.exp(-q2 * alpha[:, a])     # (n_rows, n_in)
                out[a] += (scatter @ values.T).T
        return out.reshape((len(self.masses_amu), *q.shape)) / bins.width_mev

    def one_phonon_shape(self, bins: EnergyBins) -> np.ndarray:
        """Isotropic one-phonon shape per atom (unit area on the axis), 1/meV, shape ``(n_atoms, n_E)``."""
        k, inside = self._bin_of_modes(bins)
        trace, _ = self._traces_and_alpha()
        n = self.occupations[inside]
        loss = np.zeros((len(self.masses_amu), bins.n_positive + 1))
        for a in range(loss.shape[0]):
            loss[a] = np.bincount(k, weights=self.weights[inside] * (n + 1.0) * trace[inside, a],
                                  minlength=bins.n_positive + 1)
            loss[a, 0] += np.sum((self.weights[inside] * n * trace[inside, a])[k == 0])
        shape = self._both_sides(loss, bins)
        area = shape.sum(axis=1) * bins.width_mev
        if np.any(area <= 0):
            raise SettingsError(f"{self.source}: no mode of some atom lies on the energy axis (up to {bins.max_mev:g} "
                                "meV): widen the axis")
        return shape / area[:, None]

    def two_phonon_kernel(self, bins: EnergyBins) -> np.ndarray:
        """Order 2 per atom without Q⁴e^{−Q²TrA/3}: (1/30)[H_tr ⊛ H_tr + 2 Σ_ij H_ij ⊛ H_ij], Å⁴/meV.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_atoms, n_E)``, gain side the mirror of the loss side times e^{−βE}.
        """
        sub = TWO_PHONON_SUBDIVISION
        fine = bins.width_mev / sub
        j = np.floor(self.energies_mev / fine + 0.5).astype(np.int64)
        reach = int(j.max())                                                # histograms span fine bins −reach … reach
        n = self.occupations
        b = self.tensors_a2
        components = np.stack([np.trace(b, axis1=2, axis2=3), b[..., 0, 0], b[..., 1, 1], b[..., 2, 2],
                               b[..., 0, 1], b[..., 0, 2], b[..., 1, 2]], axis=-1)   # (n_modes, n_atoms, 7)
        factors = np.array([1.0, 2.0, 2.0, 2.0, 4.0, 4.0, 4.0]) / 30.0
        length = 2 * reach + 1
        histogram = np.zeros((components.shape[1], 7, length))
        for index, occupation in ((reach + j, n + 1.0), (reach - j, n)):
            weighted = (self.weights * occupation)[:, None, None] * components
            for a in range(components.shape[1]):
                for c in range(7):
                    histogram[a, c] += np.bincount(index, weights=weighted[:, a, c], minlength=length)
        fft_length = int(2 ** np.ceil(np.log2(2 * length - 1)))
        spectrum = np.fft.rfft(histogram, n=fft_length, axis=-1)
        pairs = np.fft.irfft(np.einsum("c,acf->af", factors, spectrum ** 2), n=fft_length, axis=-1)[:, :2 * length - 1]
        # pairs[:, i] sits at fine energy (i − 2 reach)·fine; sum fine bins into output bins k = 0 … n_positive
        half = sub // 2
        fine_index = np.arange(2 * length - 1) - 2 * reach
        coarse = np.floor_divide(fine_index + half, sub)
        on_loss = (coarse >= 0) & (coarse <= bins.n_positive)
        loss = np.stack([np.bincount(coarse[on_loss], weights=p[on_loss], minlength=bins.n_positive + 1)
                         for p in pairs])
        np.maximum(loss, 0.0, out=loss)                                     # FFT round-off below zero
        return self._both_sides(loss, bins) / bins.width_mev

    def _bin_of_modes(self, bins: EnergyBins) -> tuple[np.ndarray, np.ndarray]:
        """Loss-side bin index k ≥ 0 of each mode on the axis, and which modes lie on it."""
        k = np.floor(self.energies_mev / bins.width_mev + 0.5).astype(np.int64)     # bins [E_k − ΔE/2, E_k + ΔE/2)
        inside = k <= bins.n_positive
        return k[inside], inside

    def _traces_and_alpha(self) -> tuple[np.ndarray, np.ndarray]:
        """Tr B_{ν,a} (Å²) and α_{ν,a} = (Tr A + 2 B:A/Tr B)/5 (Å²), each shape ``(n_modes, n_atoms)``."""
        a = self.debye_waller_tensors_a2
        trace_a = np.trace(a, axis1=1, axis2=2)
        trace = np.trace(self.tensors_a2, axis1=2, axis2=3)
        contraction = np.einsum("maij,aij->ma", self.tensors_a2, a)
        ratio = np.divide(contraction, trace, out=np.broadcast_to(trace_a / 3.0, trace.shape).copy(),
                          where=trace > 0)
        return trace, (trace_a[None, :] + 2.0 * ratio) / 5.0

    def _mirror_factors(self, bins: EnergyBins) -> np.ndarray:
        """e^{−βE_k} for the loss bins k = 0 … n_positive."""
        energies = bins.centres_mev[bins.zero_index:]
        with np.errstate(invalid="ignore"):
            factor = np.exp(-self.beta_per_mev * energies)
        factor[0] = 1.0
        return factor

    def _both_sides(self, loss: np.ndarray, bins: EnergyBins) -> np.ndarray:
        """Loss bins (..., n_positive + 1) → the whole axis, gain bins = mirror × e^{−βE}."""
        gain = (loss * self._mirror_factors(bins))[..., :0:-1]
        return np.concatenate([gain, loss], axis=-1)


def _phonopy_object(source) -> tuple[object, str]:
    if hasattr(source, "run_mesh") and hasattr(source, "primitive"):
        if source.force_constants is None:
            raise SettingsError("the phonopy object has no force constants (produce_force_constants() first)")
        return source, "the phonopy object"
    return read_phonopy(source), str(source)


def _check_q(q, bins: EnergyBins) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    if q.ndim not in (1, 2) or q.shape[-1] != len(bins):
        raise SettingsError(f"|Q| of shape {q.shape}: expected ({len(bins)},) or (n_Q, {len(bins)}), one |Q| per "
                            "energy bin")
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise SettingsError("|Q| must be finite and ≥ 0 Å⁻¹ in every bin (a bin the instrument does not reach "
                            "can take |Q| = 0)")
    return q


def _check_mesh(mesh, name: str) -> tuple[int, int, int]:
    values = np.asarray(mesh)
    if values.shape != (3,) or values.dtype.kind not in "iuf" or np.any(np.mod(values, 1) != 0) or np.any(values < 1):
        raise SettingsError(f"{name}: the wavevector mesh must be three integers ≥ 1, not {mesh!r}")
    return tuple(int(v) for v in values)


def _check_modes(energies: np.ndarray, vectors: np.ndarray, weights: np.ndarray, masses: np.ndarray,
                 species: tuple[str, ...], source: str) -> None:
    n_atoms = len(species)
    if energies.ndim != 2 or energies.shape[1] != 3 * n_atoms:
        raise SettingsError(f"{source}: mode energies of shape {energies.shape}; expected (n_k, {3 * n_atoms}) for "
                            f"{n_atoms} atoms")
    if vectors.shape != (*energies.shape, n_atoms, 3):
        raise SettingsError(f"{source}: eigenvectors of shape {vectors.shape}; expected "
                            f"{(*energies.shape, n_atoms, 3)} (k-point, mode, atom, Cartesian)")
    if weights.shape != (energies.shape[0],) or np.any(weights < 0) or weights.sum() <= 0:
        raise SettingsError(f"{source}: wavevector weights must be {energies.shape[0]} numbers ≥ 0 with a positive sum")
    if masses.shape != (n_atoms,) or np.any(~np.isfinite(masses)) or np.any(masses <= 0):
        raise SettingsError(f"{source}: masses must be {n_atoms} positive numbers of amu, not {masses.tolist()}")
    if not np.all(np.isfinite(energies)):
        raise SettingsError(f"{source}: the mode energies have non-finite values")


