"""numba kernels that parse text trajectories (LAMMPS dumps) byte by byte.

Two layers:

* a decimal-number parser (:func:`parse_floats`; internally ``_parse_number``)
  that reads ``[sign] digits [. digits] [e|E [sign] digits]``, ``nan`` and
  ``inf``/``infinity`` straight from the bytes, without ``str.split`` or
  ``float()``, and rounds like ``float()`` (Clinger's fast path, then
  double-double arithmetic for the rest);
* the frame kernel :func:`parse_frames`, which parses the atom lines of a
  block of frames, checks every line (field count, numbers, ids, NaN) and
  scatters each atom to its row in ascending-id order. It runs without the
  GIL, so threads can parse disjoint frame ranges of one block.

Speed (measured on the 465 MB benchmark dump, one core): the kernels scan a
token's bytes without end-of-buffer checks, relying on a newline after the
last atom line of every frame (:func:`parse_frames` pads a frame that lacks
one, i.e. a file's unterminated last line, in a copy), accumulate mantissas
in int64 rather than uint64 (uint64 → float conversion is a multi-instruction
sequence on x86-64), and are compiled without numba's reference counting
(``_nrt=False``: they allocate nothing, and the atomic increments of the
buffer's refcount on every number cost ~15 % and contend between threads).
The entry point :func:`_parse_frames` keeps NRT: numba releases the GIL
(``nogil=True``) only in functions compiled with it.
Together ~2× faster than byte loops with bounds checks, uint64 and NRT.

Each kernel has a pure-Python reference with the same interface
(:func:`parse_floats_reference`, :func:`parse_frames_reference`) that the tests
compare against. The reader that drives them is
:class:`mdvib.io.lammps_dump.LammpsDumpReader`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "SKIP", "ID", "OK", "FEW_FIELDS", "MANY_FIELDS", "BAD_NUMBER", "BAD_ID", "UNKNOWN_ID", "DUPLICATE_ID",
    "NONFINITE", "MISSING", "parse_floats", "parse_floats_reference", "parse_frames", "parse_frames_reference",
    "row_of",
]  # fmt: skip

# --------------------------------------------------------------------------------------
# numbers
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
_FAST_DIGITS = 18  # digits an int64 mantissa holds exactly (10**18 < 2**63)
_TWO53 = 2**53


@njit(cache=True, inline="always", _nrt=False)
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


@njit(cache=True, _nrt=False)
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


@njit(cache=True, inline="always", _nrt=False)
def _pow10(mant: np.uint64, exp10: int) -> float:
    """Return ``mant * 10**exp10`` as float64, correctly rounded (see :func:`_pow10_slow`).

    Fast path (Clinger): ``mant < 2**53`` and ``|exp10| <= 22`` make both
    operands exact, so one multiplication or division rounds correctly.
    """
    if mant < np.uint64(_TWO53) and -22 <= exp10 <= 22:
        f = float(mant)
        if exp10 >= 0:
            return f * _P10_EXACT[exp10]
        return f / _P10_EXACT[-exp10]
    return _pow10_slow(mant, exp10)


@njit(cache=True, inline="always", _nrt=False)
def _is_space(c: int) -> bool:
    """C ``isspace``: space, tab, newline, vertical tab, form feed, carriage return."""
    return c == 32 or (c >= 9 and c <= 13)


@njit(cache=True, inline="always", _nrt=False)
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


@njit(cache=True, _nrt=False)
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


@njit(cache=True, _nrt=False)
def _parse_long_number(buf: np.ndarray, p: int, end: int) -> tuple[float, int, bool]:
    """Slow path of :func:`_parse_number` for tokens with more than 18 digits.

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


