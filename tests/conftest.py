"""Fixtures shared by the test suite.

* :func:`read_all` — every chunk of a reader or :class:`~mdvib.trajectory.Trajectory`
  concatenated into one dict of arrays;
* :func:`write_ipi_xyz` — an i-PI xyz trajectory (``# CELL(abcABC): ... Step: ... Bead: ...``);
* :func:`stored_gzip` — a gzip file of uncompressed deflate blocks, optionally damaged at a known block.

Plain helpers that are not fixtures (SW-Si supercells and snapshots with
LAMMPS forces, LAMMPS dump text) live in :mod:`tests.lammps_helpers`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: Per-frame fields of a chunk that :func:`read_all` concatenates.
CHUNK_FIELDS = ("positions", "velocities", "forces", "cells", "times", "steps", "dipoles")


def concatenate_chunks(chunks) -> dict:
    """One dict of the fields of consecutive chunks (``None`` where the chunks have none)."""
    chunks = list(chunks)
    out = {"first_frames": [c.first_frame for c in chunks], "unwrapped": chunks[0].unwrapped if chunks else None}
    for name in CHUNK_FIELDS:
        values = [getattr(c, name) for c in chunks]
        out[name] = None if not values or values[0] is None else np.concatenate(values)
    return out


@pytest.fixture(scope="session")
def read_all():
    """``read_all(source, chunk_frames=2, **kwargs)``: every chunk of a reader or Trajectory, concatenated.

    ``kwargs`` go to ``iter_chunks`` (``start``/``stop`` for readers,
    ``selection``/``from_positions`` ... for trajectories). Returns a dict
    with ``positions``, ``velocities``, ``forces``, ``cells``, ``times``,
    ``steps``, ``dipoles`` (arrays or ``None``), ``first_frames`` and
    ``unwrapped`` (of the first chunk).
    """

    def read(source, chunk_frames: int = 2, **kwargs) -> dict:
        return concatenate_chunks(source.iter_chunks(chunk_frames=chunk_frames, **kwargs))

    return read


@pytest.fixture(scope="session")
def write_ipi_xyz():
    """``write_ipi_xyz(path, values, cellpar, name, unit, cell_unit, steps, symbols, bead=0)``: an i-PI xyz file.

    ``values`` (n_frames, n_atoms, 3) in ``unit``; ``cellpar`` (n_frames, 6)
    a b c α β γ in ``cell_unit``; ``name`` the i-PI trajectory (``positions``,
    ``forces`` ...; empty for a header without units, i.e. atomic units).
    """

    def write(path: Path, values, cellpar, name: str, unit: str, cell_unit: str, steps, symbols,
              bead: int = 0) -> Path:
        with open(path, "w") as fh:
            for f, step in enumerate(steps):
                unit_text = f"  {name}{{{unit}}}  cell{{{cell_unit}}}" if name else ""
                fh.write(f"{len(symbols)}\n# CELL(abcABC): " + "  ".join(repr(float(x)) for x in cellpar[f]))
                fh.write(f"  Step: {int(step):10d}  Bead: {bead:5d}{unit_text}\n")
                for i, s in enumerate(symbols):
                    fh.write(f"{s:>8s} " + " ".join(repr(float(x)) for x in values[f, i]) + "\n")
        return Path(path)

    return write


@pytest.fixture(scope="session")
def stored_gzip():
    """``stored_gzip(data, block=1000, bad_block=None) -> bytes``: a gzip file of uncompressed deflate blocks.

    Each ``block`` bytes of ``data`` are one stored block, so damage lands at a
    known place: ``bad_block=k`` spoils the length check of block k (zlib:
    "invalid stored block lengths" after ``k * block`` good bytes).
    """
    import struct
    import zlib

    def build(data: bytes, block: int = 1000, bad_block: int | None = None) -> bytes:
        out = bytearray(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # gzip header, no name, mtime 0
        for k, lo in enumerate(range(0, len(data), block)):
            chunk = data[lo : lo + block]
            n = len(chunk)
            check = (~n & 0xFFFF) ^ (1 if k == bad_block else 0)
            out += bytes([1 if lo + block >= len(data) else 0]) + struct.pack("<HH", n, check) + chunk
        out += struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
        return bytes(out)

    return build
