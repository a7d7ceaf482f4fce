"""Reader for LAMMPS text dumps (``dump custom`` / ``dump atom``), plain or compressed (gzip, bzip2, xz).

The file is read in two passes with bounded memory. Plain files are
memory-mapped (pages already parsed are dropped from the resident set);
compressed files are decompressed as a stream
(:func:`mdvib.io._compression.open_decompressed`), never whole.

1. :meth:`LammpsDumpReader._scan` (with :class:`_FrameScanner`) finds each
   frame by its first header line (``ITEM: TIMESTEP``, or ``ITEM: TIME`` with
   ``dump_modify time yes``) and parses only the small per-frame headers
   (step, time, atom count, box; a NaN, infinite or inverted box bound is an
   error naming the frame and the bound). Frame 0's atom lines are parsed
   once in Python for ids, species and masses. An incomplete last frame
   (interrupted run, or a compressed file cut short) is dropped with a
   :class:`TruncatedDumpWarning`; damaged compressed data are an error
   naming the last frame complete before the damage. A last atom line
   without a newline is complete when it has every column (LAMMPS always
   ends its lines, but files edited or copied by other tools may not).
2. :meth:`LammpsDumpReader.iter_chunks` hands the bytes of a block of frames
   to the numba kernel :func:`mdvib.kernels.text_parsing.parse_frames`, which
   parses the numbers byte by byte (no ``str.split``; results are correctly
   rounded like ``float()``), checks every line, and scatters each atom to its
   row in ascending-id order; the frames of a block are split between threads
   (``numba.get_num_threads()``, i.e. ``NUMBA_NUM_THREADS``), the kernel
   running without the GIL, and the next block is parsed in a background
   thread while the caller works on the current one.

The scan parses a frame header in full only when its bytes after the step
line differ from the last header parsed in full (fixed-box dumps repeat them).

Box conversion follows the LAMMPS ``dump`` documentation (restricted triclinic):
``xlo = xlo_bound - min(0, xy, xz, xy+xz)``, ``xhi = xhi_bound - max(0, xy, xz, xy+xz)``,
``ylo = ylo_bound - min(0, yz)``, ``yhi = yhi_bound - max(0, yz)``, and cell
vectors ``a = (xhi-xlo, 0, 0)``, ``b = (xy, yhi-ylo, 0)``, ``c = (xz, yz, zhi-zlo)``.
General triclinic dumps (``ITEM: BOX BOUNDS abc origin``) list ``a``, ``b``,
``c`` and the origin directly.
"""

from __future__ import annotations

import mmap
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numba
import numpy as np

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io._common import SPACING_RTOL, check_increasing, resolve_masses
from mdvib.io._compression import Codec, CorruptDataError, compression_of, open_decompressed
from mdvib.io.base import FrameChunk, TrajectoryInfo, TrajectoryReader
from mdvib.io.registry import register_reader
from mdvib.kernels import text_parsing as kernel
from mdvib.units import LAMMPS_UNIT_STYLES, VELOCITY_TO_A_PER_FS

__all__ = ["LammpsDumpReader", "TruncatedDumpWarning"]


class TruncatedDumpWarning(UserWarning):
    """The last frame of a dump is incomplete (the run was interrupted) and is skipped."""


# --------------------------------------------------------------------------------------
# headers and layout
# --------------------------------------------------------------------------------------

_BLOCK = 1 << 24  # bytes read per step of the scan
_HEADER_MAX = 8192  # longest frame header accepted (bytes)


class _IncompleteHeaderError(Exception):
    """The bytes end before the frame header does."""


@dataclass(frozen=True)
class _Header:
    """Parsed header of one frame (everything before the atom lines)."""

    time: float | None
    step: int
    n_atoms: int
    cell: np.ndarray  # (3, 3) rows = cell vectors, Å (file length unit)
    origin: np.ndarray  # (3,)
    columns: tuple[str, ...]
    length: int  # bytes from the frame's first byte to its first atom line


#: Names of the numbers on the three ``BOX BOUNDS`` lines, per box kind (LAMMPS ``dump`` documentation).
_BOUND_NAMES = {
    "orthogonal": (("xlo", "xhi"), ("ylo", "yhi"), ("zlo", "zhi")),
    "triclinic": (("xlo_bound", "xhi_bound", "xy"), ("ylo_bound", "yhi_bound", "xz"), ("zlo_bound", "zhi_bound", "yz")),
    "general": (("ax", "ay", "az", "xlo"), ("bx", "by", "bz", "ylo"), ("cx", "cy", "cz", "zlo")),
}
_BOX_HINT = "the simulation probably blew up before this frame: cut the trajectory before it"


