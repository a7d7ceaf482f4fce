"""Gzip decompression that reports truncated and corrupt files instead of raising mid-read.

:class:`gzip.GzipFile` raises ``EOFError`` when a file ends before its end
marker (and drops the data decompressed in that call) and
``gzip.BadGzipFile``/``zlib.error`` for damaged data, deep inside a read.
Readers of text trajectories need instead: everything up to where a
truncated file ends (so the last complete frame is kept, as for a plain file
cut short), and for damaged data an mdvib error naming the file and where the
damage starts. :class:`GzipStream` is a read-only, seekable file object over
``zlib`` doing that; concatenated gzip members are read as one stream.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from mdvib.errors import TrajectoryFormatError

_MAGIC = b"\x1f\x8b"


class CorruptGzipError(TrajectoryFormatError):
    """The gzip data are damaged (bad CRC or length, invalid deflate data, trailing garbage).

    Attributes
    ----------
    offset : int
        Decompressed bytes delivered before the damage was detected. Data
        before it came out of the decompressor but, for a checksum error, may
        themselves be wrong.
    reason : str
        What zlib or the gzip trailer check reported.
    """

    def __init__(self, path, offset: int, reason: str):
        self.offset = offset
        self.reason = reason
        super().__init__(
            path,
            f"the gzip data are corrupt ({reason}) after {offset} decompressed bytes; "
            "the file was damaged in writing or copying: test it with 'gzip -t', and copy or "
            "recompress it from the original",
        )


class GzipStream:
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
    Seeking forward decompresses and discards; seeking backward restarts from
    the beginning (as :class:`gzip.GzipFile` does). Damaged data raise
    :class:`CorruptGzipError` from the read that meets them.
    """

    #: Compressed bytes read from the file per step.
    INPUT_BLOCK = 1 << 20

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open(self.path, "rb")
        self._rewind()

    def _rewind(self) -> None:
        self._fh.seek(0)
        self._decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._input = b""  # compressed bytes not yet given to the decompressor
        self._pos = 0  # decompressed offset of the next byte returned
        self._eof = False
        self.truncated = False

    # ------------------------------------------------------------ decompression
    def _decompress(self, limit: int, delivered: int) -> bytes:
        """At most ``limit`` (0: any number of) new decompressed bytes; ``b""`` at the end of the data.

        ``delivered`` counts bytes of the current read already decompressed (for error offsets).
        """
        while not self._eof:
            if self._decomp.eof and not self._next_member(delivered):
                break
            data = self._decomp.unconsumed_tail or self._input or self._fh.read(self.INPUT_BLOCK)
            self._input = b""
            if not data:
                self.truncated = True  # the file ends inside a member
                self._eof = True
                break
            try:
                out = self._decomp.decompress(data, limit)
            except zlib.error as exc:
                raise CorruptGzipError(self.path, self._pos + delivered, _reason(exc)) from None
            if out:
                return out
        return b""

    def _next_member(self, delivered: int) -> bool:
        """After a member's end: start the next one; ``False`` at the end of the file."""
        rest = self._decomp.unused_data
        while True:
            rest = rest.lstrip(b"\x00")  # gzip files may be padded with zeros
            if len(rest) >= 2:
                break
            more = self._fh.read(self.INPUT_BLOCK)
            if not more:
                if rest:
                    break
                self._eof = True
                return False
            rest += more
        if rest[:2] != _MAGIC:
            raise CorruptGzipError(self.path, self._pos + delivered, "data after the end of the gzip stream")
        self._decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._input = rest
        return True

    # ------------------------------------------------------------ file interface
    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that remain for ``size < 0``)."""
        parts = []
        have = 0
        while size < 0 or have < size:
            block = self._decompress(size - have if size >= 0 else 0, have)
            if not block:
                break
            parts.append(block)
            have += len(block)
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
            raise ValueError("GzipStream.seek supports absolute positions only")
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

    def __enter__(self) -> "GzipStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _reason(exc: zlib.error) -> str:
    text = str(exc)
    if "incorrect data check" in text:
        return "CRC check failed"
    if "incorrect length check" in text:
        return "length check failed"
    return text.split(": ", 1)[-1]


def is_gzip(path: str | Path) -> bool:
    """Whether ``path`` starts with the gzip magic number."""
    with open(path, "rb") as fh:
        return fh.read(2) == _MAGIC
