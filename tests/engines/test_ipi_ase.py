"""i-PI with ASE clients (mdvib/engines/ipi_ase_client.py): real i-PI 3.3.1, the real client script, ASE's EMT.

The system is fcc Cu, 2×2×2 conventional cells (32 atoms), with ASE's EMT
calculator. i-PI's own records are compared with EMT evaluated here, in this
process, on the frames i-PI wrote:

* full-precision frames (extra ``format='ase'`` trajectories added to the
  i-PI input for these tests: 8 decimals in Å, in the units ASE itself
  converts the socket's bohr with) must give the potential of
  ``simulation.out`` to 1e-6 eV (the bead mean for P beads) and the forces
  to 1e-6 eV/Å;
* the standard outputs (``simulation.pos_K.xyz``/``for_K``/``fc`` with i-PI's
  6 significant digits) must agree within the bound their rounding allows.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ipi = pytest.importorskip("ipi", reason="i-PI is not installed (pip install ipi==3.3.1)")

from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from ase.io import read  # noqa: E402

from mdvib.engines import ipi_input  # noqa: E402
from mdvib.engines.ipi import (  # noqa: E402
    ASE_CLIENT_SCRIPT,
    IpiRunError,
    ipi_executable,
    last_step,
    run_pimd,
    session_processes,
    socket_address,
    socket_path,
)
from mdvib.engines.ipi_input import PIMDSettings  # noqa: E402
from mdvib.engines.potentials import fix_external_callbacks, make_potential  # noqa: E402
from mdvib.errors import SettingsError  # noqa: E402

try:
    ipi_executable()
except Exception as exc:  # noqa: BLE001 - any failure means: no usable i-PI here
    pytest.skip(f"no i-PI console script next to the interpreter: {exc}", allow_module_level=True)

EMT_SPEC = "ase.calculators.emt:EMT"
#: A calculator whose construction fails with kwargs calcs = 1 (it needs a list of calculators).
SUM_SPEC = "ase.calculators.mixing:SumCalculator"
STRIDE = 5
#: A Python interpreter that is not this one (another environment), if the machine has one.
OTHER_PYTHON = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3")
                     if os.access(p, os.X_OK) and os.path.dirname(p) != os.path.dirname(sys.executable)), None)


def copper():
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))


def emt_potential(**params):
    return make_potential("ase", ["Cu"], params={"calculator": EMT_SPEC, **params})


def settings(**changes) -> PIMDSettings:
    base = dict(beads=1, steps=20, stride=STRIDE, clients=1, temperature_k=300.0, timestep_fs=1.0, tau_fs=20.0,
                timeout_s=20.0, seed=7)
    return PIMDSettings(**{**base, **changes})


@pytest.fixture
def precise_frames(monkeypatch):
    """Add full-precision bead positions and forces (``simulation.xa_K.extxyz``, ``fa_K``) to the i-PI input."""
    real = ipi_input.ipi_xml
    extra = "".join(f"    <trajectory filename='{name}' stride='{STRIDE}' format='ase'> {what} </trajectory>\n"
                    for name, what in (("xa", "positions"), ("fa", "forces")))
    monkeypatch.setattr(ipi_input, "ipi_xml", lambda *a: real(*a).replace("  </output>", extra + "  </output>"))


def _emt(frame):
    atoms = frame.copy()
    atoms.calc = EMT()
    return atoms.get_potential_energy(), atoms.get_forces()


def _precise(workdir: Path, beads: int):
    """Per bead: the full-precision frames and their forces as i-PI wrote them."""
    positions = [read(workdir / f"simulation.xa_{k}.extxyz", index=":") for k in range(beads)]
    forces = [[f.get_forces() for f in read(workdir / f"simulation.fa_{k}.extxyz", index=":")] for k in range(beads)]
    return positions, forces


def _rounding(values: np.ndarray) -> np.ndarray:
    """Half a unit in the last place of numbers printed with i-PI's %12.5e (6 significant digits)."""
    exponent = np.floor(np.log10(np.where(values == 0, 1e-300, np.abs(values))))
    return np.where(values == 0, 5e-6 * 1e-5, 0.5 * 10.0 ** (exponent - 5))