@njit(cache=True, inline="always", _nrt=False)
def _parse_number(buf: np.ndarray, p: int, end: int) -> tuple[float, int, bool]:
    """Parse one decimal number starting at ``buf[p]`` (not whitespace).

    Accepts an optional sign, digits with an optional decimal point, an
    optional ``e``/``E`` exponent, and ``nan``/``inf``. The token must end at
    whitespace; a newline must follow it before ``end`` (the digit loops do
    not check ``end``). Up to 18 digits are accumulated exactly in an int64
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
    c = buf[p]
    neg = c == 45  # '-'
    if neg or c == 43:  # '+'
        p += 1
    mant = 0
    q = p
    while True:
        d = np.int64(buf[p]) - 48
        if d < 0 or d > 9:
            break
        mant = mant * 10 + d
        p += 1
    ndig = p - q
    exp10 = 0
    if buf[p] == 46:  # '.'
        p += 1
        q = p
        while True:
            d = np.int64(buf[p]) - 48
            if d < 0 or d > 9:
                break
            mant = mant * 10 + d
            p += 1
        exp10 = q - p
        ndig += p - q
    if ndig == 0:
        return _parse_special(buf, p, end, neg)
    if ndig > _FAST_DIGITS:
        return _parse_long_number(buf, start, end)
    if (buf[p] | 32) == 101:  # 'e' or 'E'
        e, p, ok = _parse_exponent(buf, p + 1, end)
        if not ok:
            return 0.0, p, False
        exp10 += e
    if buf[p] > 32:  # the token must end here (a control byte fails in the caller)
        return 0.0, p, False
    if -22 <= exp10 <= 22 and mant < _TWO53:  # Clinger's fast path (see _pow10), in int64
        value = float(mant) * _P10_EXACT[exp10] if exp10 >= 0 else float(mant) / _P10_EXACT[-exp10]
    else:
        value = _pow10_slow(np.uint64(mant), exp10)
    return (-value if neg else value), p, True


@njit(cache=True, _nrt=False)
def _parse_all(buf: np.ndarray, out: np.ndarray) -> int:
    """Parse whitespace-separated numbers of ``buf`` (ending with a newline) into ``out``.

    Returns the count, or -1 - position of the first bad token.
    """
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
    """Parse whitespace-separated decimal numbers with the dump reader's number kernel.

    Exposed for tests and benchmarks of the parser itself; the reference is
    :func:`parse_floats_reference`.

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
    buf = np.frombuffer(raw + b"\n", dtype=np.uint8)  # the newline the number kernel needs after the last token
    out = np.empty(len(raw) // 2 + 1)
    n = _parse_all(buf, out)
    if n < 0:
        pos = -1 - n
        token = raw[pos:].split(maxsplit=1)[0].decode(errors="replace") if raw[pos:].strip() else ""
        raise ValueError(f"not a number: {token!r}")
    return out[:n].copy()


def parse_floats_reference(text: bytes | str) -> np.ndarray:
    """Pure-Python reference of :func:`parse_floats`: ``float()`` of every whitespace-separated token.

    Raises
    ------
    ValueError
        If a token is not a number the kernel accepts (``float()`` also
        takes ``1_000``; the kernel and this reference do not).
    """
    raw = text.decode() if isinstance(text, bytes) else text
    out = []
    for token in raw.split():
        if "_" in token:
            raise ValueError(f"not a number: {token!r}")
        try:
            out.append(float(token))
        except ValueError:
            raise ValueError(f"not a number: {token!r}") from None
    return np.array(out, dtype=np.float64)


# --------------------------------------------------------------------------------------
# frames of atom lines
# --------------------------------------------------------------------------------------

#: Column roles in ``col_slot`` (other values are output slots ``3 * group + component``).
SKIP = -1
ID = -2
#: Status codes of :func:`parse_frames` (``status[f, 0]``).
OK = 0
FEW_FIELDS = 1
MANY_FIELDS = 2
BAD_NUMBER = 3
BAD_ID = 4
UNKNOWN_ID = 5
DUPLICATE_ID = 6
NONFINITE = 7
MISSING = 8
#: Internal status of :func:`_parse_frames`: the frame's bytes do not end with a newline (not parsed).
_UNTERMINATED = -1


@njit(cache=True, _nrt=False)
def row_of(atom_id: int, id_table: np.ndarray, id_base: int, sorted_ids: np.ndarray) -> int:
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


@njit(cache=True, _nrt=False)
def _parse_frame(
    buf: np.ndarray,
    p: int,
    end: int,
    f: int,
    col_slot: np.ndarray,
    slot_scale: np.ndarray,
    id_table: np.ndarray,
    id_base: int,
    sorted_ids: np.ndarray,
    out: np.ndarray,
    seen_f: np.ndarray,
    vals_f: np.ndarray,
    status_f: np.ndarray,
) -> None:
    """Parse the atom lines in ``buf[p:end]`` into frame ``f`` of ``out`` (see :func:`parse_frames`).

    Each line is checked field by field: a missing or extra field, a token
    that is not a number, a non-integer id, an id not in ``sorted_ids``, a
    repeated id or a nan/inf value stops the frame with that status.
    """
    n_cols = col_slot.shape[0]
    n_slots = slot_scale.shape[0]
    n_atoms = sorted_ids.shape[0]
    seen_f[:] = False
    line = 0
    code = OK
    bad_id = -1
    bad_col = -1
    while True:
        while p < end and _is_space(buf[p]):
            p += 1
        if p >= end:
            break
        atom_id = -1
        nonfinite_col = -1
        for c in range(n_cols):  # the fields of one atom line
            while buf[p] == 32 or buf[p] == 9:
                p += 1
            if buf[p] == 10 or buf[p] == 13:
                code = FEW_FIELDS
                bad_col = c
                break
            slot = col_slot[c]
            if slot == SKIP:
                while not _is_space(buf[p]):
                    p += 1
                continue
            v, p, ok = _parse_number(buf, p, end)
            if not ok:
                code = BAD_NUMBER
                bad_col = c
                break
            if slot == ID:
                if not (abs(v) < 9.0e18 and v == np.floor(v)):
                    code = BAD_ID
                    bad_col = c
                    break
                atom_id = np.int64(v)
            else:
                if nonfinite_col < 0 and not np.isfinite(v):
                    nonfinite_col = c
                vals_f[slot] = v
        if code != OK:
            break
        while buf[p] == 32 or buf[p] == 9 or buf[p] == 13:
            p += 1
        if buf[p] != 10:
            code = MANY_FIELDS
            break
        row = row_of(atom_id, id_table, id_base, sorted_ids)
        if row < 0:
            code = UNKNOWN_ID
            bad_id = atom_id
            break
        if seen_f[row]:
            code = DUPLICATE_ID
            bad_id = atom_id
            break
        if nonfinite_col >= 0:
            code = NONFINITE
            bad_id = atom_id
            bad_col = nonfinite_col
            break
        seen_f[row] = True
        for s in range(n_slots):
            out[s // 3, f, row, s % 3] = vals_f[s] * slot_scale[s]
        line += 1
    if code == OK and line < n_atoms:
        code = MISSING
        for r in range(n_atoms):
            if not seen_f[r]:
                bad_id = sorted_ids[r]
                break
    status_f[0] = code
    status_f[1] = line
    status_f[2] = bad_id
    status_f[3] = bad_col


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
    """:func:`parse_frames` for frames whose bytes end with a newline; others get status ``_UNTERMINATED``."""
    for f in range(first, last):
        if ends[f] > starts[f] and buf[ends[f] - 1] != 10:
            status[f, 0] = _UNTERMINATED
            continue
        _parse_frame(buf, starts[f], ends[f], f, col_slot, slot_scale, id_table, id_base, sorted_ids,
                     out, seen[f], vals[f], status[f])


def parse_frames(
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

    The numba kernel runs without the GIL, so threads can parse disjoint
    frame ranges of the same arrays in parallel. A frame whose bytes do not
    end with a newline (a file's unterminated last line) is parsed from a
    copy with one appended.

    Parameters
    ----------
    buf : ndarray, uint8
        Raw bytes holding the frames.
    starts, ends : ndarray, shape (n_frames,), int64
        Byte range in ``buf`` of each frame's atom lines.
    first, last : int
        Frames to parse.
    col_slot : ndarray, shape (n_cols,), int64
        Per column: output slot ``3*group + component``, ``ID`` or ``SKIP``.
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
        Per frame: code (``OK``, ``FEW_FIELDS``, ...), atom lines read,
        offending atom id (or -1), offending column (or -1).
    """
    args = (col_slot, slot_scale, id_table, id_base, sorted_ids, out, seen, vals, status)
    _parse_frames(buf, starts, ends, first, last, *args)
    for f in np.flatnonzero(status[first:last, 0] == _UNTERMINATED) + first:
        padded = np.frombuffer(bytes(buf[starts[f] : ends[f]]) + b"\n", dtype=np.uint8)
        at = starts.copy()
        to = ends.copy()
        at[f], to[f] = 0, padded.shape[0]
        _parse_frames(padded, at, to, f, f + 1, *args)


def parse_frames_reference(
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
    """Pure-Python reference of :func:`parse_frames` (same arguments, same results).

    Splits lines and fields with ``bytes.split`` and converts with ``float()``;
    ``id_table``, ``id_base``, ``seen`` and ``vals`` are accepted for the
    common signature (rows come from ``sorted_ids`` directly).
    """
    rows = {int(a): r for r, a in enumerate(sorted_ids)}
    n_slots = slot_scale.shape[0]
    for f in range(first, last):
        text = bytes(buf[starts[f] : ends[f]])
        code, line, bad_id, bad_col = OK, 0, -1, -1
        filled: set[int] = set()
        for raw in text.split(b"\n"):
            if not raw.strip():
                continue
            code, atom_id, bad_col, nonfinite_col, values = _reference_line(raw, col_slot, n_slots)
            if code != OK:
                break
            row = rows.get(atom_id, -1)
            if row < 0 or row in filled or nonfinite_col >= 0:
                code = UNKNOWN_ID if row < 0 else DUPLICATE_ID if row in filled else NONFINITE
                bad_id, bad_col = atom_id, (nonfinite_col if code == NONFINITE else -1)
                break
            filled.add(row)
            for s in range(n_slots):
                out[s // 3, f, row, s % 3] = values[s] * slot_scale[s]
            line += 1
        if code == OK and line < sorted_ids.shape[0]:
            code = MISSING
            bad_id = int(next(a for r, a in enumerate(sorted_ids) if r not in filled))
        status[f] = (code, line, bad_id, bad_col)


def _reference_line(raw: bytes, col_slot: np.ndarray, n_slots: int) -> tuple[int, int, int, int, list[float]]:
    """One atom line for :func:`parse_frames_reference`: (code, atom id, bad column, nan column, slot values)."""
    tokens = raw.split()
    values = [0.0] * n_slots
    atom_id, nonfinite_col = -1, -1
    for c, slot in enumerate(col_slot):
        if c >= len(tokens):
            return FEW_FIELDS, atom_id, c, nonfinite_col, values
        if slot == SKIP:
            continue
        try:
            v = None if b"_" in tokens[c] else float(tokens[c])
        except ValueError:
            v = None
        if v is None:
            return BAD_NUMBER, atom_id, c, nonfinite_col, values
        if slot == ID:
            if not (abs(v) < 9.0e18 and v == math.floor(v)):
                return BAD_ID, atom_id, c, nonfinite_col, values
            atom_id = int(v)
        else:
            if nonfinite_col < 0 and not math.isfinite(v):
                nonfinite_col = c
            values[slot] = v
    if len(tokens) > len(col_slot):
        return MANY_FIELDS, atom_id, -1, nonfinite_col, values
    return OK, atom_id, -1, nonfinite_col, values
