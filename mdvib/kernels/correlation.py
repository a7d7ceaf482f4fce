"""numba kernels for multi-origin autocorrelation functions by FFT.

Why hand-written: the anchors (dynasor, MDANSE, i-PI ``getacf``) correlate one
whole series at a time in memory; mdvib streams segments of ``window`` frames
and reduces the per-atom spectral products straight into per-species sums,
so memory is O(n_series · window) whatever the trajectory length.

Segment identity used here: let ``a`` be a segment of ``W`` frames zero-padded
to ``2W`` with discrete Fourier transform ``A``, and ``A'`` the transform of the
next segment padded the same way. The transform of ``a`` concatenated with the
next segment is ``A + (-1)^f A'`` (a shift by ``W`` on a ``2W`` grid), so

    sum_t a(t) x(t + tau),   0 <= tau < W,

with ``x`` the concatenation, is ``irfft(|A|^2 + (-1)^f conj(A) A')[tau]``. Summing
this over consecutive segments counts every pair (t, t + tau) of a block once.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def accumulate_segment_products(seg_fft, next_fft, use_next, weights, groups, out):  # pragma: no cover - numba
    """Add one segment's weighted spectral products into per-group sums.

    Parameters
    ----------
    seg_fft : ndarray, shape (n_freq, n_series), complex128
        ``rfft`` (length 2W) of the zero-padded segment, one column per series.
    next_fft : ndarray, shape (n_freq, n_series), complex128
        Same for the following segment of the same block (ignored unless ``use_next``).
    use_next : bool
        Whether a following segment exists in the block.
    weights : ndarray, shape (n_sets, n_series), float64
        Weight of each series in each weighting set (e.g. masses, ones).
    groups : ndarray, shape (n_series,), int64
        Group (species) index of each series.
    out : ndarray, shape (n_sets, n_groups, n_freq), complex128
        Accumulator, updated in place.
    """
    n_freq, n_series = seg_fft.shape
    n_sets = weights.shape[0]
    for f in prange(n_freq):
        sign = 1.0 if f % 2 == 0 else -1.0
        for j in range(n_series):
            a = seg_fft[f, j]
            value = complex(a.real * a.real + a.imag * a.imag, 0.0)
            if use_next:
                value += sign * (a.conjugate() * next_fft[f, j])
            g = groups[j]
            for s in range(n_sets):
                out[s, g, f] += weights[s, j] * value


def accumulate_segment_products_reference(seg_fft, next_fft, use_next, weights, groups, out) -> None:
    """Plain-NumPy reference of :func:`accumulate_segment_products` (same signature)."""
    n_freq = seg_fft.shape[0]
    sign = np.where(np.arange(n_freq) % 2 == 0, 1.0, -1.0)[:, None]
    value = np.abs(seg_fft) ** 2 + (sign * np.conj(seg_fft) * next_fft if use_next else 0.0)
    for g in range(out.shape[1]):
        members = groups == g
        out[:, g, :] += weights[:, members] @ value[:, members].T


def direct_autocorrelation_sums(series: np.ndarray, window: int) -> np.ndarray:
    """Reference ``sum_t x(t) x(t + tau)`` for each column, by explicit loops over lags.

    Parameters
    ----------
    series : ndarray, shape (n_frames, n_series)
        Real time series.
    window : int
        Number of lags (0 .. window-1).

    Returns
    -------
    ndarray, shape (window, n_series)
        Unnormalised lag sums.
    """
    n = series.shape[0]
    out = np.zeros((window, series.shape[1]))
    for tau in range(min(window, n)):
        out[tau] = np.einsum("ij,ij->j", series[: n - tau], series[tau:])
    return out
