"""In-memory trajectories from NumPy arrays (like MDAnalysis' MemoryReader).

Used to analyse data produced in Python (an ASE MD run, a model) without
writing a file, and by the tests' analytic cases.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from mdvib.errors import SettingsError
from mdvib.io._common import check_chunk_finite
from mdvib.io._masses import masses_for_species
from mdvib.io.base import FrameChunk, TrajectoryInfo, TrajectoryReader


class ArrayReader(TrajectoryReader):
    """Serve frames from arrays already in internal units.

    Parameters
    ----------
    positions : ndarray, shape (n_frames, n_atoms, 3)
        Å (treated as unwrapped).
    species : sequence of str, length n_atoms
        Chemical symbols.
    dt_fs : float
        Time between frames, fs.
    velocities : ndarray, shape (n_frames, n_atoms, 3), optional
        Å/fs.
    forces : ndarray, shape (n_frames, n_atoms, 3), optional
        eV/Å.
    cells : ndarray, shape (3, 3) or (n_frames, 3, 3), optional
        Cell vectors as rows, Å (default: a large cubic box).
    masses : ndarray, shape (n_atoms,), optional
        amu (default: standard atomic masses of ``species``).
    name : str
        Label used in messages and provenance.
    """

    format_name = "memory"

    def __init__(self, positions, species: Sequence[str], dt_fs: float, velocities=None, forces=None,
                 cells=None, masses=None, name: str = "<memory>"):
        super().__init__(name)
        self.positions = np.asarray(positions, dtype=np.float64)
        if self.positions.ndim != 3 or self.positions.shape[2] != 3:
            raise SettingsError(f"positions must have shape (n_frames, n_atoms, 3), got {self.positions.shape}")
        n_frames, n_atoms, _ = self.positions.shape
        self.velocities = None if velocities is None else np.asarray(velocities, dtype=np.float64)
        self.forces = None if forces is None else np.asarray(forces, dtype=np.float64)
        for label, arr in (("velocities", self.velocities), ("forces", self.forces)):
            if arr is not None and arr.shape != self.positions.shape:
                raise SettingsError(f"{label} shape {arr.shape} differs from positions {self.positions.shape}")
        if len(species) != n_atoms:
            raise SettingsError(f"{len(species)} species given for {n_atoms} atoms")
        cells = np.eye(3) * 1.0e3 if cells is None else np.asarray(cells, dtype=np.float64)
        self.cells = np.broadcast_to(cells, (n_frames, 3, 3)) if cells.ndim == 2 else cells
        self.species = tuple(species)
        self.masses = masses_for_species(self.species) if masses is None else np.asarray(masses, dtype=np.float64)
        self.dt_fs = float(dt_fs)

    def _scan(self) -> TrajectoryInfo:
        n_frames, n_atoms, _ = self.positions.shape
        return TrajectoryInfo(
            path=str(self.path), format=self.format_name, n_atoms=n_atoms, n_frames=n_frames,
            atom_ids=np.arange(n_atoms, dtype=np.int64), species=self.species, masses=self.masses,
            has_velocities=self.velocities is not None, has_forces=self.forces is not None,
            frame_spacing_fs=self.dt_fs, source_units={"length": "A", "time": "fs", "velocity": "A/fs"},
        )

    def _iter_frames(self, frames: range, chunk_frames: int) -> Iterator[FrameChunk]:
        for lo in range(frames.start, frames.stop, chunk_frames):
            hi = min(lo + chunk_frames, frames.stop)
            chunk = FrameChunk(
                first_frame=lo, cells=self.cells[lo:hi], positions=self.positions[lo:hi], unwrapped=True,
                times=np.arange(lo, hi) * self.dt_fs,
                velocities=None if self.velocities is None else self.velocities[lo:hi],
                forces=None if self.forces is None else self.forces[lo:hi],
            )
            check_chunk_finite(self.path, chunk, self.info.atom_ids)
            yield chunk
