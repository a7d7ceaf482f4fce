"""Reader for LAMMPS text dumps (``dump custom`` / ``dump atom``), plain or gzip.

The file is read in two passes with bounded memory. Plain files are
memory-mapped (pages already parsed are dropped from the resident set); gzip
files are decompressed as a stream.

1. :meth:`LammpsDumpReader._scan` finds each frame by its first header line
   (``ITEM: TIMESTEP``, or ``ITEM: TIME`` with ``dump_modify time yes``) and
   parses only the small per-frame headers (step, time, atom count, box).
   Frame 0's atom lines are parsed once in Python for ids, species and masses.
   An incomplete last frame (interrupted run) is dropped with a warning.
2. :meth:`LammpsDumpReader.iter_chunks` hands the bytes of a block of frames
   to a numba kernel that parses the numbers byte by byte (no ``str.split``;
   results are correctly rounded like ``float()``), checks every line, and
   scatters each atom to its row in ascending-id order; the frames of a block
   are split between threads (``numba.get_num_threads()``, i.e.
   ``NUMBA_NUM_THREADS``), the kernel running without the GIL.

Box conversion follows the LAMMPS ``dump`` documentation (restricted triclinic):
``xlo = xlo_bound - min(0, xy, xz, xy+xz)``, ``xhi = xhi_bound - max(0, xy, xz, xy+xz)``,
``ylo = ylo_bound - min(0, yz)``, ``yhi = yhi_bound - max(0, yz)``, and cell
vectors ``a = (xhi-xlo, 0, 0)``, ``b = (xy, yhi-ylo, 0)``, ``c = (xz, yz, zhi-zlo)``.
General triclinic dumps (``ITEM: BOX BOUNDS abc origin``) list ``a``, ``b``,
``c`` and the origin directly.
"""

from __future__ import annotations

import gzip
import mmap
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

import numpy as np
import numba
from numba import njit

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io._common import check_increasing, resolve_masses
from mdvib.io.base import FrameChunk, TrajectoryInfo, TrajectoryReader
from mdvib.io.registry import register_reader
from mdvib.units import LAMMPS_UNIT_STYLES, VELOCITY_TO_A_PER_FS

__all__ = ["LammpsDumpReader", "TruncatedDumpWarning", "parse_floats"]


class TruncatedDumpWarning(UserWarning):
    """The last frame of a dump is incomplete (the run was interrupted) and is skipped."""


# --------------------------------------------------------------------------------------
# numba byte-level number parser
# --------------------------------------------------------------------------------------

#: Exact powers of ten 10**0 .. 10**22 (all representable as float64).
_P10_EXACT = np.array([float(f"1e{k}") for k in range(23)])
#: Correctly rounded 10**k for k = -300 .. 308, indexed by k + 300.
_P10_ALL = np.array([float(f"1e{k}") for k in range(-300, 309)])


def _pow10_remainders() -> np.ndarray:
    """``10**k - _P10_ALL[k + 300]`` rounded to float64, so that hi + lo carries ~106 bits of 10**k."""
    out = np.empty(_P10_ALL.size)
    for i, k in enumerate(range(-300, 309)):
        n, d = float(_P10_ALL[i]).as_integer_ratio()  # hi = n / d exactly, d a power of two
        out[i] = float(10**k - n) if k >= 0 else (d - n * 10**-k) / (d * 10**-k)  # int / int rounds correctly
    return out


_P10_LO = _pow10_remainders()
_MAX_SIG_DIGITS = 18  # digits the long-number path keeps; the rest change < 1e-17 relative
_TWO53 = np.uint64(2**53)
_U10 = np.uint64(10)
_U9 = np.uint64(9)
_U48 = np.uint64(48)


@njit(cache=True, inline="always")
def _two_product(a: float, b: float) -> tuple[float, float]:
    """Dekker's exact product: ``a * b = p + err`` (no FMA; |a|, |b| well inside the float range)."""
    p = a * b
    c = 134217729.0 * a  # 2**27 + 1
    ah = c - (c - a)
    al = a - ah
    c = 134217729.0 * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@njit(cache=True)
