"""Trajectory readers, one module per format, registered in :mod:`mdvib.io.registry`.

Besides the registered trajectory readers: :mod:`mdvib.io.memory` (arrays in
memory), :mod:`mdvib.io.ipi_beads` (the centroid of i-PI per-bead files),
:mod:`mdvib.io.lammps_data` (one structure from a LAMMPS data file) and
:mod:`mdvib.io.gpumd_outputs` (GPUMD's tabulated outputs). Unit conversions
come from :mod:`mdvib.units`; text-parsing numba kernels from
:mod:`mdvib.kernels.text_parsing`.
"""

from mdvib.io import ase_reader, extxyz, h5md, lammps_dump, mdanalysis_reader  # noqa: F401  (register)
from mdvib.io.base import FrameChunk, TrajectoryInfo, TrajectoryReader
from mdvib.io.registry import READERS, detect_format, open_reader, register_reader

__all__ = [
    "FrameChunk",
    "TrajectoryInfo",
    "TrajectoryReader",
    "READERS",
    "detect_format",
    "open_reader",
    "register_reader",
]
