"""Compressed trajectory files (gzip, bzip2, xz) read as streams of their decompressed bytes.

Readers of text trajectories need from a compressed file what a plain file
gives: its bytes in order, seekable, with bounded memory. A file cut short
reads up to where its data end (so the last complete frame is kept, as for a
plain file cut short; :attr:`DecompressedStream.truncated` is then set), and
damaged data raise :class:`CorruptDataError` naming the file and how many
decompressed bytes came before the damage.

:class:`DecompressedStream` holds the file interface shared by every codec;
gzip is :class:`mdvib.io._gzip.GzipStream` (its own inflater, so every byte
before a damaged trailer is delivered first), bzip2 and xz are
:class:`LibraryStream` over the standard library's :mod:`bz2` and
:mod:`lzma` decompressors (which check their own block CRCs). Concatenated
streams are read as one, as ``bzip2 -dc``/``xz -dc`` do.
"""

from __future__ import annotations

import bz2
import lzma
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mdvib.errors import TrajectoryFormatError


@dataclass(frozen=True)
class Codec:
    """A compression format: how its files start and the command-line tool that tests and expands them."""

    name: str  # as in messages: "gzip", "bzip2", "xz"
    tool: str  # the program: "gzip", "bzip2", "xz"
    magic: tuple[bytes, ...]  # accepted starts of one stream


#: The compression formats mdvib reads, by name.
CODECS: dict[str, Codec] = {
    "gzip": Codec("gzip", "gzip", (b"\x1f\x8b",)),
    # "BZh", block size 1-9, then the block magic (pi) or the end-of-stream magic (sqrt(pi)) of an empty stream
    "bzip2": Codec("bzip2", "bzip2", tuple(
        b"BZh" + bytes([level]) + magic
        for level in b"123456789" for magic in (b"1AY&SY", b"\x17\x72\x45\x38\x50\x90")
    )),
    "xz": Codec("xz", "xz", (b"\xfd7zXZ\x00",)),
}
_LONGEST_MAGIC = max(len(m) for codec in CODECS.values() for m in codec.magic)


def compression_of(path: str | Path) -> Codec | None:
    """The :class:`Codec` ``path`` is compressed with (from its first bytes), or ``None`` for a plain file."""
    with open(path, "rb") as fh:
        head = fh.read(_LONGEST_MAGIC)
    for codec in CODECS.values():
        if head.startswith(codec.magic):
            return codec
    return None


def open_decompressed(path: str | Path) -> BinaryIO | DecompressedStream:
    """``path`` opened for reading its bytes: a :class:`DecompressedStream` when compressed, else the plain file."""
    codec = compression_of(path)
    if codec is None:
        return open(path, "rb")
    if codec.name == "gzip":
        from mdvib.io._gzip import GzipStream  # _gzip builds on this module

        return GzipStream(path)
    return LibraryStream(path, codec.name)


class CorruptDataError(TrajectoryFormatError):
    """Compressed data are damaged (bad check sum or length, invalid data, trailing garbage).

    Attributes
    ----------
    offset : int
        Decompressed bytes delivered before the damage was detected. Data
        before it came out of the decompressor but, for a checksum error, may
        themselves be wrong.
    reason : str
        What the decompressor or the trailer check reported.
    codec : Codec
        The compression format.
    """

    def __init__(self, path, offset: int, reason: str, codec: str):
        self.offset = offset
        self.reason = reason
        self.codec = CODECS[codec]
        super().__init__(
            path,
            f"the {self.codec.name} data are corrupt ({reason}) after {offset} decompressed bytes; "
            f"the file was damaged in writing or copying: test it with '{self.codec.tool} -t', and copy or "
            "recompress it from the original",
        )


