"""mdvib.io._gzip.GzipStream: the decompressed bytes of good, concatenated, truncated and damaged gzip files."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest

from mdvib.errors import TrajectoryFormatError
from mdvib.io._compression import CorruptDataError
from mdvib.io._gzip import CorruptGzipError, GzipStream

DATA = b"".join(b"%d %s\n" % (i, np.random.default_rng(i).bytes(6).hex().encode()) for i in range(20000))


def read_in_pieces(path, size: int) -> bytes:
    with GzipStream(path) as stream:
        parts = []
        while block := stream.read(size):
            parts.append(block)
        return b"".join(parts)


def test_good_files_read_like_gzip(tmp_path):
    plain = tmp_path / "a.gz"
    plain.write_bytes(gzip.compress(DATA))
    members = tmp_path / "members.gz"  # concatenated members, zero padding (as tape writers leave)
    members.write_bytes(gzip.compress(DATA[:1234]) + gzip.compress(DATA[1234:]) + b"\0" * 7)
    named = io.BytesIO()  # a header with FNAME (GzipFile writes the file name)
    with gzip.GzipFile(filename="dump.lammpstrj", mode="wb", fileobj=named, mtime=0) as fh:
        fh.write(DATA)
    (tmp_path / "named.gz").write_bytes(named.getvalue())
    for path in (plain, members, tmp_path / "named.gz"):
        for size in (-1, 777, 1 << 20):
            assert read_in_pieces(path, size) == DATA, (path, size)
    with GzipStream(plain) as stream:  # seeking forward and back, readinto
        stream.seek(123_456)
        buffer = bytearray(1000)
        assert stream.readinto(buffer) == 1000 and bytes(buffer) == DATA[123_456:124_456]
        stream.seek(10)
        assert stream.read(5) == DATA[10:15] and stream.tell() == 15 and not stream.truncated


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_file_reads_to_where_it_ends(tmp_path, keep):
    raw = gzip.compress(DATA)
    path = tmp_path / "cut.gz"
    path.write_bytes(raw[: int(len(raw) * keep)])
    with GzipStream(path) as stream:
        got = stream.read()
        assert stream.truncated and 0 < len(got) < len(DATA) and got == DATA[: len(got)]
        assert stream.read() == b""


def test_file_cut_inside_the_trailer_is_truncated_not_corrupt(tmp_path):
    path = tmp_path / "trailer.gz"
    path.write_bytes(gzip.compress(DATA)[:-3])
    with GzipStream(path) as stream:
        assert stream.read() == DATA and stream.truncated


@pytest.mark.parametrize("where, reason", [(-6, "CRC check failed"), (-2, "length check failed")])
def test_bad_trailer_is_raised_after_the_data(tmp_path, where, reason):
    raw = bytearray(gzip.compress(DATA))
    raw[where] ^= 0xFF
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(raw))
    with GzipStream(path) as stream:
        assert stream.read(len(DATA)) == DATA  # every byte first, the check after
        with pytest.raises(CorruptGzipError, match=reason) as err:
            stream.read()
    assert isinstance(err.value, TrajectoryFormatError) and err.value.offset == len(DATA)
    assert isinstance(err.value, CorruptDataError) and err.value.codec.tool == "gzip"  # one error type per codec family
    assert str(err.value).startswith(f"{path}: the gzip data are corrupt ({reason})")


def test_damaged_deflate_data_name_their_offset(tmp_path, stored_gzip):
    path = tmp_path / "stored.gz"
    path.write_bytes(stored_gzip(DATA[:20_000], block=1000, bad_block=7))
    with GzipStream(path) as stream:
        good = stream.read()
        with pytest.raises(CorruptGzipError, match="invalid stored block lengths") as err:
            stream.read()
    assert good == DATA[: len(good)] and 6900 <= len(good) <= 7000 and err.value.offset == len(good)


def test_garbage_after_the_stream(tmp_path):
    path = tmp_path / "garbage.gz"
    path.write_bytes(gzip.compress(DATA) + b"not gzip")
    with pytest.raises(CorruptGzipError, match="data after the end of the gzip stream"):
        read_in_pieces(path, -1)
