"""Supercell ↔ (unit cell, basis atom) bookkeeping and the commensurate wave vectors of an SED.

The spectral energy density sums velocities over the unit cells l of the MD
supercell with the phase e^{iq·R_l} of each cell's lattice point R_l
(docs/physics.md, "Spectral energy density"), so every atom of the ideal
reference supercell must be assigned a lattice point and a basis atom of a
unit cell:

* the unit cell is the one the user gives, or spglib's primitive cell of the
  reference's repeat unit in the reference's orientation (``no_idealize``),
  shifted so that one of its basis atoms of atom 0's species sits on atom 0
  (the one that puts every atom on a site: with two sites of one species, as
  in diamond, the first one need not be atom 0's);
* the supercell matrix P (supercell = P · unit cell, rows) must be integral;
* an atom at r is basis atom b of the cell at R = n·A when (r − r_b)·A⁻¹ = n
  is integral, n reduced modulo the supercell; every (cell, b) must occur
  exactly once, in whatever order the atoms come.

Only q with q·L_j ∈ 2πℤ for the supercell vectors L_j are meaningful (other q
mix the cells' phases with the supercell's periodic images). With q given in
reduced coordinates k of the unit cell's reciprocal lattice (q = 2π A⁻¹ k),
that is P·k ∈ ℤ³. A q off that grid is refused and the nearest allowed one is
named; a high-symmetry path (ASE's :meth:`ase.cell.Cell.bandpath`, which
keeps the given cell's orientation and knows the 2D lattices, unlike seekpath)
is sampled at exactly the commensurate points on each of its segments.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import warnings

import numpy as np

from mdvib.analysis.tdep.reference import Reference
from mdvib.errors import SettingsError

#: An atom farther than this fraction of the nearest-neighbour distance from its lattice site is an error.
SITE_TOLERANCE_FRACTION = 0.1
#: A reduced coordinate within this of an integer counts as integral (P·k, cell offsets).
INTEGRAL_TOLERANCE = 1e-5
#: A cell axis along which the atoms leave a gap wider than this (Å) is treated as vacuum (2D slab).
VACUUM_GAP_A = 5.0


@dataclasses.dataclass(frozen=True)
class CellBasisMap:
    """Assignment of the reference supercell's atoms to unit cells and basis atoms.

    Attributes
    ----------
    unit_cell : ndarray, shape (3, 3)
        Unit-cell vectors A as rows, Å.
    basis_positions : ndarray, shape (n_basis, 3)
        Cartesian positions r_b of the basis atoms, Å (in the reference's frame).
    basis_species : tuple of str, length n_basis
        Chemical symbol of each basis atom.
    basis_masses : ndarray, shape (n_basis,)
        Mass of each basis atom, amu.
    supercell : ndarray, shape (3, 3)
        Supercell vectors L = P·A as rows, Å.
    supercell_matrix : ndarray, shape (3, 3), int64
        P.
    basis_index : ndarray, shape (n_atoms,), int64
        Basis atom b of each reference atom.
    cell_index : ndarray, shape (n_atoms,), int64
        Unit cell (0 … n_cells − 1) of each reference atom.
    lattice_points : ndarray, shape (n_atoms, 3)
        Lattice point R of each reference atom's cell, Å.
    periodic : tuple of bool, length 3
        Per unit-cell axis: ``False`` along the vacuum of a slab (or wire);
        used for the Brillouin-zone path (2D lattices).
    nearest_neighbour_a : float
        Shortest distance between two atoms of the crystal, Å (sets the
        tolerance of the mapping of trajectory atoms to sites).
    """

    unit_cell: np.ndarray
    basis_positions: np.ndarray
    basis_species: tuple[str, ...]
    basis_masses: np.ndarray
    supercell: np.ndarray
    supercell_matrix: np.ndarray
    basis_index: np.ndarray
    cell_index: np.ndarray
    lattice_points: np.ndarray
    periodic: tuple[bool, bool, bool]
    nearest_neighbour_a: float

    @property
    def n_basis(self) -> int:
        """Atoms per unit cell."""
        return len(self.basis_species)

    @property
    def n_cells(self) -> int:
        """Unit cells in the supercell, |det P|."""
        return int(round(abs(np.linalg.det(self.supercell_matrix))))

    def cartesian(self, reduced: np.ndarray) -> np.ndarray:
        """q in rad/Å (2π included) from reduced coordinates of the unit cell's reciprocal lattice, shape (n, 3)."""
        return 2.0 * np.pi * np.asarray(reduced, float) @ np.linalg.inv(self.unit_cell).T

    def phases(self, reduced: np.ndarray) -> np.ndarray:
        """e^{iq·R} of every reference atom's lattice point, shape (n_q, n_atoms), complex128."""
        return np.exp(1j * self.cartesian(reduced) @ self.lattice_points.T)


def primitive_cell(reference: Reference, symprec: float = 1e-3) -> Reference:
    """spglib's primitive cell of ``reference`` (not rotated), its vectors reordered to follow the reference's axes.

    spglib runs on the reference's repeat unit (:func:`repeat_unit`): the same
    crystal, but seconds faster than the 4096-atom supercell itself.
    """
    from mdvib.analysis.tdep.export import standard_unitcell

    primitive = standard_unitcell(repeat_unit(reference, symprec), symprec, primitive=True)
    return dataclasses.replace(primitive, cell=_aligned_axes(primitive.cell, reference.cell))


def repeat_unit(reference: Reference, tolerance_a: float = 1e-3) -> Reference:
    """The smallest cell a_i/n_i, along the reference's own axes, that the reference repeats n_1×n_2×n_3 times.

    For each axis, n is read from the atoms of atom 0's species lying on the
    line through atom 0 along that axis, and the translation a_i/n is checked
    on every atom (same species within ``tolerance_a``); divisors of n are
    tried when it fails. A reference that repeats nothing is returned as it is.
    """
    frac = np.mod(reference.scaled_positions, 1.0)
    species = np.asarray(reference.species)
    lengths = np.linalg.norm(reference.cell, axis=1)
    tolerance = tolerance_a / lengths.max()          # fractional: conservative on every axis
    tree = _PeriodicGrid(frac, tolerance)
    same = np.flatnonzero(species == species[0])
    offsets = frac[same] - frac[0]
    offsets -= np.rint(offsets)
    repeats = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        on_line = np.all(np.abs(offsets[:, others] * lengths[others]) < tolerance_a, axis=1)
        steps = np.mod(offsets[on_line, axis], 1.0)
        steps = steps[(steps > tolerance) & (steps < 1.0 - tolerance)]
        n = int(np.rint(1.0 / steps.min())) if steps.size else 1
        while n > 1 and not _is_translation(frac, species, tree, axis, n, tolerance):
            n = max(d for d in range(1, n) if n % d == 0)
        repeats.append(n)
    if repeats == [1, 1, 1]:
        return reference
    counts = np.array(repeats)
    inside = np.all(frac * counts < 1.0 - tolerance, axis=1)      # one atom of each translation orbit
    if inside.sum() * counts.prod() != len(frac):
        return reference                                           # atoms on the boundary within tolerance
    cell = reference.cell / counts[:, None]
    sub = frac[inside] * counts
    return Reference(cell=cell, positions=sub @ cell, species=tuple(species[inside]), masses=reference.masses[inside],
                     path=reference.path)


#: Largest unit cell whose nearest-neighbour distance is found by brute force (beyond: the supercell's k-d tree).
_BRUTE_FORCE_ATOMS = 64


def _crystal_nearest_neighbour(unit: Reference, reference: Reference) -> float:
    """Shortest distance between two atoms of the crystal, Å: from the unit cell's images within ±2 cells.

    The ideal supercell is the same crystal, but its 27 periodic images need
    a k-d tree (``Reference.nearest_neighbour_distance``; scipy.spatial takes
    ~0.25 s to import) where a unit cell of a few atoms needs a few hundred
    distances. Unit cells of more than :data:`_BRUTE_FORCE_ATOMS` atoms use
    the supercell's k-d tree.
    """
    if len(unit.species) > _BRUTE_FORCE_ATOMS or len(unit.species) == reference.n_atoms:
        return reference.nearest_neighbour_distance()
    cell = np.asarray(unit.cell, float)
    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3)), float) @ cell  # (125, 3)
    positions = np.asarray(unit.positions, float)
    delta = positions[:, None, None, :] - positions[None, :, None, :] + shifts[None, None, :, :]
    distances = np.linalg.norm(delta, axis=-1)  # (n, n, 125)
    distances[distances < 1e-12] = np.inf  # an atom and itself
    return float(distances.min())


