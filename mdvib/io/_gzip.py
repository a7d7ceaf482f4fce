"""Gzip decompression that reports truncated and corrupt files instead of raising mid-read.

:class:`gzip.GzipFile` raises ``EOFError`` when a file ends before its end
marker (and drops the data decompressed in that call) and
``gzip.BadGzipFile``/``zlib.error`` for damaged data, deep inside a read.
Readers of text trajectories need instead: everything up to where a
truncated file ends (so the last complete frame is kept, as for a plain file
cut short), and for damaged data an mdvib error naming the file and where the
damage starts. :class:`GzipStream` is a :class:`~mdvib.io._compression.DecompressedStream`
over ``zlib`` doing that; concatenated gzip members are read as one stream.
"""

from __future__ import annotations

import zlib

from mdvib.io._compression import CODECS, CorruptDataError, DecompressedStream

_MAGIC = CODECS["gzip"].magic[0]


class CorruptGzipError(CorruptDataError):
    """The gzip data are damaged (bad CRC or length, invalid deflate data, trailing garbage).

    See :class:`~mdvib.io._compression.CorruptDataError` for the attributes.
    """

    def __init__(self, path, offset: int, reason: str):
        super().__init__(path, offset, reason, "gzip")


class GzipStream(DecompressedStream):
    """Read a gzip file as its decompressed bytes.

    Parameters
    ----------
    path : str or Path
        The ``.gz`` file.

    Attributes
    ----------
    truncated : bool
        Set once the compressed data ended before the gzip end marker: reads
        then stop at the last byte that could be decompressed, as at the end
        of a file.

    Notes
    -----
    Seeking, truncation and damage behave as described for
    :class:`~mdvib.io._compression.DecompressedStream`; damage raises
    :class:`CorruptGzipError`.
    """

    codec = CODECS["gzip"]

    def _reset(self) -> None:
        self._decomp = None  # raw-deflate decompressor of the current member, None between members
        self._crc = 0
        self._size = 0

    # ------------------------------------------------------------ decompression
    def _decompress(self, limit: int, delivered: int) -> bytes:
        """At most ``limit`` (0: any number of) new decompressed bytes; ``b""`` at the end of the data.

        ``delivered`` counts bytes of the current read already decompressed (for error offsets).
        Members are inflated as raw deflate streams and their CRC-32 and length
        checked here, so that every byte before a damaged trailer is delivered
        before the error is raised.
        """
        while True:
            if self._error is not None:
                raise self._error
            if self._eof:
                return b""
            if self._decomp is None and not self._start_member(delivered):
                self._eof = True
                return b""
            data = self._decomp.unconsumed_tail or self._input or self._fh.read(self.INPUT_BLOCK)
            self._input = b""
            if not data:
                self.truncated = True  # the file ends inside a member
                self._eof = True
                return b""
            saved = self._decomp.copy()
            try:
                out = self._decomp.decompress(data, limit)
            except zlib.error as exc:
                good = _salvage(saved, data)
                self._error = CorruptGzipError(self.path, self._pos + delivered + len(good), _reason(exc))
                self._eof = True
                if limit:
                    good = good[:limit]
                if not good:
                    raise self._error from None
                return good
            self._crc = zlib.crc32(out, self._crc)
            self._size += len(out)
            if self._decomp.eof:
                self._input = self._decomp.unused_data
                self._decomp = None
                self._check_trailer(delivered + len(out))
            if out:
                return out

    def _start_member(self, delivered: int) -> bool:
        """Parse the next member's gzip header; ``False`` at the end of the file (or inside a header)."""
        while True:  # gzip files may be padded with zeros after a member
            self._input = self._input.lstrip(b"\x00")
            if self._input or not self._fill(1):
                break
        if not self._input:
            return False
        offset = self._pos + delivered
        if not self._fill(2) or self._input[:2] != _MAGIC:
            if self._input[:1] == _MAGIC[:1] and len(self._input) < 2:
                self.truncated = True
                return False
            what = "not a gzip file" if offset == 0 else "data after the end of the gzip stream"
            raise CorruptGzipError(self.path, offset, what)
        if not self._fill(10):
            self.truncated = True
            return False
        method, flags = self._input[2], self._input[3]
        if method != 8:
            raise CorruptGzipError(self.path, offset, f"unknown compression method {method}")
        end = 10
        if flags & 4:  # FEXTRA
            if not self._fill(end + 2):
                self.truncated = True
                return False
            end += 2 + int.from_bytes(self._input[end : end + 2], "little")
        for flag in (8, 16):  # FNAME, FCOMMENT: zero-terminated
            if flags & flag:
                while (zero := self._input.find(b"\x00", end)) < 0:
                    if not self._fill(len(self._input) + 1):
                        self.truncated = True
                        return False
                end = zero + 1
        if flags & 2:  # FHCRC
            end += 2
        if not self._fill(end):
            self.truncated = True
            return False
        self._input = self._input[end:]
        self._decomp = zlib.decompressobj(-zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        return True

    def _check_trailer(self, delivered: int) -> None:
        """Check the CRC-32 and length after a member; a mismatch is raised by the next read."""
        if not self._fill(8):
            self.truncated = True  # the file ends inside the trailer
            self._eof = True
            return
        crc = int.from_bytes(self._input[:4], "little")
        size = int.from_bytes(self._input[4:8], "little")
        self._input = self._input[8:]
        if crc != self._crc & 0xFFFFFFFF:
            self._error = CorruptGzipError(self.path, self._pos + delivered, "CRC check failed")
        elif size != self._size & 0xFFFFFFFF:
            self._error = CorruptGzipError(self.path, self._pos + delivered, "length check failed")


def _salvage(decomp, data: bytes, piece: int = 64) -> bytes:
    """What ``decomp`` outputs from ``data`` before the error, feeding it ``piece`` bytes at a time."""
    out = []
    for start in range(0, len(data), piece):
        try:
            out.append(decomp.decompress(data[start : start + piece]))
        except zlib.error:
            break
    return b"".join(out)


def _reason(exc: zlib.error) -> str:
    """zlib's message without its error-code prefix (``invalid distance too far back``)."""
    return str(exc).split(": ", 1)[-1]
