"""The contract every trajectory reader keeps, checked on one synthetic trajectory written in each format.

One small trajectory (3 atoms, Si Si O; 12 frames 10 fs apart; positions,
velocities and forces in mdvib's internal units Å, Å/fs, eV/Å) is written in
every registered format (:data:`mdvib.io.registry.READERS`) plus the in-memory
:class:`~mdvib.io.memory.ArrayReader`, each in its own units and atom order:
LAMMPS ``metal`` dump (Å/ps, shuffled atom lines), GPUMD-style extended XYZ,
H5MD in nm / ps / kJ mol⁻¹ nm⁻¹, AMBER NetCDF through MDAnalysis (Å/ps,
kJ mol⁻¹ Å⁻¹, float32) and an ASE ``.traj`` (ASE velocity units). Read back
through :class:`~mdvib.trajectory.Trajectory`:

* every chunk size (1, 5, all frames) and ``start/stop/step`` selection gives
  the same frames;
* the values are the written ones in internal units (tolerance: float32 for
  NetCDF, 17 digits elsewhere), and so are the cell and the frame spacing;
* a NaN in one position or velocity is an error naming the file, the frame
  and the atom id.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from mdvib.errors import TrajectoryFormatError
from mdvib.io.memory import ArrayReader
from mdvib.io.registry import READERS
from mdvib.trajectory import Trajectory
from tests.lammps_helpers import dump_text

N_FRAMES = 12
SPECIES = ("Si", "Si", "O")
SPACING_FS = 10.0
CELL = np.diag([10.0, 11.0, 12.0])
#: Unit factors written out here on purpose (not imported from mdvib.units).
NA, E = 6.02214076e23, 1.602176634e-19
KJ_PER_MOL_A_IN_EV_PER_A = 1e3 / NA / E


def synthetic(seed: int = 5) -> dict[str, np.ndarray]:
    """Positions Å, velocities Å/fs, forces eV/Å, shape (12, 3, 3), inside the cell."""
    rng = np.random.default_rng(seed)
    n = len(SPECIES)
    return {
        "positions": rng.uniform(1.0, 9.0, (N_FRAMES, n, 3)),
        "velocities": rng.normal(0.0, 0.01, (N_FRAMES, n, 3)),
        "forces": rng.normal(0.0, 1.0, (N_FRAMES, n, 3)),
    }


# ------------------------------------------------------------------ writers, one per format
# Each returns (path, reader options, relative tolerance of the stored numbers).


def write_lammps(directory: Path, data: dict) -> tuple[Path, dict, float]:
    rng = np.random.default_rng(1)
    frames = []
    for k in range(N_FRAMES):  # dumped every 5 steps of 2 fs; metal units: Å/ps
        rows = np.column_stack([np.arange(1, 4), [1, 1, 2], data["positions"][k], data["velocities"][k] * 1e3,
                                data["forces"][k]])
        frames.append((5 * k, rows[rng.permutation(3)]))
    box = "ITEM: BOX BOUNDS pp pp pp\n0 10\n0 11\n0 12\n"
    path = directory / "traj.dump"
    path.write_text(dump_text(frames, columns="id type xu yu zu vx vy vz fx fy fz", box=box))
    return path, {"units": "metal", "dt_fs": 2.0, "type_map": {1: "Si", 2: "O"}}, 1e-15


def write_extxyz(directory: Path, data: dict) -> tuple[Path, dict, float]:
    path = directory / "traj.xyz"
    with open(path, "w") as fh:
        for k in range(N_FRAMES):  # GPUMD dump_exyz: Å, Å/fs, eV/Å, Time in fs
            fh.write(f'3\nLattice="10 0 0 0 11 0 0 0 12" pbc="T T T" Time={k * SPACING_FS!r} '
                     "Properties=species:S:1:pos:R:3:vel:R:3:forces:R:3\n")
            for i, symbol in enumerate(SPECIES):
                values = np.concatenate([data[q][k, i] for q in ("positions", "velocities", "forces")])
                fh.write(symbol + " " + " ".join(repr(float(v)) for v in values) + "\n")
    return path, {}, 1e-15


def write_h5md(directory: Path, data: dict) -> tuple[Path, dict, float]:
    h5py = pytest.importorskip("h5py")
    path = directory / "traj.h5md"
    order = [2, 0, 1]  # file order differs from id order
    ids = np.array([1, 2, 3])
    steps, times_ps = np.arange(N_FRAMES) * 5, np.arange(N_FRAMES) * SPACING_FS * 1e-3
    with h5py.File(path, "w") as f:
        f.create_group("h5md").attrs["version"] = [1, 1]
        p = f.create_group("particles/all")
        for name, values, unit in (
            ("position", data["positions"] / 10.0, "nm"),
            ("velocity", data["velocities"] * 1e2, "nm ps-1"),  # Å/fs → nm/ps: ×100
            ("force", data["forces"] / KJ_PER_MOL_A_IN_EV_PER_A * 10.0, "kJ mol-1 nm-1"),  # per nm: ×10
        ):
            g = p.create_group(name)
            g.create_dataset("value", data=values[:, order]).attrs["unit"] = unit
            g["step"], g["time"] = steps, times_ps
            g["time"].attrs["unit"] = "ps"
        p["id"] = ids[order]
        p["species"] = np.array([s.encode() for s in SPECIES])[order]
        box = p.create_group("box")
        box.attrs["dimension"] = 3
        box.create_dataset("edges", data=np.diag(CELL) / 10.0).attrs["unit"] = "nm"
    return path, {}, 1e-14


def write_mdanalysis(directory: Path, data: dict) -> tuple[Path, dict, float]:
    mda = pytest.importorskip("MDAnalysis")
    u = mda.Universe.empty(3, trajectory=True, velocities=True, forces=True, atom_resindex=[0, 0, 0])
    u.add_TopologyAttr("names", ["Si1", "Si2", "O1"])
    u.add_TopologyAttr("elements", list(SPECIES))
    u.dimensions = [10.0, 11.0, 12.0, 90.0, 90.0, 90.0]
    path = directory / "traj.nc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u.atoms.write(str(directory / "top.pdb"))
        with mda.Writer(str(path), n_atoms=3, velocities=True, forces=True) as writer:
            for k in range(N_FRAMES):  # MDAnalysis base units: Å, ps, Å/ps, kJ/(mol Å)
                u.atoms.positions = data["positions"][k]
                u.atoms.velocities = data["velocities"][k] * 1e3
                u.atoms.forces = data["forces"][k] / KJ_PER_MOL_A_IN_EV_PER_A
                u.trajectory.ts.data["time"] = k * SPACING_FS * 1e-3
                writer.write(u)
    return path, {"topology": directory / "top.pdb"}, 2e-6  # NetCDF stores float32


def write_ase(directory: Path, data: dict) -> tuple[Path, dict, float]:
    import ase.io
    import ase.units
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    # ASE drops the results of a calculator whose atoms hold NaN (NaN != NaN: "atoms changed"),
    # so a file with a NaN position is written without forces
    with_forces = not np.isnan(data["positions"]).any()
    frames = []
    for k in range(N_FRAMES):
        atoms = Atoms("".join(SPECIES), positions=data["positions"][k], cell=CELL, pbc=True)
        atoms.set_velocities(data["velocities"][k] / ase.units.fs)  # Å/fs → Å per ASE time unit
        if with_forces:
            atoms.calc = SinglePointCalculator(atoms, energy=0.0, forces=data["forces"][k])
        frames.append(atoms)
    path = directory / "traj.traj"
    ase.io.write(path, frames)
    return path, {"dt_fs": SPACING_FS}, 1e-14


WRITERS = {
    "lammps-dump": write_lammps,
    "extxyz": write_extxyz,
    "h5md": write_h5md,
    "mdanalysis": write_mdanalysis,
    "ase": write_ase,
    "memory": None,  # ArrayReader: the arrays themselves
}


def open_trajectory(name: str, directory: Path, data: dict) -> tuple[Trajectory, float]:
    """The synthetic ``data`` written in format ``name`` and opened again; and the tolerance."""
    if name == "memory":
        reader = ArrayReader(data["positions"], SPECIES, SPACING_FS, velocities=data["velocities"],
                             forces=data["forces"], cells=CELL)
        return Trajectory(reader), 0.0
    path, options, rtol = WRITERS[name](directory, data)
    trajectory = Trajectory.open(path, format=name, **options)
    assert trajectory.info.format == name
    return trajectory, rtol


def read(trajectory: Trajectory, chunk_frames: int, start: int = 0, stop: int | None = None, step: int = 1) -> dict:
    chunks = list(trajectory.iter_chunks(trajectory.select(start, stop, step), chunk_frames=chunk_frames))
    assert all(c.n_frames == chunk_frames for c in chunks[:-1]) and 0 < chunks[-1].n_frames <= chunk_frames
    assert [c.first_frame for c in chunks] == list(range(0, sum(c.n_frames for c in chunks), chunk_frames))
    return {name: np.concatenate([getattr(c, name) for c in chunks])
            for name in ("positions", "velocities", "forces", "cells", "times")}


def test_every_registered_reader_is_covered():
    assert set(WRITERS) == set(READERS) | {"memory"}


@pytest.fixture(scope="module")
def data():
    return synthetic()


@pytest.mark.parametrize("name", list(WRITERS))
def test_internal_units_chunks_and_selections(name, data, tmp_path):
    trajectory, rtol = open_trajectory(name, tmp_path, data)
    info = trajectory.info
    assert (info.n_atoms, info.n_frames) == (3, N_FRAMES)
    assert info.species == SPECIES and info.has_velocities and info.has_forces
    assert np.all(np.diff(info.atom_ids) > 0)
    assert trajectory.frame_spacing_fs() == pytest.approx(SPACING_FS, rel=max(rtol, 1e-12))
    assert trajectory.frame_spacing_fs(step=3) == pytest.approx(3 * SPACING_FS, rel=max(rtol, 1e-12))
    full = read(trajectory, N_FRAMES)
    for quantity in ("positions", "velocities", "forces"):  # Å, Å/fs, eV/Å
        np.testing.assert_allclose(full[quantity], data[quantity], rtol=rtol, atol=rtol * np.abs(data[quantity]).max(),
                                   err_msg=f"{name}: {quantity}")
    np.testing.assert_allclose(full["cells"], np.broadcast_to(CELL, (N_FRAMES, 3, 3)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(full["times"] - full["times"][0], np.arange(N_FRAMES) * SPACING_FS, rtol=1e-6,
                               atol=1e-6)
    for chunk_frames in (1, 5):
        chunked = read(trajectory, chunk_frames)
        for quantity, values in full.items():
            np.testing.assert_array_equal(chunked[quantity], values,
                                          err_msg=f"{name}: {quantity}, chunks of {chunk_frames}")
    for start, stop, step in ((2, 11, 3), (0, None, 2), (5, 6, 1), (-4, None, 1)):
        frames = range(N_FRAMES)[start:stop:step]
        for chunk_frames in (1, 5, N_FRAMES):
            selected = read(trajectory, chunk_frames, start, stop, step)
            for quantity, values in full.items():
                np.testing.assert_array_equal(selected[quantity], values[list(frames)],
                                              err_msg=f"{name}: {quantity}, [{start}:{stop}:{step}]")


@pytest.mark.parametrize("quantity", ["positions", "velocities"])
@pytest.mark.parametrize("name", list(WRITERS))
def test_nan_names_file_frame_and_atom(name, quantity, data, tmp_path):
    bad = {key: values.copy() for key, values in data.items()}
    frame, atom = 7, 1  # atom index in id order
    bad[quantity][frame, atom, 2] = np.nan
    trajectory, _ = open_trajectory(name, tmp_path, bad)
    with pytest.raises(TrajectoryFormatError) as err:
        for _ in trajectory.iter_chunks(chunk_frames=5):
            pass
    message = str(err.value)
    atom_id = int(trajectory.info.atom_ids[atom])
    assert message.startswith(f"{trajectory.path}, frame {frame}, atom id {atom_id}: "), message
    assert "nan" in message.lower() or "non-finite" in message, message
