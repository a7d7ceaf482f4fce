"""numba text-parsing kernels (mdvib.kernels.text_parsing) against their pure-Python references."""

from __future__ import annotations

import numpy as np
import pytest

from mdvib.kernels import text_parsing as tp

# --------------------------------------------------------------------------- numbers


def test_parse_floats_matches_python_float():
    rng = np.random.default_rng(42)
    values = np.concatenate(
        [
            rng.normal(size=2000) * 10.0 ** rng.integers(-30, 30, 2000),
            rng.uniform(-1e3, 1e3, 2000),
            10.0 ** rng.uniform(-300, 300, 500),
            [0.0, -0.0, 1.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308],
        ]
    )
    formats = ["%.17g", "%.15g", "%.6g", "%g", "%.10e", "%.3E", "%.16f", "%r"]
    tokens = [(f % v) if f != "%r" else repr(float(v)) for f in formats for v in values]
    tokens += ["+.5", "1.", "-0", "12", "-000123", "7E+2", "1e-5"]
    tokens += ["12345678901234567890123", "0.000000000000000000000001234"]  # more than 19 digits
    parsed = tp.parse_floats(" ".join(tokens))
    expected = tp.parse_floats_reference(" ".join(tokens))
    assert parsed.shape == expected.shape
    normal = np.isfinite(expected) & (np.abs(expected) >= np.finfo(float).tiny)
    rel = np.abs(parsed[normal] - expected[normal]) / np.abs(expected[normal])
    assert rel.max() < 1e-15
    # away from overflow and underflow the result is correctly rounded (same bits as float())
    moderate = (np.abs(expected) > 1e-265) & (np.abs(expected) < 1e265)
    np.testing.assert_array_equal(parsed[moderate], expected[moderate])
    np.testing.assert_array_equal(parsed[np.isinf(expected)], expected[np.isinf(expected)])
    subnormal = ~normal & np.isfinite(expected)
    np.testing.assert_allclose(parsed[subnormal], expected[subnormal], rtol=0, atol=1e-323)


def test_parse_floats_special_and_bad_tokens():
    got = tp.parse_floats("nan -nan inf -inf Infinity 1e400 -1e-400")
    assert np.isnan(got[:2]).all()
    np.testing.assert_array_equal(got[2:], [np.inf, -np.inf, np.inf, np.inf, -0.0])
    for bad in ["1e", "--1", "1.2.3", "abc", "1x", ".", "-", "e5", "0x10", "1_0"]:
        for parse in (tp.parse_floats, tp.parse_floats_reference):
            with pytest.raises(ValueError, match="not a number"):
                parse(f"1 {bad} 2")


# --------------------------------------------------------------------------- frames

#: Columns ``id type x y z vx vy vz``: id, skipped type, two groups of three slots.
COL_SLOT = np.array([tp.ID, tp.SKIP, 0, 1, 2, 3, 4, 5], dtype=np.int64)
SLOT_SCALE = np.array([1.0, 1.0, 1.0, 1e-3, 1e-3, 1e-3])