def _box_to_cell(flags: list[str], rows: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Convert the three ``BOX BOUNDS`` lines to cell vectors (rows) and origin.

    Raises
    ------
    ValueError
        For lines with the wrong count of numbers, a bound that is NaN or
        infinite, an inverted or empty extent (``hi <= lo``), or general
        triclinic vectors that span no volume; the message names the bound.
    """
    if flags[:2] == ["abc", "origin"]:
        if any(len(r) != 4 for r in rows):
            raise ValueError("general triclinic BOX BOUNDS lines need 4 numbers (vector + origin)")
        _check_finite_bounds("general", rows)
        cell = np.array([r[:3] for r in rows], dtype=float)
        if not abs(np.linalg.det(cell)) > 0:
            raise ValueError(f"BOX BOUNDS vectors a, b, c {cell.tolist()} span no volume; {_BOX_HINT}")
        return cell, np.array([r[3] for r in rows], dtype=float)
    if flags[:3] == ["xy", "xz", "yz"]:
        if any(len(r) != 3 for r in rows):
            raise ValueError("triclinic BOX BOUNDS lines need 3 numbers (lo_bound hi_bound tilt)")
        _check_finite_bounds("triclinic", rows)
        (xlob, xhib, xy), (ylob, yhib, xz), (zlo, zhi, yz) = rows
        xlo = xlob - min(0.0, xy, xz, xy + xz)
        xhi = xhib - max(0.0, xy, xz, xy + xz)
        ylo = ylob - min(0.0, yz)
        yhi = yhib - max(0.0, yz)
        _check_extents("triclinic", ((xlo, xhi), (ylo, yhi), (zlo, zhi)), rows)
        cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
        return cell, np.array([xlo, ylo, zlo])
    if any(len(r) != 2 for r in rows):
        raise ValueError("orthogonal BOX BOUNDS lines need 2 numbers (lo hi)")
    _check_finite_bounds("orthogonal", rows)
    _check_extents("orthogonal", [tuple(r) for r in rows], rows)
    lo = np.array([r[0] for r in rows], dtype=float)
    hi = np.array([r[1] for r in rows], dtype=float)
    return np.diag(hi - lo), lo


def _check_finite_bounds(kind: str, rows: list[list[float]]) -> None:
    """Raise ``ValueError`` naming the first NaN or infinite ``BOX BOUNDS`` number."""
    for names, row in zip(_BOUND_NAMES[kind], rows):
        for name, value in zip(names, row):
            if not np.isfinite(value):
                raise ValueError(f"BOX BOUNDS {name} is {value}; {_BOX_HINT}")


def _check_extents(kind: str, extents, rows: list[list[float]]) -> None:
    """Raise ``ValueError`` for an inverted or empty box extent (``hi <= lo`` along x, y or z)."""
    for axis, ((lo, hi), names, row) in enumerate(zip(extents, _BOUND_NAMES[kind], rows)):
        if not hi > lo:
            tilt = " after removing the tilt factors" if kind == "triclinic" else ""
            raise ValueError(
                f"BOX BOUNDS {names[1]} {row[1]:g} is not above {names[0]} {row[0]:g}{tilt}: "
                f"the box is inverted or empty along {'xyz'[axis]}; {_BOX_HINT}"
            )


def _parse_header(buf: bytes, start: int, limit: int, has_time: bool) -> _Header:
    """Parse the header of the frame starting at ``buf[start]``, reading no further than ``limit``.

    Raises
    ------
    _IncompleteHeaderError
        If ``limit`` comes before the end of the ``ITEM: ATOMS`` line.
    ValueError
        If the header is malformed (message says what was expected).
    """
    pos = start

    def next_line() -> bytes:
        nonlocal pos
        nl = buf.find(b"\n", pos, limit)
        if nl < 0:
            raise _IncompleteHeaderError
        line = buf[pos:nl].strip()
        pos = nl + 1
        return line

    def expect(item: bytes) -> bytes:
        line = next_line()
        if not line.startswith(item):
            raise ValueError(f"expected {item.decode()!r}, found {line[:60].decode(errors='replace')!r}")
        return line

    time = None
    if has_time:
        expect(b"ITEM: TIME")
        time = float(next_line())
    expect(b"ITEM: TIMESTEP")
    step = int(next_line())
    expect(b"ITEM: NUMBER OF ATOMS")
    n_atoms = int(next_line())
    flags = expect(b"ITEM: BOX BOUNDS").decode().split()[3:]
    rows = [[float(t) for t in next_line().split()] for _ in range(3)]
    cell, origin = _box_to_cell(flags, rows)
    columns = tuple(expect(b"ITEM: ATOMS").decode().split()[2:])
    return _Header(time, step, n_atoms, cell, origin, columns, pos - start)


@dataclass(frozen=True)
class _Layout:
    """Which columns are parsed per frame and where they go."""

    col_slot: np.ndarray  # (n_cols,) int64
    slot_scale: np.ndarray  # (n_slots,) float64
    groups: dict[str, int]  # "coords"/"velocities"/"forces"/"images" -> group index in out
    coords: tuple[str, str, str]  # position columns used, e.g. ("xu", "yu", "zu")
    scaled: bool
    unwrapped: bool


#: Position column sets in order of preference: (columns, scaled, unwrapped without images).
_COORD_SETS = (
    (("xu", "yu", "zu"), False, True),
    (("x", "y", "z"), False, False),
    (("xsu", "ysu", "zsu"), True, True),
    (("xs", "ys", "zs"), True, False),
)


def _triple(columns: tuple[str, ...], names: tuple[str, str, str], path: Path) -> list[int] | None:
    present = [n in columns for n in names]
    if not any(present):
        return None
    if not all(present):
        missing = [n for n, ok in zip(names, present, strict=True) if not ok]
        raise TrajectoryFormatError(path, f"columns {missing} are missing (need all of {list(names)})", frame=0)
    return [columns.index(n) for n in names]


def _make_layout(columns: tuple[str, ...], velocity_factor: float, force_factor: float, path: Path) -> _Layout:
    """Choose the columns to parse from the ``ITEM: ATOMS`` column names."""
    images = _triple(columns, ("ix", "iy", "iz"), path)
    coords = None
    for names, scaled, unwrapped in _COORD_SETS:
        idx = _triple(columns, names, path)
        if idx is not None and (unwrapped or images is not None):
            coords = (names, scaled, True, idx)
            break
    if coords is None:
        for names, scaled, _ in _COORD_SETS:
            idx = _triple(columns, names, path)
            if idx is not None:
                coords = (names, scaled, False, idx)
                break
    if coords is None:
        raise TrajectoryFormatError(path, f"no position columns (x/xu/xs/xsu y.. z..) among {list(columns)}", frame=0)
    names, scaled, unwrapped, coord_idx = coords
    col_slot = np.full(len(columns), kernel.SKIP, dtype=np.int64)
    col_slot[columns.index("id")] = kernel.ID
    scales: list[float] = []
    groups: dict[str, int] = {}
    plan = [("coords", coord_idx, 1.0)]
    for group, triple, factor in (
        ("velocities", ("vx", "vy", "vz"), velocity_factor),
        ("forces", ("fx", "fy", "fz"), force_factor),
    ):
        idx = _triple(columns, triple, path)
        if idx is not None:
            plan.append((group, idx, factor))
    if images is not None and unwrapped and names in (("x", "y", "z"), ("xs", "ys", "zs")):
        plan.append(("images", images, 1.0))
    for g, (group, idx, factor) in enumerate(plan):
        groups[group] = g
        for comp, c in enumerate(idx):
            col_slot[c] = 3 * g + comp
        scales += [factor] * 3
    return _Layout(col_slot, np.array(scales), groups, names, scaled, unwrapped)


class _Source:
    """The (decompressed) bytes of a dump file.

    Plain files are memory-mapped: frames are parsed in place and pages already
    parsed are handed back to the kernel (``MADV_DONTNEED``), so the resident
    memory stays at about one chunk. Compressed files are streamed; reading a
    range behind the current position restarts decompression. A compressed
    file cut short reads as if it ended where its data end (:attr:`truncated`
    is then set); damaged data raise
    :class:`~mdvib.io._compression.CorruptDataError`.
    """

    def __init__(self, path: Path):
        #: The compression format; ``None`` for a plain file.
        self.codec: Codec | None = compression_of(path)
        with open(path, "rb") as fh:
            if fh.seek(0, 2) == 0:
                raise TrajectoryFormatError(path, "empty file")
            self.mapped = None if self.codec else mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.stream = open_decompressed(path) if self.codec else None
        self._released = 0
        self._scratch = np.empty(0, dtype=np.uint8)

    @property
    def truncated(self) -> bool:
        """Whether a compressed file ended before its end-of-stream marker (plain files: never)."""
        return self.stream is not None and self.stream.truncated

    def read(self, lo: int, hi: int) -> bytes:
        """Bytes ``lo:hi`` (fewer at the end of the file)."""
        if self.mapped is not None:
            return self.mapped[lo:hi]
        self.stream.seek(lo)
        return self.stream.read(hi - lo)

    def view(self, lo: int, hi: int) -> np.ndarray:
        """Bytes ``lo:hi`` as a uint8 array: a view of the mapping, or a reused buffer for a compressed file.

        The array is only valid until the next call.
        """
        if self.mapped is not None:
            count = max(0, min(hi, len(self.mapped)) - lo)
            return np.frombuffer(self.mapped, dtype=np.uint8, count=count, offset=lo)
        if self._scratch.size < hi - lo:
            self._scratch = np.empty(hi - lo, dtype=np.uint8)
        self.stream.seek(lo)
        out = memoryview(self._scratch)[: hi - lo]
        n = 0
        while n < hi - lo:
            k = self.stream.readinto(out[n:])
            if not k:
                break
            n += k
        view = self._scratch[:n]
        view.flags.writeable = False  # same numba signature as the read-only mapping: one compilation
        return view

    def release(self, hi: int) -> None:
        """Drop mapped pages before byte ``hi`` from this process's resident memory.

        The page cache keeps the data; touching the pages again reloads them.
        """
        if self.mapped is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        hi -= hi % mmap.PAGESIZE
        if hi > self._released:
            self.mapped.madvise(mmap.MADV_DONTNEED, self._released, hi - self._released)
            self._released = hi

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        elif self.mapped is not None:
            try:
                self.mapped.close()
            except BufferError:  # a chunk still views the mapping; it is unmapped when freed
                pass


def _find_marker(buf: bytes | mmap.mmap, marker: bytes, start: int, stop: int) -> int:
    """``buf.find(marker, start, stop)``, about 3x faster on dumps.

    Searches for the first byte with ``memchr`` (numeric atom lines contain no
    ``I``, so the hits are nearly all header lines), then compares the rest.
    """
    first = marker[:1]
    while True:
        q = buf.find(first, start, stop)
        if q < 0 or (q + len(marker) <= stop and buf[q : q + len(marker)] == marker):
            return q
        start = q + 1


class _FrameScanner:
    """First pass over a dump: the offset and header of every frame.

    Works on the whole mapping of a plain file, or on a sliding window of
    blocks of a decompressed stream (keeping a short last frame in memory for the
    truncation check at the end).

    Parameters
    ----------
    path : Path
        The file (for messages).
    source : _Source
        Its bytes.
    marker : bytes
        The first header line of every frame (``ITEM: TIMESTEP`` or ``ITEM: TIME``).
    preamble : int
        Bytes before the first frame (``ITEM: UNITS`` lines).
    """

    def __init__(self, path: Path, source: _Source, marker: bytes, preamble: int):
        self.path = path
        self.source = source
        self.marker = marker
        self.preamble = preamble
        self.has_time = marker.strip() == b"ITEM: TIME"
        #: (frame offset, atom-lines offset, header) of every frame found so far.
        self.frames: list[tuple[int, int, _Header]] = []
        self.buf = source.mapped if source.mapped is not None else b""
        self.base = 0  # file offset of buf[0]
        self.pos = 0  # where the next marker search starts in buf
        self.eof = source.mapped is not None
        #: The bytes after the step line of the last header parsed in full, and that header.
        self._repeat: tuple[bytes, _Header] | None = None

    def scan(self) -> tuple[list[tuple[int, int, _Header]], int, tuple[int, str] | None]:
        """Find every frame and parse its header.

        Returns
        -------
        frames : list of (frame offset, atom-lines offset, header)
            Complete frames only.
        size : int
            Byte offset where the last complete frame ends.
        truncated : (frame index, reason) or None
            The incomplete last frame that was dropped.

        Raises
        ------
        TrajectoryFormatError
            For a file that does not start with a frame header, or a
            malformed or overlong header (naming the frame).
        """
        if not self.eof:
            self.source.stream.seek(0)
            self._refill(0)
        if self.buf.find(self.marker) != self.preamble:
            raise TrajectoryFormatError(self.path, "not a LAMMPS text dump: no frame header at the start")
        while True:
            p = self._next_marker()
            if p < 0:
                return self._finish()
            header = self._header_at(p)
            if header is None:
                return self.frames, self.base + p, (len(self.frames), "the file ends inside its header")
            self.frames.append((self.base + p, self.base + p + header.length, header))
            self.pos = p + header.length
            self.source.release(self.pos)

    def _refill(self, keep: int) -> None:
        """Drop ``buf[:keep]`` (less if the last frame's atom lines start there) and append a block."""
        if self.frames:
            last = self.frames[-1][1] - self.base
            if 0 <= last < keep and len(self.buf) - last < _BLOCK:
                keep = last
        block = self.source.stream.read(_BLOCK)
        self.eof = not block
        self.buf = self.buf[keep:] + block
        self.base += keep
        self.pos = max(0, self.pos - keep)

    def _next_marker(self) -> int:
        """Position in ``buf`` of the next frame header with its bytes loaded; -1 at the end of the file."""
        while True:
            p = _find_marker(self.buf, self.marker, self.pos, len(self.buf))
            if p < 0:
                if self.eof:
                    return -1
                self._refill(max(self.pos, len(self.buf) - len(self.marker) + 1))
            elif not self.eof and len(self.buf) - p < _HEADER_MAX:
                self._refill(p)
            else:
                return p

    def _header_at(self, p: int) -> _Header | None:
        """The header starting at ``buf[p]``; ``None`` when the file ends inside it."""
        limit = _find_marker(self.buf, self.marker, p + len(self.marker), p + _HEADER_MAX)
        if limit < 0:
            limit = min(len(self.buf), p + _HEADER_MAX)
        frame = len(self.frames)
        header = self._repeated_header(p, limit)
        if header is not None:
            return header
        try:
            header = _parse_header(self.buf, p, limit, self.has_time)
        except _IncompleteHeaderError:
            if self.eof and limit == len(self.buf):
                return None
            if limit == p + _HEADER_MAX:
                raise TrajectoryFormatError(
                    self.path, f"frame header longer than {_HEADER_MAX} bytes", frame=frame
                ) from None
            raise TrajectoryFormatError(
                self.path, "frame header is cut short by the next frame (truncated write?)", frame=frame
            ) from None
        except ValueError as exc:
            raise TrajectoryFormatError(self.path, f"malformed frame header: {exc}", frame=frame) from None
        if not self.has_time:
            step_end = self.buf.find(b"\n", p + len(self.marker), limit) + 1
            self._repeat = (self.buf[step_end : p + header.length], header)
        return header

    def _repeated_header(self, p: int, limit: int) -> _Header | None:
        """The header at ``buf[p]`` when all but its step line repeat the last header parsed in full, else None.

        Dumps of a fixed box repeat every header line but the step: this
        compares those bytes instead of parsing them (the scan of a
        2000-frame dump then spends ~10 µs, not ~100 µs, per frame).
        """
        if self._repeat is None:
            return None
        rest, header = self._repeat
        start = p + len(self.marker)
        step_end = self.buf.find(b"\n", start, limit) + 1
        if step_end == 0 or step_end + len(rest) > limit or self.buf[step_end : step_end + len(rest)] != rest:
            return None
        try:
            step = int(self.buf[start:step_end])
        except ValueError:
            return None  # the full parse names the problem
        return replace(header, step=step, length=step_end + len(rest) - p)

    def _finish(self) -> tuple[list[tuple[int, int, _Header]], int, tuple[int, str] | None]:
        """Drop an incomplete last frame (see :meth:`scan` for the return values)."""
        size = self.base + len(self.buf)
        if not self.frames:
            return self.frames, size, None
        _, data_start, hdr = self.frames[-1]
        if data_start >= self.base:
            data = self.buf[data_start - self.base :]
        else:  # a last frame longer than one block: read it again
            data = self.source.read(data_start, size)
        why = _truncation(data, hdr.n_atoms, len(hdr.columns))
        if why is not None:
            return self.frames[:-1], self.frames[-1][0], (len(self.frames) - 1, why)
        return self.frames, size, None


def _sniff(head: bytes) -> bool:
    return head.lstrip().startswith((b"ITEM: TIMESTEP", b"ITEM: TIME", b"ITEM: UNITS"))


# --------------------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Index:
    """Per-frame byte offsets and header values of the complete frames."""

    offsets: np.ndarray  # (n_frames + 1,) int64: frame starts, then end of the last frame
    data_starts: np.ndarray  # (n_frames,) int64: first atom line of each frame
    header_atoms: np.ndarray  # (n_frames,) int64: NUMBER OF ATOMS of each frame
    steps: np.ndarray  # (n_frames,) int64
    times_fs: np.ndarray | None  # (n_frames,) float64, from ITEM: TIME
    cells: np.ndarray  # (n_frames, 3, 3) Å
    origins: np.ndarray  # (n_frames, 3) Å
    columns: tuple[str, ...]  # ITEM: ATOMS column names
    layout: _Layout
    sorted_ids: np.ndarray  # (n_atoms,) int64
    id_table: np.ndarray  # dense id -> row map, or empty
    id_base: int


@register_reader(
    "lammps-dump",
    patterns=("*.dump", "*.lammpstrj", "*.lammpstrj.gz", "*.lammpstrj.bz2", "*.lammpstrj.xz", "dump.*", "*.dump.*"),
    sniff=_sniff,
    description="LAMMPS text dump (dump custom/atom; .gz, .bz2, .xz ok); needs an id column",
)
class LammpsDumpReader(TrajectoryReader):
    """Fast reader of LAMMPS text dumps.

    Parameters
    ----------
    path : str or Path
        Dump file, plain text or compressed with gzip, bzip2 or xz (told by its first bytes).
    units : {"metal", "real"}, optional
        LAMMPS unit style the dump was written in. It sets the velocity unit
        (metal Å/ps, real Å/fs), the force unit (metal eV/Å, real kcal/mol/Å)
        and the time unit of ``ITEM: TIME`` (metal ps, real fs). Default: the
        style named by ``ITEM: UNITS`` (``dump_modify units yes``) if the file
        has one, else ``"metal"``. An explicit value that contradicts
        ``ITEM: UNITS`` is an error.
    dt_fs : float, optional
        MD integration time step in fs. Frame times are ``step * dt_fs`` unless
        the dump has ``ITEM: TIME`` (``dump_modify time yes``), whose values
        take precedence.
    type_map : dict of {int: str}, optional
        LAMMPS numeric atom type -> chemical symbol, e.g. ``{1: "Si", 2: "O"}``.
        Needed unless the dump has an ``element`` column or its types are
        element labels.
    masses : dict of {str: float}, optional
        Masses in amu by chemical symbol, overriding the ``mass`` column and
        the standard atomic masses (``ase.data.atomic_masses``).

    Notes
    -----
    Positions are taken, in order of preference, from ``xu yu zu``; ``x y z``
    plus image flags ``ix iy iz``; ``xsu ysu zsu``; ``xs ys zs`` plus image
    flags; ``x y z``; ``xs ys zs``. Only the first four give unwrapped
    positions. Atoms are matched between frames by the ``id`` column and
    returned in ascending-id order.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        units: str | None = None,
        dt_fs: float | None = None,
        type_map: dict[int, str] | None = None,
        masses: dict[str, float] | None = None,
    ):
        super().__init__(path, units=units, dt_fs=dt_fs, type_map=type_map, masses=masses)
        if units is not None and units not in LAMMPS_UNIT_STYLES:
            raise SettingsError(f"unknown LAMMPS unit style {units!r}; choose one of {sorted(LAMMPS_UNIT_STYLES)}")
        if dt_fs is not None and not (np.isfinite(dt_fs) and dt_fs > 0):
            raise SettingsError(f"dt_fs must be a positive number of fs, got {dt_fs!r}")
        self.units = units
        self.dt_fs = None if dt_fs is None else float(dt_fs)
        self.type_map = None if type_map is None else {_type_key(k): str(v) for k, v in type_map.items()}
        self.masses = None if masses is None else {str(k): float(v) for k, v in masses.items()}
        self._index: _Index | None = None

    # ---------------------------------------------------------------- scanning

    def _scan(self) -> TrajectoryInfo:
        path = self.path
        if not path.exists():
            raise TrajectoryFormatError(path, "file not found")
        source = _Source(path)
        marker = b"ITEM: TIMESTEP\n"  # first line of every frame, until the preamble says otherwise
        try:
            marker, file_units, preamble = self._read_preamble(source.read(0, _HEADER_MAX))
            style = self._resolve_units(file_units)
            frames, size, truncated = _FrameScanner(path, source, marker, preamble).scan()
            stream_cut = source.truncated  # before _first_frame_atoms rewinds the stream
            if not frames:
                why = f" (frame 0 is truncated: {truncated[1]})" if truncated else ""
                raise TrajectoryFormatError(path, f"no complete frame in the file{why}")
            _warn_truncated(path, len(frames), truncated, source.codec if stream_cut else None)
            ids, species, masses = self._first_frame_atoms(source, frames, size)
            _check_columns(path, frames)
            self._index = _build_index(path, frames, size, ids, LAMMPS_UNIT_STYLES[style])
        except CorruptDataError as exc:
            raise _corrupt_data_error(path, exc, marker) from None
        except TrajectoryFormatError as exc:  # bad text from damaged data checked only at the end of a block?
            damage = _damage(path) if source.codec else None
            if damage is None:
                raise
            raise _corrupt_data_error(path, damage, marker) from exc
        finally:
            source.close()
        order = np.argsort(ids, kind="stable")
        return self._make_info(style, file_units, len(frames), species[order], masses[order])

    def _make_info(
        self, style: str, file_units: str | None, n_frames: int, species: np.ndarray, masses: np.ndarray
    ) -> TrajectoryInfo:
        """The :class:`TrajectoryInfo` of the scanned file (atoms in ascending-id order)."""
        index = self._index
        layout = index.layout
        spec = LAMMPS_UNIT_STYLES[style]
        spacing, uneven, step_interval = self._frame_spacing(index.steps, index.times_fs)
        source_units = {
            "style": style,
            "style_from": "ITEM: UNITS" if file_units else ("option" if self.units else "default"),
            "length": "A",
            "velocity": str(spec["velocity"]),
            "force": str(spec["force"]),
            "time": str(spec["time"]) if index.times_fs is not None else "step",
            "dt_fs": self.dt_fs,
            "positions": " ".join(layout.coords + (("ix", "iy", "iz") if "images" in layout.groups else ())),
            "step_interval": step_interval,
        }
        return TrajectoryInfo(
            path=str(self.path),
            format=self.format_name,
            n_atoms=len(index.sorted_ids),
            n_frames=n_frames,
            atom_ids=index.sorted_ids,
            species=tuple(str(x) for x in species),
            masses=masses,
            has_velocities="velocities" in layout.groups,
            has_forces="forces" in layout.groups,
            frame_spacing_fs=spacing,
            source_units=source_units,
            uniform_spacing=uneven is None,
            uneven_frame=uneven,
            # with ITEM: UNITS the file fixes the style (a different units= is an error)
            unit_styles=() if file_units else tuple(LAMMPS_UNIT_STYLES),
        )

    def _read_preamble(self, head: bytes) -> tuple[bytes, str | None, int]:
        """Return the frame marker line, the ``ITEM: UNITS`` style (or None) and the preamble length."""
        pos = 0
        file_units = None
        lines = head.split(b"\n", 3)
        if lines[0].strip() == b"ITEM: UNITS" and len(lines) > 2:
            file_units = lines[1].strip().decode(errors="replace")
            pos = len(lines[0]) + len(lines[1]) + 2
        nl = head.find(b"\n", pos)
        first = head[pos : nl + 1] if nl >= 0 else b""
        if first.strip() not in (b"ITEM: TIMESTEP", b"ITEM: TIME"):
            raise TrajectoryFormatError(
                self.path,
                f"not a LAMMPS text dump: expected 'ITEM: TIMESTEP', found {first[:40].decode(errors='replace')!r}",
            )
        return first, file_units, pos

    def _resolve_units(self, file_units: str | None) -> str:
        if file_units is not None:
            if file_units not in LAMMPS_UNIT_STYLES:
                raise SettingsError(
                    f"{self.path}: dump written in LAMMPS units {file_units!r}; "
                    f"mdvib reads {sorted(LAMMPS_UNIT_STYLES)}"
                )
            if self.units is not None and self.units != file_units:
                raise SettingsError(
                    f"{self.path}: units={self.units!r} was given but the dump says ITEM: UNITS {file_units}; "
                    f"drop the option or pass units={file_units!r}"
                )
            return file_units
        return self.units or "metal"

    def _first_frame_atoms(
        self, source: _Source, frames: list[tuple[int, int, _Header]], size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Read ids, species and masses from frame 0 (file order)."""
        path = self.path
        _, data_start, hdr = frames[0]
        columns = hdr.columns
        if "id" not in columns:
            raise TrajectoryFormatError(
                path,
                "no 'id' column: atoms cannot be matched between frames; "
                "dump with 'dump ... custom ... id type xu yu zu vx vy vz'",
                frame=0,
            )
        data = source.read(data_start, frames[1][0] if len(frames) > 1 else size)
        rows = [ln.split() for ln in data.decode(errors="replace").splitlines() if ln.strip()]
        if len(rows) != hdr.n_atoms:
            raise TrajectoryFormatError(path, f"{len(rows)} atom lines but NUMBER OF ATOMS is {hdr.n_atoms}", frame=0)
        if hdr.n_atoms == 0:
            raise TrajectoryFormatError(path, "frame 0 has no atoms", frame=0)
        for line, row in enumerate(rows):
            if len(row) != len(columns):
                raise TrajectoryFormatError(
                    path, f"atom line {line} has {len(row)} values for {len(columns)} columns", frame=0
                )
        table = np.array(rows)
        icol = columns.index("id")
        try:
            ids_f = table[:, icol].astype(float)
        except ValueError:
            raise TrajectoryFormatError(path, "non-numeric value in the id column", frame=0) from None
        ids = ids_f.astype(np.int64)
        if not np.array_equal(ids, ids_f):
            raise TrajectoryFormatError(path, "non-integer value in the id column", frame=0)
        uniq, counts = np.unique(ids, return_counts=True)
        if uniq.size != ids.size:
            duplicate = int(uniq[counts > 1][0])
            raise TrajectoryFormatError(path, "atom id appears more than once", frame=0, atom_id=duplicate)
        species = self._species(table, columns, ids)
        file_masses = table[:, columns.index("mass")].astype(float) if "mass" in columns else None
        masses = resolve_masses(self.path, species, self.masses, file_masses)
        return ids, species, masses

    def _species(self, table: np.ndarray, columns: tuple[str, ...], ids: np.ndarray) -> np.ndarray:
        """Chemical symbol of each atom of frame 0 (file order), from ``element`` or ``type``."""
        from ase.data import atomic_numbers

        if "element" in columns:
            return table[:, columns.index("element")]
        if "type" not in columns:
            raise TrajectoryFormatError(
                self.path, "neither an 'element' nor a 'type' column: cannot tell the species", frame=0
            )
        types, inverse = np.unique(table[:, columns.index("type")], return_inverse=True)
        symbols = []
        for k, t in enumerate(types):
            key = _type_key(t)
            if self.type_map is not None and key in self.type_map:
                symbols.append(self.type_map[key])
            elif isinstance(key, str) and key in atomic_numbers:
                symbols.append(key)
            else:
                atom_id = ids[np.argmax(inverse == k)]
                given = "" if self.type_map is None else f" (type_map has {sorted(self.type_map, key=str)})"
                raise SettingsError(
                    f"{self.path}, frame 0, atom id {atom_id}: LAMMPS type {t} has no element{given}; "
                    "pass type_map={1: 'Si', 2: 'O'} (command line: --types 1=Si,2=O) "
                    "or dump an 'element' column"
                )
        return np.array(symbols)[inverse]

    def _frame_spacing(
        self, steps: np.ndarray, times_fs: np.ndarray | None
    ) -> tuple[float | None, int | None, int | None]:
        """Return (frame spacing in fs or None, first unevenly spaced frame or None, step interval or None)."""
        if steps.size < 2:
            return None, None, None
        dsteps = np.diff(steps)
        step_interval = int(dsteps[0]) if np.all(dsteps == dsteps[0]) else None
        if times_fs is not None:
            dts = np.diff(times_fs)
            off = np.flatnonzero(~np.isclose(dts, dts[0], rtol=SPACING_RTOL, atol=1e-9))
            uneven = int(off[0]) + 1 if off.size else None
            return (float(dts[0]) if uneven is None else None), uneven, step_interval
        if step_interval is None:
            return None, int(np.flatnonzero(dsteps != dsteps[0])[0]) + 1, None
        if self.dt_fs is None:
            return None, None, step_interval
        return step_interval * self.dt_fs, None, step_interval

    # ---------------------------------------------------------------- reading

    def _iter_frames(self, frames: range, chunk_frames: int) -> Iterator[FrameChunk]:
        """Yield ``frames`` in chunks of ``chunk_frames`` (see base class).

        The next chunk is parsed in a background thread while the caller
        works on the current one (the kernel runs without the GIL), so
        parsing overlaps the analysis. Memory is about two chunks,
        ``2 * chunk_frames * n_atoms * 8 * n_values`` bytes, plus the file's
        pages of one chunk. Positions in Å, velocities in Å/fs, forces in
        eV/Å, cells in Å (rows are cell vectors), steps, and times in fs
        when known; atoms in the order of ``info.atom_ids``.
        """
        start, stop = frames.start, frames.stop
        bounds = [(c0, min(c0 + chunk_frames, stop)) for c0 in range(start, stop, chunk_frames)]
        if not bounds:
            return
        n_atoms = self.info.n_atoms
        seen = np.empty((min(chunk_frames, stop - start), n_atoms), dtype=np.bool_)
        vals = np.empty((seen.shape[0], self._index.layout.slot_scale.shape[0]))
        n_workers = max(1, min(numba.get_num_threads(), seen.shape[0]))
        source = _Source(self.path)
        pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="mdvib-dump")
        ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mdvib-dump-ahead")
        scratch = (source, pool, n_workers, seen, vals)
        try:
            pending = ahead.submit(self._parse_chunk, *bounds[0], *scratch)
            for k in range(len(bounds)):
                chunk = pending.result()
                if k + 1 < len(bounds):  # the scratch arrays are free again: start on the next chunk
                    pending = ahead.submit(self._parse_chunk, *bounds[k + 1], *scratch)
                yield chunk
        finally:  # also when the caller stops early: a parse still running finishes before the file is unmapped
            ahead.shutdown(cancel_futures=True)
            pool.shutdown()
            source.close()

    def _parse_chunk(
        self, c0: int, c1: int, source: _Source, pool: ThreadPoolExecutor, n_workers: int, seen: np.ndarray,
        vals: np.ndarray,
    ) -> FrameChunk:
        """Parse frames ``c0..c1`` with the kernel, split between the ``n_workers`` threads of ``pool``."""
        index = self._index
        layout = index.layout
        n = c1 - c0
        lo, hi = int(index.offsets[c0]), int(index.offsets[c1])
        try:
            buf = source.view(lo, hi)
        except CorruptDataError as exc:  # the file changed since the scan read it whole
            raise TrajectoryFormatError(
                self.path, f"{exc.reason} in the {exc.codec.name} data of frames {c0} to {c1 - 1}", frame=c0
            ) from None
        if buf.size != hi - lo:
            raise TrajectoryFormatError(self.path, "file is shorter than when it was scanned", frame=c0)
        starts = index.data_starts[c0:c1] - lo
        ends = index.offsets[c0 + 1 : c1 + 1] - lo
        out = np.empty((layout.slot_scale.shape[0] // 3, n, index.sorted_ids.shape[0], 3))
        status = np.empty((n, 4), dtype=np.int64)
        tables = (layout.col_slot, layout.slot_scale, index.id_table, index.id_base, index.sorted_ids)
        split = np.linspace(0, n, min(n_workers, n) + 1).astype(int)
        jobs = [
            pool.submit(kernel.parse_frames, buf, starts, ends, a, b, *tables, out, seen, vals, status)
            for a, b in zip(split[:-1], split[1:], strict=True)
        ]
        for job in jobs:
            job.result()
        self._check_status(status, buf, starts, ends, c0)
        del buf
        source.release(hi)
        return self._make_chunk(out, c0, c1)

    def _check_status(
        self, status: np.ndarray, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, first: int
    ) -> None:
        """Raise :class:`TrajectoryFormatError` for the first bad frame of a parsed chunk."""
        index = self._index
        n_atoms = index.sorted_ids.shape[0]
        counts = index.header_atoms[first : first + status.shape[0]]
        bad = np.nonzero((status[:, 0] != kernel.OK) | (counts != n_atoms))[0]
        if bad.size == 0:
            return
        k = int(bad[0])
        frame = first + k
        code, line, atom_id, col = (int(v) for v in status[k])
        columns = index.columns
        note = "" if counts[k] == n_atoms else f" (NUMBER OF ATOMS is {counts[k]}, frame 0 has {n_atoms})"
        if code == kernel.OK:
            raise TrajectoryFormatError(
                self.path, f"NUMBER OF ATOMS is {counts[k]} but frame 0 has {n_atoms} atoms", frame=frame
            )
        text = bytes(buf[starts[k] : ends[k]]).decode(errors="replace")
        rows = [ln for ln in text.splitlines() if ln.strip()]
        bad_line = rows[line] if line < len(rows) else ""
        if atom_id < 0:
            atom_id = _id_of_line(bad_line, columns.index("id"))
        col_name = columns[col] if 0 <= col < len(columns) else "?"
        messages = {
            kernel.FEW_FIELDS: f"atom line {line} has fewer than {len(columns)} values (truncated line?): {bad_line!r}",
            kernel.MANY_FIELDS: f"atom line {line} has more than {len(columns)} values: {bad_line!r}",
            kernel.BAD_NUMBER: f"cannot read column {col_name!r} of atom line {line} as a number: {bad_line!r}",
            kernel.BAD_ID: f"id column of atom line {line} is not an integer: {bad_line!r}",
            kernel.UNKNOWN_ID: "atom id is not in frame 0 (atoms added or the dump group changed?)",
            kernel.DUPLICATE_ID: "atom id appears more than once in the frame",
            kernel.NONFINITE: f"non-finite value (nan/inf) in column {col_name!r}: the simulation blew up here",
            kernel.MISSING: f"atom id missing: only {line} of {n_atoms} atom lines (truncated or atoms lost)",
        }
        raise TrajectoryFormatError(
            self.path, messages[code] + note, frame=frame, atom_id=None if atom_id < 0 else atom_id
        )

    def _make_chunk(self, out: np.ndarray, c0: int, c1: int) -> FrameChunk:
        """Turn the kernel output of frames ``c0..c1`` into a :class:`FrameChunk` in internal units."""
        index = self._index
        layout = index.layout
        cells = index.cells[c0:c1].copy()
        positions = out[layout.groups["coords"]]
        if "images" in layout.groups:
            images = out[layout.groups["images"]]
            positions += images if layout.scaled else np.matmul(images, cells)
        if layout.scaled:
            positions = np.matmul(positions, cells) + index.origins[c0:c1, None, :]
        steps = index.steps[c0:c1].copy()
        if index.times_fs is not None:
            times = index.times_fs[c0:c1].copy()
        elif self.dt_fs is not None:
            times = steps * self.dt_fs
        else:
            times = None
        return FrameChunk(
            first_frame=c0,
            cells=cells,
            positions=positions,
            unwrapped=layout.unwrapped,
            steps=steps,
            times=times,
            velocities=out[layout.groups["velocities"]] if "velocities" in layout.groups else None,
            forces=out[layout.groups["forces"]] if "forces" in layout.groups else None,
        )


def _truncation(data: bytes, n_atoms: int, n_columns: int) -> str | None:
    """Say why the atom lines ``data`` of a last frame are incomplete, or return None.

    A last line without a newline is complete when it has ``n_columns``
    values and its last one is a number (MDAnalysis reads such files too). A
    line cut inside its last number that still reads as a number cannot be
    told from a whole one.
    """
    n_lines = data.count(b"\n")
    tail = data[data.rfind(b"\n") + 1 :].split()
    if tail:
        if len(tail) < n_columns or not _is_number(tail[-1]):
            return "the file ends inside an atom line"
        n_lines += 1
    if n_lines < n_atoms:
        return f"{n_lines} of {n_atoms} atom lines present"
    return None


def _is_number(token: bytes) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _type_key(value: object) -> int | str:
    """Normalise a LAMMPS type (``1``, ``"1"``, ``"Si"``) to int when numeric."""
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text


def _id_of_line(line: str, id_col: int) -> int:
    """Best-effort atom id of a raw atom line for error messages (-1 if unreadable)."""
    tokens = line.split()
    try:
        return int(float(tokens[id_col]))
    except (IndexError, ValueError):
        return -1


def _warn_truncated(path: Path, n_frames: int, truncated: tuple[int, str] | None, cut: Codec | None) -> None:
    """Warn about a dropped incomplete last frame, or a compressed file (``cut``) cut short after a complete frame."""
    note = f"; the {cut.name} file is cut short before its end marker" if cut else ""
    if truncated is not None:
        frame, why = truncated
        warnings.warn(
            f"{path}: frame {frame} is truncated ({why}{note}); it is skipped and the trajectory "
            f"ends at frame {frame - 1}",
            TruncatedDumpWarning,
            stacklevel=4,
        )
    elif cut:
        warnings.warn(
            f"{path}: the {cut.name} file is cut short (its data end before the {cut.name} end marker), right "
            f"after frame {n_frames - 1}; frames 0 to {n_frames - 1} are complete and read",
            TruncatedDumpWarning,
            stacklevel=4,
        )


def _corrupt_data_error(path: Path, exc: CorruptDataError, marker: bytes) -> TrajectoryFormatError:
    """A :class:`TrajectoryFormatError` for damaged compressed data, naming the last frame complete before it."""
    codec = exc.codec
    starts = _frame_starts_before(path, marker, exc.offset)
    if exc.reason in ("CRC check failed", "length check failed"):  # gzip: detected after the last byte
        return TrajectoryFormatError(
            path,
            f"the {codec.name} data are corrupt ({exc.reason}): frames 0 to {starts - 1} decompress, but their "
            "bytes are not the ones that were compressed, so some frame holds damaged numbers. The file was "
            f"damaged in writing or copying: check it with '{codec.tool} -t' and copy it again from the original",
        )
    if starts >= 2:  # frame k is whole when frame k + 1 starts before the damage
        where = f"the last frame complete before it is frame {starts - 2}"
    else:
        where = "no frame is complete before it"
    if codec.name != "gzip":
        where += f" ({codec.name} checks its data once per block, so the damage may begin earlier)"
    return TrajectoryFormatError(
        path,
        f"the {codec.name} data are corrupt ({exc.reason}) after {exc.offset} decompressed bytes; {where}. "
        "The file was damaged in writing or copying: copy it again from the original, or keep the part "
        f"before the damage ('{codec.tool} -dc FILE > part.dump' writes it; mdvib drops its cut last frame)",
    )


def _damage(path: Path) -> CorruptDataError | None:
    """The damage in a compressed file, found by decompressing it to the end; ``None`` if its data are whole."""
    with open_decompressed(path) as stream:
        try:
            while stream.read(_BLOCK):
                pass
        except CorruptDataError as exc:
            return exc
    return None


def _frame_starts_before(path: Path, marker: bytes, offset: int) -> int:
    """Frame headers (``marker`` lines) that start in the first ``offset`` decompressed bytes of a compressed file."""
    count, tail, pos = 0, b"", 0
    with open_decompressed(path) as stream:
        try:
            while pos < offset:
                block = stream.read(min(_BLOCK, offset - pos))
                if not block:
                    break
                data = tail + block
                count += data.count(marker)
                tail = data[len(data) - len(marker) + 1 :]  # too short to hold a whole marker
                pos += len(block)
        except CorruptDataError:
            pass
    return count


def _check_columns(path: Path, frames: list[tuple[int, int, _Header]]) -> None:
    """Raise naming the first frame whose ``ITEM: ATOMS`` columns differ from frame 0's."""
    columns = frames[0][2].columns
    for k, (_, _, hdr) in enumerate(frames):
        if hdr.columns != columns:
            raise TrajectoryFormatError(
                path,
                f"ITEM: ATOMS columns changed from {list(columns)} to {list(hdr.columns)}; "
                "split the file where the dump command changed",
                frame=k,
            )


def _build_index(
    path: Path, frames: list[tuple[int, int, _Header]], size: int, ids: np.ndarray, spec: dict
) -> _Index:
    """Per-frame offsets and header values, the column layout and the id → row map.

    Parameters
    ----------
    path : Path
        The file (for messages).
    frames : list of (frame offset, atom-lines offset, header)
        Complete frames from the scan.
    size : int
        Byte offset where the last frame ends.
    ids : ndarray, shape (n_atoms,)
        Atom ids of frame 0 in file order.
    spec : dict
        The unit style's entry of :data:`mdvib.units.LAMMPS_UNIT_STYLES`.
    """
    columns = frames[0][2].columns
    velocity_factor = VELOCITY_TO_A_PER_FS[str(spec["velocity"])]
    force_factor = float(spec["force_to_eV_per_A"])
    layout = _make_layout(columns, velocity_factor, force_factor, path)
    steps = np.array([f[2].step for f in frames], dtype=np.int64)
    check_increasing(path, steps, "timestep")
    times_fs = None
    if frames[0][2].time is not None:
        times_fs = np.array([f[2].time for f in frames], dtype=float) * float(spec["time_to_fs"])
    sorted_ids = np.sort(ids)
    id_base = int(sorted_ids[0])
    span = int(sorted_ids[-1]) - id_base + 1
    id_table = np.empty(0, dtype=np.int64)
    if span <= 4 * len(ids) + (1 << 20):
        id_table = np.full(span, -1, dtype=np.int64)
        id_table[sorted_ids - id_base] = np.arange(len(ids))
    return _Index(
        offsets=np.array([f[0] for f in frames] + [size], dtype=np.int64),
        data_starts=np.array([f[1] for f in frames], dtype=np.int64),
        header_atoms=np.array([f[2].n_atoms for f in frames], dtype=np.int64),
        steps=steps,
        times_fs=times_fs,
        cells=np.array([f[2].cell for f in frames]),
        origins=np.array([f[2].origin for f in frames]),
        columns=columns,
        layout=layout,
        sorted_ids=sorted_ids,
        id_table=id_table,
        id_base=id_base,
    )
