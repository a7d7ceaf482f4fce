"""The LAMMPS dump reader's fast paths against slow, independent ones.

* the next chunk parsed in a background thread while the caller works on the
  current one, with the frames of a chunk split between kernel threads:
  identical arrays to a pure-Python parse (``str.split`` + ``float``) of the
  same file, for shuffled ids, every chunk size, gzip input, a truncated last
  frame and a last line without a newline; errors still name their frame; a
  caller that stops early leaves nothing running;
* the scan's repeated-header shortcut (only the step line differs): boxes
  that change between frames and a damaged repeated header are still seen.
"""

from __future__ import annotations

import gzip
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from mdvib.errors import TrajectoryFormatError
from mdvib.io.lammps_dump import LammpsDumpReader, TruncatedDumpWarning
from tests.lammps_helpers import dump_text

N_ATOMS = 23
N_FRAMES = 37


def frames(n_frames: int = N_FRAMES, n_atoms: int = N_ATOMS, seed: int = 5) -> list:
    """[(step, rows id type x y z vx vy vz)] with ids scattered over 1..1000 and shuffled in every frame."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(1, 1000), n_atoms, replace=False)
    out = []
    for k in range(n_frames):
        rows = np.column_stack([ids, np.ones(n_atoms), rng.uniform(-5, 15, (n_atoms, 3)),
                                rng.normal(size=(n_atoms, 3)) * 10.0 ** rng.integers(-3, 3, (n_atoms, 1))])
        out.append((5 * k, rows[rng.permutation(n_atoms)]))
    return out


def python_parse(text: str) -> dict:
    """Independent parse: steps, cells (orthogonal), positions and velocities (Å/ps) sorted by id."""
    lines = text.splitlines()
    steps, cells, positions, velocities = [], [], [], []
    i = 0
    while i < len(lines):
        n = int(lines[i + 3])
        bounds = [[float(t) for t in lines[i + 5 + k].split()] for k in range(3)]
        table = np.array([[float(t) for t in ln.split()] for ln in lines[i + 9 : i + 9 + n]])
        table = table[np.argsort(table[:, 0])]
        steps.append(int(lines[i + 1]))
        cells.append(np.diag([hi - lo for lo, hi in bounds]))
        positions.append(table[:, 2:5])
        velocities.append(table[:, 5:8])
        i += 9 + n
    return {"steps": np.array(steps), "cells": np.array(cells), "positions": np.array(positions),
            "velocities": np.array(velocities)}


def read(path: Path, chunk_frames: int, **kw) -> dict:
    """Every chunk of the reader, concatenated (velocities back in Å/ps)."""
    chunks = list(LammpsDumpReader(path, units="metal", type_map={1: "Si"}, **kw).iter_chunks(chunk_frames))
    assert [c.first_frame for c in chunks] == list(np.cumsum([0] + [c.n_frames for c in chunks[:-1]]))
    return {"steps": np.concatenate([c.steps for c in chunks]),
            "cells": np.concatenate([c.cells for c in chunks]),
            "positions": np.concatenate([c.positions for c in chunks]),
            "velocities": np.concatenate([c.velocities for c in chunks]) * 1e3}


def assert_same(ours: dict, reference: dict, n_frames: int | None = None) -> None:
    for key, want in reference.items():
        np.testing.assert_array_equal(ours[key], want[:n_frames], err_msg=key)


@pytest.mark.parametrize("chunk_frames", [1, 2, 5, 36, 37, 64])
def test_pipelined_chunks_equal_a_python_parse(tmp_path, chunk_frames):
    text = dump_text(frames())
    path = tmp_path / "shuffled.dump"
    path.write_text(text)
    # velocities: the reader's Å/fs times 1e3 is not bit-exact Å/ps; compare through the same factor
    ours = read(path, chunk_frames)
    want = python_parse(text)
    want["velocities"] = want["velocities"] * 1e-3 * 1e3
    assert_same(ours, want)


def test_gzip_and_plain_give_identical_arrays(tmp_path):
    text = dump_text(frames())
    plain = tmp_path / "a.dump"
    plain.write_text(text)
    packed = tmp_path / "a.dump.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert_same(read(packed, 4), read(plain, 4))


@pytest.mark.parametrize("cut", [40, 200, 700])  # inside a line (values missing), lines missing
def test_truncated_last_frame_is_dropped_in_every_chunking(tmp_path, cut):
    text = dump_text(frames())
    path = tmp_path / "cut.dump"
    path.write_text(text[:-cut])
    want = python_parse(dump_text(frames()[:-1]))
    want["velocities"] = want["velocities"] * 1e-3 * 1e3
    for chunk_frames in (1, 3, 64):
        with pytest.warns(TruncatedDumpWarning, match=f"frame {N_FRAMES - 1} is truncated"):
            assert_same(read(path, chunk_frames), want)


@pytest.mark.parametrize("chunk_frames", [1, 4, 64])
def test_last_line_without_newline_is_parsed_from_a_padded_copy(tmp_path, chunk_frames):
    text = dump_text(frames())
    whole, bare = tmp_path / "whole.dump", tmp_path / "bare.dump"
    whole.write_text(text)
    bare.write_text(text.rstrip("\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(read(bare, chunk_frames), read(whole, chunk_frames))


def test_bad_value_in_a_later_chunk_names_its_frame_and_atom(tmp_path):
    data = frames()
    step, rows = data[29]
    rows = rows.copy()
    text = dump_text(data)
    bad_id = int(rows[3, 0])
    lines = text.splitlines(keepends=True)
    start = [k for k, ln in enumerate(lines) if ln.startswith("ITEM: ATOMS")][29] + 1
    k = next(i for i in range(start, start + N_ATOMS) if lines[i].split()[0] == str(bad_id))
    fields = lines[k].split()
    fields[6] = "nan"
    lines[k] = " ".join(fields) + "\n"
    path = tmp_path / "bad.dump"
    path.write_text("".join(lines))
    reader = LammpsDumpReader(path, units="metal", type_map={1: "Si"})
    seen = []
    with pytest.raises(TrajectoryFormatError, match=r"frame 29.*non-finite value .* column 'vy'") as info:
        for chunk in reader.iter_chunks(4):
            seen.append(chunk.first_frame)
    assert str(bad_id) in str(info.value)
    assert seen == list(range(0, 28, 4))  # every chunk before the bad one arrived, in order


def test_stopping_early_leaves_no_parser_thread_and_the_file_reads_again(tmp_path):
    text = dump_text(frames())
    path = tmp_path / "a.dump"
    path.write_text(text)
    reader = LammpsDumpReader(path, units="metal", type_map={1: "Si"})
    for _ in range(3):
        chunks = reader.iter_chunks(2)
        first = next(chunks)
        chunks.close()  # a parse of the next chunk may be running: it finishes before the file is closed
        assert first.first_frame == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("mdvib-dump")]
    assert_same(read(path, 8), read(path, 1))


def test_box_change_and_damaged_repeated_header_are_seen_by_the_scan(tmp_path):
    data = frames(n_frames=6)
    box = "ITEM: BOX BOUNDS pp pp pp\n0 10\n0 10\n0 10\n"
    grown = "ITEM: BOX BOUNDS pp pp pp\n0 10\n0 10.5\n0 10\n"
    text = "".join(dump_text([f], box=grown if k in (3, 4) else box) for k, f in enumerate(data))
    path = tmp_path / "npt.dump"
    path.write_text(text)
    cells = read(path, 2)["cells"]
    np.testing.assert_array_equal(cells[:, 1, 1], [10, 10, 10, 10.5, 10.5, 10])
    np.testing.assert_array_equal(read(path, 2)["steps"], [f[0] for f in data])
    # frame 2 repeats frame 1's header but for a bad step; frame 1's atom count is damaged
    for old, new, frame in (("ITEM: TIMESTEP\n10\n", "ITEM: TIMESTEP\n1x0\n", 2),
                            (f"ITEM: TIMESTEP\n5\nITEM: NUMBER OF ATOMS\n{N_ATOMS}\n",
                             f"ITEM: TIMESTEP\n5\nITEM: NUMBER OF ATOMS\n{N_ATOMS}x\n", 1)):
        bad = tmp_path / "bad_header.dump"
        bad.write_text(text.replace(old, new))
        with pytest.raises(TrajectoryFormatError, match=f"frame {frame}.*malformed frame header"):
            LammpsDumpReader(bad, units="metal", type_map={1: "Si"}).info  # noqa: B018


def test_an_empty_frame_range_yields_nothing(tmp_path):
    path = tmp_path / "a.dump"
    path.write_text(dump_text(frames(n_frames=3)))
    assert list(LammpsDumpReader(path, units="metal", type_map={1: "Si"}).iter_chunks(2, start=2, stop=2)) == []