def _xyz_frames(path: Path) -> list:
    return read(path, index=":", format="extxyz")


def _xyz_vectors(path: Path) -> np.ndarray:
    """The three numbers of every atom line of an i-PI xyz file, shape (frames, atoms, 3)."""
    lines = path.read_text().splitlines()
    n_atoms = int(lines[0])
    rows = [line.split()[1:4] for k, line in enumerate(lines) if k % (n_atoms + 2) >= 2]
    return np.array(rows, dtype=float).reshape(-1, n_atoms, 3)


def _check_against_emt(run, beads: int) -> None:
    data = np.loadtxt(run.properties)
    assert np.array_equal(data[:, 0], np.arange(0, run.last_step + 1, STRIDE))
    potential = data[:, 7]  # potential{electronvolt}: the bead mean
    positions, forces = _precise(run.workdir, beads)
    assert all(len(p) == len(potential) for p in positions)
    energies = np.empty((beads, len(potential)))
    emt_forces = np.empty((beads, len(potential), 32, 3))
    for k in range(beads):
        for n, frame in enumerate(positions[k]):
            step = int(frame.info["ipi_comment"].split("Step:")[1].split()[0])
            assert step == data[n, 0]
            energies[k, n], emt_forces[k, n] = _emt(frame)
            assert np.abs(forces[k][n] - emt_forces[k, n]).max() < 1e-6, (k, n)
    assert np.abs(energies.mean(axis=0) - potential).max() < 1e-6, energies.mean(axis=0) - potential
    assert np.ptp(potential) > 0.05  # the atoms moved: a real comparison, not the lattice's energy again
    # the standard outputs (6 significant digits), through the bead files i-PI writes for mdvib's readers
    for k in range(beads):
        xyz = _xyz_frames(run.workdir / f"simulation.pos_{k}.xyz")
        for n, frame in enumerate(xyz):
            # + i-PI's Å vs ASE's Å (the client's), which differ by 1.4e-8 relative (CODATA of the bohr)
            slack = _rounding(frame.positions) + 1e-7
            assert np.all(np.abs(frame.positions - positions[k][n].positions) <= slack)
            bound = np.sum(np.abs(emt_forces[k, n]) * slack)
            frame.set_cell(positions[k][n].cell)  # the %10.5f cell line holds 7 digits only
            frame.pbc = True
            assert abs(_emt(frame)[0] - energies[k, n]) <= bound + 1e-9
        printed = _xyz_vectors(run.workdir / f"simulation.for_{k}.xyz")
        assert np.all(np.abs(printed - emt_forces[k]) <= _rounding(printed) + 2e-6), k
    centroid = _xyz_vectors(run.workdir / "simulation.fc.xyz")
    assert np.all(np.abs(centroid - emt_forces.mean(axis=0)) <= _rounding(centroid) + 2e-6)


# ------------------------------------------------------------------ the client script alone

