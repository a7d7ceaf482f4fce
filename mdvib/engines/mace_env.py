"""A separate Python environment for MACE and a tiny MACE model trained in it (the i-PI ASE-client route).

mace-torch 0.3.16 pins e3nn 0.4.4 and nequip needs e3nn ≥ 0.6: they cannot
share mdvib's environment. MACE therefore runs in its own virtual
environment, as i-PI clients (:mod:`mdvib.engines.ipi_ase_client`, potential
style ``ase`` with ``python`` = that environment's interpreter and
``calculator = "mace.calculators:MACECalculator"``).

:func:`create_environment` is the recipe (``docs/mace.md``)::

    python3 -m venv .venv-mace
    .venv-mace/bin/pip install torch==2.13.0      # first: the CPU build, so nothing pulls a CUDA torch
    .venv-mace/bin/pip install mace-torch==0.3.16 ase

:func:`train_tiny_model` trains a small MACE model (float64, 2 interactions,
8 channels, L = 0 messages, r_max 4.5 Å) with ``mace_run_train`` on CPU, on
energies and forces of ASE's EMT for fcc Cu (32 atoms, Langevin MD at
several lattice constants, :func:`training_frames`), and caches it under
``$MDVIB_CACHE_DIR/mace/<key>/`` (default ``~/.cache/mdvib``; the key hashes
the recipe), out of git. Command line::

    python -m mdvib.engines.mace_env venv  [--path .venv-mace]
    python -m mdvib.engines.mace_env model [--python .venv-mace/bin/python]

:func:`find_mace_python` finds the interpreter: ``$MDVIB_MACE_PYTHON``, else
``.venv-mace/bin/python`` in the repository root.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from mdvib.errors import MdvibError

#: Environment variable naming the MACE interpreter.
MACE_PYTHON_ENV = "MDVIB_MACE_PYTHON"
#: Default MACE environment: ``.venv-mace`` in the repository root.
DEFAULT_ENV = Path(__file__).resolve().parents[2] / ".venv-mace"
#: What the environment installs, in this order (torch first: the local CPU build).
REQUIREMENTS = (("torch==2.13.0",), ("mace-torch==0.3.16", "ase"))
#: The tiny model's ``mace_run_train`` options (besides files, name and seed).
TRAIN_OPTIONS = {"model": "MACE", "num_interactions": 2, "num_channels": 8, "max_L": 0, "correlation": 2,
                 "r_max": 4.5, "num_radial_basis": 6, "batch_size": 5, "valid_batch_size": 10,
                 "max_num_epochs": 8, "lr": 0.01, "E0s": "average", "energy_key": "REF_energy",
                 "forces_key": "REF_forces", "energy_weight": 1.0, "forces_weight": 100.0,
                 "device": "cpu", "default_dtype": "float64", "valid_fraction": 0.1}
#: Training data: fcc Cu lattice constants (Å), frames per lattice constant, Langevin temperature (K).
LATTICE_CONSTANTS_A = (3.55, 3.59, 3.63, 3.67)
FRAMES_PER_LATTICE = 25
TRAIN_TEMPERATURE_K = 600.0
#: File name of the trained model in its cache folder.
MODEL_NAME = "cu_emt_tiny"
SEED = 2026


def find_mace_python() -> Path | None:
    """The MACE interpreter: ``$MDVIB_MACE_PYTHON``, else :data:`DEFAULT_ENV`'s ``bin/python``; ``None`` if neither.

    Raises
    ------
    MdvibError
        If ``$MDVIB_MACE_PYTHON`` is set but is not an executable file.
    """
    named = os.environ.get(MACE_PYTHON_ENV)
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            raise MdvibError(f"${MACE_PYTHON_ENV} = {named!r} is not an executable file; unset it or point it at "
                             "the python of an environment with mace-torch")
        return Path(os.path.abspath(named))
    python = DEFAULT_ENV / "bin" / "python"
    return python if python.is_file() else None


def _run(command: Sequence[str], log, what: str, **kwargs) -> None:
    print(f"$ {' '.join(map(str, command))}", file=log, flush=True)
    result = subprocess.run(list(map(str, command)), stdout=log, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode != 0:
        raise MdvibError(f"{what} failed with status {result.returncode}: {' '.join(map(str, command))} "
                         f"(see {getattr(log, 'name', 'its output')})")


def create_environment(path: str | Path = DEFAULT_ENV, log=None) -> Path:
    """Create the MACE environment at ``path`` (the module docstring's recipe); return its interpreter.

    Parameters
    ----------
    path : path
        Folder of the new virtual environment (reused if it exists).
    log : file, optional
        Receives pip's output (default: standard output).

    Raises
    ------
    MdvibError
        If a step fails.
    """
    path = Path(path).resolve()
    log = sys.stdout if log is None else log
    python = path / "bin" / "python"
    if not python.is_file():
        _run(["python3", "-m", "venv", path], log, "creating the virtual environment")
    for packages in REQUIREMENTS:
        _run([python, "-m", "pip", "install", *packages], log, f"pip install {' '.join(packages)}")
    return python


def training_frames():
    """EMT energies and forces of fcc Cu (32 atoms) from Langevin MD (:data:`LATTICE_CONSTANTS_A`, 600 K).

    Returns
    -------
    list of ase.Atoms
        Frames with ``info["REF_energy"]`` (eV) and ``arrays["REF_forces"]`` (eV/Å, shape ``(32, 3)``).
    """
    import numpy as np
    from ase import units
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    rng = np.random.default_rng(SEED)
    frames = []
    for a in LATTICE_CONSTANTS_A:
        atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat((2, 2, 2))
        atoms.calc = EMT()
        MaxwellBoltzmannDistribution(atoms, temperature_K=TRAIN_TEMPERATURE_K, rng=rng)
        dynamics = Langevin(atoms, 2.0 * units.fs, temperature_K=TRAIN_TEMPERATURE_K, friction=0.02, rng=rng,
                             fixcm=False)
        for _ in range(FRAMES_PER_LATTICE):
            dynamics.run(10)
            frame = atoms.copy()
            frame.info["REF_energy"] = atoms.get_potential_energy()
            frame.arrays["REF_forces"] = atoms.get_forces().copy()
            frames.append(frame)
    return frames


def model_key(python: str | Path) -> str:
    """Hash of the recipe: training options, data settings, and the MACE interpreter's path."""
    recipe = {"options": TRAIN_OPTIONS, "lattice": LATTICE_CONSTANTS_A, "frames": FRAMES_PER_LATTICE,
              "temperature": TRAIN_TEMPERATURE_K, "seed": SEED, "python": str(python)}
    return hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def model_path(python: str | Path) -> Path:
    """Where :func:`train_tiny_model` puts the model of ``python`` (it may not exist yet)."""
    from mdvib.engines.plugins import cache_root

    return cache_root() / "mace" / model_key(python) / f"{MODEL_NAME}.model"


def train_tiny_model(python: str | Path, force: bool = False) -> Path:
    """Train (or find in the cache) the tiny Cu MACE model with ``mace_run_train`` of ``python``'s environment.

    Parameters
    ----------
    python : path
        Interpreter of the MACE environment (its ``bin`` has ``mace_run_train``, whose output goes to
        ``train.log`` beside the model).
    force : bool
        Train again even if the cached model exists.

    Returns
    -------
    Path
        The model (``*.model``, for ``MACECalculator(model_paths=...)``).

    Raises
    ------
    MdvibError
        If ``mace_run_train`` is missing or fails, or writes no model.
    """
    from ase.io import write

    target = model_path(python)
    if target.is_file() and not force:
        return target
    trainer = Path(python).parent / "mace_run_train"
    if not trainer.is_file():
        raise MdvibError(f"{trainer} not found: is {python} the python of an environment with mace-torch "
                         "(python -m mdvib.engines.mace_env venv)?")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        work = Path(tmp)
        write(work / "train.xyz", training_frames(), format="extxyz")
        options = [f"--{key}={value}" for key, value in TRAIN_OPTIONS.items()]
        command = [trainer, f"--name={MODEL_NAME}", "--train_file=train.xyz", f"--seed={SEED}", *options]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        for name in ("PYTHONPATH", "PYTHONHOME"):
            env.pop(name, None)
        start = time.perf_counter()
        with open(target.parent / "train.log", "w") as log:
            _run(command, log, "mace_run_train", cwd=work, env=env)
        built = work / f"{MODEL_NAME}.model"
        if not built.is_file():
            raise MdvibError(f"mace_run_train wrote no {built.name} in {work}; see {target.parent / 'train.log'}")
        shutil.copy(work / "train.xyz", target.parent / "train.xyz")
        os.replace(built, target)
        (target.parent / "recipe.json").write_text(json.dumps(
            {"options": TRAIN_OPTIONS, "python": str(python), "train_s": time.perf_counter() - start}, indent=1))
    return target


def _interpreter(python: str | None) -> Path:
    found = Path(python) if python else find_mace_python()
    if found is None:
        raise MdvibError(f"no MACE interpreter: set ${MACE_PYTHON_ENV} or run python -m mdvib.engines.mace_env venv")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m mdvib.engines.mace_env", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    venv = commands.add_parser("venv", help="create the MACE environment")
    venv.add_argument("--path", default=str(DEFAULT_ENV))
    venv.set_defaults(run=lambda args: create_environment(args.path))
    model = commands.add_parser("model", help="train (or find) the tiny Cu MACE model; prints its path")
    model.add_argument("--python", default=None, help=f"MACE interpreter (default: ${MACE_PYTHON_ENV} or "
                       f"{DEFAULT_ENV}/bin/python)")
    model.add_argument("--force", action="store_true", help="train again")
    model.set_defaults(run=lambda args: train_tiny_model(_interpreter(args.python), force=args.force))
    args = parser.parse_args(argv)
    try:
        print(args.run(args))
    except MdvibError as exc:
        print(f"mdvib mace_env: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
