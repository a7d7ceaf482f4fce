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

import importlib

#: Public name → submodule, imported on first use (importing ``.reference`` alone, as the SED does, then
#: loads none of the fit, the symmetry basis or the exports).
_EXPORTS = {
    "TDEPCampaignSettings": "campaign", "centroid_trajectory": "centroid", "PhononSpectrum": "export",
    "write_outputs": "export", "FIT_MODES": "fit", "TDEPAnalysis": "fit", "TDEPResult": "fit", "TDEPWarning": "fit",
    "INVARIANCES": "invariances", "Reference": "reference", "read_reference": "reference",
    "TemperatureSeries": "series", "fit_series": "series", "write_series_outputs": "series",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