def test_client_script_imports_only_stdlib_numpy_and_ase():
    tree = ast.parse(ASE_CLIENT_SCRIPT.read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert "mdvib" not in modules
    assert modules - set(sys.stdlib_module_names) <= {"numpy", "ase"}, modules


def _client(*args, cwd=None, python=sys.executable, script=True, timeout=60):
    head = [python, str(ASE_CLIENT_SCRIPT)] if script else [python, "-m", "mdvib.engines.ipi_ase_client"]
    return subprocess.run([*head, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture
def quick_stop(monkeypatch):
    """Kill the server 1 s after SIGTERM (instead of 5 s) when a run fails: its RESTART does not matter here."""
    monkeypatch.setattr("mdvib.engines.ipi.SERVER_STOP_GRACE_S", 1.0)


@pytest.mark.parametrize(("calculator", "kwargs", "message"), [
    ("no_such_module:Calc", "{}", "calculator 'no_such_module:Calc': cannot import module 'no_such_module'"),
    ("EMT", "{}", "calculator 'EMT': expected 'module:callable'"),
    ("ase.calculators.emt:NoSuch", "{}", "ase.calculators.emt has no attribute 'NoSuch'"),
    (SUM_SPEC, '{"calcs": 1}', f"calculator '{SUM_SPEC}' with kwargs {{'calcs': 1}}: TypeError"),
    (EMT_SPEC, "[1]", "must be a JSON object"),
    ("ase.build:bulk", '{"name": "Cu"}', "returned Atoms, not an ASE calculator"),
])
def test_bad_calculator_spec_exits_with_status_2(tmp_path, calculator, kwargs, message, capsys):
    from mdvib.engines.ipi_ase_client import main  # in this process (the script's own main; subprocess below)

    copper().write(tmp_path / "s.xyz", format="extxyz")
    status = main(["--address", "nobody", "--structure", str(tmp_path / "s.xyz"), "--calculator", calculator,
                   "--kwargs", kwargs])
    stderr = capsys.readouterr().err
    assert status == 2 and stderr.startswith("mdvib ASE client: ") and message in stderr, stderr


def test_client_without_server_or_structure(tmp_path, capsys):
    from mdvib.engines.ipi_ase_client import main

    missing = tmp_path / "missing.xyz"
    assert main(["--address", "x", "--structure", str(missing), "--calculator", EMT_SPEC]) == 2
    assert f"structure {missing}: cannot read it as extended xyz" in capsys.readouterr().err
    copper().write(tmp_path / "s.xyz", format="extxyz")
    result = _client("--address", f"mdvib-none-{os.getpid()}", "--structure", "s.xyz", "--calculator", EMT_SPEC,
                     cwd=tmp_path, script=False)  # as python -m mdvib.engines.ipi_ase_client
    assert result.returncode == 3, result
    assert f"cannot connect to the i-PI server at /tmp/ipi_mdvib-none-{os.getpid()}" in result.stderr


# ------------------------------------------------------------------ the python parameter

def test_python_parameter_is_checked_and_fix_external_refuses_another_interpreter(tmp_path):
    with pytest.raises(SettingsError, match="python = '/no/such/python' is not an executable file"):
        emt_potential(python="/no/such/python")
    same = emt_potential(python=str(Path(sys.executable).with_name("python3")))
    assert set(fix_external_callbacks(same)) == {"mdvib_ase"}  # this environment: in process is fine
    if OTHER_PYTHON is None:
        pytest.skip("no second Python interpreter on this machine")
    # another environment: its module is not imported here (this one has no mace), fix external refuses it
    other = make_potential("ase", ["Cu"], params={"calculator": "mace.calculators:MACECalculator",
                                                  "python": OTHER_PYTHON})
    with pytest.raises(SettingsError, match=r"fix external runs the calculator in this process .* use the i-PI route"):
        fix_external_callbacks(other)


# ------------------------------------------------------------------ runs with real i-PI

def test_one_bead_energies_and_forces_are_emts(tmp_path, precise_frames):
    run = run_pimd(settings(), copper(), emt_potential(), tmp_path)
    assert run.last_step == 20 and run.client_logs == [tmp_path / "client_1.log"]
    log = run.client_logs[0].read_text()
    assert "got EXIT from i-PI" in log and "after 21 force evaluations" in log  # steps + 1 for P = 1
    _check_against_emt(run, beads=1)
    record = json.loads((tmp_path / "pimd_run.json").read_text())
    assert record["clients"] == {"kind": "ase", "python": os.path.abspath(sys.executable),
                                 "script": str(ASE_CLIENT_SCRIPT)}
    if OTHER_PYTHON is not None:  # the interpreter is part of what a resume must keep
        with pytest.raises(SettingsError, match="other potential, clients"):
            run_pimd(settings(), copper(), emt_potential(python=OTHER_PYTHON), tmp_path)


def test_four_beads_two_clients(tmp_path, precise_frames):
    run = run_pimd(settings(beads=4, clients=2, steps=10), copper(), emt_potential(), tmp_path)
    assert run.last_step == 10 and len(run.bead_positions) == 4
    counts = [int(re.search(r"after (\d+) force evaluations", log.read_text())[1]) for log in run.client_logs]
    assert sum(counts) == 4 * 11  # every bead once per step and once at the start, shared by the two clients
    _check_against_emt(run, beads=4)


def _pids_in(workdir: Path) -> list[int]:
    """Processes (not zombies) whose working directory is ``workdir``, from /proc (independent of the engine)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == workdir and "Z" not in (entry / "stat").read_text().split()[2]:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_killed_client_stops_the_run(tmp_path, quick_stop):
    run_settings = settings(beads=2, clients=2, steps=1_000_000, timeout_s=5.0)
    killed = {}

    def kill_when_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (last_step(tmp_path / "simulation.out") or 0) >= 10:
                pid = next(p for p in _pids_in(tmp_path)
                           if ASE_CLIENT_SCRIPT.name.encode() in Path(f"/proc/{p}/cmdline").read_bytes())
                os.kill(pid, signal.SIGKILL)
                killed.update(pid=pid, at=time.monotonic())
                return
            time.sleep(0.05)

    threading.Thread(target=kill_when_running, daemon=True).start()
    with pytest.raises(IpiRunError, match=r"(?s)ASE client [12] of 2 \(pid \d+\) exited with status -9 while i-PI "
                       r"was running.*--- .*client_[12].log \(tail\) ---.*mdvib ASE client: EMT") as info:
        run_pimd(run_settings, copper(), emt_potential(), tmp_path)
    assert time.monotonic() - killed["at"] < run_settings.timeout_s
    assert len(info.value.sessions) == 3 and session_processes(info.value.sessions) == []
    assert _pids_in(tmp_path) == [] and not Path(f"/proc/{killed['pid']}").exists()
    assert not socket_path(socket_address(run_settings, tmp_path)).exists()


def test_calculator_that_fails_names_the_client_and_its_error(tmp_path, quick_stop):
    silicon = bulk("Si", "diamond", a=5.43, cubic=True)  # EMT has no parameters for Si
    potential = make_potential("ase", ["Si"], params={"calculator": EMT_SPEC})
    with pytest.raises(IpiRunError, match=r"(?s)ASE client 1 of 1 \(pid \d+\) exited with status 1 .*"
                       r"mdvib ASE client: force evaluation 1 failed \(EMT on 8 atoms, Si8\)") as info:
        run_pimd(settings(), silicon, potential, tmp_path)
    assert session_processes(info.value.sessions) == [] and _pids_in(tmp_path) == []


def test_bad_spec_in_the_client_environment_stops_the_run(tmp_path, quick_stop):
    # the module imports here (make_potential checks that); the call fails in the client
    potential = make_potential("ase", ["Cu"], params={"calculator": SUM_SPEC, "kwargs": {"calcs": 1}})
    with pytest.raises(IpiRunError, match=r"(?s)ASE client 1 of 1 .* exited with status 2 .*"
                       r"with kwargs \{'calcs': 1\}: TypeError"):
        run_pimd(settings(), copper(), potential, tmp_path)


def test_client_interpreter_without_ase(tmp_path, quick_stop):
    if OTHER_PYTHON is None or subprocess.run([OTHER_PYTHON, "-c", "import ase"], capture_output=True).returncode == 0:
        pytest.skip("needs a second interpreter without ASE")
    potential = make_potential("ase", ["Cu"], params={"calculator": EMT_SPEC, "python": OTHER_PYTHON})
    with pytest.raises(IpiRunError, match=rf"(?s)exited with status 2 .*this interpreter \({OTHER_PYTHON}\) "
                       "cannot import ASE"):
        run_pimd(settings(), copper(), potential, tmp_path)


def test_extra_lammps_commands_are_refused(tmp_path):
    with pytest.raises(SettingsError, match="are LAMMPS commands; the ASE clients"):
        run_pimd(settings(), copper(), emt_potential(), tmp_path, extra_commands=["pair_modify shift yes"])
