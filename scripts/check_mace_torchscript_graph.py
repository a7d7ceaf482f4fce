"""Feed MACE's LAMMPS TorchScript model a periodic graph without ghosts; compare with MACECalculator.

Run with the MACE environment's interpreter (docs/mace.md, section 5)::

    .venv-mace/bin/mace_create_lammps_model MODEL.model      # writes MODEL.model-lammps.pt
    .venv-mace/bin/python scripts/check_mace_torchscript_graph.py MODEL.model

The graph is the one mdvib's pair_nequip plugin path builds (every atom once,
edges with integer lattice shifts, the cell): ``unit_shifts``, ``shifts =
unit_shifts @ cell``, one-hot ``node_attrs``, ``batch`` zeros, ``ptr = [0, N]``,
``local_or_ghost`` all ones. Prints the differences in energy (eV), forces
(eV/Å) and virial (eV, against -V σ) for a rattled 32-atom fcc Cu cell.
"""

import sys

import numpy as np
import torch
from ase.build import bulk
from mace.calculators import MACECalculator
from mace.data import AtomicData, config_from_atoms
from mace.tools import AtomicNumberTable, torch_geometric

GRAPH_KEYS = ("positions", "cell", "edge_index", "shifts", "unit_shifts", "node_attrs", "batch", "ptr")


def main(model_file: str) -> None:
    torch.set_default_dtype(torch.float64)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=1)
    atoms.calc = MACECalculator(model_paths=model_file, device="cpu", default_dtype="float64")
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)
    model = torch.jit.load(f"{model_file}-lammps.pt")
    table = AtomicNumberTable([int(z) for z in model.atomic_numbers])
    data = AtomicData.from_config(config_from_atoms(atoms), z_table=table, cutoff=float(model.r_max))
    batch = next(iter(torch_geometric.dataloader.DataLoader([data], batch_size=1))).to_dict()
    graph = {key: batch[key] for key in GRAPH_KEYS}
    graph["cell"] = graph["cell"].view(3, 3)
    out = model(graph, torch.ones(len(atoms)), True)
    virial = out["virials"].detach().numpy().reshape(3, 3)
    print(f"edges {graph['edge_index'].shape[1]}; outputs {sorted(out)}")
    print(f"energy difference {float(out['total_energy_local'].detach()) - energy:.3e} eV")
    print(f"max force difference {np.abs(out['forces'].detach().numpy() - forces).max():.3e} eV/A")
    print(f"max virial difference {np.abs(virial + atoms.get_volume() * stress).max():.3e} eV "
          f"(largest component {np.abs(virial).max():.3g} eV)")


if __name__ == "__main__":
    main(sys.argv[1])
