"""An i-PI client that evaluates an ASE calculator: a standalone script.

It imports only the standard library, NumPy and ASE (never mdvib), so any
interpreter that has ASE and the calculator's package can run it, e.g. a
separate MACE environment::

    .venv-mace/bin/python mdvib/engines/ipi_ase_client.py --address ADDRESS \\
        --structure client.xyz --calculator mace.calculators:MACECalculator \\
        --kwargs '{"model_paths": "/abs/model.model", "device": "cpu", "default_dtype": "float64"}'

or, in mdvib's own environment, ``python -m mdvib.engines.ipi_ase_client ...``.
:func:`mdvib.engines.ipi.run_pimd` starts it for potentials of style ``ase``.

What it does: builds the calculator ``factory(**kwargs)`` from
``"module:callable"`` (dotted attribute paths allowed after the colon) and
JSON keyword arguments, reads the structure (extended xyz: species in i-PI's
atom order, cell, periodicity) and serves i-PI over the unix socket
``/tmp/ipi_<address>`` (:class:`ase.calculators.socketio.SocketClient` adds
the ``/tmp/ipi_`` prefix, as i-PI and LAMMPS's ``fix ipi`` do). For every
request it sets the positions and cell i-PI sends (bohr, converted by ASE to
Å) and returns the energy (eV), forces (eV/Å) and, when the calculator has a
stress and the cell is periodic, the virial ``-V σ`` (eV); ASE converts them
to atomic units. Paths inside ``kwargs`` are used as given: make them absolute
(the client runs in the i-PI run folder).

Exit status (and a message on stderr starting with ``mdvib ASE client:``):

* 0 - i-PI sent EXIT (or closed the connection at the end of its run);
* 1 - the calculator failed during a force evaluation;
* 2 - bad arguments (calculator spec, keyword arguments, structure file) or no ASE in this interpreter;
* 3 - no i-PI server at the socket.

On exit it prints the number of force evaluations and their mean cost.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Prefix of every message this client prints.
PREFIX = "mdvib ASE client:"
#: Exit statuses.
EXIT_OK, EXIT_CALCULATOR, EXIT_ARGUMENTS, EXIT_CONNECTION = 0, 1, 2, 3
#: Values of ``--stress``.
STRESS_CHOICES = ("auto", "yes", "no")


class ClientError(Exception):
    """A failure this client reports in one message, with its exit status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def resolve_factory(spec: str):
    """Import the callable named by ``"module:callable"``.

    Raises
    ------
    ClientError
        Status 2 if ``spec`` is malformed, its module cannot be imported, or it does not name a callable.
    """
    module_name, sep, attribute = str(spec).partition(":")
    if not sep or not module_name or not attribute:
        raise ClientError(f"calculator {spec!r}: expected 'module:callable', e.g. 'ase.calculators.emt:EMT'",
                          EXIT_ARGUMENTS)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ClientError(f"calculator {spec!r}: cannot import module {module_name!r} with {sys.executable} "
                          f"({exc}); install its package in this environment or fix the name",
                          EXIT_ARGUMENTS) from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ClientError(f"calculator {spec!r}: {module_name} has no attribute {attribute!r}",
                              EXIT_ARGUMENTS) from exc
    if not callable(obj):
        raise ClientError(f"calculator {spec!r}: {attribute} is not callable", EXIT_ARGUMENTS)
    return obj


def build_calculator(spec: str, kwargs: Mapping[str, Any]):
    """``factory(**kwargs)`` for the callable of ``spec``, checked to be an ASE calculator.

    Raises
    ------
    ClientError
        Status 2 if the callable cannot be found, fails, or returns something else than a calculator.
    """
    factory = resolve_factory(spec)
    try:
        calculator = factory(**dict(kwargs))
    except Exception as exc:  # any error of third-party code: report it with the spec
        raise ClientError(f"calculator {spec!r} with kwargs {dict(kwargs)}: {type(exc).__name__}: {exc}",
                          EXIT_ARGUMENTS) from exc
    if not (hasattr(calculator, "calculate") and hasattr(calculator, "implemented_properties")):
        raise ClientError(f"calculator {spec!r} returned {type(calculator).__name__}, not an ASE calculator "
                          "(an object with calculate() and implemented_properties)", EXIT_ARGUMENTS)
    return calculator


