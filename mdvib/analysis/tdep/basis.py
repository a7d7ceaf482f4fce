"""Symmetry-irreducible parametrisation of FC2 and FC3 within cutoffs.

Hand-written rather than taken from symfc: symfc's ``FCBasisSetO3`` builds
index tables over all N³ atom triplets of the supercell
(``get_atomic_lat_trans_decompr_indices_O3``: 1 GiB of int64 for a 512-atom
cell, before any projector) and expresses the basis over all n_a·N²·27 FC3
elements. On the 512-atom, 100-snapshot SW-Si problem of
``benchmarks/bench_tdep.py`` symfc needs 234 CPU-s and 7.0 GB, against a
0.5 GB budget here. Here parameters live on *orbits of clusters* (hiPhive's
and TDEP's scheme), and only clusters whose first atom is in the primitive
cell are stored; every other cluster follows by a lattice translation of the
supercell. The parametrisation reproduces hiPhive's orbit, eigentensor and
degree-of-freedom counts (tests).

Construction (order n = 2 or 3; a cluster is an ordered tuple of n atoms whose
pairwise distances are all below the cutoff, repeated atoms allowed):

1. Space group of the reference supercell from spglib, split into pure
   lattice translations (atom permutations ``translations[t, i]``) and one
   coset representative per rotation.
2. Clusters are visited in order of size; a cluster not yet covered becomes
   the representative of a new orbit. Its images under every operation give
   the orbit; the operations that map it onto itself (with a permutation of
   its positions), plus the permutations of repeated atoms, constrain its
   Cartesian tensor Φ (3ⁿ components): Φ = P_π (R⊗…⊗R) Φ. The null space of
   these constraints is the orbit's basis.
3. Every other cluster gets the representative's basis rotated and permuted
   by an operation that maps the representative onto it.
4. Acoustic sum rules (Σ_j Φ_ij = 0; Σ_k Φ_ijk = 0 for all i, j) are linear in
   the orbit parameters x; their null space Z gives the free parameters
   y (x = Z y), so the rules hold to machine precision for any fit.

Forces are F_iα = −Σ_j Φ_iαjβ u_jβ − ½ Σ_jk Φ_iαjβkγ u_jβ u_kγ (sums over
ordered clusters). The design matrix of a snapshot (3N rows, one column per
orbit parameter) is filled by numba kernels that loop over lattice
translations × primitive clusters; rows of different translations never
overlap, so the loop runs in parallel without locks.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from mdvib.analysis.tdep.reference import PeriodicSites, Reference
from mdvib.errors import SettingsError


@dataclass(frozen=True)
class SupercellSymmetry:
    """Space group of the reference supercell as atom permutations.

    Attributes
    ----------
    translations : ndarray, shape (n_t, N), int64
        ``translations[t, i]``: the atom that lattice translation ``t`` moves atom ``i`` onto
        (``t = 0`` is the identity).
    coset_permutations : ndarray, shape (n_r, N), int64
        Atom permutation of one operation per distinct rotation.
    coset_rotations : ndarray, shape (n_r, 3, 3)
        Cartesian rotation matrices of those operations (r' = R r).
    p2s : ndarray, shape (n_p,), int64
        One atom per translation class (the primitive-cell atoms), ascending.
    spacegroup : str
        International symbol (number).
    """

    translations: np.ndarray
    coset_permutations: np.ndarray
    coset_rotations: np.ndarray
    p2s: np.ndarray
    spacegroup: str

    @property
    def n_operations(self) -> int:
        """Operations of the supercell's space group."""
        return self.translations.shape[0] * self.coset_rotations.shape[0]


def supercell_symmetry(reference: Reference, symprec: float = 1e-3) -> SupercellSymmetry:
    """Space-group operations of the reference supercell (spglib).

    Parameters
    ----------
    reference : Reference
    symprec : float
        spglib tolerance, Å.

    Raises
    ------
    SettingsError
        If spglib finds no symmetry or an operation does not permute the atoms.
    """
    import spglib

    frac = reference.scaled_positions
    numbers = np.unique(reference.species, return_inverse=True)[1] + 1
    cell = (reference.cell, frac, numbers)
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:
        raise SettingsError(f"{reference.path}: spglib found no symmetry in the reference structure "
                            f"(symprec {symprec} Å); is it the ideal lattice?")
    rotations = np.asarray(dataset.rotations)
    shifts = np.asarray(dataset.translations)
    sites = PeriodicSites(frac, reference.cell, 4.0 * symprec)
    n = reference.n_atoms

    def permutation(rot, shift, label):
        perm = sites.query(frac @ rot.T + shift)
        if (perm < 0).any() or np.unique(perm).size != n:
            raise SettingsError(f"{reference.path}: symmetry operation {label} does not map atoms onto atoms; "
                                f"try another symprec (now {symprec} Å)")
        return perm

    identity = np.all(rotations == np.eye(3, dtype=rotations.dtype), axis=(1, 2))
    translations = np.array([permutation(rotations[k], shifts[k], k) for k in np.flatnonzero(identity)])
    order = np.argsort([0 if np.array_equal(p, np.arange(n)) else 1 for p in translations], kind="stable")
    translations = translations[order]
    _, first = np.unique(rotations.reshape(len(rotations), -1), axis=0, return_index=True)
    first = np.sort(first)
    coset_perms = np.array([permutation(rotations[k], shifts[k], k) for k in first])
    lattice = reference.cell
    coset_rot = np.array([lattice.T @ rotations[k] @ np.linalg.inv(lattice.T) for k in first])
    p2s = np.unique(translations.min(axis=0))
    return SupercellSymmetry(translations=translations.astype(np.int64),
                             coset_permutations=coset_perms.astype(np.int64),
                             coset_rotations=coset_rot, p2s=p2s.astype(np.int64),
                             spacegroup=f"{dataset.international} ({dataset.number})")


def _relative_vectors(reference: Reference, atom: int) -> np.ndarray:
    """Minimum-image vectors from ``atom`` to every atom, Å, shape (N, 3)."""
    frac = reference.scaled_positions
    delta = frac - frac[atom]
    delta -= np.round(delta)
    return delta @ reference.cell


def enumerate_clusters(reference: Reference, p2s: np.ndarray, order: int,
                       cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Ordered clusters whose first atom is in ``p2s`` and whose pair distances are all < ``cutoff``.

    Returns
    -------
    clusters : ndarray, shape (n_c, order), int64
    sizes : ndarray, shape (n_c,)
        Largest pair distance of each cluster, Å.
    """
    rows, sizes = [], []
    for p in p2s:
        vectors = _relative_vectors(reference, int(p))
        near = np.flatnonzero(np.linalg.norm(vectors, axis=1) < cutoff)
        if order == 2:
            for j in near:
                rows.append((p, j))
                sizes.append(np.linalg.norm(vectors[j]))
        else:
            vec = vectors[near]
            pair = np.linalg.norm(vec[:, None, :] - vec[None, :, :], axis=-1)
            radius = np.linalg.norm(vec, axis=1)
            for a, b in zip(*np.nonzero(pair < cutoff)):
                rows.append((p, near[a], near[b]))
                sizes.append(max(radius[a], radius[b], pair[a, b]))
    clusters = np.array(rows, dtype=np.int64).reshape(-1, order)
    sizes = np.array(sizes, float)
    index = np.lexsort((*clusters.T[::-1], np.round(sizes, 6)))
    return clusters[index], sizes[index]


def _transform(basis: np.ndarray, rotation: np.ndarray, perm: np.ndarray, order: int) -> np.ndarray:
    """Rotate the tensors in the columns of ``basis`` by ``rotation`` and permute their axes by ``perm``.

    ``basis`` has shape (3**order, k); returns the same shape.
    """
    k = basis.shape[1]
    x = basis.reshape((3,) * order + (k,))
    if order == 2:
        x = np.einsum("ad,be,dek->abk", rotation, rotation, x)
    else:
        x = np.einsum("ad,be,cf,defk->abck", rotation, rotation, rotation, x)
    return np.transpose(x, tuple(perm) + (order,)).reshape(3**order, k)


def _keys(atoms: np.ndarray, n_atoms: int) -> np.ndarray:
    """Integer key of each cluster (row) as an unordered multiset of atoms."""
    s = np.sort(atoms, axis=-1)
    key = np.zeros(s.shape[:-1], dtype=np.int64)
    for m in range(s.shape[-1]):
        key = key * n_atoms + s[..., m]
    return key


def _position_permutation(target: np.ndarray, image: np.ndarray) -> np.ndarray:
    """π with ``target[m] == image[π[m]]`` (both tuples hold the same atoms)."""
    order_img = np.argsort(image, kind="stable")
    order_tgt = np.argsort(target, kind="stable")
    perm = np.empty(len(target), dtype=np.int64)
    perm[order_tgt] = order_img
    return perm


@dataclass(frozen=True)
class OrderBasis:
    """Parametrisation of one force-constant order.

    Attributes
    ----------
    order : int
        2 or 3.
    cutoff : float
        Å.
    clusters : ndarray, shape (n_c, order), int64
        Ordered clusters with first atom in the primitive set.
    sizes : ndarray, shape (n_c,)
        Largest pair distance in each cluster, Å.
    orbit : ndarray, shape (n_c,), int64
        Orbit of each cluster.
    offsets : ndarray, shape (n_orbits + 1,), int64
        Columns of orbit ``o`` in the parameter vector x: ``offsets[o]:offsets[o+1]``.
    basis : ndarray, shape (n_c, 3**order, max_params)
        Tensor (flattened, C order) per unit orbit parameter; zero-padded.
    orbit_sizes : ndarray, shape (n_orbits,)
        Size (Å) of each orbit's clusters.
    """

    order: int
    cutoff: float
    clusters: np.ndarray
    sizes: np.ndarray
    orbit: np.ndarray
    offsets: np.ndarray
    basis: np.ndarray
    orbit_sizes: np.ndarray

    @property
    def n_orbits(self) -> int:
        """Number of cluster orbits."""
        return self.offsets.size - 1

    @property
    def n_parameters(self) -> int:
        """Orbit parameters before the sum rules."""
        return int(self.offsets[-1])

    def cluster_offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """First column and number of parameters of every cluster, shapes (n_c,)."""
        start = self.offsets[self.orbit]
        return start, self.offsets[self.orbit + 1] - start

    def tensors(self, x: np.ndarray) -> np.ndarray:
        """Tensors of all clusters for orbit parameters ``x``, shape (n_c, 3, …, 3)."""
        start, count = self.cluster_offsets()
        out = np.zeros((len(self.clusters), 3**self.order))
        for c in range(len(self.clusters)):
            out[c] = self.basis[c, :, : count[c]] @ x[start[c]: start[c] + count[c]]
        return out.reshape((-1,) + (3,) * self.order)

    def sum_rule_matrix(self) -> np.ndarray:
        """Acoustic-sum-rule constraints C x = 0, shape (n_rules, n_parameters)."""
        start, count = self.cluster_offsets()
        groups: dict[tuple, np.ndarray] = {}
        for c, atoms in enumerate(self.clusters):
            key = tuple(int(a) for a in atoms[: self.order - 1])
            rows = groups.setdefault(key, np.zeros((3**self.order, self.n_parameters)))
            rows[:, start[c]: start[c] + count[c]] += self.basis[c, :, : count[c]]
        if not groups:
            return np.zeros((0, self.n_parameters))
        return np.vstack(list(groups.values()))


def build_order_basis(reference: Reference, symmetry: SupercellSymmetry, order: int, cutoff: float,
                      tol: float = 1e-8) -> OrderBasis:
    """Orbits, symmetry-adapted tensors and parameters of one order (see the module docstring)."""
    if order not in (2, 3):
        raise SettingsError(f"force-constant order must be 2 or 3, got {order}")
    n_atoms = reference.n_atoms
    clusters, sizes = enumerate_clusters(reference, symmetry.p2s, order, cutoff)
    n_t = symmetry.translations.shape[0]
    rotations = symmetry.coset_rotations
    dim = 3**order
    identity = np.eye(dim)

    orbit_keys: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (sorted keys, op index, images)
    orbit_bases: list[np.ndarray] = []
    orbit_sizes: list[float] = []
    cluster_orbit = np.empty(len(clusters), dtype=np.int64)
    cluster_basis: list[np.ndarray] = []
    for c, atoms in enumerate(clusters):
        key = _keys(atoms, n_atoms)
        found = False
        for o, (keys, ops, images) in enumerate(orbit_keys):
            pos = np.searchsorted(keys, key)
            if pos < keys.size and keys[pos] == key:
                op = ops[pos]
                perm = _position_permutation(atoms, images[op])
                cluster_basis.append(_transform(orbit_bases[o], rotations[op // n_t], perm, order))
                cluster_orbit[c] = o
                found = True
                break
        if found:
            continue
        # new orbit with representative `atoms`: images under every operation
        images = symmetry.translations[:, symmetry.coset_permutations[:, atoms]]  # (n_t, n_r, order)
        images = images.transpose(1, 0, 2).reshape(-1, order)  # op = r * n_t + t
        image_keys = _keys(images, n_atoms)
        constraints = []
        for op in np.flatnonzero(image_keys == key):
            perm = _position_permutation(atoms, images[op])
            constraints.append(_transform(identity, rotations[op // n_t], perm, order) - identity)
        for perm in itertools.permutations(range(order)):
            if np.array_equal(atoms[list(perm)], atoms):
                constraints.append(_transform(identity, np.eye(3), np.array(perm), order) - identity)
        basis = _null_space(np.vstack(constraints), tol)
        index = np.argsort(image_keys, kind="stable")
        orbit_keys.append((image_keys[index], index, images))
        orbit_bases.append(basis)
        orbit_sizes.append(float(sizes[c]))
        cluster_orbit[c] = len(orbit_bases) - 1
        cluster_basis.append(basis)

    counts = np.array([b.shape[1] for b in orbit_bases], dtype=np.int64)
    # drop orbits that symmetry forces to zero
    keep_orbit = counts > 0
    new_index = np.cumsum(keep_orbit) - 1
    keep_cluster = keep_orbit[cluster_orbit]
    clusters = clusters[keep_cluster]
    sizes = sizes[keep_cluster]
    cluster_orbit = new_index[cluster_orbit[keep_cluster]]
    counts = counts[keep_orbit]
    width = int(counts.max()) if counts.size else 0
    basis = np.zeros((len(clusters), dim, max(width, 1)))
    kept = [b for b, keep in zip(cluster_basis, keep_cluster) if keep]
    for c, b in enumerate(kept):
        basis[c, :, : b.shape[1]] = b
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return OrderBasis(order=order, cutoff=cutoff, clusters=clusters, sizes=sizes, orbit=cluster_orbit,
                      offsets=offsets, basis=basis,
                      orbit_sizes=np.array(orbit_sizes, float)[keep_orbit])


def _null_space(matrix: np.ndarray, tol: float) -> np.ndarray:
    """Orthonormal basis of the null space of ``matrix`` (columns), relative tolerance ``tol``."""
    if matrix.shape[0] == 0:
        return np.eye(matrix.shape[1])
    _, s, vt = np.linalg.svd(matrix, full_matrices=True)
    scale = s[0] if s.size and s[0] > 0 else 1.0
    rank = int(np.sum(s > tol * max(scale, 1.0)))
    return vt[rank:].T.copy()


@dataclass(frozen=True)
class ForceConstantBasis:
    """Free parameters of FC2 (and FC3) with the acoustic sum rules built in.

    Attributes
    ----------
    symmetry : SupercellSymmetry
    fc2 : OrderBasis
    fc3 : OrderBasis or None
    z2, z3 : ndarray
        Null spaces of the sum rules: orbit parameters x = Z y, shapes
        (n_x2, n_y2) and (n_x3, n_y3) (``z3`` is ``None`` without FC3).
    """

    symmetry: SupercellSymmetry
    fc2: OrderBasis
    fc3: OrderBasis | None
    z2: np.ndarray
    z3: np.ndarray | None

    @property
    def n_x(self) -> int:
        """Orbit parameters (both orders) before the sum rules."""
        return self.fc2.n_parameters + (self.fc3.n_parameters if self.fc3 else 0)

    @property
    def n_free(self) -> tuple[int, int]:
        """Free parameters of FC2 and FC3 after the sum rules."""
        return self.z2.shape[1], (self.z3.shape[1] if self.z3 is not None else 0)

    @functools.cached_property
    def _kernel_arrays(self) -> tuple:
        """Per-order (clusters, first column, parameter count, signed transposed basis) for the design kernels.

        F_i = −Σ_j Φ_ij u_j − ½ Σ_jk Φ_ijk u_j u_k: the signs and the ½ go into the
        basis. For FC3 only clusters with j ≤ k are kept, those with j ≠ k counted
        twice (Φ_ijk = Φ_ikj), which halves the work. The basis is stored as
        (cluster, parameter, α, rest) so the innermost loop is contiguous.
        """
        out = []
        for order_basis, column0 in ((self.fc2, 0), (self.fc3, self.fc2.n_parameters)):
            if order_basis is None:
                continue
            start, count = order_basis.cluster_offsets()
            clusters = order_basis.clusters
            n_c, dim, width = order_basis.basis.shape
            basis = order_basis.basis.transpose(0, 2, 1).reshape(n_c, width, 3, dim // 3)
            if order_basis.order == 2:
                weight = -np.ones(n_c)
                keep = np.ones(n_c, dtype=bool)
            else:
                keep = clusters[:, 1] <= clusters[:, 2]
                weight = np.where(clusters[:, 1] == clusters[:, 2], -0.5, -1.0)
            out.append((np.ascontiguousarray(clusters[keep]), np.ascontiguousarray(start[keep] + column0),
                        np.ascontiguousarray(count[keep]),
                        np.ascontiguousarray(basis[keep] * weight[keep, None, None, None])))
        return tuple(out)

    def design(self, u: np.ndarray) -> np.ndarray:
        """Design matrix of a batch of snapshots in orbit parameters x.

        Parameters
        ----------
        u : ndarray, shape (n_f, N, 3)
            Displacements, Å.

        Returns
        -------
        ndarray, shape (n_f · 3N, n_x)
            Predicted forces (eV/Å) are ``design(u) @ x``: FC2 columns first (eV/Å² units
            of x), then FC3 columns (eV/Å³).
        """
        u = np.ascontiguousarray(u, dtype=np.float64)
        n_f, n_atoms, _ = u.shape
        out = np.zeros((n_f, 3 * n_atoms, self.n_x))
        fc2_arrays, *fc3_arrays = self._kernel_arrays
        _design_fc2(u, self.symmetry.translations, *fc2_arrays, out)
        if fc3_arrays:
            _design_fc3(u, self.symmetry.translations, *fc3_arrays[0], out)
        return out.reshape(n_f * 3 * n_atoms, self.n_x)

    def full_fc2(self, x2: np.ndarray) -> np.ndarray:
        """Supercell FC2 Φ_iαjβ (eV/Å²) in reference atom order, shape (N, N, 3, 3)."""
        tensors = self.fc2.tensors(x2)
        trans = self.symmetry.translations
        n = trans.shape[1]
        fc = np.zeros((n, n, 3, 3))
        i = trans[:, self.fc2.clusters[:, 0]]  # (n_t, n_c)
        j = trans[:, self.fc2.clusters[:, 1]]
        fc[i, j] = tensors[None]
        return fc

    def fc3_rows(self, x3: np.ndarray, first_atoms: np.ndarray) -> np.ndarray:
        """FC3 Φ_iαjβkγ (eV/Å³) for the given first atoms i, shape (len(first_atoms), N, N, 3, 3, 3)."""
        tensors = self.fc3.tensors(x3)
        trans = self.symmetry.translations
        n = trans.shape[1]
        out = np.zeros((len(first_atoms), n, n, 3, 3, 3))
        clusters = self.fc3.clusters
        for row, atom in enumerate(first_atoms):
            t, p = np.argwhere(trans[:, self.symmetry.p2s] == atom)[0]
            mine = clusters[:, 0] == self.symmetry.p2s[p]
            out[row, trans[t, clusters[mine, 1]], trans[t, clusters[mine, 2]]] = tensors[mine]
        return out


def check_cutoffs(reference: Reference, rc2: float, rc3: float | None = None) -> list[str]:
    """Refuse cutoffs that give no cluster or an ill-defined basis; warnings for the doubtful ones.

    With d_nn the nearest-neighbour distance and W the shortest supercell
    width (distance between opposite faces):

    * rc ≤ d_nn includes no pair of distinct atoms (clusters need every distance
      strictly below the cutoff): only on-site terms, which the acoustic sum
      rules set to zero, so there is nothing to fit (error);
    * rc3 > W/2: a triplet's distances are then not all minimum-image ones
      (the j–k distance is measured between the images nearest to i), so the
      set of triplets is not closed under the space group and the FC3 basis
      breaks the crystal's symmetry (error);
    * rc2 > W/2: pairs are still well defined (minimum image), but periodic
      images of a pair overlap and the constants mix them (warning).

    Returns
    -------
    list of str
        Warnings (rc2 beyond W/2).

    Raises
    ------
    SettingsError
        For the errors above, naming the valid range d_nn < rc ≤ W/2.
    """
    where = f" of {reference.path}" if reference.path else ""
    nn = reference.nearest_neighbour_distance() if reference.n_atoms > 1 else np.inf
    half = 0.5 * float(reference.widths().min())
    valid = f"give a cutoff above {nn:.3f} Å (nearest neighbours) and at most {half:.3f} Å (half the shortest " \
            "supercell width)"
    for name, rc, what in (("rc2", rc2, "pair"), ("rc3", rc3, "triplet")):
        if rc is not None and rc <= nn:
            raise SettingsError(f"{name} = {rc:g} Å includes no pair of distinct atoms: the nearest-neighbour "
                                f"distance{where} is {nn:.3f} Å and every distance in a {what} must be below the "
                                f"cutoff, so only on-site terms remain, which the acoustic sum rules set to zero; "
                                f"{valid}")
    if rc3 is not None and rc3 > half * (1.0 + 1e-9):
        raise SettingsError(f"rc3 = {rc3:g} Å exceeds half the shortest supercell width ({half:.3f} Å): the distances "
                            "of a triplet are then not all minimum-image ones, so its periodic images break the "
                            f"crystal's symmetry and the FC3 basis is ill-defined; {valid}, or use a larger "
                            "supercell")
    out = []
    if rc2 > half:
        out.append(f"rc2 = {rc2:g} Å exceeds half the shortest supercell width ({half:.3f} Å): periodic images of a "
                   "cluster overlap and the fitted constants mix them; use a larger supercell or a smaller cutoff "
                   f"(at most {half:.3f} Å)")
    return out


def build_basis(reference: Reference, rc2: float, rc3: float | None = None,
                symprec: float = 1e-3) -> ForceConstantBasis:
    """Symmetry-adapted FC2 (and FC3) parametrisation with exact acoustic sum rules.

    Parameters
    ----------
    reference : Reference
        Ideal supercell.
    rc2, rc3 : float
        Cutoffs, Å: a cluster is kept when all its pair distances are below the cutoff.
    symprec : float
        spglib tolerance, Å.

    Raises
    ------
    SettingsError
        For cutoffs that include no pair, or an rc3 beyond half the supercell width (:func:`check_cutoffs`).
    """
    if rc2 <= 0 or (rc3 is not None and rc3 <= 0):
        raise SettingsError(f"cutoffs must be positive, got rc2={rc2}, rc3={rc3}")
    check_cutoffs(reference, rc2, rc3)
    symmetry = supercell_symmetry(reference, symprec)
    fc2 = build_order_basis(reference, symmetry, 2, rc2)
    z2 = _null_space(fc2.sum_rule_matrix(), 1e-10)
    fc3 = z3 = None
    if rc3 is not None:
        fc3 = build_order_basis(reference, symmetry, 3, rc3)
        z3 = _null_space(fc3.sum_rule_matrix(), 1e-10)
    return ForceConstantBasis(symmetry=symmetry, fc2=fc2, fc3=fc3, z2=z2, z3=z3)


@njit(parallel=True, cache=True)
def _design_fc2(u, trans, clusters, start, count, basis, out):  # pragma: no cover - numba
    """out[f, 3i+α, start+p] += Σ_β basis[c, p, α, β] u[f, j, β] over clusters c = (i, j), all translations."""
    n_f = u.shape[0]
    n_t = trans.shape[0]
    for job in prange(n_f * n_t):
        f = job // n_t
        t = job % n_t
        for c in range(clusters.shape[0]):
            i = trans[t, clusters[c, 0]]
            j = trans[t, clusters[c, 1]]
            u0, u1, u2 = u[f, j, 0], u[f, j, 1], u[f, j, 2]
            for p in range(count[c]):
                col = start[c] + p
                for a in range(3):
                    out[f, 3 * i + a, col] += basis[c, p, a, 0] * u0 + basis[c, p, a, 1] * u1 + basis[c, p, a, 2] * u2


@njit(parallel=True, cache=True)
def _design_fc3(u, trans, clusters, start, count, basis, out):  # pragma: no cover - numba
    """out[f, 3i+α, start+p] += Σ_βγ basis[c, p, α, 3β+γ] u[f, j, β] u[f, k, γ] over clusters c = (i, j, k)."""
    n_f = u.shape[0]
    n_t = trans.shape[0]
    for job in prange(n_f * n_t):
        f = job // n_t
        t = job % n_t
        w = np.empty(9)
        for c in range(clusters.shape[0]):
            i = trans[t, clusters[c, 0]]
            j = trans[t, clusters[c, 1]]
            k = trans[t, clusters[c, 2]]
            for b in range(3):
                for g in range(3):
                    w[3 * b + g] = u[f, j, b] * u[f, k, g]
            for p in range(count[c]):
                col = start[c] + p
                for a in range(3):
                    acc = 0.0
                    for bg in range(9):
                        acc += basis[c, p, a, bg] * w[bg]
                    out[f, 3 * i + a, col] += acc
