"""Streaming, block-averaged multi-origin autocorrelation of many time series.

:class:`BlockedAutocorrelator` takes frames in chunks of any length and returns,
for each of ``n_blocks`` consecutive independent blocks of frames, the
weighted per-group sums of autocorrelations

    C_b[set, group, tau] = 1/(L_b - tau) * sum_{j in group} w[set, j]
                           * sum_{t, t+tau in block b} x_j(t) x_j(t+tau)

for lags 0 <= tau < window (every frame an origin, no circular wrap, unbiased
normalisation). Memory: one segment of ``window`` frames being filled plus the
transform of the previous one, never the trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdvib.errors import SettingsError
from mdvib.kernels.correlation import accumulate_segment_products

#: Bytes of zero-padded input one FFT batch may use (bounds the FFT work arrays).
_FFT_BATCH_BYTES = 128 * 2**20


@dataclass
class _Segment:
    spectrum: np.ndarray  # (window + 1, n_series) complex: rfft of the zero-padded frames
    block: int


def block_bounds(n_frames: int, n_blocks: int) -> np.ndarray:
    """First frame of each block plus the end, shape (n_blocks + 1,), int64."""
    return (np.arange(n_blocks + 1, dtype=np.int64) * n_frames) // n_blocks


def block_mean_error(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean over blocks (axis 0) and its standard error; the error is ``None`` with a single block."""
    n = values.shape[0]
    error = values.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else None
    return values.mean(axis=0), error


def check_window(n_frames: int, window: int, n_blocks: int) -> None:
    """Check that ``window`` lags fit into each of ``n_blocks`` blocks of ``n_frames`` frames.

    Raises
    ------
    SettingsError
        If ``n_blocks < 1``, ``window < 2`` or the window is longer than the shortest block.
    """
    if n_blocks < 1:
        raise SettingsError(f"blocks must be >= 1, got {n_blocks}")
    if window < 2:
        raise SettingsError(f"window must be at least 2 frames, got {window}")
    shortest = int(np.diff(block_bounds(n_frames, n_blocks)).min())
    if window > shortest:
        raise SettingsError(
            f"window of {window} frames is longer than a block ({shortest} frames = "
            f"{n_frames} frames / {n_blocks} blocks); use a shorter --window or fewer --blocks "
            f"(--window {window} with --blocks {n_blocks} needs at least {window * n_blocks} frames)"
        )


class BlockedAutocorrelator:
    """Accumulate block-wise autocorrelations of ``n_series`` real series.

    Parameters
    ----------
    n_frames : int
        Total frames that will be pushed (fixes the block boundaries).
    window : int
        Number of lags, in frames. Must be shorter than every block.
    weights : ndarray, shape (n_sets, n_series)
        Weighting sets applied before summing within a group.
    groups : ndarray, shape (n_series,), int
        Group index (0 .. n_groups-1) of every series.
    n_blocks : int
        Independent blocks for error bars (1 for none).
    """

    def __init__(self, n_frames: int, window: int, weights: np.ndarray, groups: np.ndarray, n_blocks: int = 1):
        check_window(n_frames, window, n_blocks)
        self.bounds = block_bounds(n_frames, n_blocks)
        self.window = window
        self.n_blocks = n_blocks
        self.weights = np.ascontiguousarray(weights, dtype=np.float64)
        self.groups = np.ascontiguousarray(groups, dtype=np.int64)
        self.n_series = self.groups.shape[0]
        self.n_groups = int(self.groups.max()) + 1
        n_freq = window + 1
        self._sums = np.zeros((n_blocks, self.weights.shape[0], self.n_groups, n_freq), dtype=np.complex128)
        self._frame = 0
        self._buffer = np.empty((window, self.n_series))
        self._filled = 0
        self._pending: _Segment | None = None

    def push(self, frames: np.ndarray) -> None:
        """Add consecutive frames, shape (n, n_series)."""
        frames = np.asarray(frames, dtype=np.float64).reshape(frames.shape[0], self.n_series)
        pos = 0
        while pos < frames.shape[0]:
            block = self._current_block()
            block_end = int(self.bounds[block + 1])
            take = min(self.window - self._filled, block_end - self._frame, frames.shape[0] - pos)
            self._buffer[self._filled : self._filled + take] = frames[pos : pos + take]
            self._filled += take
            self._frame += take
            pos += take
            if self._filled == self.window or self._frame == block_end:
                self._finish_segment(block)

    def _current_block(self) -> int:
        if self._frame >= self.bounds[-1]:
            raise SettingsError(f"more frames pushed than the {int(self.bounds[-1])} announced")
        return int(np.searchsorted(self.bounds, self._frame, side="right") - 1)

    def _finish_segment(self, block: int) -> None:
        segment = _Segment(self._transform(self._buffer[: self._filled]), block)
        self._filled = 0
        if self._pending is not None:
            following = segment if self._pending.block == block else None
            self._accumulate(self._pending, following)
        self._pending = segment

    def _transform(self, frames: np.ndarray) -> np.ndarray:
        """rfft over time of frames zero-padded to 2W, in batches of series (bounded work arrays).

        Each segment is transformed once: as the current segment and, cached, as
        the following segment of its predecessor.
        """
        import scipy.fft  # here, not at the top: scipy.fft takes ~0.15 s to import, and only correlations need it

        n_fft = 2 * self.window
        batch = max(1, _FFT_BATCH_BYTES // (n_fft * 8))
        if self.n_series <= batch:
            return scipy.fft.rfft(frames, n=n_fft, axis=0, workers=-1)
        spectrum = np.empty((self.window + 1, self.n_series), dtype=np.complex128)
        for lo in range(0, self.n_series, batch):
            hi = min(lo + batch, self.n_series)
            spectrum[:, lo:hi] = scipy.fft.rfft(frames[:, lo:hi], n=n_fft, axis=0, workers=-1)
        return spectrum

    def _accumulate(self, segment: _Segment, following: _Segment | None) -> None:
        accumulate_segment_products(
            segment.spectrum,
            segment.spectrum if following is None else following.spectrum,
            following is not None,
            self.weights,
            self.groups,
            self._sums[segment.block],
        )

    def result(self) -> np.ndarray:
        """Finish and return normalised correlations.

        Returns
        -------
        ndarray, shape (n_blocks, n_sets, n_groups, window)
            C_b(tau), in the squared units of the series times the weights.

        Raises
        ------
        SettingsError
            If fewer frames were pushed than announced.
        """
        if self._frame != self.bounds[-1]:
            raise SettingsError(f"only {self._frame} of the {int(self.bounds[-1])} announced frames were pushed")
        if self._pending is not None:
            self._accumulate(self._pending, None)
            self._pending = None
        import scipy.fft

        sums = scipy.fft.irfft(self._sums, n=2 * self.window, axis=-1)[..., : self.window]
        lengths = np.diff(self.bounds)
        pairs = lengths[:, None] - np.arange(self.window)[None, :]
        return sums / pairs[:, None, None, :]
