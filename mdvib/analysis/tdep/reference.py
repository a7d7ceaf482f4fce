"""Ideal reference supercell and the snapshot → displacement mapping.

TDEP fits forces against displacements from an ideal lattice, so every
snapshot atom must be paired with its reference site. Trajectory atoms arrive
sorted by id (the readers do that, which undoes MPI-shuffled LAMMPS dumps);
they are paired with reference atoms by id when the reference has ids and by
order otherwise, and the pairing is verified by position (minimum image). When
that check fails the atoms are matched by nearest site instead (files whose
atom order differs from the reference), and an error names the atom and the
distance when no one-to-one match exists.

Before the pairing, the reference cell is compared with the trajectory's
(:func:`align_cell`): the two must be the same lattice, up to a rotation
(LAMMPS turns every cell into its lower-triangular form, so a POSCAR and the
data file LAMMPS writes from it differ by one) and a strain of at most
:data:`CELL_STRAIN_TOLERANCE`. The rotation is applied to the forces, so the
fit is done in the reference's frame.

Displacements are minimum-image in fractional coordinates of each frame's
cell, mapped back with the reference cell, so wrapped coordinates, drift
across the boundary and (small) cell fluctuations are handled alike. Per
snapshot the centre-of-mass shift and the mean force are removed.

Species: a LAMMPS data file names its types by number only;
:func:`lammps_data_type_map` gives them elements from the ``Atom Type Labels``
section or, failing that, from the masses (:func:`species_from_masses`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mdvib.errors import MissingDataError, SettingsError, TrajectoryFormatError
from mdvib.io.base import FrameChunk
from mdvib.io.lammps_data import read_lammps_data

#: A snapshot atom farther than this fraction of the nearest-neighbour distance
#: from its reference site is an error (wrong reference, diffusion, melting).
DEFAULT_TOLERANCE_FRACTION = 0.4

#: Largest principal strain between the reference cell and the trajectory's
#: (after removing a rotation): beyond it the reference is another lattice
#: (a wrong lattice constant shifts every frequency without lowering R²).
#: An NPT box fluctuates by well under this.
CELL_STRAIN_TOLERANCE = 0.01

#: A rotation closer than this to the identity (largest element of Q − 1) is not applied.
_ROTATION_EPS = 1e-10

#: A mass names an element when that element's standard atomic mass is within
#: this (amu) and at least :data:`MASS_MARGIN_AMU` nearer than any other element's.
MASS_TOLERANCE_AMU = 0.5
MASS_MARGIN_AMU = 0.1


@dataclass(frozen=True)
class Reference:
    """Ideal (undisplaced) supercell.

    Attributes
    ----------
    cell : ndarray, shape (3, 3)
        Cell vectors as rows, Å.
    positions : ndarray, shape (N, 3)
        Cartesian positions, Å.
    species : tuple of str, length N
        Chemical symbols.
    masses : ndarray, shape (N,)
        Masses, amu.
    atom_ids : ndarray, shape (N,), int64, or None
        Atom ids (LAMMPS data files), or ``None`` when the file has none.
    path : str
        Source file ("" when built from arrays).
    """

    cell: np.ndarray
    positions: np.ndarray
    species: tuple[str, ...]
    masses: np.ndarray
    atom_ids: np.ndarray | None = None
    path: str = ""

    @property
    def n_atoms(self) -> int:
        """Atoms in the supercell."""
        return self.positions.shape[0]

    @property
    def scaled_positions(self) -> np.ndarray:
        """Fractional coordinates wrapped into [0, 1), shape (N, 3)."""
        frac = self.positions @ np.linalg.inv(self.cell)
        return frac - np.floor(frac)

    def widths(self) -> np.ndarray:
        """Distances between opposite cell faces, Å, shape (3,)."""
        volume = abs(np.linalg.det(self.cell))
        a, b, c = self.cell
        return volume / np.linalg.norm([np.cross(b, c), np.cross(c, a), np.cross(a, b)], axis=1)

    def nearest_neighbour_distance(self) -> float:
        """Shortest distance between two atoms (minimum image), Å."""
        from scipy.spatial import cKDTree

        shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)
        positions = self.scaled_positions @ self.cell
        images = (positions[None, :, :] + (shifts @ self.cell)[:, None, :]).reshape(-1, 3)  # 27 periodic images
        distances, _ = cKDTree(images).query(positions, k=2)
        return float(distances[:, 1].min())

    def to_ase(self):
        """The reference as an :class:`ase.Atoms` (periodic)."""
        from ase import Atoms

        return Atoms(symbols=list(self.species), positions=self.positions, cell=self.cell, pbc=True,
                     masses=self.masses)

    @classmethod
    def from_ase(cls, atoms, path: str = "") -> Reference:
        """Build from an :class:`ase.Atoms` (ids taken from the ``id`` array when present)."""
        ids = atoms.arrays.get("id")
        return cls(
            cell=np.array(atoms.cell[:], float),
            positions=np.array(atoms.positions, float),
            species=tuple(atoms.get_chemical_symbols()),
            masses=np.array(atoms.get_masses(), float),
            atom_ids=None if ids is None else np.asarray(ids, dtype=np.int64),
            path=path,
        )


def read_reference(path: str | Path, format: str | None = None, type_map: dict[int, str] | None = None) -> Reference:
    """Read the ideal supercell from a LAMMPS data file or any ASE-readable file.

    Parameters
    ----------
    path : str or Path
        Structure file. ``*.data``/``*.lmp`` (or ``format="lammps-data"``) are
        read as LAMMPS data files with ``atom_style atomic``, metal units
        (:func:`mdvib.io.lammps_data.read_lammps_data`).
    format : str, optional
        ASE format name; guessed from the file name when omitted.
    type_map : dict, optional
        ``{type: symbol}`` for LAMMPS data files whose types are numbers.

    Raises
    ------
    SettingsError
        If the file cannot be read or holds no periodic cell.
    """
    path = Path(path)
    if not path.exists():
        raise SettingsError(f"{path}: reference structure not found")
    if is_lammps_data(path, format):
        data = read_lammps_data(path, type_map)
        reference = Reference(cell=data.cell, positions=data.positions, species=data.species, masses=data.masses,
                              atom_ids=data.atom_ids, path=str(path))
    else:
        import ase.io

        try:
            atoms = ase.io.read(path, format=format)
        except Exception as exc:  # ASE raises many types for unreadable files
            raise SettingsError(f"{path}: cannot read the reference structure ({exc}); "
                                "give a LAMMPS data file (atom_style atomic) or an ASE-readable file") from exc
        reference = Reference.from_ase(atoms, path=str(path))
    if abs(np.linalg.det(reference.cell)) < 1e-6:
        raise SettingsError(f"{path}: the reference structure has no periodic cell")
    return reference


def is_lammps_data(path: str | Path, format: str | None = None) -> bool:
    """Whether :func:`read_reference` reads ``path`` as a LAMMPS data file."""
    return format == "lammps-data" or (format is None and Path(path).suffix in (".data", ".lmp"))


def species_from_masses(masses: dict[int, float], path: str | Path = "") -> dict[int, str]:
    """Element of each LAMMPS type from its mass: the element of nearest standard atomic mass.

    A mass names an element when that element's standard atomic mass (ASE's
    table) is within :data:`MASS_TOLERANCE_AMU` and at least
    :data:`MASS_MARGIN_AMU` nearer than any other element's.

    Parameters
    ----------
    masses : dict
        ``{type: mass in amu}``.
    path : str or Path
        The file the masses come from (for messages).

    Raises
    ------
    SettingsError
        If a mass is near no element (an isotope, a coarse-grained bead) or
        near several (e.g. 40.0: Ar 39.948 or Ca 40.078); the message asks for ``--types``.
    """
    from ase.data import atomic_masses, chemical_symbols

    table = np.asarray(atomic_masses[1:], float)  # without the dummy element X
    symbols = chemical_symbols[1:]
    out = {}
    for atom_type, mass in sorted(masses.items()):
        distance = np.abs(table - float(mass))
        first, second = np.argsort(distance)[:2]
        where = f"{path}: " if path else ""
        if distance[first] > MASS_TOLERANCE_AMU:
            raise SettingsError(
                f"{where}the mass {mass:g} amu of type {atom_type} is {distance[first]:.3g} amu from the nearest "
                f"element ({symbols[first]}, {table[first]:g} amu): cannot tell the element (an isotope?); give "
                "the elements with --types (e.g. --types 1=Si)")
        if distance[second] - distance[first] < MASS_MARGIN_AMU:
            raise SettingsError(
                f"{where}the mass {mass:g} amu of type {atom_type} is ambiguous: {symbols[first]} "
                f"({table[first]:g} amu) or {symbols[second]} ({table[second]:g} amu); give the elements with "
                "--types (e.g. --types 1=Si)")
        out[int(atom_type)] = symbols[first]
    return out


def lammps_data_type_map(path: str | Path) -> dict[int, str] | None:
    """``{type: element}`` of a LAMMPS data file, from its ``Atom Type Labels`` or its ``Masses``.

    Labels that are element symbols win; the other types get the element of
    their mass (:func:`species_from_masses`).

    Returns
    -------
    dict or None
        ``None`` when the file has neither section (or is not readable as text).

    Raises
    ------
    SettingsError
        If a type has neither an element label nor a mass, or its mass names no element unambiguously.
    """
    from ase.data import atomic_numbers

    path = Path(path)
    try:
        lines = path.read_text().splitlines()[1:]  # the first line is a title
    except (OSError, UnicodeDecodeError):
        return None
    sections: dict[str, dict[int, str]] = {}
    section = None
    for raw in lines:
        line = raw.split("#")[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0][0].isalpha():
            section = line if line in ("Masses", "Atom Type Labels") else None
            if section is not None:
                sections[section] = {}
            continue
        if section is not None and len(words) >= 2 and words[0].isdigit():
            sections[section][int(words[0])] = words[1]
    labels, masses = sections.get("Atom Type Labels", {}), sections.get("Masses", {})
    if not labels and not masses:
        return None
    out = {t: label for t, label in labels.items() if label in atomic_numbers and label != "X"}
    rest = {}
    for t in sorted(set(labels) | set(masses)):
        if t in out:
            continue
        if t not in masses:
            raise SettingsError(f"{path}: type {t} has no mass and its label {labels[t]!r} is not an element; "
                                "give the elements with --types (e.g. --types 1=Si)")
        try:
            rest[t] = float(masses[t])
        except ValueError:
            raise SettingsError(f"{path}: cannot read the mass {masses[t]!r} of type {t}") from None
    out.update(species_from_masses(rest, path))
    return dict(sorted(out.items()))


class PeriodicSites:
    """Look up which site lies at a fractional position, periodic, within a tolerance.

    Sites are hashed on a grid of 1/``GRID`` in fractional coordinates; a query
    whose grid cell differs from its site's (a coordinate next to a cell edge)
    falls back to a direct minimum-image search for that query alone. For ideal
    lattices almost every query is a hash hit, so matching N images costs O(N log N)
    without a k-d tree (scipy.spatial's import alone takes ~0.5 s).

    Parameters
    ----------
    frac : ndarray, shape (N, 3)
        Fractional coordinates of the sites.
    cell : ndarray, shape (3, 3)
        Cell vectors as rows, Å (for the tolerance).
    tolerance : float
        Largest distance between a query and its site, Å.
    """

    GRID = 10000

    def __init__(self, frac: np.ndarray, cell: np.ndarray, tolerance: float):
        self.frac = np.mod(frac, 1.0)
        self.cell = cell
        self.tolerance = tolerance
        keys = self._keys(self.frac)
        self.order = np.argsort(keys)
        self.sorted_keys = keys[self.order]

    def _keys(self, frac: np.ndarray) -> np.ndarray:
        k = np.rint(np.mod(frac, 1.0) * self.GRID).astype(np.int64) % self.GRID
        return (k[:, 0] * self.GRID + k[:, 1]) * self.GRID + k[:, 2]

    def query(self, frac: np.ndarray) -> np.ndarray:
        """Site index at each fractional position (shape (M, 3)); −1 where none is within the tolerance."""
        keys = self._keys(frac)
        pos = np.clip(np.searchsorted(self.sorted_keys, keys), 0, len(self.sorted_keys) - 1)
        index = np.where(self.sorted_keys[pos] == keys, self.order[pos], -1)
        hit = index >= 0
        if hit.any():
            far = _mic_distances(frac[hit], self.frac[index[hit]], self.cell) > self.tolerance
            index[np.flatnonzero(hit)[far]] = -1
        for m in np.flatnonzero(index < 0):
            dist = _mic_distances(self.frac, frac[m][None, :], self.cell)
            best = int(np.argmin(dist))
            if dist[best] <= self.tolerance:
                index[m] = best
        return index


@dataclass(frozen=True)
class AtomMap:
    """Pairing of trajectory atoms with reference sites.

    Attributes
    ----------
    order : ndarray, shape (N,), int64
        ``order[r]`` is the trajectory atom (index in id-sorted order) that sits
        on reference site ``r``.
    method : str
        ``"id"`` (ids or order verified by position) or ``"position"`` (nearest site).
    max_distance : float
        Largest atom–site distance in the frame used for the pairing, Å.
    tolerance : float
        Distance above which an atom is reported, Å.
    rotation : ndarray, shape (3, 3), or None
        Orthogonal Q taking reference-frame vectors to the trajectory's frame
        (``v_traj = v_ref @ Q``); forces are turned back with ``f @ Q.T``.
        ``None`` when the frames coincide.
    """

    order: np.ndarray
    method: str
    max_distance: float
    tolerance: float
    rotation: np.ndarray | None = None


def _mic_distances(frac_a: np.ndarray, frac_b: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Minimum-image distances between rows of ``frac_a`` and ``frac_b`` (same shape), Å."""
    delta = frac_a - frac_b
    delta -= np.round(delta)
    return np.linalg.norm(delta @ cell, axis=-1)


def cell_parameters(cell: np.ndarray) -> str:
    """``a, b, c = … Å; α, β, γ = …°`` of a cell (rows)."""
    lengths = np.linalg.norm(cell, axis=1)
    a, b, c = cell
    angles = [np.degrees(np.arccos(np.clip(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)), -1.0, 1.0)))
              for x, y in ((b, c), (a, c), (a, b))]
    return ("a, b, c = " + ", ".join(f"{x:.4f}" for x in lengths) + " Å; α, β, γ = "
            + ", ".join(f"{x:.2f}" for x in angles) + "°")


