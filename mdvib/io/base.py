"""Reader interface shared by every trajectory format.

A reader turns one file into a stream of :class:`FrameChunk` objects in mdvib's
internal units (Å, fs, amu, eV, e). It declares the units it read in
:attr:`TrajectoryInfo.source_units` and never loads more than one chunk of
frames at a time.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mdvib.errors import SettingsError


@dataclass(frozen=True)
class TrajectoryInfo:
    """Static description of a trajectory, known before frames are read.

    Attributes
    ----------
    path : str
        Source file.
    format : str
        Registry name of the reader (``lammps-dump``, ``extxyz``, ...).
    n_atoms : int
        Atoms per frame (constant).
    n_frames : int
        Number of complete frames in the file.
    atom_ids : ndarray, shape (n_atoms,), int64
        Atom ids in the order every chunk uses (sorted ascending when the
        format has ids, else 0..n_atoms-1).
    species : tuple of str, length n_atoms
        Chemical symbol of each atom.
    masses : ndarray, shape (n_atoms,), float64
        Atomic masses in amu.
    has_velocities, has_forces, has_dipoles : bool
        Which per-frame quantities chunks carry.
    frame_spacing_fs : float or None
        Time between consecutive frames in fs, when the file (plus the user's
        ``dt``) determines it; ``None`` when unknown, uneven, or the file has
        a single frame.
    source_units : dict
        Unit of each quantity as stored in the file (e.g.
        ``{"velocity": "A/ps", "time": "step"}``), for provenance.
    uniform_spacing : bool
        ``False`` when the recorded times or steps show frames that are not
        evenly spaced (then ``frame_spacing_fs`` is ``None``).
    uneven_frame : int or None
        With ``uniform_spacing`` false: the first frame whose distance from
        the frame before differs from the distance between frames 0 and 1.
    unit_styles : tuple of str
        The values of the reader's ``units`` option (command line
        ``--units``: LAMMPS unit styles ``metal``/``real``) that would change
        how this file's velocities are converted. Empty when that option
        does not apply: the reader has none for this file (ASE, i-PI xyz,
        MDAnalysis formats that carry their own units), or the file states
        its units (``ITEM: UNITS`` in a LAMMPS dump, H5MD ``unit``
        attributes).
    """

    path: str
    format: str
    n_atoms: int
    n_frames: int
    atom_ids: np.ndarray
    species: tuple[str, ...]
    masses: np.ndarray
    has_velocities: bool
    has_forces: bool
    has_dipoles: bool = False
    frame_spacing_fs: float | None = None
    source_units: dict = field(default_factory=dict)
    uniform_spacing: bool = True
    uneven_frame: int | None = None
    unit_styles: tuple[str, ...] = ()


@dataclass
class FrameChunk:
    """A block of consecutive frames in internal units.

    Attributes
    ----------
    first_frame : int
        0-based index of the first frame of the chunk in the file.
    steps : ndarray, shape (n,), int64 or None
        MD step number of each frame when the file records it.
    times : ndarray, shape (n,), float64 or None
        Time of each frame in fs when known.
    cells : ndarray, shape (n, 3, 3), float64
        Cell vectors as rows, Å.
    positions : ndarray, shape (n, n_atoms, 3), float64
        Cartesian positions in Å. Unwrapped when ``unwrapped`` is true.
    unwrapped : bool
        Whether positions are continuous in time (not folded into the cell).
    velocities : ndarray, shape (n, n_atoms, 3), float64 or None
        Å/fs.
    forces : ndarray, shape (n, n_atoms, 3), float64 or None
        eV/Å.
    dipoles : ndarray, shape (n, 3), float64 or None
        Total dipole, e·Å.
    """

    first_frame: int
    cells: np.ndarray
    positions: np.ndarray
    unwrapped: bool = False
    steps: np.ndarray | None = None
    times: np.ndarray | None = None
    velocities: np.ndarray | None = None
    forces: np.ndarray | None = None
    dipoles: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """Number of frames in the chunk."""
        return self.positions.shape[0]


class TrajectoryReader(abc.ABC):
    """Base class of all readers.

    Subclasses implement :meth:`_scan` (build :class:`TrajectoryInfo`) and
    :meth:`iter_chunks`. Constructors take the path plus keyword options
    (``units``, ``dt_fs``, ...) and must not read frames beyond what
    :meth:`_scan` needs.
    """

    #: Registry name, set by subclasses.
    format_name: str = ""

    def __init__(self, path: str | Path, **options):
        self.path = Path(path)
        self.options = options
        self._info: TrajectoryInfo | None = None

    @property
    def info(self) -> TrajectoryInfo:
        """Static description of the file (scanned on first access)."""
        if self._info is None:
            self._info = self._scan()
        return self._info

    @abc.abstractmethod
    def _scan(self) -> TrajectoryInfo:
        """Read headers/index and return the trajectory description."""

    def iter_chunks(self, chunk_frames: int = 64, start: int = 0, stop: int | None = None) -> Iterator[FrameChunk]:
        """Yield consecutive frames ``start <= i < stop`` in chunks of ``chunk_frames``.

        Atoms are always in the order of :attr:`TrajectoryInfo.atom_ids`.
        ``stop=None`` means the end of the file; a ``stop`` beyond it is clipped.

        Raises
        ------
        SettingsError
            For ``chunk_frames < 1`` or a negative ``start``/``stop``.
        TrajectoryFormatError
            For malformed data (NaN, changed atom count, duplicated ids,
            non-increasing steps, truncated frames), naming file, frame and atom.
        """
        if chunk_frames < 1:
            raise SettingsError(f"chunk_frames must be >= 1, got {chunk_frames}")
        if start < 0 or (stop is not None and stop < 0):
            raise SettingsError(f"{self.path}: frame range start={start} stop={stop} must not be negative")
        n_frames = self.info.n_frames
        stop = n_frames if stop is None else min(stop, n_frames)
        frames = range(start, max(start, stop))
        if frames:
            yield from self._iter_frames(frames, chunk_frames)

    @abc.abstractmethod
    def _iter_frames(self, frames: range, chunk_frames: int) -> Iterator[FrameChunk]:
        """Yield the (non-empty, validated) frame range in chunks of ``chunk_frames``."""
