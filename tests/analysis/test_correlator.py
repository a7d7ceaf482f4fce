"""Streaming blocked correlator and numba kernels against plain-NumPy references."""

import numpy as np
import pytest

from mdvib.analysis.correlator import BlockedAutocorrelator, block_bounds
from mdvib.errors import SettingsError
from mdvib.kernels.correlation import (
    accumulate_segment_products,
    accumulate_segment_products_reference,
    direct_autocorrelation_sums,
)


@pytest.mark.parametrize("use_next", [True, False])
def test_numba_kernel_matches_numpy_reference(use_next):
    rng = np.random.default_rng(0)
    n_freq, n_series, n_sets, n_groups = 33, 21, 2, 3
    seg = rng.normal(size=(n_freq, n_series)) + 1j * rng.normal(size=(n_freq, n_series))
    nxt = rng.normal(size=(n_freq, n_series)) + 1j * rng.normal(size=(n_freq, n_series))
    weights = rng.uniform(0.5, 2, size=(n_sets, n_series))
    groups = rng.integers(0, n_groups, n_series)
    fast = np.zeros((n_sets, n_groups, n_freq), complex)
    slow = np.zeros_like(fast)
    accumulate_segment_products(seg, nxt, use_next, weights, groups, fast)
    accumulate_segment_products_reference(seg, nxt, use_next, weights, groups, slow)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_frames,window,blocks,chunk", [(503, 37, 3, 17), (200, 200, 1, 64), (97, 10, 2, 1)])
def test_streaming_equals_direct_unbiased_estimator(n_frames, window, blocks, chunk):
    rng = np.random.default_rng(1)
    n_series = 12
    x = rng.normal(size=(n_frames, n_series))
    weights = np.vstack([rng.uniform(1, 3, n_series), np.ones(n_series)])
    groups = np.arange(n_series) % 3
    correlator = BlockedAutocorrelator(n_frames, window, weights, groups, blocks)
    for lo in range(0, n_frames, chunk):
        correlator.push(x[lo : lo + chunk])
    result = correlator.result()
    bounds = block_bounds(n_frames, blocks)
    for b in range(blocks):
        block = x[bounds[b] : bounds[b + 1]]
        direct = direct_autocorrelation_sums(block, window) / (len(block) - np.arange(window))[:, None]
        for s in range(2):
            for g in range(3):
                expected = (direct * weights[s])[:, groups == g].sum(axis=1)
                np.testing.assert_allclose(result[b, s, g], expected, rtol=1e-10, atol=1e-12)


def test_window_longer_than_block_is_rejected():
    with pytest.raises(SettingsError, match="longer than a block"):
        BlockedAutocorrelator(100, 60, np.ones((1, 3)), np.zeros(3, int), 2)


def test_missing_frames_are_reported():
    correlator = BlockedAutocorrelator(50, 10, np.ones((1, 2)), np.zeros(2, int), 1)
    correlator.push(np.ones((20, 2)))
    with pytest.raises(SettingsError, match="only 20 of the 50"):
        correlator.result()
    with pytest.raises(SettingsError, match="more frames"):
        correlator.push(np.ones((40, 2)))


def test_batched_transforms_give_the_same_result(monkeypatch):
    import mdvib.analysis.correlator as correlator_module

    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 13))
    weights, groups = np.ones((1, 13)), np.arange(13) % 2
    whole = BlockedAutocorrelator(120, 20, weights, groups, 2)
    whole.push(x)
    monkeypatch.setattr(correlator_module, "_FFT_BATCH_BYTES", 2 * 20 * 8 * 4)  # 4 series per batch
    batched = BlockedAutocorrelator(120, 20, weights, groups, 2)
    batched.push(x)
    np.testing.assert_allclose(batched.result(), whole.result(), rtol=1e-13, atol=1e-13)