def _pow10_slow(mant: np.uint64, exp10: int) -> float:
    """``mant * 10**exp10`` off the fast path, in double-double arithmetic.

    Correctly rounded except within ~1e-30 relative of a rounding boundary,
    for ``|exp10| <= 290``; beyond that (near overflow or subnormal) within a
    few ulp.
    """
    if mant == 0:
        return 0.0
    if exp10 > 308:
        return np.inf
    if exp10 < -300:
        if exp10 < -400:
            return 0.0
        return float(mant) * _P10_ALL[exp10 + 600] * 1e-300
    hi = _P10_ALL[exp10 + 300]
    fh = float(mant)
    if abs(exp10) > 290:
        return fh * hi
    back = np.uint64(fh)  # fh is an integer below 2**64
    fl = float(mant - back) if mant >= back else -float(back - mant)
    p, err = _two_product(fh, hi)
    return p + (err + fh * _P10_LO[exp10 + 300] + fl * hi)


@njit(cache=True, inline="always")
def _pow10(mant: np.uint64, exp10: int) -> float:
    """Return ``mant * 10**exp10`` as float64, correctly rounded (see :func:`_pow10_slow`).

    Fast path (Clinger): ``mant < 2**53`` and ``|exp10| <= 22`` make both
    operands exact, so one multiplication or division rounds correctly.
    """
    if mant < _TWO53 and -22 <= exp10 <= 22:
        f = float(mant)
        if exp10 >= 0:
            return f * _P10_EXACT[exp10]
        return f / _P10_EXACT[-exp10]
    return _pow10_slow(mant, exp10)


@njit(cache=True, inline="always")
def _is_space(c: int) -> bool:
    """C ``isspace``: space, tab, newline, vertical tab, form feed, carriage return."""
    return c == 32 or np.uint64(c) - np.uint64(9) <= np.uint64(4)


@njit(cache=True, inline="always")
def _parse_exponent(buf: np.ndarray, p: int, end: int) -> tuple[int, int, bool]:
    """Parse the signed integer after ``e``/``E``; return (exponent, position after it, ok)."""
    neg = False
    if p < end and buf[p] == 45:
        neg = True
        p += 1
    elif p < end and buf[p] == 43:
        p += 1
    e = 0
    q = p
    while p < end:
        d = np.int64(buf[p]) - 48
        if d < 0 or d > 9:
            break
        if e < 100000:
            e = e * 10 + d
        p += 1
    return (-e if neg else e), p, p > q


@njit(cache=True)
def _parse_special(buf: np.ndarray, p: int, end: int, neg: bool) -> tuple[float, int, bool]:
    """Parse ``nan`` / ``inf`` / ``infinity`` (any case) starting at ``p``."""
    q = p
    while q < end and not _is_space(buf[q]):
        q += 1
    n = q - p
    if n == 3:
        c0, c1, c2 = buf[p] | 32, buf[p + 1] | 32, buf[p + 2] | 32
        if c0 == 110 and c1 == 97 and c2 == 110:  # nan
            return np.nan, q, True
        if c0 == 105 and c1 == 110 and c2 == 102:  # inf
            return (-np.inf if neg else np.inf), q, True
    if n == 8 and (buf[p] | 32) == 105 and (buf[p + 7] | 32) == 121:  # infinity
        return (-np.inf if neg else np.inf), q, True
    return 0.0, p, False