def align_cell(reference: Reference, cell: np.ndarray, path: str, frame: int | None = None,
               tolerance: float = CELL_STRAIN_TOLERANCE) -> np.ndarray | None:
    """Rotation between the reference's frame and a trajectory cell of the same lattice.

    The cells (rows) are related by L_traj = L_ref · M. M's polar decomposition
    M = S·Q (SVD) gives the stretch S, whose principal values λ are compared with
    1, and the orthogonal Q (a reflection too, for a left-handed reference).

    Parameters
    ----------
    reference : Reference
    cell : ndarray, shape (3, 3)
        The trajectory's cell (rows), Å.
    path : str
        Trajectory file (for messages).
    frame : int, optional
        Index of that cell's frame in the file (for messages).
    tolerance : float
        Largest accepted principal strain max|λ − 1|.

    Returns
    -------
    ndarray, shape (3, 3), or None
        Q with ``v_traj = v_ref @ Q``; ``None`` when the frames coincide.

    Raises
    ------
    TrajectoryFormatError
        If the strain exceeds ``tolerance`` (another lattice constant, shape or
        choice of cell vectors); the message gives both cells and the strain.
    """
    ref_cell = np.asarray(reference.cell, float)
    cell = np.asarray(cell, float)
    m = np.linalg.solve(ref_cell, cell)
    w, stretch, vt = np.linalg.svd(m)
    strain = float(np.abs(stretch - 1.0).max())
    if strain > tolerance:
        name = reference.path or "structure"
        volume_ratio = abs(np.linalg.det(cell) / np.linalg.det(ref_cell))
        if abs(volume_ratio - 1.0) <= tolerance:
            cause = ("the volumes agree, so the cell vectors are chosen differently or the cell is sheared: give the "
                     "reference with the trajectory's cell vectors, in the same order (LAMMPS: its write_data file)")
        else:
            cause = (f"the volumes differ by a factor {volume_ratio:.4f} (lattice constants by "
                     f"{volume_ratio ** (1 / 3):.4f}): the displacements, hence the force constants and every "
                     "frequency, would refer to the wrong lattice without lowering R²; give the ideal supercell at "
                     "the MD's cell (its mean cell for NPT), e.g. the structure LAMMPS ran (write_data) or the "
                     "reference rescaled to the trajectory's lattice constant")
        raise TrajectoryFormatError(
            path, f"the cell of the trajectory ({cell_parameters(cell)}) and of the reference {name} "
            f"({cell_parameters(ref_cell)}) differ by a strain of {100 * strain:.2f} % (principal stretches "
            + ", ".join(f"{x:.4f}" for x in stretch) + f"; at most {100 * tolerance:g} % is accepted, up to a "
            f"rotation): {cause}", frame=frame)
    rotation = w @ vt
    if np.abs(rotation - np.eye(3)).max() < _ROTATION_EPS:
        return None
    return rotation


