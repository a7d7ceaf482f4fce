"""TDEP-style temperature-dependent effective force constants (FC2, FC3) from MD snapshots.

* :mod:`.reference` — ideal supercell, atom ↔ site mapping, displacements;
* :mod:`.centroid` — PIMD: ring-polymer centroids from i-PI bead files (:func:`centroid_trajectory`);
* :mod:`.basis` — symmetry-irreducible parametrisation with exact acoustic sum rules;
* :mod:`.invariances` — optional rotational invariances of FC2 (Born–Huang, Huang);
* :mod:`.fit` — streaming least squares (sequential or joint), diagnostics, :class:`TDEPResult`;
* :mod:`.decorrelation` — integrated autocorrelation time of the snapshots, automatic stride;
* :mod:`.export` — phonopy / phono3py files, dispersion, DOS, thermal properties, plots
  (:class:`PhononSpectrum`);
* :mod:`.series` — temperature series: one fit per trajectory, special-point frequencies vs T
  (:class:`TemperatureSeries`), all dispersions on one figure;
* :mod:`.campaign` — the ``tdep`` entry of the analysis registry (``mdvib tdep``, ``[analysis.tdep]``).
"""

from mdvib.analysis.tdep.campaign import TDEPCampaignSettings
from mdvib.analysis.tdep.centroid import centroid_trajectory
from mdvib.analysis.tdep.export import PhononSpectrum, write_outputs
from mdvib.analysis.tdep.fit import FIT_MODES, TDEPAnalysis, TDEPResult, TDEPWarning
from mdvib.analysis.tdep.invariances import INVARIANCES
from mdvib.analysis.tdep.reference import Reference, read_reference
from mdvib.analysis.tdep.series import TemperatureSeries, fit_series, write_series_outputs

__all__ = ["FIT_MODES", "INVARIANCES", "PhononSpectrum", "Reference", "TDEPAnalysis", "TDEPCampaignSettings",
           "TDEPResult", "TDEPWarning",
           "TemperatureSeries", "centroid_trajectory", "fit_series", "read_reference", "write_outputs",
           "write_series_outputs"]
