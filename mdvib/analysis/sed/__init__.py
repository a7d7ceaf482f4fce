"""Spectral energy density: finite-temperature phonon dispersion and lifetimes from MD.

* :mod:`.lattice` — supercell atoms → (unit cell, basis atom); commensurate q, paths, grids;
* :mod:`.modes` — harmonic frequencies and eigenvectors from phonopy / ``mdvib tdep`` force constants;
* :mod:`.analysis` — the streaming analyser (:class:`SEDAnalysis`) and :class:`SEDResult`;
* :mod:`.lifetimes` — Lorentzian / damped-harmonic-oscillator fits, :class:`LifetimeTable`;
* :mod:`.plots` — dispersion heat map, line spectra with fits, linewidths;
* :mod:`.campaign` — the ``sed`` entry of the analysis registry (``mdvib sed``, ``[analysis.sed]``).
"""

from mdvib.analysis.sed.analysis import SEDAnalysis, SEDResult, SEDWarning, select_qpoints
from mdvib.analysis.sed.lattice import CellBasisMap, QPoints, map_cells
from mdvib.analysis.sed.modes import HarmonicModes, load_modes

__all__ = ["CellBasisMap", "HarmonicModes", "QPoints", "SEDAnalysis", "SEDCampaignSettings", "SEDResult",
           "SEDWarning", "load_modes", "map_cells", "select_qpoints"]


def __getattr__(name: str):
    """``SEDCampaignSettings`` on first use: the campaign entry imports the analysis registry and the fits."""
    if name == "SEDCampaignSettings":
        from mdvib.analysis.sed.campaign import SEDCampaignSettings

        return SEDCampaignSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
