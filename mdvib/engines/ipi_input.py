"""Inputs of an i-PI path-integral run: settings, the i-PI XML, the initial structure and the LAMMPS clients.

:class:`PIMDSettings` holds what a campaign's ``[pimd]`` table gives (beads,
mode, thermostat, time step, steps, output stride, clients, temperature,
seed, watchdog timeout). :func:`write_ipi_input` writes the i-PI input
(``input.xml``) and its initial structure (``init.xyz``);
:func:`write_client_input` writes one LAMMPS input per client whose forces
come from the project's potential machinery
(:func:`~mdvib.engines.potentials.potential_commands`).

Units are explicit everywhere in the XML (i-PI's default is atomic units):
positions and cells in Å (``positions{angstrom}``, ``cell_units='angstrom'``:
without that attribute i-PI writes bead cells in bohr), velocities in m/s
(``velocities{m/s}``), forces in eV/Å (``forces{ev/ang}``), energies in eV,
time in fs, temperature in K, masses in dalton (from the structure, so the
server and the LAMMPS clients use the same masses).

Modes (``PIMDSettings.mode``):

* ``pimd`` - path-integral sampling: ``nvt`` with any of :data:`THERMOSTATS`
  (PILE with ``pile_lambda`` 1, i.e. critical damping of the internal modes,
  by default);
* ``trpmd`` - thermostatted ring-polymer MD. i-PI 3.3.1 has no ``trpmd``
  keyword: it is ``nvt`` with ``pile_l`` or ``pile_g`` and ``pile_lambda``
  0.5, i.e. friction γ_k = ω_k on the internal normal modes (Rossi, Ceriotti
  and Manolopoulos, J. Chem. Phys. 140, 234116 (2014)); ``tau_fs`` is the
  centroid's thermostat time;
* ``rpmd`` - ring-polymer MD: ``nve`` from thermal velocities, no thermostat.

Outputs (prefix ``simulation``): ``simulation.out`` (:data:`PROPERTIES`: step,
time, conserved energy, temperature, the classical ``kinetic_md``, the
quantum kinetic-energy estimators ``kinetic_cv`` (centroid virial) and
``kinetic_td`` (primitive; i-PI 3.3.1 has both), potential), per-bead
``simulation.pos_K.xyz`` / ``vel_K`` / ``for_K`` (unless
``bead_trajectories`` is false), the centroid ``simulation.xc.xyz`` /
``vc.xyz`` / ``fc.xyz`` (positions, velocities, bead-averaged forces), all every ``stride`` steps, and the
checkpoint ``simulation.chk`` every ``checkpoint_stride`` steps. The bead and
centroid files are read by :mod:`mdvib.io.ipi_beads` and the xyz reader.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from mdvib.errors import SettingsError
from mdvib.results import write_text_atomic

#: Values of ``PIMDSettings.mode``.
PIMD_MODES = ("pimd", "trpmd", "rpmd")
#: i-PI thermostats ``PIMDSettings.thermostat`` may name (``nvt`` modes).
THERMOSTATS = ("pile_l", "pile_g", "svr", "langevin")
#: Thermostats TRPMD is defined with (PILE: a Langevin friction per ring-polymer normal mode).
TRPMD_THERMOSTATS = ("pile_l", "pile_g")
#: ``pile_lambda`` of TRPMD: γ_k = 2 λ ω_k = ω_k on the internal modes.
TRPMD_PILE_LAMBDA = 0.5
#: i-PI's default ``pile_lambda`` (critical damping of the internal modes), used for ``pimd``.
PIMD_PILE_LAMBDA = 1.0
#: Output prefix of every i-PI file of a run.
OUTPUT_PREFIX = "simulation"
#: Properties written to ``simulation.out``, with their units.
PROPERTIES = ("step", "time{femtosecond}", "conserved{electronvolt}", "temperature{kelvin}",
              "kinetic_md{electronvolt}", "kinetic_cv{electronvolt}", "kinetic_td{electronvolt}",
              "potential{electronvolt}")
#: Per-bead trajectories: i-PI file name -> quantity with its unit (``simulation.pos_K.xyz`` ...).
BEAD_TRAJECTORIES = {"pos": "positions{angstrom}", "vel": "velocities{m/s}", "for": "forces{ev/ang}"}
#: Centroid trajectories (``simulation.xc.xyz``, ``vc``, ``fc``): one xyz trajectory with positions,
#: velocities and the bead-averaged forces, read by the xyz reader with its i-PI companions.
CENTROID_TRAJECTORIES = {"xc": "x_centroid{angstrom}", "vc": "v_centroid{m/s}", "fc": "f_centroid{ev/ang}"}
#: File names (in the run folder) of the i-PI input and its initial structure.
INPUT_XML = "input.xml"
INIT_XYZ = "init.xyz"
#: i-PI's checkpoint file name (``<checkpoint filename='chk'>`` with the output prefix).
CHECKPOINT = f"{OUTPUT_PREFIX}.chk"
#: Port number ``fix ipi`` requires on its command line (ignored for unix sockets).
UNIX_PORT = 32345
#: Extra LAMMPS steps beyond the force evaluations i-PI can ask for, so a client never ends its ``run`` first.
CLIENT_RUN_MARGIN = 1000
#: Longest ``run`` a client is given (LAMMPS counts the steps of a run in a 32-bit integer).
MAX_CLIENT_RUN = 2_000_000_000


@dataclass(frozen=True)
class PIMDSettings:
    """Settings of an i-PI path-integral run (a campaign's ``[pimd]`` table).

    Attributes
    ----------
    beads : int
        Number of ring-polymer beads P (1 gives classical MD through i-PI).
    mode : str
        ``"pimd"``, ``"trpmd"`` or ``"rpmd"`` (module docstring).
    thermostat : str
        One of :data:`THERMOSTATS` (``pimd``, ``trpmd``: ``pile_l``/``pile_g`` only); ignored by ``rpmd``.
    tau_fs : float
        Thermostat time constant, fs (PILE: the centroid's Langevin time).
    pile_lambda : float or None
        PILE damping of the internal modes relative to critical; ``None``:
        :data:`PIMD_PILE_LAMBDA` for ``pimd``, :data:`TRPMD_PILE_LAMBDA` for
        ``trpmd`` (which accepts no other value).
    timestep_fs : float
        Time step, fs.
    steps : int
        Total number of i-PI steps (a resumed run goes on to this number).
    stride : int
        Steps between outputs (properties, bead and centroid trajectories).
    clients : int
        Number of LAMMPS clients evaluating beads in parallel.
    temperature_k : float
        Temperature, K (also of the initial velocities).
    seed : int
        Seed of i-PI's random number generator.
    timeout_s : float
        Watchdog time, s: the run is stopped when a process dies or when no
        new line reaches ``simulation.out`` for this long, so it must exceed
        the wall time of ``stride`` steps and the clients' start-up (torch-based
        potentials: 10-50 s); the server must open its socket within it too.
    socket_prefix : str
        First part of the unix-socket address (letters, digits, ``_``, ``-``).
    checkpoint_stride : int or None
        Steps between checkpoints (``simulation.chk``); ``None``: ``10 * stride``.
    bead_trajectories : bool
        Also write every bead's positions, velocities and forces (3 P files;
        the centroid files are always written).
    """

    beads: int = 8
    mode: str = "pimd"
    thermostat: str = "pile_l"
    tau_fs: float = 100.0
    pile_lambda: float | None = None
    timestep_fs: float = 0.5
    steps: int = 1000
    stride: int = 10
    clients: int = 1
    temperature_k: float = 300.0
    seed: int = 12345
    timeout_s: float = 60.0
    socket_prefix: str = "mdvib"
    checkpoint_stride: int | None = None
    bead_trajectories: bool = True

    def __post_init__(self):
        for key in ("beads", "steps", "stride", "clients"):
            _check_int(key, getattr(self, key), minimum=1)
        _check_int("seed", self.seed, minimum=0)
        if self.checkpoint_stride is not None:
            _check_int("checkpoint_stride", self.checkpoint_stride, minimum=1)
        for key in ("tau_fs", "timestep_fs", "temperature_k", "timeout_s"):
            _check_positive(key, getattr(self, key))
        if not isinstance(self.bead_trajectories, bool):
            raise SettingsError(f"pimd.bead_trajectories = {self.bead_trajectories!r}: must be true or false")
        if self.mode not in PIMD_MODES:
            raise SettingsError(f"pimd.mode = {self.mode!r}: use one of {list(PIMD_MODES)}")
        allowed = TRPMD_THERMOSTATS if self.mode == "trpmd" else THERMOSTATS
        if self.mode != "rpmd" and self.thermostat not in allowed:
            raise SettingsError(f"pimd.thermostat = {self.thermostat!r} with mode {self.mode!r}: use one of "
                                f"{list(allowed)}" + (" (TRPMD is PILE with pile_lambda 0.5)"
                                                      if self.mode == "trpmd" else ""))
        if self.pile_lambda is not None:
            _check_positive("pile_lambda", self.pile_lambda)
            if self.mode == "trpmd" and self.pile_lambda != TRPMD_PILE_LAMBDA:
                raise SettingsError(f"pimd.pile_lambda = {self.pile_lambda} with mode 'trpmd': TRPMD is defined "
                                    f"with pile_lambda = {TRPMD_PILE_LAMBDA}; leave it out, or use mode 'pimd'")
        if not self.socket_prefix or not all(c.isalnum() or c in "_-" for c in self.socket_prefix):
            raise SettingsError(f"pimd.socket_prefix = {self.socket_prefix!r}: use letters, digits, '_' and '-'")
        if len(self.socket_prefix) > 40:
            raise SettingsError(f"pimd.socket_prefix = {self.socket_prefix!r} is too long for a unix socket "
                                "address (at most 40 characters)")

    @classmethod
    def from_mapping(cls, table: Mapping[str, object], where: str = "[pimd]") -> PIMDSettings:
        """Settings from a mapping such as a campaign's ``[pimd]`` table.

        Parameters
        ----------
        table : mapping
            Keys are the attribute names of this class.
        where : str
            Where the table comes from (file and table name), for error messages.

        Raises
        ------
        SettingsError
            For an unknown key (the message lists the known ones) or an invalid value.
        """
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise SettingsError(f"{where}: unknown key(s) {unknown}; known keys: {known}")
        try:
            return cls(**dict(table))
        except SettingsError as exc:
            raise SettingsError(f"{where}: {exc}") from exc

    @property
    def effective_pile_lambda(self) -> float:
        """``pile_lambda`` written to the XML (the mode's default when not given)."""
        if self.pile_lambda is not None:
            return float(self.pile_lambda)
        return TRPMD_PILE_LAMBDA if self.mode == "trpmd" else PIMD_PILE_LAMBDA

    @property
    def effective_checkpoint_stride(self) -> int:
        """Steps between checkpoints (``10 * stride`` when not given)."""
        return self.checkpoint_stride if self.checkpoint_stride is not None else 10 * self.stride

    def describe(self) -> dict:
        """Plain dictionary for provenance records and resume checks."""
        return dataclasses.asdict(self)


def _check_int(key: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SettingsError(f"pimd.{key} = {value!r}: must be an integer >= {minimum}")


def _check_positive(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) \
            or value <= 0:
        raise SettingsError(f"pimd.{key} = {value!r}: must be a positive number")


def standard_frame(atoms):
    """``atoms`` rotated into i-PI's and LAMMPS's cell frame: a along x, b in the xy plane.

    Both codes use an upper-triangular cell matrix (``fix ipi`` reads only its
    upper triangle), so the structure handed to i-PI must be in that frame.
    Fractional coordinates are kept; a left-handed cell becomes its right-handed mirror.

    Parameters
    ----------
    atoms : ase.Atoms
        Periodic structure with a full cell.

    Raises
    ------
    SettingsError
        If the structure is not periodic in three dimensions.
    """
    from ase.geometry import cellpar_to_cell

    if not all(atoms.pbc) or atoms.cell.rank != 3:
        raise SettingsError("the PIMD structure must be periodic in three dimensions with a full cell")
    standard = atoms.copy()
    fractional = atoms.get_scaled_positions(wrap=False)
    standard.set_cell(cellpar_to_cell(atoms.cell.cellpar()), scale_atoms=False)
    standard.set_scaled_positions(fractional)
    return standard


def write_init_xyz(atoms, path: str | Path) -> Path:
    """Write ``atoms`` (already in :func:`standard_frame`) as an i-PI xyz file in Å.

    The comment line is i-PI's ``# CELL(abcABC): a b c α β γ positions{angstrom}
    cell{angstrom}`` (lengths Å, angles degrees).
    """
    a, b, c, alpha, beta, gamma = atoms.cell.cellpar()
    lines = [str(len(atoms)),
             f"# CELL(abcABC): {a:.12f} {b:.12f} {c:.12f} {alpha:.12f} {beta:.12f} {gamma:.12f} "
             "positions{angstrom} cell{angstrom}"]
    lines += [f"{symbol} {x:.12f} {y:.12f} {z:.12f}"
              for symbol, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions)]
    path = Path(path)
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def trajectory_outputs(settings: PIMDSettings) -> dict[str, str]:
    """The trajectories a run writes: i-PI file name -> quantity with its unit."""
    return (BEAD_TRAJECTORIES if settings.bead_trajectories else {}) | CENTROID_TRAJECTORIES


def ipi_xml(settings: PIMDSettings, masses: Sequence[float], address: str) -> str:
    """The i-PI input (XML text) of a run reading its structure from :data:`INIT_XYZ`.

    Parameters
    ----------
    settings : PIMDSettings
    masses : sequence of float
        Atomic masses in dalton, shape ``(n_atoms,)`` (written explicitly so i-PI
        and the clients agree).
    address : str
        Unix-socket address (i-PI listens on ``/tmp/ipi_<address>``).
    """
    s = settings
    stride = s.stride
    trajectories = "\n".join(
        f"    <trajectory filename='{name}' stride='{stride}' format='xyz' cell_units='angstrom'> {what} "
        "</trajectory>" for name, what in trajectory_outputs(s).items())
    if s.mode == "rpmd":
        dynamics = (f"      <dynamics mode='nve'>\n"
                    f"        <timestep units='femtosecond'> {s.timestep_fs!r} </timestep>\n"
                    f"      </dynamics>")
    else:
        pile = (f"<pile_lambda> {s.effective_pile_lambda!r} </pile_lambda>"
                if s.thermostat in TRPMD_THERMOSTATS else "")
        dynamics = (f"      <dynamics mode='nvt'>\n"
                    f"        <timestep units='femtosecond'> {s.timestep_fs!r} </timestep>\n"
                    f"        <thermostat mode='{s.thermostat}'>\n"
                    f"          <tau units='femtosecond'> {s.tau_fs!r} </tau> {pile}\n"
                    f"        </thermostat>\n"
                    f"      </dynamics>")
    mass_list = ", ".join(f"{float(m)!r}" for m in masses)
    return f"""<simulation verbosity='medium' safe_stride='1'>
  <!-- written by mdvib.engines.ipi_input: {escape(json.dumps(s.describe()))} -->
  <output prefix='{OUTPUT_PREFIX}'>
    <properties stride='{stride}' filename='out'> [ {', '.join(PROPERTIES)} ] </properties>
{trajectories}
    <checkpoint filename='chk' stride='{s.effective_checkpoint_stride}' overwrite='true'/>
  </output>
  <total_steps> {s.steps} </total_steps>
  <prng><seed> {s.seed} </seed></prng>
  <ffsocket name='mdvib' mode='unix' pbc='false'>
    <address> {address} </address>
    <latency> 1e-4 </latency>
  </ffsocket>
  <system>
    <initialize nbeads='{s.beads}'>
      <file mode='xyz' units='angstrom' cell_units='angstrom'> {INIT_XYZ} </file>
      <masses mode='manual' units='dalton'> [ {mass_list} ] </masses>
      <velocities mode='thermal' units='kelvin'> {s.temperature_k!r} </velocities>
    </initialize>
    <forces><force forcefield='mdvib'/></forces>
    <ensemble><temperature units='kelvin'> {s.temperature_k!r} </temperature></ensemble>
    <motion mode='dynamics'>
{dynamics}
    </motion>
  </system>
</simulation>
"""


def write_ipi_input(settings: PIMDSettings, atoms, workdir: str | Path, address: str) -> Path:
    """Write ``input.xml`` and ``init.xyz`` of a run into ``workdir``.

    Parameters
    ----------
    settings : PIMDSettings
    atoms : ase.Atoms
        Starting structure (Å), in :func:`standard_frame`.
    workdir : path
        Run folder (created if missing).
    address : str
        Unix-socket address of the server.

    Returns
    -------
    Path
        The i-PI input file.
    """
    workdir = Path(workdir)
    write_init_xyz(atoms, workdir / INIT_XYZ)
    path = workdir / INPUT_XML
    write_text_atomic(path, ipi_xml(settings, atoms.get_masses(), address))
    return path


def client_run_steps(settings: PIMDSettings) -> int:
    """LAMMPS steps of a client's ``run``: more than the force evaluations i-PI can ask of it.

    One i-PI step evaluates every bead once, plus one evaluation of all beads
    at the start; a single client may get all of them. Capped at
    :data:`MAX_CLIENT_RUN` (LAMMPS's limit on the steps of one ``run``).
    """
    return min((settings.steps + 1) * settings.beads + CLIENT_RUN_MARGIN, MAX_CLIENT_RUN)


def client_input(data_file: str | Path, potential_lines: Sequence[str], address: str, run_steps: int,
                 extra_commands: Sequence[str] = ()) -> str:
    """LAMMPS input of one i-PI client (metal units).

    Parameters
    ----------
    data_file : path
        LAMMPS data file of the structure (types in the potential's element order).
    potential_lines : sequence of str
        ``pair_style`` / ``pair_coeff`` (and ``plugin load``) lines,
        :func:`~mdvib.engines.potentials.potential_commands`.
    address : str
        Unix-socket address of the i-PI server.
    run_steps : int
        Length of the ``run``, :func:`client_run_steps`.
    extra_commands : sequence of str
        LAMMPS commands placed after the potential (e.g. ``pair_modify`` or
        an extra force term), before ``fix ipi``.
    """
    lines = ["# i-PI client written by mdvib.engines.ipi_input: i-PI integrates, LAMMPS computes forces",
             "units metal", "atom_style atomic", "boundary p p p", f"read_data {data_file}",
             *potential_lines, *extra_commands,
             "thermo_style custom step pe", "thermo 0",
             f"fix mdvib_ipi all ipi {address} {UNIX_PORT} unix",
             f"run {run_steps}"]
    return "\n".join(lines) + "\n"