def parse_kwargs(text: str) -> dict:
    """Keyword arguments from a JSON object.

    Raises
    ------
    ClientError
        Status 2 if ``text`` is not a JSON object.
    """
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ClientError(f"--kwargs {text!r} is not JSON: {exc}", EXIT_ARGUMENTS) from exc
    if not isinstance(value, dict):
        raise ClientError(f"--kwargs {text!r} must be a JSON object of keyword arguments", EXIT_ARGUMENTS)
    return value


def read_structure(path: str | Path):
    """The structure served (extended xyz, Å): species in i-PI's atom order, cell and periodicity.

    Raises
    ------
    ClientError
        Status 2 if the file is missing or not one extended-xyz frame.
    """
    from ase.io import read

    try:
        atoms = read(str(path), index=0, format="extxyz")
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for a bad file
        raise ClientError(f"structure {path}: cannot read it as extended xyz ({type(exc).__name__}: {exc})",
                          EXIT_ARGUMENTS) from exc
    atoms.calc = None
    return atoms


def _check_ase() -> None:
    try:
        importlib.import_module("ase.calculators.socketio")
    except ImportError as exc:
        raise ClientError(f"this interpreter ({sys.executable}) cannot import ASE ({exc}); install ase (and numpy) "
                          "in its environment", EXIT_ARGUMENTS) from exc


def use_stress(choice: str, calculator, atoms) -> bool:
    """Whether to send the virial: ``yes``, ``no`` or ``auto`` (calculator has stress and the cell is periodic)."""
    if choice == "auto":
        return "stress" in tuple(getattr(calculator, "implemented_properties", ())) and bool(all(atoms.pbc))
    return choice == "yes"


class _Timed:
    """Wraps a calculator's ``calculate`` to count its calls and their wall time (s)."""

    def __init__(self, calculator):
        self.calls = 0
        self.seconds = 0.0
        self._calculate = calculator.calculate
        calculator.calculate = self

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self._calculate(*args, **kwargs)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - start


def serve(address: str, atoms, calculator, stress: bool) -> int:
    """Answer i-PI's force requests until it sends EXIT; return the number of evaluations.

    Raises
    ------
    ClientError
        Status 3 if no server listens at ``/tmp/ipi_<address>``; status 1 if the calculator fails.
    """
    from ase.calculators.socketio import SocketClient, actualunixsocketname

    try:
        client = SocketClient(unixsocket=address)
    except OSError as exc:
        raise ClientError(f"cannot connect to the i-PI server at {actualunixsocketname(address)} ({exc}); "
                          "start i-PI first", EXIT_CONNECTION) from exc
    atoms.calc = calculator
    evaluations = 0
    try:
        for _ in client.irun(atoms, use_stress=stress):
            evaluations += 1
    except Exception as exc:  # any failure of the calculator (or a malformed request)
        raise ClientError(f"force evaluation {evaluations + 1} failed ({type(calculator).__name__} on "
                          f"{len(atoms)} atoms, {atoms.get_chemical_formula()}): {type(exc).__name__}: {exc}",
                          EXIT_CALCULATOR) from exc
    return evaluations


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ipi_ase_client", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", required=True, help="i-PI unix-socket address (socket /tmp/ipi_ADDRESS)")
    parser.add_argument("--structure", required=True, help="extended-xyz file: species in i-PI's atom order")
    parser.add_argument("--calculator", required=True, help="'module:callable' returning an ASE calculator")
    parser.add_argument("--kwargs", default="{}", help="JSON object of keyword arguments of the callable")
    parser.add_argument("--stress", choices=STRESS_CHOICES, default="auto",
                        help="send the virial (auto: if the calculator has a stress and the cell is periodic)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client; return its exit status (module docstring)."""
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        _check_ase()
        atoms = read_structure(args.structure)
        calculator = build_calculator(args.calculator, parse_kwargs(args.kwargs))
        stress = use_stress(args.stress, calculator, atoms)
        timed = _Timed(calculator)
        print(f"{PREFIX} {type(calculator).__name__} from {args.calculator} on {len(atoms)} atoms "
              f"({atoms.get_chemical_formula()}), stress {'on' if stress else 'off'}, python {sys.executable}; "
              f"ready in {time.perf_counter() - start:.2f} s", flush=True)
        evaluations = serve(args.address, atoms, calculator, stress)
    except ClientError as exc:
        print(f"{PREFIX} {exc}", file=sys.stderr, flush=True)
        return exc.status
    mean_ms = 1e3 * timed.seconds / timed.calls if timed.calls else 0.0
    print(f"{PREFIX} got EXIT from i-PI (or it closed the connection) after {evaluations} force evaluations "
          f"(calculator {mean_ms:.3f} ms per call, {timed.calls} calls)", flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