def map_atoms(reference: Reference, traj_ids: np.ndarray, traj_species: tuple[str, ...],
              positions: np.ndarray, cell: np.ndarray, path: str,
              tolerance: float | None = None, frame: int | None = None) -> AtomMap:
    """Pair trajectory atoms (id-sorted) with reference sites using one frame.

    Parameters
    ----------
    reference : Reference
    traj_ids : ndarray, shape (N,)
        Atom ids of the trajectory, ascending.
    traj_species : tuple of str
        Species of the trajectory atoms, in the same order.
    positions : ndarray, shape (N, 3)
        One frame, Å.
    cell : ndarray, shape (3, 3)
        That frame's cell, Å.
    path : str
        Trajectory file (for messages).
    tolerance : float, optional
        Largest allowed atom–site distance, Å; default 0.4 × nearest-neighbour distance.
    frame : int, optional
        Index of the frame in the file (for messages).

    Raises
    ------
    TrajectoryFormatError
        If the atom counts differ, the cells are not the same lattice
        (:func:`align_cell`), or no one-to-one pairing within ``tolerance``
        exists (names the atom and its distance).
    """
    n = reference.n_atoms
    if positions.shape[0] != n:
        raise TrajectoryFormatError(
            path, f"the trajectory has {positions.shape[0]} atoms but the reference {reference.path or 'structure'} "
            f"has {n}; give the ideal supercell the MD was run in (same size and atoms)")
    rotation = align_cell(reference, cell, path, frame)
    if tolerance is None:
        tolerance = DEFAULT_TOLERANCE_FRACTION * reference.nearest_neighbour_distance()
    ref_frac = reference.scaled_positions
    frac = positions @ np.linalg.inv(cell)

    # 1. by id (reference ids) or by order, verified by position
    if reference.atom_ids is not None:
        lookup = {int(a): k for k, a in enumerate(traj_ids)}
        missing = [int(a) for a in reference.atom_ids if int(a) not in lookup]
        order = None if missing else np.array([lookup[int(a)] for a in reference.atom_ids], dtype=np.int64)
    else:
        order = np.arange(n, dtype=np.int64)
    if order is not None:
        dist = _mic_distances(frac[order], ref_frac, reference.cell)
        if dist.max() <= tolerance:
            _check_species(reference, traj_species, order, traj_ids, path)
            return AtomMap(order=order, method="id", max_distance=float(dist.max()), tolerance=tolerance,
                           rotation=rotation)

    # 2. nearest reference site of every atom, one-to-one
    from scipy.spatial import cKDTree

    # search in Cartesian space over the 27 neighbouring images of the reference
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)
    images = ((ref_frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3)) @ reference.cell
    tree = cKDTree(images)
    wrapped = (frac - np.floor(frac)) @ reference.cell
    dist, index = tree.query(wrapped)
    site = index % n
    worst = int(np.argmax(dist))
    if dist[worst] > tolerance:
        raise TrajectoryFormatError(
            path, f"is {dist[worst]:.3f} Å from the nearest reference site (tolerance {tolerance:.3f} Å): "
            "the reference does not match the trajectory (other lattice, supercell, origin or atom order), "
            "or atoms have diffused", atom_id=int(traj_ids[worst]))
    counts = np.bincount(site, minlength=n)
    if counts.max() > 1:
        doubled = int(np.argmax(counts))
        atoms = np.flatnonzero(site == doubled)
        raise TrajectoryFormatError(
            path, f"atoms with ids {', '.join(str(int(traj_ids[a])) for a in atoms)} are all nearest to reference "
            f"site {doubled}; the reference does not match the trajectory")
    order = np.empty(n, dtype=np.int64)
    order[site] = np.arange(n)
    _check_species(reference, traj_species, order, traj_ids, path)
    return AtomMap(order=order, method="position", max_distance=float(dist.max()), tolerance=tolerance,
                   rotation=rotation)


