"""Axis range of spectrum plots."""

import numpy as np

from mdvib.plot import _upper_frequency


def test_upper_frequency_ignores_the_noise_floor_up_to_nyquist():
    nu = np.linspace(0.0, 50.0, 5001)  # THz
    spectrum = np.exp(-0.5 * ((nu - 16.0) / 0.5) ** 2) + 1e-3  # a band ending near 17.5 THz on a flat floor
    upper = _upper_frequency(nu, spectrum)
    assert 17.0 * 1.15 < upper < 18.5 * 1.15
    assert _upper_frequency(nu, np.zeros_like(nu)) == 50.0
