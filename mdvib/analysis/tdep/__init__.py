"""TDEP-style temperature-dependent effective force constants (FC2, FC3) from MD snapshots.

* :mod:`.reference` — ideal supercell, atom ↔ site mapping, displacements;
* :mod:`.basis` — symmetry-irreducible parametrisation with exact acoustic sum rules;
* :mod:`.fit` — streaming least squares (sequential or joint), diagnostics, :class:`TDEPResult`;
* :mod:`.export` — phonopy / phono3py files, dispersion, DOS, plots.
"""

from mdvib.analysis.tdep.fit import FIT_MODES, TDEPAnalysis, TDEPResult, TDEPWarning
from mdvib.analysis.tdep.reference import Reference, read_reference

__all__ = ["FIT_MODES", "Reference", "TDEPAnalysis", "TDEPResult", "TDEPWarning", "read_reference"]