def _is_translation(frac: np.ndarray, species: np.ndarray, tree: _PeriodicGrid, axis: int, n: int,
                    tolerance: float) -> bool:
    shift = np.zeros(3)
    shift[axis] = 1.0 / n
    distance, index = tree.query(np.mod(frac + shift, 1.0))
    return bool(np.all(distance < tolerance) and np.all(species[index] == species))


class _PeriodicGrid:
    """Nearest atoms within a tolerance, in fractional coordinates of a periodic cell, from a hash grid.

    Instead of ``scipy.spatial.cKDTree(frac, boxsize=1)`` (whose import alone
    takes ~0.25 s): the atoms are binned in cells at least twice the
    tolerance wide, so every atom within the tolerance of a query point lies
    in the point's bin or in the neighbouring bins on the sides of the
    point's half of its bin, and those 8 bins are looked up in the sorted
    bin keys.

    Parameters
    ----------
    frac : ndarray, shape (n_atoms, 3)
        Fractional positions in [0, 1).
    tolerance : float
        Fractional distance within which :meth:`query` must find the nearest atom.
    """

    def __init__(self, frac: np.ndarray, tolerance: float):
        self.frac = frac
        self.m = int(min(max(1.0, np.floor(0.5 / tolerance)), 2**20))  # bins per axis: width >= 2 tolerance
        keys = self._keys(np.floor(frac * self.m).astype(np.int64) % self.m)
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[-1], self.keys, [-1]])) != 0))
        self.most_per_bin = int(runs.max())

    def _keys(self, bins: np.ndarray) -> np.ndarray:
        return (bins[..., 0] * self.m + bins[..., 1]) * self.m + bins[..., 2]

    def query(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance to and index of the nearest atom of each point, when one lies within the tolerance.

        Returns
        -------
        distance : ndarray, shape (n_points,)
            Periodic fractional distance; ``inf`` where no atom is in the 8 bins searched.
        index : ndarray, shape (n_points,), int
            The atom (0 where none was found).
        """
        scaled = points * self.m
        bins = np.floor(scaled).astype(np.int64)
        side = np.where(scaled - bins < 0.5, -1, 1)  # the neighbour bin on the side of the point's half
        best = np.full(len(points), np.inf)
        index = np.zeros(len(points), dtype=np.int64)
        for step in itertools.product((0, 1), repeat=3):
            wanted = self._keys((bins + side * np.array(step)) % self.m)
            first = np.searchsorted(self.keys, wanted)
            for k in range(self.most_per_bin):  # atoms sharing a bin (closer than 2 tolerances: rare)
                at = np.minimum(first + k, len(self.keys) - 1)
                hit = self.keys[at] == wanted
                atom = self.order[at]
                delta = self.frac[atom] - points
                delta -= np.rint(delta)
                distance = np.where(hit, np.linalg.norm(delta, axis=1), np.inf)
                closer = distance < best
                best[closer] = distance[closer]
                index[closer] = atom[closer]
        return best, index


def _aligned_axes(lattice: np.ndarray, reference_cell: np.ndarray) -> np.ndarray:
    """The same lattice with its vectors reordered (and one negated if needed) to follow the reference's axes.

    spglib may return the vectors in any order; a slab's vacuum axis must stay
    the third for the 2D Brillouin zone, and labels read best when a, b, c
    keep their directions.
    """
    unit = lattice / np.linalg.norm(lattice, axis=1)[:, None]
    ref = reference_cell / np.linalg.norm(reference_cell, axis=1)[:, None]
    best = max(itertools.permutations(range(3)),
               key=lambda perm: sum(abs(float(unit[perm[i]] @ ref[i])) for i in range(3)))
    out = lattice[list(best)].copy()
    for i in range(3):  # point each vector along its reference axis where it has a component along it
        if out[i] @ ref[i] < -1e-8:
            out[i] = -out[i]
    if np.linalg.det(out) < 0:
        out[0] = -out[0]
    return out


def map_cells(reference: Reference, unitcell: Reference | None = None, symprec: float = 1e-3) -> CellBasisMap:
    """Assign every atom of the ideal supercell ``reference`` to a unit cell and a basis atom.

    Parameters
    ----------
    reference : Reference
        Ideal supercell the MD ran in (positions at their lattice sites).
    unitcell : Reference, optional
        Unit cell (primitive or not) in the reference's orientation; default
        spglib's primitive cell of the reference.
    symprec : float
        spglib tolerance (Å) for finding the primitive cell.

    Raises
    ------
    SettingsError
        If the supercell is not an integral multiple of the unit cell, or an
        atom sits on no site of the unit cell's lattice (the message names the
        atom and its distance), or the sites are not each filled once.
    """
    unit = unitcell if unitcell is not None else primitive_cell(reference, symprec)
    name = reference.path or "reference"
    cell = np.asarray(unit.cell, float)
    p_float = reference.cell @ np.linalg.inv(cell)
    p = np.rint(p_float).astype(np.int64)
    if np.abs(p_float - p).max() > 1e-3 or round(abs(np.linalg.det(p))) == 0:
        raise SettingsError(f"{name}: the supercell is not an integral multiple of the unit cell "
                            f"{unit.path or ''} (L·A⁻¹ = {np.round(p_float, 4).tolist()}); give the unit cell the "
                            "supercell was built from (--unitcell), in the same orientation")
    n_cells = int(round(abs(np.linalg.det(p))))
    if n_cells * len(unit.species) != reference.n_atoms:
        raise SettingsError(f"{name}: {reference.n_atoms} atoms, but {n_cells} unit cells of {len(unit.species)} "
                            f"atoms make {n_cells * len(unit.species)}: the unit cell does not match the supercell")
    basis = np.asarray(unit.positions, float)
    matches = [b for b, s in enumerate(unit.species) if s == reference.species[0]]
    if not matches:
        raise SettingsError(f"{name}: the unit cell has no {reference.species[0]} atom (atom 0 of the reference)")
    inverse = np.linalg.inv(cell)
    atoms = np.arange(reference.n_atoms)
    best = None
    for candidate in matches:   # the unit cell's origin is free: put each basis atom of atom 0's species on atom 0
        shifted = basis + (reference.positions[0] - basis[candidate])
        offsets = (reference.positions[:, None, :] - shifted[None, :, :]) @ inverse  # (N, n_basis, 3)
        mismatch = np.linalg.norm((offsets - np.rint(offsets)) @ cell, axis=2)
        basis_index = np.argmin(mismatch, axis=1)
        distance = mismatch[atoms, basis_index]
        if best is None or distance.max() < best[3].max():
            best = (shifted, offsets, basis_index, distance)
    basis, offsets, basis_index, distance = best
    nearest_neighbour = _crystal_nearest_neighbour(unit, reference)
    tolerance = SITE_TOLERANCE_FRACTION * nearest_neighbour
    worst = int(np.argmax(distance))
    if distance[worst] > tolerance:
        raise SettingsError(f"{name}: atom {worst} ({reference.species[worst]}) is {distance[worst]:.3f} Å from the "
                            f"nearest site of the unit cell's lattice (at most {tolerance:.3f} Å): the reference is "
                            "not the ideal supercell of this unit cell")
    wrong = np.flatnonzero(np.array(unit.species)[basis_index] != np.array(reference.species))
    if wrong.size:
        k = int(wrong[0])
        raise SettingsError(f"{name}: atom {k} is {reference.species[k]} but sits on a {unit.species[basis_index[k]]} "
                            "site of the unit cell")
    lattice = np.rint(offsets[atoms, basis_index]).astype(np.int64)  # (N, 3) cell offsets n
    in_supercell = lattice @ np.linalg.inv(p)
    keys = np.rint((in_supercell - np.floor(in_supercell + INTEGRAL_TOLERANCE)) * n_cells).astype(np.int64)
    _, cell_index = np.unique(keys, axis=0, return_inverse=True)
    cell_index = cell_index.reshape(-1)
    pairs = cell_index * len(unit.species) + basis_index
    if np.unique(pairs).size != reference.n_atoms:
        counts = np.bincount(pairs, minlength=n_cells * len(unit.species))
        twice = int(np.flatnonzero(counts > 1)[0])
        first, second = np.flatnonzero(pairs == twice)[:2]
        raise SettingsError(f"{name}: atoms {first} and {second} sit on the same site (basis atom "
                            f"{twice % len(unit.species)} of one cell): the reference has overlapping atoms")
    return CellBasisMap(
        unit_cell=cell, basis_positions=basis, basis_species=tuple(unit.species),
        basis_masses=np.asarray(unit.masses, float), supercell=np.asarray(reference.cell, float),
        supercell_matrix=p, basis_index=basis_index.astype(np.int64), cell_index=cell_index.astype(np.int64),
        lattice_points=lattice @ cell, periodic=_unit_cell_periodicity(cell, reference),
        nearest_neighbour_a=nearest_neighbour)


def _unit_cell_periodicity(unit_cell: np.ndarray, reference: Reference) -> tuple[bool, bool, bool]:
    """Per unit-cell axis: ``False`` when it runs along a vacuum axis of the reference."""
    vacuum = [reference.cell[j] for j, filled in enumerate(periodic_axes(reference)) if not filled]
    out = []
    for vector in unit_cell:
        cosines = [abs(vector @ v) / (np.linalg.norm(vector) * np.linalg.norm(v)) for v in vacuum]
        out.append(not any(c > 0.99 for c in cosines))
    return tuple(out)


def periodic_axes(reference: Reference, gap: float = VACUUM_GAP_A) -> tuple[bool, bool, bool]:
    """Whether the atoms fill each cell axis (``False`` where they leave a vacuum gap wider than ``gap`` Å)."""
    frac = np.sort(reference.scaled_positions, axis=0)
    widths = reference.widths()
    out = []
    for axis in range(3):
        values = frac[:, axis]
        gaps = np.diff(np.concatenate([values, [values[0] + 1.0]]))
        out.append(bool(gaps.max() * widths[axis] <= gap))
    return tuple(out)


# ----------------------------------------------------------------------------- q-points


@dataclasses.dataclass(frozen=True)
class QPoints:
    """Wave vectors of an SED.

    Attributes
    ----------
    reduced : ndarray, shape (n_q, 3)
        Reduced coordinates k of the unit cell's reciprocal lattice (q = 2π A⁻¹ k).
    distances : ndarray, shape (n_q,)
        Path coordinate, Å⁻¹ (2π included), continuous across path breaks.
    label_indices : ndarray, shape (n_labels,), int64
        q index of each labelled special point.
    labels : tuple of str
        The labels (``"G"`` is Γ).
    kind : str
        ``"path"``, ``"list"`` or ``"grid"``.
    """

    reduced: np.ndarray
    distances: np.ndarray
    label_indices: np.ndarray
    labels: tuple[str, ...]
    kind: str

    @property
    def n_q(self) -> int:
        """Number of wave vectors."""
        return self.reduced.shape[0]


def check_commensurate(cells: CellBasisMap, reduced: np.ndarray, what: str = "q") -> None:
    """Raise :class:`SettingsError` for a q the supercell cannot hold, naming the nearest one it can.

    Parameters
    ----------
    cells : CellBasisMap
    reduced : ndarray, shape (n_q, 3)
        Reduced coordinates of the unit cell's reciprocal lattice.
    what : str
        How to call the q-points in the message.
    """
    reduced = np.atleast_2d(np.asarray(reduced, float))
    grid = reduced @ cells.supercell_matrix.T
    off = np.abs(grid - np.rint(grid)).max(axis=1) > INTEGRAL_TOLERANCE
    if off.any():
        k = int(np.flatnonzero(off)[0])
        nearest = np.rint(grid[k]) @ np.linalg.inv(cells.supercell_matrix).T
        size = "×".join(str(int(n)) for n in np.abs(np.diag(cells.supercell_matrix))) \
            if np.count_nonzero(cells.supercell_matrix - np.diag(np.diag(cells.supercell_matrix))) == 0 \
            else f"P = {cells.supercell_matrix.tolist()}"
        raise SettingsError(f"{what} {_format(reduced[k])} (reduced, unit-cell reciprocal lattice) is not "
                            f"commensurate with the {size} supercell; the nearest allowed q is {_format(nearest)}")


def _format(vector: np.ndarray) -> str:
    return "(" + ", ".join(f"{x:.6g}" for x in np.asarray(vector, float) + 0.0) + ")"


def commensurate_grid(cells: CellBasisMap) -> QPoints:
    """All n_cells distinct commensurate q (reduced coordinates in [0, 1)), sorted by |q|."""
    p = cells.supercell_matrix
    corners = np.array(list(itertools.product((0, 1), repeat=3))) @ p  # P·k for k at the unit cube's corners
    low, high = corners.min(axis=0), corners.max(axis=0)
    m = np.array(list(itertools.product(*(range(int(a), int(b) + 1) for a, b in zip(low, high)))), float)
    k = m @ np.linalg.inv(p).T
    k = k - np.floor(k + INTEGRAL_TOLERANCE)
    k = np.unique(np.round(k, 9), axis=0)
    # fold into the cell around Γ (shortest Cartesian q of each class) for a readable order
    k = k - np.rint(k) * (np.abs(k - 1.0) < 0.5)
    k = k[np.argsort(np.linalg.norm(cells.cartesian(k), axis=1), kind="stable")]
    return QPoints(reduced=k, distances=np.zeros(len(k)), label_indices=np.array([0]), labels=("G",), kind="grid")


def explicit_qpoints(cells: CellBasisMap, reduced, labels: tuple[str, ...] | None = None) -> QPoints:
    """Given q (reduced coordinates, shape (n_q, 3)), checked for commensurability."""
    reduced = np.atleast_2d(np.asarray(reduced, float))
    if reduced.shape[1] != 3:
        raise SettingsError(f"q-points need 3 reduced coordinates each, got shape {reduced.shape}")
    check_commensurate(cells, reduced)
    steps = np.linalg.norm(np.diff(cells.cartesian(reduced), axis=0), axis=1)
    labels = labels or tuple(_format(k) for k in reduced)
    return QPoints(reduced=reduced, distances=np.concatenate([[0.0], np.cumsum(steps)]),
                   label_indices=np.arange(len(reduced)), labels=tuple(labels), kind="list")


def _split_path(path: str) -> list[list[str]]:
    """``"G X K G L"``, ``"GXKGL"`` or ``"G X, K G"`` → ``[["G", "X", ...], ...]`` (commas break the path)."""
    out = []
    for piece in path.split(","):
        names = re.findall(r"[A-Z][a-z0-9']*", piece.replace("Γ", "G"))
        if names:
            out.append(names)
    return out


def path_qpoints(cells: CellBasisMap, path: str = "auto") -> QPoints:
    """The commensurate q on a high-symmetry path of the unit cell's Brillouin zone.

    Parameters
    ----------
    cells : CellBasisMap
    path : str
        ``"auto"`` (ASE's standard path for the lattice, 2D for a slab), or
        special-point labels such as ``"G X K G L"``; a comma breaks the path.

    Returns
    -------
    QPoints
        On each segment, every commensurate q from its start to its end.

    Raises
    ------
    SettingsError
        For an unknown label (the message lists the lattice's special points),
        or a path that holds fewer than two commensurate q.

    Warns
    -----
    UserWarning
        When a special point itself is not commensurate (it is left out, and
        the nearest allowed q is named), or a segment holds fewer than two
        commensurate q (its points are left out).
    """
    from ase.cell import Cell

    bandpath = Cell(cells.unit_cell).bandpath(npoints=0, pbc=list(cells.periodic))
    special = {name: np.asarray(k, float) for name, k in bandpath.special_points.items()}
    pieces = _split_path(bandpath.path if path.strip().lower() == "auto" else path)
    if not pieces:
        raise SettingsError(f"path {path!r}: no special-point labels; known for this lattice: {sorted(special)}")
    for name in (n for piece in pieces for n in piece):
        if name not in special:
            raise SettingsError(f"path {path!r}: unknown special point {name!r}; this lattice "
                                f"({bandpath.cell.get_bravais_lattice().longname}) has "
                                + ", ".join(f"{n} {_format(k)}" for n, k in sorted(special.items())))
    reduced, distances, label_indices, labels = [], [], [], []
    position, last = 0.0, None
    for piece in pieces:
        last = None
        for start, end in zip(piece[:-1], piece[1:]):
            points = _segment_points(cells, special[start], special[end], f"{start}–{end}")
            for s, k in points:
                q = cells.cartesian(k[None])[0]
                if last is not None:
                    if np.allclose(k, reduced[-1]):
                        continue
                    position += float(np.linalg.norm(q - last))
                last = q
                reduced.append(k)
                distances.append(position)
                if s in (0.0, 1.0):
                    label_indices.append(len(reduced) - 1)
                    labels.append(start if s == 0.0 else end)
    if len(reduced) < 2:
        raise SettingsError(f"path {path!r} holds {len(reduced)} commensurate q in this supercell; use a larger "
                            "supercell, another path, --grid or --qpoints")
    keep = np.unique(np.array(label_indices), return_index=True)[1]
    return QPoints(reduced=np.array(reduced), distances=np.array(distances),
                   label_indices=np.array(label_indices)[np.sort(keep)],
                   labels=tuple(str(x) for x in np.array(labels)[np.sort(keep)]), kind="path")


def _segment_points(cells: CellBasisMap, start: np.ndarray, end: np.ndarray, name: str) -> list:
    """``(s, k)`` for the commensurate k = start + s (end − start), 0 ≤ s ≤ 1, ascending in s."""
    p = cells.supercell_matrix.astype(float)
    a, d = p @ start, p @ (end - start)
    candidates = {0.0, 1.0}
    for axis in np.flatnonzero(np.abs(d) > INTEGRAL_TOLERANCE):
        lo, hi = sorted((a[axis], a[axis] + d[axis]))
        for j in range(int(np.ceil(lo - INTEGRAL_TOLERANCE)), int(np.floor(hi + INTEGRAL_TOLERANCE)) + 1):
            candidates.add(float((j - a[axis]) / d[axis]))
    points = []
    for s in sorted(c for c in candidates if -INTEGRAL_TOLERANCE <= c <= 1 + INTEGRAL_TOLERANCE):
        s = min(max(s, 0.0), 1.0)
        grid = a + s * d
        if np.abs(grid - np.rint(grid)).max() <= INTEGRAL_TOLERANCE:
            points.append((0.0 if s < INTEGRAL_TOLERANCE else 1.0 if s > 1 - INTEGRAL_TOLERANCE else s,
                           start + s * (end - start)))
    for s, label_k in ((0.0, start), (1.0, end)):
        if not any(t == s for t, _ in points):
            grid = p @ label_k
            nearest = np.rint(grid) @ np.linalg.inv(p).T
            warnings.warn(f"segment {name}: the special point at {_format(label_k)} is not commensurate with the "
                          f"supercell (nearest allowed q {_format(nearest)}); it is left out", stacklevel=3)
    if len(points) < 2:
        warnings.warn(f"segment {name} holds {len(points)} commensurate q: the supercell is too small along it "
                      "(its points are left out; use a larger supercell or another path)", stacklevel=3)
    return points