@njit(cache=True)
def _parse_long_number(buf: np.ndarray, p: int, end: int) -> tuple[float, int, bool]:
    """Slow path of :func:`_parse_number` for tokens with more than 19 digits.

    Keeps the first 18 significant digits (leading zeros do not count).
    """
    neg = buf[p] == 45
    if buf[p] == 45 or buf[p] == 43:
        p += 1
    mant = 0
    nsig = 0
    exp10 = 0
    while p < end:
        d = np.int64(buf[p]) - 48
        if d < 0 or d > 9:
            break
        if nsig < _MAX_SIG_DIGITS:
            mant = mant * 10 + d
            nsig += mant != 0
        else:
            exp10 += 1
        p += 1
    if p < end and buf[p] == 46:  # '.'
        p += 1
        while p < end:
            d = np.int64(buf[p]) - 48
            if d < 0 or d > 9:
                break
            if nsig < _MAX_SIG_DIGITS:
                mant = mant * 10 + d
                exp10 -= 1
                nsig += mant != 0
            p += 1
    if p < end and (buf[p] | 32) == 101:  # 'e' or 'E'
        e, p, ok = _parse_exponent(buf, p + 1, end)
        if not ok:
            return 0.0, p, False
        exp10 += e
    if p < end and buf[p] > 32:  # the token must end here (a control byte fails in the caller)
        return 0.0, p, False
    value = _pow10(np.uint64(mant), exp10)
    return (-value if neg else value), p, True


@njit(cache=True, inline="always")
def _parse_number(buf: np.ndarray, p: int, end: int) -> tuple[float, int, bool]:
    """Parse one decimal number starting at ``buf[p]`` (not whitespace).

    Accepts an optional sign, digits with an optional decimal point, an
    optional ``e``/``E`` exponent, and ``nan``/``inf``. The token must end at
    whitespace or ``end``. Up to 19 digits are accumulated exactly in a uint64
    mantissa; longer tokens take :func:`_parse_long_number`.

    Returns
    -------
    value : float
    p : int
        Position just after the token.
    ok : bool
        False when the token is not a number.
    """
    start = p
    neg = False
    c = buf[p]
    if c == 45:  # '-'
        neg = True
        p += 1
    elif c == 43:  # '+'
        p += 1
    mant = np.uint64(0)
    q = p
    while p < end:
        d = np.uint64(buf[p]) - _U48
        if d > _U9:
            break
        mant = mant * _U10 + d
        p += 1
    ndig = p - q
    exp10 = 0
    if p < end and buf[p] == 46:  # '.'
        p += 1
        q = p
        while p < end:
            d = np.uint64(buf[p]) - _U48
            if d > _U9:
                break
            mant = mant * _U10 + d
            p += 1
        exp10 = q - p
        ndig += p - q
    if ndig == 0:
        return _parse_special(buf, p, end, neg)
    if ndig > 19:
        return _parse_long_number(buf, start, end)
    if p < end and (buf[p] | 32) == 101:  # 'e' or 'E'
        e, p, ok = _parse_exponent(buf, p + 1, end)
        if not ok:
            return 0.0, p, False
        exp10 += e
    if p < end and buf[p] > 32:  # the token must end here (a control byte fails in the caller)
        return 0.0, p, False
    value = _pow10(mant, exp10)
    return (-value if neg else value), p, True


@njit(cache=True)
def _parse_all(buf: np.ndarray, out: np.ndarray) -> int:
    """Parse whitespace-separated numbers of ``buf`` into ``out``; return the count or -1-position on error."""
    p = 0
    end = buf.shape[0]
    n = 0
    while True:
        while p < end and _is_space(buf[p]):
            p += 1
        if p >= end:
            return n
        v, q, ok = _parse_number(buf, p, end)
        if not ok or n >= out.shape[0]:
            return -1 - p
        out[n] = v
        n += 1
        p = q


