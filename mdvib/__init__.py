"""mdvib: atomic-vibration science from molecular dynamics.

Readers for LAMMPS, GPUMD, i-PI and anything MDAnalysis or ASE reads; streaming
numba analysers (VACF phonon DOS, ...); typed results with units.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mdvib")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
