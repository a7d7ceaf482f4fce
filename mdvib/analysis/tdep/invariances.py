"""Rotational invariances of the second-order force constants (Born–Huang, Huang).

A crystal's energy does not change under a rigid rotation, and a crystal in
equilibrium carries no stress. For harmonic force constants Φ_ij^{αβ} (eV/Å²)
of a lattice with zero forces at the reference, with r_ij = R_j − R_i the
vector from atom i to atom j (Å), these give linear conditions on FC2
(Born & Huang, *Dynamical Theory of Crystal Lattices*, §§ 11, 26; Wallace,
*Thermodynamics of Crystals*; hiPhive's ``enforce_rotational_sum_rules`` states
the same two sets):

* **Born–Huang** rotational sum rules — an infinitesimal rigid rotation
  u_j = ω × r_j exerts no force on any atom. For every atom i and all α, β, γ:

      Σ_j Φ_ij^{αβ} r_ij^γ = Σ_j Φ_ij^{αγ} r_ij^β.

  (Σ_j Φ_ij = 0 makes it the same with R_j in place of r_ij.) Only atoms of
  the primitive set need to be written; the others are lattice translations.

* **Huang** conditions — equilibrium without stress: the brackets
  [αβ, γλ] = −(1/2V) Σ_{i∈cell} Σ_j Φ_ij^{αβ} r_ij^γ r_ij^λ satisfy
  [αβ, γλ] = [γλ, αβ], i.e. for all α, β, γ, λ:

      Σ_{i∈cell} Σ_j Φ_ij^{αβ} r_ij^γ r_ij^λ = Σ_{i∈cell} Σ_j Φ_ij^{γλ} r_ij^α r_ij^β.

Both sets are linear in the orbit parameters x (Φ_c = B_c x), so they are
written as rows C x = 0 here, and the fit imposes them exactly
(:func:`invariant_null_space`): the free FC2 parameters are restricted to the
null space of C within the acoustic-sum-rule null space.

What they buy in a bulk crystal: the long-wave method (Born & Huang § 26)
turns FC2 into the acoustic tensor S_{αβ,γλ} (ρω² = Σ S_{αβ,γλ} k_γ k_λ for the
acoustic branches; brackets plus the internal-strain term) and from it the
elastic constants c_{αγ,βλ} = S_{αβ,γλ} + S_{γβ,αλ} − S_{αγ,βλ}. These have the
symmetry of an elastic tensor (c_{αγ,βλ} = c_{γα,βλ} = c_{βλ,αγ}) only when the
Huang conditions hold (brackets) and the Born–Huang rules hold (they make the
internal-strain couplings Σ_j Φ_ij^{μα} r_ij^γ symmetric in α, γ). Without
them c lacks that symmetry and its symmetric part misses the sound velocities
(by 0.7 % in ρv² for an FC2-only fit of rattled lonsdaleite Si, tests). In
low-dimensional systems they also make the flexural branch quadratic.

Point-group symmetry alone can satisfy them: at a site of T_d symmetry the
only invariant third-rank tensor is fully symmetric (at an O_h site there is
none), and in crystals of point group −43m or m−3m the brackets are symmetric
(a mirror swaps x and y). So for diamond, zincblende, rocksalt or fcc/bcc
crystals C·Z vanishes and imposing the invariances changes nothing; in
hexagonal crystals (lonsdaleite, wurtzite), layered and low-dimensional
systems they are real constraints.

The sums run over the pairs of the infinite crystal; the supercell's pairs
stand for them only while no pair has two periodic images inside the cutoff
(``rc2`` below half the shortest supercell width).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mdvib.analysis.tdep.basis import ForceConstantBasis, OrderBasis, SupercellSymmetry
from mdvib.analysis.tdep.reference import Reference
from mdvib.errors import SettingsError

#: Invariances that can be imposed on FC2, in the order results report them.
INVARIANCES = ("born-huang", "huang")

#: Singular values of the constraint matrix (dimensionless, entries O(1): orthonormal basis
#: tensors times r_ij / max |r_ij|) below this count as zero; rows that symmetry already
#: satisfies come out at ~1e-15 (the pair vectors are symmetrised, :func:`pair_vectors`), genuine
#: conditions at O(1).
_RANK_TOL = 1e-9


def check_invariances(names: Iterable[str]) -> tuple[str, ...]:
    """Validate invariance names (case-insensitive) and return them in :data:`INVARIANCES` order.

    Parameters
    ----------
    names : iterable of str
        E.g. ``("born-huang", "huang")``; ``"Born-Huang"``, ``"born_huang"`` are accepted.

    Returns
    -------
    tuple of str
        Distinct names, canonical spelling and order.

    Raises
    ------
    SettingsError
        For an unknown name, or a single string given instead of a sequence of names.
    """
    if isinstance(names, str):
        raise SettingsError(f"invariances must be a sequence of names, e.g. ({names!r},), not a string")
    given = set()
    for name in names:
        key = str(name).strip().lower().replace("_", "-")
        if key not in INVARIANCES:
            raise SettingsError(f"unknown invariance {name!r}; choose from {list(INVARIANCES)}")
        given.add(key)
    return tuple(name for name in INVARIANCES if name in given)


def pair_vectors(reference: Reference, symmetry: SupercellSymmetry, atoms: np.ndarray,
                 cutoff: float) -> np.ndarray | None:
    """Vectors r_ij = R_j − R_i (Å) of FC2 pairs as the infinite crystal sees them, symmetrised.

    Minimum-image vectors (the convention the pairs were enumerated with),
    averaged over the space group: r̄_ij = (1/|G|) Σ_g R_g⁻¹ r_{g(i) g(j)}, so
    that r̄_{g(i) g(j)} = R_g r̄_ij holds to round-off even when the reference
    positions are ideal only to a few decimals (spglib's ``symprec``). The
    conditions that symmetry implies then hold to ~1e-15 instead of to the
    precision of the input file, and they are not mistaken for constraints.

    Parameters
    ----------
    reference : Reference
        Ideal supercell.
    symmetry : SupercellSymmetry
        Its space group (:func:`~mdvib.analysis.tdep.basis.supercell_symmetry`).
    atoms : ndarray, shape (n_c, 2), int
        Pairs (i, j) in reference order.
    cutoff : float
        FC2 cutoff, Å.

    Returns
    -------
    ndarray, shape (n_c, 3), or None
        ``None`` when some pair has a second periodic image inside the cutoff: the
        supercell constant then lumps several pairs of the crystal together and
        the rotational sums are not defined.
    """
    frac = reference.scaled_positions
    delta = frac[atoms[:, 1]] - frac[atoms[:, 0]]
    delta -= np.round(delta)
    shifts = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)
                       if (a, b, c) != (0, 0, 0)])
    images = (delta[:, None, :] + shifts[None]) @ reference.cell  # (n_c, 26, 3)
    if (np.linalg.norm(images, axis=-1) < cutoff).any():
        return None
    total = np.zeros((len(atoms), 3))
    for permutation, rotation in zip(symmetry.coset_permutations, symmetry.coset_rotations):
        first = symmetry.translations[:, permutation[atoms[:, 0]]]  # (n_t, n_c)
        second = symmetry.translations[:, permutation[atoms[:, 1]]]
        delta = frac[second] - frac[first]
        delta -= np.round(delta)
        total += (delta.sum(axis=0) @ reference.cell) @ np.linalg.inv(rotation).T
    return total / symmetry.n_operations


def require_pair_vectors(reference: Reference, basis: ForceConstantBasis) -> np.ndarray:
    """Symmetrised FC2 pair vectors (:func:`pair_vectors`) of ``basis.fc2``, Å, shape (n_c2, 3).

    Raises
    ------
    SettingsError
        When rc2 reaches half the shortest supercell width (a pair has two images inside it).
    """
    vectors = pair_vectors(reference, basis.symmetry, basis.fc2.clusters, basis.fc2.cutoff)
    if vectors is None:
        half = 0.5 * float(reference.widths().min())
        raise SettingsError(f"rotational invariances need rc2 ({basis.fc2.cutoff:g} Å) below half the shortest "
                            f"supercell width ({half:.3f} Å): otherwise a fitted pair mixes several periodic images")
    return vectors


def _born_huang_terms(phi: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Φ^{αβ} r^γ − Φ^{αγ} r^β per pair and trailing column: (n_c, 3, 3, 3, k) from phi (n_c, 3, 3, k)."""
    t = np.einsum("cabk,cg->cabgk", phi, r)
    return t - t.transpose(0, 1, 3, 2, 4)


def _huang_terms(phi: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Φ^{αβ} r^γ r^λ − Φ^{γλ} r^α r^β per pair and trailing column, shape (n_c, 3, 3, 3, 3, k)."""
    t = np.einsum("cabk,cg,cl->cabglk", phi, r, r)
    return t - t.transpose(0, 3, 4, 1, 2, 5)


def constraint_matrix(fc2: OrderBasis, vectors: np.ndarray, invariances: Iterable[str]) -> np.ndarray:
    """Rows C of the conditions C x = 0 on the FC2 orbit parameters x.

    Parameters
    ----------
    fc2 : OrderBasis
        FC2 parametrisation (pairs with first atom in the primitive set).
    vectors : ndarray, shape (n_c2, 3)
        Pair vectors r_ij of ``fc2.clusters``, Å (:func:`require_pair_vectors`).
    invariances : iterable of str
        Names from :data:`INVARIANCES`.

    Returns
    -------
    ndarray, shape (n_rows, n_x2)
        Born–Huang: 27 rows per primitive atom; Huang: 81 rows. The vectors r_ij
        are divided by the longest one, so both blocks are dimensionless and O(1).
        Many rows are zero or repeated (symmetry); only the null space matters.

    Raises
    ------
    SettingsError
        For an unknown name.
    """
    names = check_invariances(invariances)
    r = vectors / max(float(np.linalg.norm(vectors, axis=1).max()), 1.0)
    start, count = fc2.cluster_offsets()
    n_c, _, width = fc2.basis.shape
    phi = fc2.basis.reshape(n_c, 3, 3, width)  # zero-padded beyond count[c]
    blocks = [np.zeros((0, fc2.n_parameters))]
    if "born-huang" in names:
        atoms, row_block = np.unique(fc2.clusters[:, 0], return_inverse=True)
        rows = (27 * row_block)[:, None] + np.arange(27)
        blocks.append(_scatter(_born_huang_terms(phi, r).reshape(n_c, 27, width), rows, start, count,
                               27 * len(atoms), fc2.n_parameters))
    if "huang" in names:
        rows = np.broadcast_to(np.arange(81), (n_c, 81))
        blocks.append(_scatter(_huang_terms(phi, r).reshape(n_c, 81, width), rows, start, count, 81,
                               fc2.n_parameters))
    return np.vstack(blocks)


def _scatter(terms: np.ndarray, rows: np.ndarray, start: np.ndarray, count: np.ndarray, n_rows: int,
             n_x: int) -> np.ndarray:
    """Sum per-pair terms (n_c, n_r, width) into rows ``rows`` (n_c, n_r) and parameter columns, (n_rows, n_x)."""
    out = np.zeros((n_rows, n_x))
    for p in range(terms.shape[2]):
        valid = count > p
        np.add.at(out, (rows[valid], (start[valid] + p)[:, None]), terms[valid, :, p])
    return out


def invariant_null_space(basis: ForceConstantBasis, vectors: np.ndarray, invariances: Iterable[str]) -> np.ndarray:
    """FC2 parameters obeying the acoustic sum rules and the invariances: x₂ = Z' w.

    The conditions become C Z₂ y = 0 on the sum-rule parameters y; Z' = Z₂ N
    with N an orthonormal basis of the null space of C Z₂ (SVD), so Z' has
    orthonormal columns like Z₂ and any w gives exact invariances.

    Parameters
    ----------
    basis : ForceConstantBasis
    vectors : ndarray, shape (n_c2, 3)
        Pair vectors of ``basis.fc2.clusters``, Å (:func:`require_pair_vectors`).
    invariances : iterable of str
        Names from :data:`INVARIANCES`.

    Returns
    -------
    ndarray, shape (n_x2, n_w)
        Replaces ``basis.z2`` (n_w ≤ n_y2; equal when symmetry already implies the conditions).

    Raises
    ------
    SettingsError
        For an unknown name.
    """
    c = constraint_matrix(basis.fc2, vectors, invariances) @ basis.z2
    if c.size == 0:
        return basis.z2
    _, s, vt = np.linalg.svd(c, full_matrices=True)
    rank = int(np.sum(s > _RANK_TOL))
    return basis.z2 @ vt[rank:].T


def violations(atoms: np.ndarray, tensors: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Relative violation of each invariance in :data:`INVARIANCES` by fitted FC2 tensors.

    For Born–Huang, the largest |Σ_j (Φ_ij^{αβ} r_ij^γ − Φ_ij^{αγ} r_ij^β)| over
    atoms i and components, divided by the largest Σ_j |Φ_ij^{αβ} r_ij^γ| (the
    size of the terms that must cancel); for Huang the same with
    Σ_{i∈cell} Σ_j Φ_ij^{αβ} r_ij^γ r_ij^λ. 0 means exact; round-off gives ~1e-16.

    Parameters
    ----------
    atoms : ndarray, shape (n_c, 2), int
        FC2 pairs with first atom in the primitive set.
    tensors : ndarray, shape (n_c, 3, 3)
        Φ of each pair, eV/Å².
    vectors : ndarray, shape (n_c, 3)
        Their vectors r_ij, Å (:func:`pair_vectors`).

    Returns
    -------
    ndarray, shape (len(INVARIANCES),)
    """
    r = np.asarray(vectors, float)
    phi = np.asarray(tensors, float)[..., None]
    first = atoms[:, 0]
    bh = _born_huang_terms(phi, r)[..., 0]
    bh_scale = np.abs(np.einsum("cab,cg->cabg", phi[..., 0], r))
    bh_violation = max(float(np.abs(bh[first == a].sum(axis=0)).max()) for a in np.unique(first))
    bh_size = max(float(bh_scale[first == a].sum(axis=0).max()) for a in np.unique(first))
    huang = _huang_terms(phi, r)[..., 0].sum(axis=0)
    huang_size = float(np.abs(np.einsum("cab,cg,cl->cabgl", phi[..., 0], r, r)).sum(axis=0).max())
    tiny = np.finfo(float).tiny
    return np.array([bh_violation / max(bh_size, tiny), float(np.abs(huang).max()) / max(huang_size, tiny)])
