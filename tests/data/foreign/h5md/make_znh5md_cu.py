"""Write ``znh5md_cu.h5``: ASE EMT copper MD saved by ZnH5MD itself (not by mdvib).

ZnH5MD is not a dependency of mdvib or its tests, so the file is committed.
Run with znh5md importable (it was 0.4.8 from PyPI, unpacked beside ASE 3.29
and h5py 3.16)::

    python tests/data/foreign/h5md/make_znh5md_cu.py tests/data/foreign/h5md/znh5md_cu.h5

The run: fcc Cu, 2x2x2 conventional cells (32 atoms, a = 3.61 Å), EMT,
Maxwell-Boltzmann velocities at 600 K (seed 7), velocity Verlet with a 5 fs
step, every step saved (``timestep=5.0`` so the file's times are real), 48
frames. ZnH5MD stores ``atoms.get_velocities()`` (Å per ASE time unit) under a
``unit`` attribute ``Angstrom/fs``.
"""

import sys

import ase.build
import numpy as np
import znh5md
from ase import units
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet


def main(path: str) -> None:
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.calc = EMT()
    MaxwellBoltzmannDistribution(atoms, temperature_K=600.0, rng=np.random.default_rng(7))
    frames = []
    dyn = VelocityVerlet(atoms, timestep=5.0 * units.fs)
    for _ in range(48):
        frame = atoms.copy()  # keeps the momenta
        frame.calc = SinglePointCalculator(frame, forces=atoms.get_forces())
        frames.append(frame)
        dyn.run(1)
    io = znh5md.IO(path, timestep=5.0, store="time")
    io.extend(frames)
    temps = [f.get_temperature() for f in frames]
    print(f"mean ASE temperature {np.mean(temps):.3f} K over {len(frames)} frames")


if __name__ == "__main__":
    main(sys.argv[1])