class DecompressedStream:
    """Read-only, seekable file object of the decompressed bytes of a compressed file.

    Parameters
    ----------
    path : str or Path
        The compressed file.

    Attributes
    ----------
    codec : Codec
        The compression format.
    truncated : bool
        Set once the compressed data ended before their end marker: reads
        then stop at the last byte that could be decompressed, as at the end
        of a file.

    Notes
    -----
    Seeking forward decompresses and discards; seeking backward restarts from
    the beginning (as :class:`gzip.GzipFile` does). Damaged data raise
    :class:`CorruptDataError` from the first read that has no good bytes left
    to return: a read returns what decompressed before the damage, the next
    one raises. Subclasses implement :meth:`_reset` and :meth:`_decompress`.
    """

    #: Compressed bytes read from the file per step (also the granularity of error offsets).
    INPUT_BLOCK = 1 << 18
    codec: Codec

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open(self.path, "rb")
        self._rewind()

    def _rewind(self) -> None:
        self._fh.seek(0)
        self._input = b""  # compressed bytes read from the file, not yet given to the decompressor
        self._pos = 0  # decompressed offset of the next byte returned
        self._eof = False
        self._error: CorruptDataError | None = None  # raised by the next read (after the data before it)
        self.truncated = False
        self._reset()

    def _reset(self) -> None:
        """Put the decompressor in its state at the start of the file."""
        raise NotImplementedError

    def _decompress(self, limit: int, delivered: int) -> bytes:
        """At most ``limit`` (0: any number of) new decompressed bytes; ``b""`` at the end of the data.

        ``delivered`` counts bytes of the current read already decompressed (for error offsets).
        """
        raise NotImplementedError

    def _fill(self, n: int) -> bool:
        """Make ``self._input`` hold at least ``n`` bytes; ``False`` if the file ends first."""
        while len(self._input) < n:
            more = self._fh.read(self.INPUT_BLOCK)
            if not more:
                return False
            self._input += more
        return True

    def _next_stream(self, delivered: int) -> bool:
        """Check the magic of the next concatenated stream; ``False`` at the end of the file.

        Zero bytes between streams (xz stream padding, tape blocks) are skipped.
        A file that ends inside the magic is truncated.
        """
        while True:
            self._input = self._input.lstrip(b"\x00")
            if self._input or not self._fill(1):
                break
        if not self._input:
            return False
        self._fill(_LONGEST_MAGIC)
        if self._input.startswith(self.codec.magic):
            return True
        if any(m.startswith(self._input) for m in self.codec.magic):  # the file ends inside the magic
            self.truncated = True
            return False
        offset = self._pos + delivered
        what = f"not a {self.codec.name} file" if offset == 0 else f"data after the end of the {self.codec.name} stream"
        raise CorruptDataError(self.path, offset, what, self.codec.name)

    # ------------------------------------------------------------ file interface
    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that remain for ``size < 0``)."""
        parts = []
        have = 0
        try:
            while size < 0 or have < size:
                block = self._decompress(size - have if size >= 0 else 0, have)
                if not block:
                    break
                parts.append(block)
                have += len(block)
        except CorruptDataError as exc:
            if not parts:
                raise
            self._error = exc  # deliver the good bytes first; the next read raises
        data = b"".join(parts)
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` (a writable bytes-like object); return the number of bytes written."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move to decompressed byte ``offset`` (``whence`` 0 only); return it."""
        if whence != 0:
            raise ValueError(f"{type(self).__name__}.seek supports absolute positions only")
        if offset < self._pos:
            self._rewind()
        while self._pos < offset:
            if not self.read(min(offset - self._pos, 4 * self.INPUT_BLOCK)):
                break
        return self._pos

    def tell(self) -> int:
        """Decompressed offset of the next byte read."""
        return self._pos

    def close(self) -> None:
        self._fh.close()

    @property
    def closed(self) -> bool:
        return self._fh.closed

    def __enter__(self) -> DecompressedStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Decompressor factories of the codecs read through the standard library.
_LIBRARY_DECOMPRESSORS: dict[str, Callable[[], object]] = {
    "bzip2": bz2.BZ2Decompressor,
    "xz": lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ),
}


class LibraryStream(DecompressedStream):
    """bzip2 or xz data decompressed by :mod:`bz2` or :mod:`lzma` (see :class:`DecompressedStream`).

    Parameters
    ----------
    path : str or Path
        The compressed file.
    codec : {"bzip2", "xz"}
        Its format.

    Notes
    -----
    Both decompressors verify the check sums of their blocks; a mismatch or
    invalid data raise :class:`CorruptDataError` with the offset of the first
    byte of the read that met it (bytes of the damaged block that were not yet
    delivered are lost).
    """

    def __init__(self, path: str | Path, codec: str):
        self.codec = CODECS[codec]
        self._new_decompressor = _LIBRARY_DECOMPRESSORS[codec]
        super().__init__(path)

    def _reset(self) -> None:
        self._decomp = None  # decompressor of the current stream, None between streams

    def _decompress(self, limit: int, delivered: int) -> bytes:
        while True:
            if self._error is not None:
                raise self._error
            if self._eof:
                return b""
            if self._decomp is None:
                if not self._next_stream(delivered):
                    self._eof = True
                    return b""
                self._decomp = self._new_decompressor()
            data = b""
            if self._decomp.needs_input:
                data = self._input or self._fh.read(self.INPUT_BLOCK)
                self._input = b""
                if not data:
                    self.truncated = True  # the file ends inside a stream
                    self._eof = True
                    return b""
            try:
                out = self._decomp.decompress(data, limit or -1)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                self._eof = True
                self._error = CorruptDataError(self.path, self._pos + delivered, str(exc), self.codec.name)
                raise self._error from None
            if self._decomp.eof:
                self._input = self._decomp.unused_data
                self._decomp = None
            if out:
                return out
