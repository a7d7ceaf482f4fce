"""Trajectory readers, one module per format, registered in :mod:`mdvib.io.registry`."""

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