def map_first_frame(reference: Reference, trajectory, selection, tolerance: float | None = None) -> AtomMap:
    """Pair a trajectory's atoms with reference sites using its first selected frame (:func:`map_atoms`).

    Parameters
    ----------
    reference : Reference
    trajectory : mdvib.trajectory.Trajectory
    selection : mdvib.trajectory.FrameSelection
        The analysed frames; the first one is read.
    tolerance : float, optional
        As :func:`map_atoms`.
    """
    from mdvib.trajectory import FrameSelection

    chunks = trajectory.iter_chunks(FrameSelection(selection.start, selection.start + 1, 1), chunk_frames=1)
    try:
        first = next(chunks)
    finally:
        chunks.close()
    return map_atoms(reference, trajectory.info.atom_ids, trajectory.species, first.positions[0], first.cells[0],
                     trajectory.path, tolerance, frame=selection.start)


def _check_species(reference: Reference, traj_species, order, traj_ids, path) -> None:
    for site, atom in enumerate(order):
        if traj_species[atom] != reference.species[site]:
            raise TrajectoryFormatError(
                path, f"is {traj_species[atom]} but sits on a {reference.species[site]} site of the reference; "
                "check --types (LAMMPS type → element) and the reference file", atom_id=int(traj_ids[atom]))


