"""Any ASE calculator drives LAMMPS MD through ``fix external`` (potential style ``ase``).

LAMMPS integrates the equations of motion; every MD step its ``fix external
ID all external pf/callback 1 1`` calls back into Python, where
:class:`AseFixExternal` builds an :class:`ase.Atoms` from the current box and
positions (atoms ordered by LAMMPS id, the element of each atom type from the
potential's element list), evaluates the calculator once for energy, forces
and stress, writes the forces into the fix's force array (matched by id),
and hands LAMMPS the potential energy and the global virial, so that ``pe``,
``etotal``, the pressure and NPT barostats are right. The LAMMPS side is::

    pair_style  zero 1.0          # no forces; only gives LAMMPS a (cheap) neighbour list
    pair_coeff  * *
    fix         mdvib_ase all external pf/callback 1 1
    fix_modify  mdvib_ase energy yes virial yes

Conventions (LAMMPS ``fix external`` documentation and ``FixExternal::set_virial_global``):

* energy in eV, forces in eV/Å (LAMMPS ``metal`` units; other unit styles are refused);
* the global virial is ``W_ab = sum_i r_ia f_ib`` in eV, in the LAMMPS order
  ``xx yy zz xy xz yz``. ASE's stress is ``sigma = (1/V) dE/d(strain)`` in
  eV/Å³ (Voigt order ``xx yy zz yz xz xy``, positive under tension), so
  ``W = -sigma V``: LAMMPS's pressure ``P = (N k T + tr W / 3) / V`` then equals
  ASE's ``-tr(sigma)/3`` plus the kinetic part.

Cost: this is a fallback, slower than a native pair style or the mdvib C++
plugin: one Python callback per step and no parallelism. Measured for 108 Cu
atoms (2-core machine, 1 thread): the bridge itself (LAMMPS → Python, building
the ``Atoms``, ASE's calculator bookkeeping, forces and virial back) costs
~0.5 ms per step (a calculator returning zeros: 0.5–0.6 ms/step); ASE's
pure-Python EMT then adds ~16–19 ms/step, against 0.16 ms/step for LAMMPS's
native ``pair_style eam`` (Cu_u3). A torch model through ``fix external`` was
measured at ~15 ms/step extra for 256 atoms. It works with **one MPI rank, in
this process** only (``run_template`` refuses ``ranks > 1``): the callback
holds all atoms.

The potential spec (``mdvib.engines.potentials``, style ``"ase"``) has the
parameters ``calculator = "module:callable"`` (called with ``kwargs`` to build
the calculator, e.g. ``"ase.calculators.emt:EMT"``), ``kwargs = {...}`` and an
optional ``cutoff`` (Å) of the placeholder ``pair_style zero``, plus
``python``, the interpreter of the i-PI route (:func:`mdvib.engines.ipi.run_pimd`
runs the calculator in ``mdvib/engines/ipi_ase_client.py`` under that
interpreter, e.g. a separate MACE environment): ``fix external`` runs in this
process and refuses a potential whose ``python`` is another interpreter.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mdvib.errors import MdvibError, SettingsError

#: ID of the ``fix external`` the ``ase`` potential style creates.
DEFAULT_FIX_ID = "mdvib_ase"
#: Default cut-off of the placeholder ``pair_style zero``, Å (it computes nothing).
DEFAULT_CUTOFF_A = 1.0
#: Parameters of the ``ase`` potential style.
PARAM_NAMES = ("calculator", "kwargs", "cutoff", "python")
#: Every change ASE knows (``ase.calculators.calculator.all_changes``).
_ALL_CHANGES = ("positions", "numbers", "cell", "pbc", "initial_charges", "initial_magmoms")
#: ASE Voigt stress ``xx yy zz yz xz xy`` → LAMMPS virial order ``xx yy zz xy xz yz``.
_VOIGT_TO_LAMMPS = np.array([0, 1, 2, 5, 4, 3])


class CalculatorError(MdvibError):
    """The ASE calculator failed while LAMMPS was running (the message names step, atoms and calculator)."""


@dataclass(frozen=True)
class AseCalculatorParams:
    """Validated parameters of the ``ase`` potential style.

    Attributes
    ----------
    calculator : str
        ``"module:callable"`` (dotted attribute paths allowed after the colon)
        returning an ASE calculator, e.g. ``"ase.calculators.emt:EMT"``.
    kwargs : dict
        Keyword arguments of that callable.
    cutoff : float
        Cut-off of the placeholder ``pair_style zero``, Å. It only sizes
        LAMMPS's neighbour list (which nothing uses); the calculator applies
        its own cut-off.
    python : str
        Absolute path of the interpreter that builds the calculator (default
        ``sys.executable``). Another interpreter (another environment) is
        used by the i-PI route only; its calculator module is not imported here.
    """

    calculator: str
    kwargs: dict = field(default_factory=dict)
    cutoff: float = DEFAULT_CUTOFF_A
    python: str = field(default_factory=lambda: sys.executable)

    @property
    def foreign(self) -> bool:
        """Whether :attr:`python` is another interpreter than this one (see :func:`same_interpreter`)."""
        return not same_interpreter(self.python)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AseCalculatorParams:
        """Check the ``params`` of a potential spec (unknown keys, types) and import the callable.

        Raises
        ------
        SettingsError
            Unknown or missing parameters, a malformed ``calculator`` spec, a
            module that cannot be imported or a name it does not define (checked
            here only for this interpreter), a ``python`` that is not an executable.
        """
        unknown = sorted(set(params) - set(PARAM_NAMES))
        if unknown:
            raise SettingsError(f"potential style ase: unknown parameter(s) {unknown}; allowed: {list(PARAM_NAMES)}")
        if "calculator" not in params:
            raise SettingsError('potential style ase needs calculator = "module:callable", '
                                'e.g. calculator = "ase.calculators.emt:EMT"')
        kwargs = params.get("kwargs", {})
        if not isinstance(kwargs, Mapping):
            raise SettingsError(f"potential style ase: kwargs must be a table of keyword arguments, got {kwargs!r}")
        try:
            cutoff = float(params.get("cutoff", DEFAULT_CUTOFF_A))
        except (TypeError, ValueError):
            cutoff = float("nan")
        if not cutoff > 0:
            raise SettingsError(f"potential style ase: cutoff must be a positive length in Å, "
                                f"got {params['cutoff']!r}")
        python = interpreter_path(params.get("python", sys.executable))
        result = cls(str(params["calculator"]), dict(kwargs), cutoff, python)
        if result.foreign:
            _check_spec_format(result.calculator)
        else:
            resolve_factory(result.calculator)
        return result

    def build(self):
        """Build the calculator: ``factory(**kwargs)``."""
        return load_calculator(self.calculator, self.kwargs)


def interpreter_path(python: object) -> str:
    """Absolute path of the Python interpreter ``python`` (a path, or a command on ``PATH``).

    Symbolic links are kept: a virtual environment's ``bin/python`` is usually a
    link to the system interpreter, and only its own path selects the environment.

    Raises
    ------
    SettingsError
        If ``python`` is not an existing executable file.
    """
    found = shutil.which(str(python)) if isinstance(python, (str, os.PathLike)) and str(python) else None
    if found is None:
        raise SettingsError(f"potential style ase: python = {python!r} is not an executable file; give the path of "
                            "the interpreter of the environment that has the calculator, e.g. "
                            "'.venv-mace/bin/python'")
    return os.path.abspath(found)


def same_interpreter(python: str) -> bool:
    """Whether ``python`` is the running interpreter: the same path, or a link to the same file in the same folder.

    Parameters
    ----------
    python : str
        Path of an interpreter.
    """
    mine, other = os.path.abspath(sys.executable), os.path.abspath(python)
    return mine == other or (os.path.dirname(mine) == os.path.dirname(other)
                             and os.path.realpath(mine) == os.path.realpath(other))


def _check_spec_format(spec: str) -> None:
    module_name, sep, attribute = str(spec).partition(":")
    if not sep or not module_name or not attribute:
        raise SettingsError(f"calculator {spec!r}: expected 'module:callable', e.g. 'ase.calculators.emt:EMT'")


def resolve_factory(spec: str) -> Callable[..., Any]:
    """Import the callable named by ``"module:callable"``.

    Parameters
    ----------
    spec : str
        Module path, a colon, and an attribute path in that module
        (``"ase.calculators.emt:EMT"``, ``"mypkg.models:Model.calculator"``).

    Raises
    ------
    SettingsError
        If ``spec`` is malformed, the module cannot be imported or does not define the name.
    """
    _check_spec_format(spec)
    module_name, _, attribute = str(spec).partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SettingsError(f"calculator {spec!r}: cannot import module {module_name!r} ({exc}); "
                            "install the package that provides it or fix the name") from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise SettingsError(f"calculator {spec!r}: {module_name} has no attribute {attribute!r}") from exc
    if not callable(obj):
        raise SettingsError(f"calculator {spec!r}: {attribute} is not callable")
    return obj


def load_calculator(spec: str, kwargs: Mapping[str, Any] | None = None):
    """Build an ASE calculator from ``"module:callable"`` and keyword arguments.

    Parameters
    ----------
    spec : str
        See :func:`resolve_factory`.
    kwargs : mapping, optional
        Keyword arguments of the callable.

    Returns
    -------
    ase.calculators.calculator.BaseCalculator

    Raises
    ------
    SettingsError
        If the callable cannot be found, fails, or does not return an ASE calculator.
    """
    factory = resolve_factory(spec)
    kwargs = dict(kwargs or {})
    try:
        calculator = factory(**kwargs)
    except Exception as exc:  # any error of third-party code: report it with the spec
        raise SettingsError(f"calculator {spec!r} with kwargs {kwargs}: {type(exc).__name__}: {exc}") from exc
    if not (hasattr(calculator, "calculate") and hasattr(calculator, "implemented_properties")):
        raise SettingsError(f"calculator {spec!r} returned {type(calculator).__name__}, not an ASE calculator "
                            "(an object with calculate() and implemented_properties)")
    return calculator


def atomic_numbers_of(elements: Sequence[str]) -> np.ndarray:
    """Atomic numbers of chemical symbols (LAMMPS type ``k + 1`` is ``elements[k]``).

    Raises
    ------
    SettingsError
        For a string that is not a chemical symbol.
    """
    from ase.data import atomic_numbers

    bad = [e for e in elements if e not in atomic_numbers or e == "X"]
    if bad:
        raise SettingsError(f"potential style ase: {bad} are not chemical symbols (elements {list(elements)})")
    return np.array([atomic_numbers[e] for e in elements], dtype=int)


def fix_external_commands(params: AseCalculatorParams, fix_id: str = DEFAULT_FIX_ID) -> list[str]:
    """LAMMPS lines of the ``ase`` style: ``pair_style zero``, ``fix external`` with energy and virial.

    Parameters
    ----------
    params : AseCalculatorParams
    fix_id : str
        ID of the ``fix external``.
    """
    return [f"pair_style zero {params.cutoff:g}", "pair_coeff * *",
            f"fix {fix_id} all external pf/callback 1 1",
            f"fix_modify {fix_id} energy yes virial yes"]


class AseFixExternal:
    """``fix external`` callback that evaluates an ASE calculator (LAMMPS metal units, one MPI rank).

    Call signature (that of the ``lammps`` module's ``set_fix_external_callback``
    with the ``lammps`` instance as ``caller``)::

        callback(lmp, ntimestep, nlocal, tag, x, f)

    with ``tag`` the atom ids, shape ``(nlocal,)``; ``x`` the positions, Å,
    shape ``(nlocal, 3)``; ``f`` the fix's force array, eV/Å, shape
    ``(nlocal, 3)``, overwritten with the calculator's forces. The energy (eV)
    and, when the calculator gives a stress and the box is periodic in 3D,
    the virial (eV, ``-stress × volume`` in the order ``xx yy zz xy xz yz``)
    are passed to the fix. Register it with
    :func:`mdvib.engines.lammps.run_template` or
    :func:`mdvib.engines.lammps.run_commands` (``fix_external={fix_id: callback}``),
    which also turn its exceptions into a stopped run and a raised error.

    Parameters
    ----------
    calculator : ase calculator
        Any object with ASE's ``calculate(atoms, properties, system_changes)``
        and ``results`` (``energy`` in eV, ``forces`` in eV/Å, ``stress`` in eV/Å³).
    elements : sequence of str
        Chemical symbol of each LAMMPS atom type, in type order.
    fix_id : str
        ID of the ``fix external`` this callback serves.
    stress : bool, optional
        Compute the stress (virial) every step. Default: when the calculator
        implements ``stress``. Without it LAMMPS's pressure misses the
        potential part (a warning says so): never use it with a barostat.

    Attributes
    ----------
    n_calls : int
        Callbacks so far.
    calculator_s, callback_s : float
        Time spent in the calculator and in the whole callback, s.
    """

    def __init__(self, calculator, elements: Sequence[str], fix_id: str = DEFAULT_FIX_ID,
                 stress: bool | None = None):
        self.calculator = calculator
        self.elements = tuple(elements)
        self.numbers = atomic_numbers_of(self.elements)
        self.fix_id = fix_id
        implemented = tuple(getattr(calculator, "implemented_properties", ()))
        self.stress = ("stress" in implemented) if stress is None else bool(stress)
        self._properties = ["energy", "forces", *(["stress"] if self.stress else [])]
        self._atoms = None
        self._types: np.ndarray | None = None
        self._warned = False
        self.n_calls = 0
        self.calculator_s = 0.0
        self.callback_s = 0.0

    @classmethod
    def from_params(cls, params: AseCalculatorParams, elements: Sequence[str],
                    fix_id: str = DEFAULT_FIX_ID) -> AseFixExternal:
        """Build the calculator of ``params`` and wrap it.

        Raises
        ------
        SettingsError
            If ``params.python`` is another interpreter: ``fix external`` evaluates the calculator in this process.
        """
        if params.foreign:
            raise SettingsError(f"potential style ase with python = {params.python!r}: fix external runs the "
                                f"calculator in this process ({sys.executable}), not in another interpreter; use "
                                "the i-PI route (mdvib.engines.ipi.run_pimd, a campaign's [pimd] table), whose "
                                "ASE clients run under that python")
        return cls(params.build(), elements, fix_id)

    @property
    def name(self) -> str:
        """Name of the calculator class, for messages."""
        return type(self.calculator).__name__

    def _check_instance(self, lmp) -> None:
        """Metal units, one MPI rank, no atom type beyond ``elements`` (a few µs: checked every call)."""
        if lmp.extract_setting("world_size") != 1:
            raise SettingsError(f"fix external {self.fix_id} (ASE calculator {self.name}) runs with one MPI rank "
                                "only; run LAMMPS in process with ranks = 1")
        units = lmp.extract_global("units")
        if units != "metal":
            raise SettingsError(f"fix external {self.fix_id}: LAMMPS units {units!r}; the ASE bridge needs "
                                "'units metal' (eV, Å)")
        ntypes = lmp.extract_setting("ntypes")
        if ntypes > len(self.elements):
            raise SettingsError(f"fix external {self.fix_id}: LAMMPS has {ntypes} atom types but only "
                                f"{len(self.elements)} elements were given ({list(self.elements)})")

    def _update_atoms(self, types: np.ndarray, positions: np.ndarray, cell: np.ndarray, pbc: list[bool]):
        """The :class:`ase.Atoms` of this step (rebuilt only when the types change)."""
        if self._atoms is None or self._types is None or not np.array_equal(types, self._types):
            from ase import Atoms

            self._atoms = Atoms(numbers=self.numbers[types - 1], positions=positions, cell=cell, pbc=pbc)
            self._types = types.copy()
        else:
            self._atoms.arrays["positions"][:] = positions
            self._atoms.cell[:] = cell
            self._atoms.pbc[:] = pbc
        return self._atoms

    def __call__(self, lmp, ntimestep: int, nlocal: int, tag: np.ndarray, x: np.ndarray, f: np.ndarray) -> None:
        start = time.perf_counter()
        self._check_instance(lmp)
        if nlocal != lmp.get_natoms():
            raise SettingsError(f"fix external {self.fix_id}: this rank has {nlocal} of {lmp.get_natoms()} atoms; "
                                "the ASE bridge needs one MPI rank")
        order = np.argsort(tag.reshape(nlocal), kind="stable")
        types = np.asarray(lmp.numpy.extract_atom("type")[:nlocal])[order]
        boxlo, boxhi, xy, yz, xz, periodicity, _ = lmp.extract_box()
        lo = np.asarray(boxlo)
        length = np.asarray(boxhi) - lo
        cell = np.array([[length[0], 0.0, 0.0], [xy, length[1], 0.0], [xz, yz, length[2]]])
        pbc = [bool(p) for p in periodicity]
        atoms = self._update_atoms(types, x[order] - lo, cell, pbc)
        tic = time.perf_counter()
        try:
            # what changed since the calculator's last evaluation (positions, usually): calculators keep
            # their set-up (EMT its neighbour list) unless the numbers or the cell change
            changes = self.calculator.check_state(atoms) if hasattr(self.calculator, "check_state") else _ALL_CHANGES
            self.calculator.calculate(atoms, list(self._properties), list(changes))
            results = self.calculator.results
            energy = float(results["energy"])
            forces = np.asarray(results["forces"], dtype=float).reshape(nlocal, 3)
            stress = np.asarray(results["stress"], dtype=float) if self.stress and all(pbc) else None
        except Exception as exc:  # third-party code: say where and what
            present = sorted({self.elements[t - 1] for t in np.unique(types)})
            raise CalculatorError(
                f"ASE calculator {self.name} failed at LAMMPS step {ntimestep} on {nlocal} atoms "
                f"(elements {present}): {type(exc).__name__}: {exc}; check that it supports these elements "
                "and periodic cells"
            ) from exc
        self.calculator_s += time.perf_counter() - tic
        if not np.all(np.isfinite(forces)) or not np.isfinite(energy):
            raise CalculatorError(f"ASE calculator {self.name} returned non-finite energy or forces at LAMMPS "
                                  f"step {ntimestep} ({nlocal} atoms)")
        f[order] = forces
        lmp.fix_external_set_energy_global(self.fix_id, energy)
        if stress is not None:
            voigt = stress if stress.shape == (6,) else stress.reshape(3, 3)[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            virial = -voigt[_VOIGT_TO_LAMMPS] * abs(np.linalg.det(cell))
            lmp.fix_external_set_virial_global(self.fix_id, [float(v) for v in virial])
        elif not self._warned:
            self._warned = True
            warnings.warn(f"fix external {self.fix_id}: calculator {self.name} gives no stress (or the box is not "
                          "periodic in 3D): LAMMPS pressures miss the potential part; do not use a barostat",
                          RuntimeWarning, stacklevel=2)
        self.n_calls += 1
        self.callback_s += time.perf_counter() - start

    def timing(self) -> dict[str, float]:
        """Mean cost per callback, ms: ``{"calls", "calculator_ms", "callback_ms", "overhead_ms"}``."""
        n = max(self.n_calls, 1)
        return {"calls": float(self.n_calls), "calculator_ms": 1e3 * self.calculator_s / n,
                "callback_ms": 1e3 * self.callback_s / n,
                "overhead_ms": 1e3 * (self.callback_s - self.calculator_s) / n}
