"""TDEP-style temperature-dependent effective force constants (FC2, FC3) from MD snapshots.

* :mod:`.reference` — ideal supercell, atom ↔ site mapping, displacements;
* :mod:`.basis` — symmetry-irreducible parametrisation with exact acoustic sum rules;
* :mod:`.fit` — streaming least squares (sequential or joint), diagnostics, :class:`TDEPResult`;
* :mod:`.decorrelation` — integrated autocorrelation time of the snapshots, automatic stride;
* :mod:`.export` — phonopy / phono3py files, dispersion, DOS, thermal properties, plots
  (:class:`PhononSpectrum`).

Importing this package registers both result types with :func:`mdvib.results.load_result`.
"""

from mdvib.analysis.tdep.export import PhononSpectrum, write_outputs
from mdvib.analysis.tdep.fit import FIT_MODES, TDEPAnalysis, TDEPResult, TDEPWarning
from mdvib.analysis.tdep.reference import Reference, read_reference

__all__ = ["FIT_MODES", "PhononSpectrum", "Reference", "TDEPAnalysis", "TDEPResult", "TDEPWarning",
           "read_reference", "write_outputs"]