def frame_block(n_frames: int = 5, n_atoms: int = 7, seed: int = 0):
    """Bytes of ``n_frames`` blocks of shuffled atom lines, their byte ranges, and the ids (ascending)."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(np.arange(1, 40), n_atoms, replace=False))
    text, starts, ends = b"", [], []
    for _ in range(n_frames):
        starts.append(len(text))
        for k in rng.permutation(n_atoms):
            values = rng.normal(size=6) * 10.0 ** rng.integers(-3, 4)
            text += f"{ids[k]} 1 " .encode() + " ".join(f"{v:.17g}" for v in values).encode() + b"\n"
        text += b"\n"  # blank lines are skipped
        ends.append(len(text))
    return text, np.array(starts), np.array(ends), ids


def run_both(text: bytes, starts, ends, ids, dense: bool = True):
    """Run the kernel and its reference on the same frames; return ((out, status), (out, status))."""
    n_frames, n_atoms = len(starts), len(ids)
    id_table = np.empty(0, dtype=np.int64)
    if dense:
        id_table = np.full(ids[-1] - ids[0] + 1, -1, dtype=np.int64)
        id_table[ids - ids[0]] = np.arange(n_atoms)
    buf = np.frombuffer(text, dtype=np.uint8)
    results = []
    for parse in (tp.parse_frames, tp.parse_frames_reference):
        out = np.full((2, n_frames, n_atoms, 3), -7.0)
        status = np.full((n_frames, 4), -9, dtype=np.int64)
        seen = np.empty((n_frames, n_atoms), dtype=np.bool_)
        vals = np.empty((n_frames, 6))
        parse(buf, starts, ends, 0, n_frames, COL_SLOT, SLOT_SCALE, id_table, int(ids[0]), ids, out, seen, vals,
              status)
        results.append((out, status))
    return results


@pytest.mark.parametrize("dense", [True, False])
def test_parse_frames_matches_reference(dense):
    text, starts, ends, ids = frame_block()
    (fast, fast_status), (slow, slow_status) = run_both(text, starts, ends, ids, dense)
    np.testing.assert_array_equal(fast_status, slow_status)
    assert (fast_status[:, 0] == tp.OK).all() and (fast_status[:, 1] == len(ids)).all()
    np.testing.assert_array_equal(fast, slow)
    # rows are in ascending-id order: frame 0's first row is the line of the smallest id
    line = next(ln for ln in text[starts[0] : ends[0]].split(b"\n") if ln.split()[:1] == [str(ids[0]).encode()])
    np.testing.assert_array_equal(fast[0, 0, 0], [float(t) for t in line.split()[2:5]])


@pytest.mark.parametrize(
    "edit, code",
    [
        (lambda ln: ln + b" 9", tp.MANY_FIELDS),
        (lambda ln: b" ".join(ln.split()[:5]), tp.FEW_FIELDS),
        (lambda ln: ln.replace(ln.split()[3], b"1.2.3", 1), tp.BAD_NUMBER),
        (lambda ln: b"2.5 " + b" ".join(ln.split()[1:]), tp.BAD_ID),
        (lambda ln: b"99 " + b" ".join(ln.split()[1:]), tp.UNKNOWN_ID),
        (lambda ln: ln.replace(ln.split()[6], b"nan", 1), tp.NONFINITE),
        (lambda ln: b"", tp.MISSING),
    ],
)
def test_parse_frames_errors_match_reference(edit, code):
    text, starts, ends, ids = frame_block(n_frames=3)
    lines = text[starts[1] : ends[1]].split(b"\n")
    lines[2] = edit(lines[2])
    frame1 = b"\n".join(lines)
    text = text[: starts[1]] + frame1 + text[ends[1] :]
    ends = ends.copy()
    shift = len(frame1) - (ends[1] - starts[1])
    ends[1:] += shift
    starts = starts.copy()
    starts[2:] += shift
    (fast, fast_status), (slow, slow_status) = run_both(text, starts, ends, ids)
    np.testing.assert_array_equal(fast_status, slow_status)
    assert fast_status[1, 0] == code and fast_status[0, 0] == tp.OK and fast_status[2, 0] == tp.OK
    np.testing.assert_array_equal(fast[:, 0], slow[:, 0])


def test_parse_frames_duplicate_id_matches_reference():
    text, starts, _, ids = frame_block(n_frames=1)
    lines = text.split(b"\n")
    dup = lines[0].split()[0]
    lines[1] = dup + b" " + b" ".join(lines[1].split()[1:])
    text = b"\n".join(lines)
    (_, fast_status), (_, slow_status) = run_both(text, starts, np.array([len(text)]), ids)
    np.testing.assert_array_equal(fast_status, slow_status)
    assert fast_status[0, 0] == tp.DUPLICATE_ID and fast_status[0, 2] == int(dup)
