"""i-PI with MACE as ASE clients in MACE's own environment (slow; needs that environment).

Skipped unless a MACE interpreter is found (``$MDVIB_MACE_PYTHON``, or
``.venv-mace/bin/python`` in the repository root: ``python -m
mdvib.engines.mace_env venv``). The tiny Cu model is trained by
:func:`mdvib.engines.mace_env.train_tiny_model` if it is not cached yet
(minutes). i-PI runs a few steps with 2 beads whose forces come from
``mace.calculators:MACECalculator`` in that interpreter; the energies in
``simulation.out`` (bead mean) and the forces i-PI received must equal
MACECalculator's on the frames i-PI wrote, evaluated independently by the MACE
interpreter in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

ipi = pytest.importorskip("ipi", reason="i-PI is not installed (pip install ipi==3.3.1)")

from ase.build import bulk  # noqa: E402

from mdvib.engines import ipi_input  # noqa: E402
from mdvib.engines.ipi import run_pimd  # noqa: E402
from mdvib.engines.ipi_input import PIMDSettings  # noqa: E402
from mdvib.engines.mace_env import MACE_PYTHON_ENV, find_mace_python, model_key, model_path, train_tiny_model  # noqa: E402
from mdvib.engines.potentials import make_potential  # noqa: E402
from mdvib.errors import MdvibError  # noqa: E402

MACE_PYTHON = find_mace_python()
STRIDE = 2
#: Evaluates MACECalculator on i-PI's full-precision bead frames; prints energies (eV) and forces (eV/Å) as JSON.
EVALUATE = """
import json, sys
from ase.io import read
from mace.calculators import MACECalculator
calc = MACECalculator(model_paths=sys.argv[1], device="cpu", default_dtype="float64")
out = []
for path in sys.argv[2:]:
    bead = []
    for atoms in read(path, index=":"):
        atoms.calc = calc
        bead.append([atoms.get_potential_energy(), atoms.get_forces().tolist()])
    out.append(bead)
print(json.dumps(out))
"""


def test_mace_interpreter_from_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(MACE_PYTHON_ENV, str(tmp_path / "nothing"))
    with pytest.raises(MdvibError, match=f"{MACE_PYTHON_ENV} = .*nothing' is not an executable file"):
        find_mace_python()
    monkeypatch.setenv(MACE_PYTHON_ENV, sys.executable)
    assert str(find_mace_python()) == sys.executable
    assert model_key("/a/bin/python") != model_key("/b/bin/python")  # a model per environment
    assert model_path("/a/bin/python").name == "cu_emt_tiny.model"


@pytest.fixture(scope="module")
def model():
    if MACE_PYTHON is None:
        pytest.skip(f"no MACE interpreter: set {MACE_PYTHON_ENV} or create .venv-mace (python -m "
                    "mdvib.engines.mace_env venv)")
    path = model_path(MACE_PYTHON)
    return path if path.is_file() else train_tiny_model(MACE_PYTHON)


@pytest.mark.slow
def test_mace_clients_give_i_pi_macecalculators_energies_and_forces(tmp_path, model, monkeypatch):
    real = ipi_input.ipi_xml
    extra = "".join(f"    <trajectory filename='{name}' stride='{STRIDE}' format='ase'> {what} </trajectory>\n"
                    for name, what in (("xa", "positions"), ("fa", "forces")))
    monkeypatch.setattr(ipi_input, "ipi_xml", lambda *a: real(*a).replace("  </output>", extra + "  </output>"))
    potential = make_potential("ase", ["Cu"], params={
        "calculator": "mace.calculators:MACECalculator", "python": str(MACE_PYTHON),
        "kwargs": {"model_paths": str(model), "device": "cpu", "default_dtype": "float64"}})
    settings = PIMDSettings(beads=2, clients=2, steps=6, stride=STRIDE, temperature_k=300.0, timestep_fs=1.0,
                            tau_fs=20.0, timeout_s=180.0, seed=3)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    run = run_pimd(settings, atoms, potential, tmp_path)
    assert run.last_step == 6
    assert all(f"python {MACE_PYTHON}" in log.read_text() for log in run.client_logs)
    files = [str(tmp_path / f"simulation.xa_{k}.extxyz") for k in range(2)]
    result = subprocess.run([str(MACE_PYTHON), "-c", EVALUATE, str(model), *files], capture_output=True, text=True,
                            timeout=600, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    beads = json.loads(result.stdout.splitlines()[-1])
    energies = np.array([[e for e, _ in bead] for bead in beads])           # (beads, frames), eV
    forces = np.array([[f for _, f in bead] for bead in beads])             # (beads, frames, 32, 3), eV/Å
    potential_ev = np.loadtxt(run.properties)[:, 7]
    assert energies.shape == (2, len(potential_ev))
    assert np.abs(energies.mean(axis=0) - potential_ev).max() < 1e-6, (energies.mean(axis=0), potential_ev)
    from ase.io import read

    received = np.array([[f.get_forces() for f in read(tmp_path / f"simulation.fa_{k}.extxyz", index=":")]
                         for k in range(2)])
    assert np.abs(received - forces).max() < 1e-6
    assert np.abs(forces).max() > 0.01 and sys.executable != str(MACE_PYTHON)
