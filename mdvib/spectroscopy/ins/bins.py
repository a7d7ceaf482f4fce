"""The energy-transfer axis every INS spectrum is computed on.

One uniform grid of bins centred on E = 0 covers the energy-loss (E > 0) and the
energy-gain (E < 0) side, so the Bose factor and detailed balance act on one
array, the multiphonon convolutions are plain discrete convolutions, and every
spectrum of a temperature series shares the axis (and so its normalisation).
Intensities on it are bin averages, per meV: Σ intensity · width is the
integrated intensity.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mdvib.errors import SettingsError


@dataclasses.dataclass(frozen=True)
class EnergyBins:
    """Uniform energy-transfer bins, symmetric about zero, one bin centred on E = 0.

    Attributes
    ----------
    width_mev : float
        Bin width, meV.
    n_positive : int
        Number of bins with a centre above zero; there are ``2 n_positive + 1`` bins.
    """

    width_mev: float
    n_positive: int

    def __post_init__(self):
        if not np.isfinite(self.width_mev) or self.width_mev <= 0:
            raise SettingsError(f"the energy bin width must be a positive number of meV, not {self.width_mev!r}")
        if self.n_positive < 1:
            raise SettingsError(f"the energy axis needs at least one bin above zero, not {self.n_positive}")

    @classmethod
    def up_to(cls, max_mev: float, width_mev: float) -> EnergyBins:
        """Bins of ``width_mev`` reaching at least ``max_mev`` on each side."""
        if not np.isfinite(max_mev) or max_mev <= 0:
            raise SettingsError(f"the largest energy transfer must be a positive number of meV, not {max_mev!r}")
        return cls(float(width_mev), int(np.ceil(max_mev / width_mev - 1e-9)))

    @property
    def centres_mev(self) -> np.ndarray:
        """Bin centres, meV, shape ``(2 n_positive + 1,)``, ascending; index ``n_positive`` is E = 0."""
        return self.width_mev * np.arange(-self.n_positive, self.n_positive + 1, dtype=float)

    @property
    def edges_mev(self) -> np.ndarray:
        """Bin edges, meV, shape ``(2 n_positive + 2,)``."""
        return self.width_mev * (np.arange(-self.n_positive, self.n_positive + 2, dtype=float) - 0.5)

    @property
    def zero_index(self) -> int:
        """Index of the bin centred on E = 0."""
        return self.n_positive

    @property
    def max_mev(self) -> float:
        """Centre of the highest bin, meV."""
        return self.width_mev * self.n_positive

    def __len__(self) -> int:
        return 2 * self.n_positive + 1