def snapshot_displacements(reference: Reference, atom_map: AtomMap, chunk: FrameChunk, traj_ids: np.ndarray,
                           path: str, file_frames: np.ndarray,
                           remove_drift: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Displacements and forces of a chunk in reference order.

    Parameters
    ----------
    reference : Reference
    atom_map : AtomMap
    chunk : FrameChunk
        Frames with forces.
    traj_ids : ndarray, shape (N,)
        Ids of the trajectory atoms (for messages).
    path : str
        Trajectory file (for messages).
    file_frames : ndarray, shape (n_frames,)
        Index in the file of each frame of the chunk (for messages).
    remove_drift : bool
        Subtract the mass-weighted mean displacement (centre-of-mass shift) and
        the mean force of every snapshot.

    Returns
    -------
    u : ndarray, shape (n_frames, N, 3)
        Minimum-image displacements, Å, in the reference's frame.
    f : ndarray, shape (n_frames, N, 3)
        Forces, eV/Å, in the reference's frame (turned by ``atom_map.rotation``).

    Raises
    ------
    MissingDataError
        If the chunk has no forces.
    TrajectoryFormatError
        If an atom is farther than the map's tolerance from its site.
    """
    if chunk.forces is None:
        raise MissingDataError(f"{path}: the trajectory has no forces; TDEP fits forces against displacements — "
                               "dump them (LAMMPS: dump ... id type x y z fx fy fz)")
    inv_cell = np.linalg.inv(chunk.cells)  # (n, 3, 3)
    ref_frac = reference.scaled_positions
    pos = chunk.positions[:, atom_map.order]
    frac = np.einsum("fnj,fjk->fnk", pos, inv_cell)
    delta = frac - ref_frac[None]
    delta -= np.round(delta)
    u = delta @ reference.cell
    if remove_drift:
        masses = reference.masses
        com = np.einsum("n,fnk->fk", masses, u) / masses.sum()
        u -= com[:, None, :]
    dist = np.linalg.norm(u, axis=-1)
    frame, site = np.unravel_index(int(np.argmax(dist)), dist.shape)
    if dist[frame, site] > atom_map.tolerance:
        raise TrajectoryFormatError(
            path, f"is {dist[frame, site]:.3f} Å from its reference site {site} "
            f"(tolerance {atom_map.tolerance:.3f} Å): "
            "the atom has left its site (diffusion, melting, a defect) or the reference does not match",
            frame=int(file_frames[frame]), atom_id=int(traj_ids[atom_map.order[site]]))
    f = np.array(chunk.forces[:, atom_map.order], dtype=np.float64)
    if atom_map.rotation is not None:
        f = f @ atom_map.rotation.T  # into the reference's frame, where u is
    if remove_drift:
        f -= f.mean(axis=1, keepdims=True)
    return u, f