def parse_floats(text: bytes | str) -> np.ndarray:
    """Parse whitespace-separated decimal numbers with the dump reader's kernel.

    Exposed for tests and benchmarks of the parser itself.

    Parameters
    ----------
    text : bytes or str
        ASCII numbers separated by spaces, tabs or newlines.

    Returns
    -------
    ndarray, shape (n,), float64

    Raises
    ------
    ValueError
        If a token is not a number.
    """
    raw = text.encode() if isinstance(text, str) else bytes(text)
    buf = np.frombuffer(raw, dtype=np.uint8)
    out = np.empty(len(raw) // 2 + 1)
    n = _parse_all(buf, out)
    if n < 0:
        pos = -1 - n
        token = raw[pos:].split(maxsplit=1)[0].decode(errors="replace") if raw[pos:].strip() else ""
        raise ValueError(f"not a number: {token!r}")
    return out[:n].copy()


# Column roles in the frame kernel.
_SKIP = -1
_ID = -2
# Status codes of the frame kernel.
_OK = 0
_FEW_FIELDS = 1
_MANY_FIELDS = 2
_BAD_NUMBER = 3
_BAD_ID = 4
_UNKNOWN_ID = 5
_DUPLICATE_ID = 6
_NONFINITE = 7
_MISSING = 8


@njit(cache=True)
def _row_of(atom_id: int, id_table: np.ndarray, id_base: int, sorted_ids: np.ndarray) -> int:
    """Row of ``atom_id`` in ascending-id order, -1 if unknown."""
    if id_table.shape[0] > 0:
        k = atom_id - id_base
        if k < 0 or k >= id_table.shape[0]:
            return -1
        return id_table[k]
    lo = 0
    hi = sorted_ids.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_ids[mid] < atom_id:
            lo = mid + 1
        else:
            hi = mid
    if lo < sorted_ids.shape[0] and sorted_ids[lo] == atom_id:
        return lo
    return -1


@njit(cache=True, nogil=True)
def _parse_frames(
    buf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    first: int,
    last: int,
    col_slot: np.ndarray,
    slot_scale: np.ndarray,
    id_table: np.ndarray,
    id_base: int,
    sorted_ids: np.ndarray,
    out: np.ndarray,
    seen: np.ndarray,
    vals: np.ndarray,
    status: np.ndarray,
) -> None:
    """Parse the atom lines of frames ``first <= f < last`` and scatter them by atom id.

    Runs without the GIL, so threads can parse disjoint frame ranges of the
    same arrays in parallel.

    Parameters
    ----------
    buf : ndarray, uint8
        Raw bytes holding the frames.
    starts, ends : ndarray, shape (n_frames,), int64
        Byte range in ``buf`` of each frame's atom lines.
    first, last : int
        Frames to parse.
    col_slot : ndarray, shape (n_cols,), int64
        Per column: output slot ``3*group + component``, ``_ID`` or ``_SKIP``.
    slot_scale : ndarray, shape (n_slots,), float64
        Unit factor applied to each slot.
    id_table : ndarray, int64
        Dense map ``id - id_base -> row`` (-1 for gaps); empty to use
        binary search in ``sorted_ids`` instead.
    id_base : int
        Smallest atom id.
    sorted_ids : ndarray, shape (n_atoms,), int64
        Atom ids of frame 0 in ascending order.
    out : ndarray, shape (n_slots // 3, n_frames, n_atoms, 3), float64
        Filled with the scaled values, rows in ascending-id order.
    seen : ndarray, shape (n_frames, n_atoms), bool
        Scratch.
    vals : ndarray, shape (n_frames, n_slots), float64
        Scratch.
    status : ndarray, shape (n_frames, 4), int64
        Per frame: code, atom lines read, offending atom id (or -1), offending
        column (or -1).
    """
    n_cols = col_slot.shape[0]
    n_slots = slot_scale.shape[0]
    n_atoms = sorted_ids.shape[0]
    for f in range(first, last):
        p = starts[f]
        end = ends[f]
        seen_f = seen[f]
        vals_f = vals[f]
        seen_f[:] = False
        line = 0
        code = _OK
        bad_id = -1
        bad_col = -1
        while True:
            while p < end and _is_space(buf[p]):
                p += 1
            if p >= end:
                break
            atom_id = -1
            nonfinite_col = -1
            for c in range(n_cols):
                while p < end and (buf[p] == 32 or buf[p] == 9):
                    p += 1
                if p >= end or buf[p] == 10 or buf[p] == 13:
                    code = _FEW_FIELDS
                    bad_col = c
                    break
                slot = col_slot[c]
                if slot == _SKIP:
                    while p < end and not _is_space(buf[p]):
                        p += 1
                    continue
                v, p, ok = _parse_number(buf, p, end)
                if not ok:
                    code = _BAD_NUMBER
                    bad_col = c
                    break
                if slot == _ID:
                    if not (abs(v) < 9.0e18 and v == np.floor(v)):
                        code = _BAD_ID
                        bad_col = c
                        break
                    atom_id = np.int64(v)
                else:
                    if nonfinite_col < 0 and not np.isfinite(v):
                        nonfinite_col = c
                    vals_f[slot] = v
            if code != _OK:
                break
            while p < end and (buf[p] == 32 or buf[p] == 9 or buf[p] == 13):
                p += 1
            if p < end and buf[p] != 10:
                code = _MANY_FIELDS
                break
            row = _row_of(atom_id, id_table, id_base, sorted_ids)
            if row < 0:
                code = _UNKNOWN_ID
                bad_id = atom_id
                break
            if seen_f[row]:
                code = _DUPLICATE_ID
                bad_id = atom_id
                break
            if nonfinite_col >= 0:
                code = _NONFINITE
                bad_id = atom_id
                bad_col = nonfinite_col
                break
            seen_f[row] = True
            for s in range(n_slots):
                out[s // 3, f, row, s % 3] = vals_f[s] * slot_scale[s]
            line += 1
        if code == _OK and line < n_atoms:
            code = _MISSING
            for r in range(n_atoms):
                if not seen_f[r]:
                    bad_id = sorted_ids[r]
                    break
        status[f, 0] = code
        status[f, 1] = line
        status[f, 2] = bad_id
        status[f, 3] = bad_col


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


def _box_to_cell(flags: list[str], rows: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Convert the three ``BOX BOUNDS`` lines to cell vectors (rows) and origin."""
    if flags[:2] == ["abc", "origin"]:
        if any(len(r) != 4 for r in rows):
            raise ValueError("general triclinic BOX BOUNDS lines need 4 numbers (vector + origin)")
        cell = np.array([r[:3] for r in rows], dtype=float)
        return cell, np.array([r[3] for r in rows], dtype=float)
    if flags[:3] == ["xy", "xz", "yz"]:
        if any(len(r) != 3 for r in rows):
            raise ValueError("triclinic BOX BOUNDS lines need 3 numbers (lo_bound hi_bound tilt)")
        (xlob, xhib, xy), (ylob, yhib, xz), (zlo, zhi, yz) = rows
        xlo = xlob - min(0.0, xy, xz, xy + xz)
        xhi = xhib - max(0.0, xy, xz, xy + xz)
        ylo = ylob - min(0.0, yz)
        yhi = yhib - max(0.0, yz)
        cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
        return cell, np.array([xlo, ylo, zlo])
    if any(len(r) != 2 for r in rows):
        raise ValueError("orthogonal BOX BOUNDS lines need 2 numbers (lo hi)")
    lo = np.array([r[0] for r in rows], dtype=float)
    hi = np.array([r[1] for r in rows], dtype=float)
    return np.diag(hi - lo), lo


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
    col_slot = np.full(len(columns), _SKIP, dtype=np.int64)
    col_slot[columns.index("id")] = _ID
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
    memory stays at about one chunk. Gzip files are streamed; reading a range
    behind the current position restarts decompression.
    """

    def __init__(self, path: Path):
        with open(path, "rb") as fh:
            magic = fh.read(2)
            size = fh.seek(0, 2)
            if size == 0:
                raise TrajectoryFormatError(path, "empty file")
            self.mapped = None if magic == b"\x1f\x8b" else mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.stream = gzip.open(path, "rb") if self.mapped is None else None
        self._released = 0
        self._scratch = np.empty(0, dtype=np.uint8)

    def read(self, lo: int, hi: int) -> bytes:
        """Bytes ``lo:hi`` (fewer at the end of the file)."""
        if self.mapped is not None:
            return self.mapped[lo:hi]
        self.stream.seek(lo)
        return self.stream.read(hi - lo)

    def view(self, lo: int, hi: int) -> np.ndarray:
        """Bytes ``lo:hi`` as a uint8 array: a view of the mapping, or a reused buffer for gzip.

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
    patterns=("*.dump", "*.dump.gz", "*.lammpstrj", "*.lammpstrj.gz", "dump.*", "*.dump.*"),
    sniff=_sniff,
    description="LAMMPS text dump (dump custom/atom; .gz ok); needs an id column",
)
class LammpsDumpReader(TrajectoryReader):
    """Fast reader of LAMMPS text dumps.

    Parameters
    ----------
    path : str or Path
        Dump file, plain text or gzip-compressed.
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
        try:
            marker, file_units, preamble = self._read_preamble(source.read(0, _HEADER_MAX))
            style = self._resolve_units(file_units)
            spec = LAMMPS_UNIT_STYLES[style]
            frames, size, truncated = self._scan_frames(source, marker, preamble)
            if not frames:
                why = f" (frame 0 is truncated: {truncated[1]})" if truncated else ""
                raise TrajectoryFormatError(path, f"no complete frame in the file{why}")
            ids, species, masses = self._first_frame_atoms(source, frames, size)
        finally:
            source.close()
        if truncated is not None:
            frame, why = truncated
            warnings.warn(
                f"{path}: frame {frame} is truncated ({why}); it is skipped and the trajectory "
                f"ends at frame {frame - 1}",
                TruncatedDumpWarning,
                stacklevel=3,
            )
        columns = frames[0][2].columns
        for k, (_, _, hdr) in enumerate(frames):
            if hdr.columns != columns:
                raise TrajectoryFormatError(
                    path,
                    f"ITEM: ATOMS columns changed from {list(columns)} to {list(hdr.columns)}; "
                    "split the file where the dump command changed",
                    frame=k,
                )
        velocity_factor = VELOCITY_TO_A_PER_FS[str(spec["velocity"])]
        force_factor = float(spec["force_to_eV_per_A"])
        layout = _make_layout(columns, velocity_factor, force_factor, path)

        offsets = np.array([f[0] for f in frames] + [size], dtype=np.int64)
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
        order = np.argsort(ids, kind="stable")

        self._index = _Index(
            offsets=offsets,
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
        spacing, uniform, step_interval = self._frame_spacing(steps, times_fs)
        source_units = {
            "style": style,
            "style_from": "ITEM: UNITS" if file_units else ("option" if self.units else "default"),
            "length": "A",
            "velocity": str(spec["velocity"]),
            "force": "eV/A" if style == "metal" else "kcal/mol/A",
            "time": ("ps" if style == "metal" else "fs") if times_fs is not None else "step",
            "dt_fs": self.dt_fs,
            "positions": " ".join(layout.coords + (("ix", "iy", "iz") if "images" in layout.groups else ())),
            "uniform_spacing": uniform,
            "step_interval": step_interval,
        }
        return TrajectoryInfo(
            path=str(path),
            format=self.format_name,
            n_atoms=len(ids),
            n_frames=len(frames),
            atom_ids=sorted_ids,
            species=tuple(str(x) for x in species[order]),
            masses=masses[order],
            has_velocities="velocities" in layout.groups,
            has_forces="forces" in layout.groups,
            frame_spacing_fs=spacing,
            source_units=source_units,
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

    def _scan_frames(
        self, source: _Source, marker: bytes, preamble: int
    ) -> tuple[list[tuple[int, int, _Header]], int, tuple[int, str] | None]:
        """Find every frame and parse its header (in the mapping, or streaming blocks of a gzip file).

        Returns
        -------
        frames : list of (frame offset, atom-lines offset, header)
            Complete frames only.
        size : int
            Byte offset where the last complete frame ends.
        truncated : (frame index, reason) or None
            The incomplete last frame that was dropped.
        """
        has_time = marker.strip() == b"ITEM: TIME"
        frames: list[tuple[int, int, _Header]] = []
        buf = source.mapped if source.mapped is not None else b""
        base = 0  # file offset of buf[0]
        pos = 0  # where the next marker search starts in buf
        eof = source.mapped is not None

        def refill(keep: int) -> None:
            nonlocal buf, base, pos, eof
            if frames:
                # Keep a short last frame in memory for the truncation check at the end.
                last = frames[-1][1] - base
                if 0 <= last < keep and len(buf) - last < _BLOCK:
                    keep = last
            block = source.stream.read(_BLOCK)
            eof = not block
            buf = buf[keep:] + block
            base += keep
            pos = max(0, pos - keep)

        if not eof:
            source.stream.seek(0)
            refill(0)
        if buf.find(marker) != preamble:
            raise TrajectoryFormatError(self.path, "not a LAMMPS text dump: no frame header at the start")
        while True:
            p = _find_marker(buf, marker, pos, len(buf))
            if p < 0:
                if eof:
                    break
                refill(max(pos, len(buf) - len(marker) + 1))
                continue
            if not eof and len(buf) - p < _HEADER_MAX:
                refill(p)
                continue
            limit = _find_marker(buf, marker, p + len(marker), p + _HEADER_MAX)
            if limit < 0:
                limit = min(len(buf), p + _HEADER_MAX)
            frame = len(frames)
            try:
                hdr = _parse_header(buf, p, limit, has_time)
            except _IncompleteHeaderError:
                if eof and limit == len(buf):
                    return frames, base + p, (frame, "the file ends inside its header")
                if limit == p + _HEADER_MAX:
                    raise TrajectoryFormatError(
                        self.path, f"frame header longer than {_HEADER_MAX} bytes", frame=frame
                    ) from None
                raise TrajectoryFormatError(
                    self.path, "frame header is cut short by the next frame (truncated write?)", frame=frame
                ) from None
            except ValueError as exc:
                raise TrajectoryFormatError(self.path, f"malformed frame header: {exc}", frame=frame) from None
            frames.append((base + p, base + p + hdr.length, hdr))
            pos = p + hdr.length
            source.release(pos)
        size = base + len(buf)
        if not frames:
            return frames, size, None
        _, data_start, hdr = frames[-1]
        if data_start >= base:
            data = buf[data_start - base :]
        else:  # a last frame longer than one block: read it again
            data = source.read(data_start, size)
        why = _truncation(data, hdr.n_atoms)
        if why is not None:
            return frames[:-1], frames[-1][0], (len(frames) - 1, why)
        return frames, size, None

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

    def _frame_spacing(self, steps: np.ndarray, times_fs: np.ndarray | None) -> tuple[float | None, bool, int | None]:
        """Return (frame spacing in fs or None, uniform?, step interval or None)."""
        if steps.size < 2:
            return None, True, None
        dsteps = np.diff(steps)
        step_interval = int(dsteps[0]) if np.all(dsteps == dsteps[0]) else None
        if times_fs is not None:
            dts = np.diff(times_fs)
            uniform = bool(np.allclose(dts, dts[0], rtol=1e-6, atol=1e-9))
            return (float(dts[0]) if uniform else None), uniform, step_interval
        uniform = step_interval is not None
        if self.dt_fs is None or not uniform:
            return None, uniform, step_interval
        return step_interval * self.dt_fs, uniform, step_interval

    # ---------------------------------------------------------------- reading

    def _iter_frames(self, frames: range, chunk_frames: int) -> Iterator[FrameChunk]:
        """Yield ``frames`` in chunks of ``chunk_frames`` (see base class).

        Memory is about ``chunk_frames * n_atoms * (bytes per atom line + 8 * n_values)``.
        Positions in Å, velocities in Å/fs, forces in eV/Å, cells in Å (rows are
        cell vectors), steps, and times in fs when known; atoms in the order of
        ``info.atom_ids``.
        """
        info = self.info
        index = self._index
        start, stop = frames.start, frames.stop
        layout = index.layout
        n_atoms = info.n_atoms
        n_slots = layout.slot_scale.shape[0]
        seen = np.empty((min(chunk_frames, stop - start), n_atoms), dtype=np.bool_)
        vals = np.empty((seen.shape[0], n_slots))
        tables = (layout.col_slot, layout.slot_scale, index.id_table, index.id_base, index.sorted_ids)
        n_workers = max(1, min(numba.get_num_threads(), seen.shape[0]))
        source = _Source(self.path)
        pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="mdvib-dump")
        try:
            for c0 in range(start, stop, chunk_frames):
                c1 = min(c0 + chunk_frames, stop)
                n = c1 - c0
                lo, hi = int(index.offsets[c0]), int(index.offsets[c1])
                buf = source.view(lo, hi)
                if buf.size != hi - lo:
                    raise TrajectoryFormatError(self.path, "file is shorter than when it was scanned", frame=c0)
                starts = index.data_starts[c0:c1] - lo
                ends = index.offsets[c0 + 1 : c1 + 1] - lo
                out = np.empty((n_slots // 3, n, n_atoms, 3))
                status = np.empty((n, 4), dtype=np.int64)
                split = np.linspace(0, n, min(n_workers, n) + 1).astype(int)
                jobs = [
                    pool.submit(_parse_frames, buf, starts, ends, a, b, *tables, out, seen, vals, status)
                    for a, b in zip(split[:-1], split[1:], strict=True)
                ]
                for job in jobs:
                    job.result()
                self._check_status(status, buf, starts, ends, c0)
                del buf
                source.release(hi)
                yield self._make_chunk(out, c0, c1)
        finally:
            pool.shutdown()
            source.close()

    def _check_status(
        self, status: np.ndarray, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, first: int
    ) -> None:
        """Raise :class:`TrajectoryFormatError` for the first bad frame of a parsed chunk."""
        index = self._index
        n_atoms = index.sorted_ids.shape[0]
        counts = index.header_atoms[first : first + status.shape[0]]
        bad = np.nonzero((status[:, 0] != _OK) | (counts != n_atoms))[0]
        if bad.size == 0:
            return
        k = int(bad[0])
        frame = first + k
        code, line, atom_id, col = (int(v) for v in status[k])
        columns = index.columns
        note = "" if counts[k] == n_atoms else f" (NUMBER OF ATOMS is {counts[k]}, frame 0 has {n_atoms})"
        if code == _OK:
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
            _FEW_FIELDS: f"atom line {line} has fewer than {len(columns)} values (truncated line?): {bad_line!r}",
            _MANY_FIELDS: f"atom line {line} has more than {len(columns)} values: {bad_line!r}",
            _BAD_NUMBER: f"cannot read column {col_name!r} of atom line {line} as a number: {bad_line!r}",
            _BAD_ID: f"id column of atom line {line} is not an integer: {bad_line!r}",
            _UNKNOWN_ID: "atom id is not in frame 0 (atoms added or the dump group changed?)",
            _DUPLICATE_ID: "atom id appears more than once in the frame",
            _NONFINITE: f"non-finite value (nan/inf) in column {col_name!r}: the simulation blew up here",
            _MISSING: f"atom id missing: only {line} of {n_atoms} atom lines (truncated or atoms lost)",
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


def _truncation(data: bytes, n_atoms: int) -> str | None:
    """Say why the atom lines ``data`` of a last frame are incomplete, or return None."""
    if n_atoms > 0 and not data.endswith(b"\n"):
        return "the file ends inside an atom line"
    n_lines = data.count(b"\n")
    if n_lines < n_atoms:
        return f"{n_lines} of {n_atoms} atom lines present"
    return None


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
