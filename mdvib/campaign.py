"""Temperature-series MD campaigns with LAMMPS: run → DOS → plot, resumable.

A campaign is described by a TOML file (:meth:`CampaignConfig.from_toml`)::

    output = "si-campaign"            # results folder, relative to this file

    [structure]                       # a lattice ...
    lattice = "diamond"               # ase.build.bulk crystal structure
    element = "Si"
    a = 5.431                         # Å
    supercell = [3, 3, 3]
    # file = "POSCAR"                 # ... or any file ASE reads

    [potential]                       # a classical LAMMPS pair style (mdvib.engines.potentials)
    style = "sw"
    file = "Si.sw"                    # bare names: the LAMMPS potentials directory
    elements = ["Si"]                 # LAMMPS type order
    # style = "ase"                   # ... or any ASE calculator through fix external
    # calculator = "ase.calculators.emt:EMT"   # "module:callable"; kwargs = {...}
    #                                 # (one Python call per step: slower; needs ranks = 1)

    [md]
    temperatures_k = [300, 600]
    timestep_fs = 1.0
    equilibration_ps = 5.0
    production_ps = 20.0
    segment_ps = 5.0                  # restart interval of the production
    dump_stride = 5                   # steps between frames
    thermostat = "nose-hoover"        # equilibration: nose-hoover or csvr
    ensemble = "nve"                  # production: nve or nvt (with the thermostat)
    damping_fs = 100.0
    seed = 20261123                   # temperature i uses seed + i (or seeds = [...])
    ranks = 1                         # MPI ranks (> 1: mpirun subprocess)

    [analysis.dos]                    # every analysis in the registry (mdvib.analysis.registry)
    window = 200                      # frames (default: half a block, ≤ 1000)
    blocks = 4
    window_function = "hann"

    [analysis.tdep]                   # effective force constants of each temperature
    rc2 = 5.0                         # Å
    rc3 = 4.0
    stride = "auto"

    [pimd]                            # optional: i-PI path-integral MD instead of the LAMMPS MD
    beads = 16                        # (mdvib.campaign_pimd; [md] then takes only temperatures_k, seed(s))
    mode = "trpmd"                    # trpmd (quantum dynamics: DOS, INS, TDEP) or pimd (statics: TDEP)
    timestep_fs = 0.5
    equilibration_steps = 2000
    steps = 20000                     # production steps
    stride = 4                        # steps between frames
    clients = 2                       # LAMMPS clients evaluating the beads

Without ``[analysis.*]`` tables the campaign computes the DOS with default
settings; a top-level ``[dos]`` table (mdvib 0.1) is read as ``[analysis.dos]``.
Every table is validated before any MD runs: unknown keys (with the closest
valid one), missing required keys and values of the wrong type are refused.

Every temperature runs in its own folder ``T_<value>K/``: NVT equilibration
(``equilibration.restart``), then the production in segments of
``segment_ps``, each continued from the previous segment's restart file and
appending to ``production.dump``; ``progress.json`` (written atomically after
each segment) records the completed segments and the dump size. Re-running
the campaign truncates a dump to its last complete segment and continues from
that segment's restart file, so an interrupted campaign ends with the same
trajectory as an uninterrupted one. After the MD every listed analysis runs
on the production dump and writes into the temperature's folder (DOS:
``dos.h5``/``dos.csv``; TDEP: ``tdep/``); ``analyses.json`` records each
finished analysis with its settings, so a rerun repeats only the analyses
whose settings changed or whose result file is damaged. The ``done`` marker
(written atomically last) says that the MD and every analysis are finished.
Finally each analysis draws its series figure in the campaign folder
(``dos_series.png``, ``tdep_dispersion.png``).

With ``[pimd]`` each temperature runs one i-PI simulation in ``T_<T>K/pimd/``
instead (:mod:`mdvib.campaign_pimd`): equilibration and production in one run
under mdvib's watchdog, resumed from i-PI's checkpoint when interrupted; the
analyses read the ring-polymer centroid from the first production frame, and
``pimd.json`` / ``pimd_kinetic.png`` give the quantum kinetic energy.

One campaign at a time per folder: ``campaign.lock`` holds the PID of the
running campaign; a second one refuses to start, and a lock left by a killed
run (its process is gone) is taken over.

Interrupting: Ctrl-C stops LAMMPS within one MD step (in process with
``ranks = 1``, or the ``mpirun`` subprocess with ``ranks > 1``); the segment
that was running is redone on resume.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from mdvib import campaign_pimd
from mdvib.analysis.registry import (
    CampaignStep,
    campaign_settings,
    check_table,
    did_you_mean,
    get_analysis,
    settings_record,
    type_hints,
)
from mdvib.engines.lammps import LammpsRun, lammps_version, run_template, template_path
from mdvib.engines.potentials import (
    PAIR_STYLES,
    PotentialSpec,
    fix_external_callbacks,
    make_potential,
    potential_commands,
)
from mdvib.engines.structures import LatticeSpec, read_structure, write_lammps_data
from mdvib.errors import MdvibError, SettingsError
from mdvib.results import file_sha256, process_exists, temperature_dirname, write_text_atomic

#: Equilibration thermostats (config name → template value); both leave the force array alone.
THERMOSTATS = {"nose-hoover": "nh", "csvr": "csvr"}
#: Production ensembles; ``nvt`` uses the equilibration thermostat.
ENSEMBLES = ("nve", "nvt")
#: Units of LAMMPS runs and dumps (Å, ps, eV; velocities Å/ps).
LAMMPS_UNITS = "metal"
#: Marker file of a finished temperature (MD and every analysis).
DONE_MARKER = "done"
#: Per-temperature record of the finished analyses and their settings.
ANALYSES_STATE = "analyses.json"
#: Lock file of a running campaign (holds its PID).
LOCK_FILE = "campaign.lock"


@dataclass(frozen=True)
class MDSettings:
    """MD protocol of a campaign.

    Attributes
    ----------
    temperatures_k : tuple of float
        Target temperatures, K.
    timestep_fs : float
        Integration time step, fs.
    equilibration_ps, production_ps, segment_ps : float
        NVT equilibration length, production length and production restart interval, ps.
    dump_stride : int
        MD steps between dumped frames.
    thermostat : str
        ``nose-hoover`` or ``csvr`` (equilibration, and production when ``ensemble = "nvt"``).
    ensemble : str
        Production ensemble, ``nve`` or ``nvt``.
    damping_fs : float
        Thermostat damping time, fs.
    seeds : tuple of int
        Velocity/CSVR seed of each temperature.
    ranks : int
        MPI ranks per LAMMPS run.
    thermo_every : int
        Thermo output interval, steps.
    """

    temperatures_k: tuple[float, ...]
    timestep_fs: float = 1.0
    equilibration_ps: float = 5.0
    production_ps: float = 20.0
    segment_ps: float = 5.0
    dump_stride: int = 5
    thermostat: str = "nose-hoover"
    ensemble: str = "nve"
    damping_fs: float = 100.0
    seeds: tuple[int, ...] = ()
    ranks: int = 1
    thermo_every: int = 100

    def steps(self, length_ps: float, what: str) -> int:
        """Number of time steps in ``length_ps`` (must be a whole number)."""
        n = length_ps * 1000.0 / self.timestep_fs
        if n < 1 or abs(n - round(n)) > 1e-6 * max(1.0, n):
            raise SettingsError(f"md.{what} = {length_ps} ps is not a positive whole number of "
                                f"{self.timestep_fs} fs time steps")
        return int(round(n))

    def segment_steps(self) -> list[int]:
        """MD steps of each production segment (the last may be shorter), multiples of ``dump_stride``."""
        total = self.steps(self.production_ps, "production_ps")
        segment = min(self.steps(self.segment_ps, "segment_ps"), total)
        for n, what in ((total, "production_ps"), (segment, "segment_ps")):
            if n % self.dump_stride:
                raise SettingsError(f"md.{what} must be a whole number of dump strides "
                                    f"({self.dump_stride} steps × {self.timestep_fs} fs), got {n} steps")
        return [min(segment, total - start) for start in range(0, total, segment)]


@dataclass(frozen=True)
class CampaignConfig:
    """A validated campaign description.

    Attributes
    ----------
    structure : LatticeSpec or Path
        Lattice to build, or a structure file ASE reads.
    potential : PotentialSpec
        Classical LAMMPS potential.
    md : MDSettings
    analyses : dict
        Validated settings of each analysis, by registry name, in the order given.
    output_dir : Path
        Campaign folder.
    pimd : mdvib.campaign_pimd.PIMDCampaignSettings or None
        The ``[pimd]`` table: i-PI path-integral MD replaces the LAMMPS MD.
    raw : dict
        The configuration as given (recorded in provenance).
    """

    structure: LatticeSpec | Path
    potential: PotentialSpec
    md: MDSettings
    analyses: dict
    output_dir: Path
    pimd: campaign_pimd.PIMDCampaignSettings | None = None
    raw: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_toml(cls, path: str | Path, output_dir: str | Path | None = None) -> CampaignConfig:
        """Read a campaign TOML file (relative paths are relative to its folder).

        Raises
        ------
        SettingsError
            If the file is missing, not valid TOML, or has unknown or invalid settings.
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise SettingsError(f"campaign file {path} not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
        return cls.from_dict(data, base_dir=path.resolve().parent, output_dir=output_dir)

    @classmethod
    def from_dict(cls, data: dict, base_dir: str | Path = ".", output_dir: str | Path | None = None) -> CampaignConfig:
        """Validate a configuration dictionary (the parsed TOML); see the module docstring."""
        base_dir = Path(base_dir).resolve()
        _check_keys(data, {"output", "structure", "potential", "md", "dos", "analysis", "pimd"}, "the campaign file")
        for section in ("structure", "potential", "md"):
            if not isinstance(data.get(section), dict):
                raise SettingsError(f"the campaign file needs a [{section}] table")
        structure = _structure_from(data["structure"], base_dir)
        pot = data["potential"]
        entry = PAIR_STYLES.get(str(pot.get("style")))
        shorthand = set(entry.params) if entry else set()  # style parameters given directly in [potential]
        hints = {"style": str, "file": str, "elements": list[str], "params": dict} | dict.fromkeys(shorthand, Any)
        check_table(pot, hints, {"style", "elements"}, "[potential]")
        if entry is None:
            hint = did_you_mean(pot["style"], PAIR_STYLES)
            raise SettingsError(f"[potential]: unknown style {pot['style']!r}{hint}; choose one of "
                                f"{', '.join(PAIR_STYLES)} (mdvib campaign --help)")
        params = dict(pot.get("params") or {})
        for name in shorthand & set(pot):
            if name in params:
                raise SettingsError(f"[potential]: {name} given both directly and in params")
            params[name] = pot[name]
        potential = make_potential(pot["style"], pot["elements"], pot.get("file"), params, base_dir)
        pimd = None
        if "pimd" in data:
            if not isinstance(data["pimd"], dict):
                raise SettingsError("[pimd] must be a table, e.g. [pimd] beads = 16")
            campaign_pimd.check_md_table(data["md"])
            pimd = campaign_pimd.PIMDCampaignSettings.from_table(data["pimd"])
        md = _md_from(data["md"])
        if pimd is None and potential.style == "ase":
            from mdvib.engines.ase_external import AseCalculatorParams

            if AseCalculatorParams.from_params(potential.params).foreign:
                raise SettingsError(f"[potential]: python = {potential.params['python']!r} is another environment: "
                                    "its calculator can only run as an i-PI client; add a [pimd] table (beads = 1 "
                                    "for classical MD through i-PI)")
        if md.ranks > 1 and entry is not None and entry.fix_external is not None:
            raise SettingsError(f"potential style {pot['style']} runs Python callbacks in this process (fix external): "
                                f"it needs md.ranks = 1, got {md.ranks}")
        analyses = _analyses_from(data)
        if pimd is not None:
            campaign_pimd.check_analyses(pimd, list(analyses))
        out = Path(output_dir) if output_dir is not None else base_dir / data.get("output", "campaign")
        return cls(structure, potential, md, analyses, out.resolve(), pimd=pimd, raw=data)


def _analyses_from(data: dict) -> dict:
    """Validated settings of every ``[analysis.<name>]`` table (default: the DOS alone)."""
    tables = data.get("analysis", {})
    if not isinstance(tables, dict) or any(not isinstance(t, dict) for t in tables.values()):
        raise SettingsError("[analysis] must hold one table per analysis, e.g. [analysis.dos] window = 200")
    if "dos" in data:
        if "dos" in tables:
            raise SettingsError("give the DOS settings in [analysis.dos] or [dos], not both")
        tables = {"dos": data["dos"], **tables}
    if not tables:
        tables = {"dos": {}}
    settings = {name: campaign_settings(get_analysis(name), table, f"[analysis.{name}]")
                for name, table in tables.items()}
    names = list(settings)
    for k, name in enumerate(names):
        requires = get_analysis(name).requires
        for needed in requires(settings[name]) if requires else ():
            if needed not in names[:k]:
                raise SettingsError(f"[analysis.{name}] uses the result of [analysis.{needed}]: list "
                                    f"[analysis.{needed}] before it")
    return settings


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        hints = [f"{key!r}{did_you_mean(key, allowed)}" for key in unknown]
        raise SettingsError(f"{where}: unknown setting(s) {', '.join(hints)}; allowed: {sorted(allowed)}")


#: Keys of ``[structure]`` and their types.
_STRUCTURE_KEYS = {"file": str, "lattice": str, "element": str, "a": float, "c": float, "supercell": list[int]}


def _structure_from(table: dict, base_dir: Path) -> LatticeSpec | Path:
    check_table(table, _STRUCTURE_KEYS, set(), "[structure]")
    if "file" in table:
        if len(table) > 1:
            raise SettingsError("[structure]: give either file or a lattice (lattice, element, a, supercell), not both")
        path = Path(table["file"]).expanduser()
        path = (path if path.is_absolute() else base_dir / path).resolve()
        if not path.is_file():
            raise SettingsError(f"[structure]: file {path} not found")
        return path
    missing = [k for k in ("lattice", "element", "a", "supercell") if k not in table]
    if missing:
        raise SettingsError(f"[structure]: a lattice needs {missing} (or give file = PATH)")
    if len(table["supercell"]) != 3 or min(table["supercell"]) < 1 or table["a"] <= 0:
        raise SettingsError(f"[structure]: supercell must be three positive integers and a (Å) positive, got "
                            f"supercell = {table['supercell']}, a = {table['a']}")
    return LatticeSpec(str(table["element"]), str(table["lattice"]), float(table["a"]),
                       tuple(int(n) for n in table["supercell"]), None if "c" not in table else float(table["c"]))


def _md_from(table: dict) -> MDSettings:
    hints = type_hints(MDSettings) | {"seed": int}
    check_table(table, hints, {"temperatures_k"}, "[md]")
    if not table["temperatures_k"]:
        raise SettingsError("[md] needs temperatures_k, e.g. temperatures_k = [300, 600]")
    values = dict(table)
    temps = tuple(float(t) for t in values.pop("temperatures_k"))
    if any(t <= 0 for t in temps) or len(set(temps)) != len(temps):
        raise SettingsError(f"md.temperatures_k must be distinct positive temperatures, got {list(temps)}")
    seed = values.pop("seed", None)
    seeds = tuple(int(s) for s in values.pop("seeds", ()))
    if seeds and seed is not None:
        raise SettingsError("[md]: give seed or seeds, not both")
    if not seeds:
        base = 20261123 if seed is None else int(seed)
        seeds = tuple(base + k for k in range(len(temps)))
    if len(seeds) != len(temps) or any(s < 1 for s in seeds):
        raise SettingsError(f"md.seeds needs one positive integer per temperature, got {list(seeds)}")
    md = MDSettings(temperatures_k=temps, seeds=seeds, **values)
    if md.thermostat not in THERMOSTATS:
        raise SettingsError(f"md.thermostat {md.thermostat!r}: choose one of {list(THERMOSTATS)} "
                            "(fix langevin is not offered: it writes into the recorded forces)")
    if md.ensemble not in ENSEMBLES:
        raise SettingsError(f"md.ensemble {md.ensemble!r}: choose one of {list(ENSEMBLES)}")
    if md.timestep_fs <= 0 or md.damping_fs <= 0 or md.dump_stride < 1 or md.ranks < 1 or md.thermo_every < 1:
        raise SettingsError("md: timestep_fs and damping_fs must be positive; dump_stride, ranks and "
                            "thermo_every positive integers")
    md.steps(md.equilibration_ps, "equilibration_ps")
    md.segment_steps()
    return md


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TemperatureResult:
    """Outcome of one temperature of a campaign.

    Attributes
    ----------
    temperature_k : float
        Target temperature, K.
    directory : Path
        Its folder ``T_<value>K``.
    results : dict
        Result of each analysis by name (loaded from its file when it was
        finished earlier).
    skipped : bool
        Whether it was already finished (nothing was run).
    pimd : dict or None
        A PIMD campaign's ``pimd.json`` (quantum kinetic energy, speed); ``None`` for LAMMPS MD.
    """

    temperature_k: float
    directory: Path
    results: dict
    skipped: bool
    pimd: dict | None = None

    @property
    def dos(self):
        """The DOS result (``None`` when the campaign has no DOS analysis)."""
        return self.results.get("dos")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def _read_json(path: Path, fix: str = "delete it: what it records is then redone, the other temperatures "
               "are kept") -> dict:
    """A campaign state file, or a clear error naming it and ``fix`` when it is empty or damaged."""
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise MdvibError(f"{path} is damaged ({exc}); {fix}") from exc
    return data


def _read_state(path: Path) -> dict:
    """A state file that can be rebuilt (``done``, ``analyses.json``): ``{}`` when missing or damaged."""
    if not path.exists():
        return {}
    try:
        return _read_json(path)
    except MdvibError as exc:
        tqdm.write(f"mdvib campaign: {exc}")
        return {}


class CampaignLock:
    """Exclusive use of a campaign folder by one process (``campaign.lock`` with its PID).

    A lock whose process no longer exists (a killed run) is taken over.

    Raises
    ------
    SettingsError
        On entry, if another live process holds the lock.
    """

    def __init__(self, root: Path):
        self.path = Path(root) / LOCK_FILE

    def __enter__(self) -> CampaignLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and process_exists(holder):
                    raise SettingsError(f"{self.path.parent} is in use by another mdvib campaign (PID {holder}, "
                                        f"{self.path}); wait for it to finish or use another output folder") from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()}\n")
            return self
        raise SettingsError(f"cannot take the campaign lock {self.path}")

    def _holder(self) -> int | None:
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def __exit__(self, *exc) -> None:
        if self._holder() == os.getpid():
            self.path.unlink(missing_ok=True)



class Campaign:
    """Run a :class:`CampaignConfig`: every temperature's MD and DOS, then the series plot.

    Parameters
    ----------
    config : CampaignConfig
    progress : bool
        Show tqdm bars (temperatures; stages with the last thermo line).
    """

    def __init__(self, config: CampaignConfig, progress: bool = True):
        self.config = config
        self.progress = progress
        self.root = config.output_dir
        self._lammps_version: str | None = None
        self._fix_external: dict | None = None

    def _callbacks(self) -> dict:
        """The potential's ``fix external`` callbacks (built once: e.g. the ASE calculator); ``{}`` if native."""
        if self._fix_external is None:
            self._fix_external = fix_external_callbacks(self.config.potential)
        return self._fix_external

    # ------------------------------------------------------------------ setup
    @property
    def data_file(self) -> Path:
        """LAMMPS data file of the starting structure."""
        return self.root / "structure.data"

    @property
    def potential_file(self) -> Path:
        """File of ``pair_style``/``pair_coeff`` commands included by the templates."""
        return self.root / "potential.lammps"

    def _prepare(self) -> None:
        """Write the structure data file (unless it is up to date) and the potential commands (atomically)."""
        self.root.mkdir(parents=True, exist_ok=True)
        structure = self.config.structure
        record = json.loads(json.dumps({"structure": self.md_settings_record(0)["structure"],
                                        "elements": list(self.config.potential.elements)}))
        stamp = self.root / "structure.json"
        if not (self.data_file.exists() and _read_state(stamp) == record):
            atoms = structure.build() if isinstance(structure, LatticeSpec) else read_structure(structure)
            write_lammps_data(atoms, self.data_file, self.config.potential.elements)
            _write_json(stamp, record)
        lines = [f"# {self.config.potential.style} potential written by mdvib (LAMMPS {LAMMPS_UNITS} units)",
                 *potential_commands(self.config.potential)]
        write_text_atomic(self.potential_file, "\n".join(lines) + "\n")

    def md_settings_record(self, index: int) -> dict:
        """Everything that determines the trajectory of temperature ``index`` (compared on resume)."""
        md = self.config.md
        structure = self.config.structure
        common = {
            "structure": (dataclasses.asdict(structure) if isinstance(structure, LatticeSpec)
                          else {"file": str(structure), "sha256": file_sha256(structure)}),
            "potential": self.config.potential.describe()
            | {"file_sha256": None if self.config.potential.file is None else file_sha256(self.config.potential.file)},
            "temperature_k": md.temperatures_k[index],
            "seed": md.seeds[index],
        }
        if self.config.pimd is not None:
            return common | {"engine": "i-pi", "pimd": self.config.pimd.describe()}
        return common | {
            "timestep_fs": md.timestep_fs,
            "equilibration_ps": md.equilibration_ps,
            "production_ps": md.production_ps,
            "segment_ps": md.segment_ps,
            "dump_stride": md.dump_stride,
            "thermostat": md.thermostat,
            "ensemble": md.ensemble,
            "damping_fs": md.damping_fs,
            "units": LAMMPS_UNITS,
        }

    # ------------------------------------------------------------------ running
    def run(self) -> list[TemperatureResult]:
        """Run (or resume) every temperature and its analyses, then draw each analysis's series figure.

        Returns
        -------
        list of TemperatureResult
            In the order of ``md.temperatures_k``.

        Raises
        ------
        LammpsRunError
            If a LAMMPS run fails; finished temperatures are left intact.
        SettingsError
            If a temperature folder was started with different MD settings, or
            another campaign is running in the same folder.
        """
        with CampaignLock(self.root):
            return self._run()

    def _run(self) -> list[TemperatureResult]:
        temps = self.config.md.temperatures_k
        if self.config.pimd is not None:  # a broken install fails before anything runs
            from mdvib.engines.ipi import ipi_executable

            ipi_executable()
        for name in ("equilibrate.in", "production.in"):
            template_path(name)
        for index in range(len(temps)):  # before anything is written: refuse changed settings up front
            self._check_settings(index)
        self._prepare()
        results = []
        with tqdm(total=len(temps), desc="campaign", unit="T", disable=not self.progress) as bar:
            for index, temperature in enumerate(temps):
                bar.set_postfix_str(f"{temperature:g} K")
                results.append(self._run_temperature(index))
                bar.update(1)
        self._plot_series(results)
        return results

    def _plot_series(self, results: list[TemperatureResult]) -> None:
        potential = self.config.potential
        labels = [f"{r.temperature_k:g} K" for r in results]
        if self.config.pimd is not None:
            campaign_pimd.plot_kinetic_series([r.temperature_k for r in results], [r.pimd for r in results],
                                              self.root / campaign_pimd.SERIES_FILE,
                                              title=f"{'-'.join(potential.elements)} ({potential.style}): "
                                                    "PIMD quantum kinetic energy")
        for name in self.config.analyses:
            spec = get_analysis(name)
            if spec.plot_series is not None and spec.series_file is not None:
                spec.plot_series([r.directory for r in results], labels, self.root / spec.series_file,
                                 title=f"{'-'.join(potential.elements)} ({potential.style}): {name} temperature series")

    def _run_temperature(self, index: int) -> TemperatureResult:
        md = self.config.md
        temperature = md.temperatures_k[index]
        tdir = self.root / temperature_dirname(temperature)
        ran_md = (self._run_md(index, tdir, md.segment_steps()) if self.config.pimd is None
                  else self._run_pimd(index, tdir))
        self._check_frames(index, tdir)
        results, ran = {}, ran_md
        for name, settings in self.config.analyses.items():
            results[name], ran_this = self._analysis(name, settings, index, tdir)
            ran = ran or ran_this
        marker = {"frames": self._expected_frames(),
                  "analyses": json.loads(json.dumps({n: settings_record(s) for n, s in self.config.analyses.items()}))}
        done = tdir / DONE_MARKER
        if ran or {k: v for k, v in _read_state(done).items() if k != "finished"} != marker:
            _write_json(done, {"finished": _now(), **marker})
        return TemperatureResult(temperature, tdir, results, skipped=not ran,
                                 pimd=None if self.config.pimd is None else campaign_pimd.read_summary(tdir))

    def _run_md(self, index: int, tdir: Path, segments: list[int]) -> bool:
        """Equilibration and production segments not yet done; whether anything ran."""
        progress_file = tdir / "progress.json"
        if progress_file.exists() and _read_json(progress_file).get("segments_done") == len(segments):
            return False
        with tqdm(total=len(segments) + 1, desc=f"{self.config.md.temperatures_k[index]:g} K", unit="stage",
                  leave=False, disable=not self.progress) as bar:
            restart = tdir / "equilibration.restart"
            if not restart.exists():
                self._record(tdir, "equilibration", self._equilibrate(index, tdir, restart, bar), bar)
            bar.update(1)
            progress = self._resume_point(tdir)
            bar.update(progress["segments_done"])
            for k in range(progress["segments_done"], len(segments)):
                run = self._production_segment(index, tdir, k, segments[k], progress, bar)
                self._record(tdir, f"production segment {k}", run, bar)
                bar.update(1)
        return True

    def _run_pimd(self, index: int, tdir: Path) -> bool:
        """The i-PI run of temperature ``index`` (resumed when interrupted) and its ``pimd.json``; whether it ran."""
        from mdvib.engines.ipi import run_pimd

        md, pimd = self.config.md, self.config.pimd
        settings = pimd.for_temperature(md.temperatures_k[index], md.seeds[index])
        if campaign_pimd.read_summary(tdir) is not None and (tdir / "progress.json").exists():
            return False
        structure = self.config.structure
        atoms = structure.build() if isinstance(structure, LatticeSpec) else read_structure(structure)
        run = run_pimd(settings, atoms, self.config.potential, tdir / campaign_pimd.PIMD_FOLDER,
                       progress=self.progress)
        summary = campaign_pimd.kinetic_summary(run.properties, pimd.equilibration_steps, len(atoms),
                                                md.temperatures_k[index])
        summary |= {"beads": settings.beads, "mode": settings.mode, "steps_per_s": run.steps_per_s,
                    "wall_s": run.wall_s, "resumed_from": run.resumed_from}
        self._append_provenance(
            tdir, {"stage": "pimd", "wall_s": round(run.wall_s, 3), "steps_per_s": round(run.steps_per_s, 3),
                   "resumed_from": run.resumed_from, "input": str(run.input.relative_to(tdir)),
                   "log": str(run.server_log.relative_to(tdir))})
        campaign_pimd.write_summary(tdir, summary)
        _write_json(tdir / "progress.json", {"engine": "i-pi", "last_step": run.last_step, "finished": _now()})
        return True

    def _step(self, index: int, tdir: Path) -> CampaignStep:
        """The temperature ``index`` as its analyses see it (the production trajectory and its reader)."""
        common = dict(directory=tdir, temperature_k=self.config.md.temperatures_k[index],
                      elements=tuple(self.config.potential.elements), structure_file=self.data_file,
                      progress=self.progress)
        if self.config.pimd is None:
            return CampaignStep(trajectory_path=tdir / "production.dump", timestep_fs=self.config.md.timestep_fs,
                                **common)
        positions, options = campaign_pimd.centroid_files(tdir / campaign_pimd.PIMD_FOLDER)
        return CampaignStep(trajectory_path=positions, timestep_fs=self.config.pimd.template.timestep_fs,
                            trajectory_format="extxyz", trajectory_options=options,
                            first_frame=self.config.pimd.first_frame, **common)

    def _expected_frames(self) -> int:
        """Frames of a finished production trajectory (a PIMD run's include its equilibration and step 0)."""
        md = self.config.md
        return sum(md.segment_steps()) // md.dump_stride if self.config.pimd is None else self.config.pimd.n_frames

    def _check_frames(self, index: int, tdir: Path) -> None:
        trajectory = self._step(index, tdir).open_trajectory()
        expected = self._expected_frames()
        if trajectory.n_frames != expected:
            raise MdvibError(f"{trajectory.path}: {trajectory.n_frames} frames, expected {expected}; "
                             f"delete {tdir} to rerun this temperature")

    def _analysis(self, name: str, settings, index: int, tdir: Path) -> tuple[object, bool]:
        """Run analysis ``name`` on temperature ``index`` unless it finished with these settings; (result, ran)."""
        from mdvib.results import load_result

        spec = get_analysis(name)
        record = settings_record(settings)
        state_file = tdir / ANALYSES_STATE
        state = _read_state(state_file)  # damaged: every analysis of this temperature runs again
        previous = state.get(name)
        if previous is not None and previous.get("settings") == json.loads(json.dumps(record)) and spec.result_file:
            try:
                return load_result(tdir / spec.result_file), False
            except MdvibError as exc:
                tqdm.write(f"mdvib campaign: {exc}; running the {name} analysis of {tdir.name} again")
        output = spec.run_in_campaign(self._step(index, tdir), settings)
        files = [str(Path(f).relative_to(tdir)) for f in output.files]
        path = tdir / "provenance.yaml"
        provenance = yaml.safe_load(path.read_text()) if path.exists() else {}
        provenance[name] = {"files": files, "settings": record, **output.result.provenance.to_dict()}
        write_text_atomic(path, yaml.safe_dump(provenance, sort_keys=False, allow_unicode=True))
        state[name] = {"settings": record, "files": files, "finished": _now()}
        _write_json(state_file, state)
        return output.result, True

    def _check_settings(self, index: int) -> None:
        """Compare temperature ``index``'s MD settings with its ``settings.json`` (written when new).

        Raises
        ------
        SettingsError
            If the folder was started with other settings.
        """
        tdir = self.root / temperature_dirname(self.config.md.temperatures_k[index])
        settings = json.loads(json.dumps(self.md_settings_record(index)))  # tuples → lists, as stored
        path = tdir / "settings.json"
        if path.exists():
            previous = _read_json(path, f"delete {tdir} to rerun this temperature (the others are kept)")
            if previous != settings:
                changed = sorted(k for k in settings if previous.get(k) != settings[k])
                raise SettingsError(
                    f"{tdir} was started with different MD settings ({', '.join(changed)}); "
                    "use another output folder (output = ... or -o) or delete this one to start over"
                )
        else:
            tdir.mkdir(parents=True, exist_ok=True)
            _write_json(path, settings)

    def _common_variables(self, index: int) -> dict[str, object]:
        md = self.config.md
        return {
            "potential": self.potential_file,
            "temperature": md.temperatures_k[index],
            "tdamp": md.damping_fs / 1000.0,
            "dt": md.timestep_fs / 1000.0,
            "thermo_every": md.thermo_every,
        }

    def _equilibrate(self, index: int, tdir: Path, restart: Path, bar) -> LammpsRun:
        md = self.config.md
        tmp = restart.with_name(restart.name + ".tmp")
        variables = self._common_variables(index) | {
            "data_file": self.data_file,
            # a crystal started at its lattice sites shares the kinetic energy with the potential energy
            "vel_temp": 2.0 * md.temperatures_k[index],
            "seed": md.seeds[index],
            "thermostat": THERMOSTATS[md.thermostat],
            "steps": md.steps(md.equilibration_ps, "equilibration_ps"),
            "restart_out": tmp,
        }
        run = run_template(template_path("equilibrate.in"), variables, tdir / "equilibration.log", ranks=md.ranks,
                           on_progress=self._progress(bar, "equilibration"), fix_external=self._callbacks())
        os.replace(tmp, restart)
        return run

    def _resume_point(self, tdir: Path) -> dict:
        """Read ``progress.json`` and cut ``production.dump`` back to its last complete segment."""
        path = tdir / "progress.json"
        progress = (_read_json(path, "delete it: this temperature's production is then run again from its "
                               "equilibration, the other temperatures are kept") if path.exists()
                    else {"segments_done": 0, "dump_bytes": 0, "restart": "equilibration.restart", "step": 0})
        dump = tdir / "production.dump"
        if dump.exists():
            size = dump.stat().st_size
            if size < progress["dump_bytes"]:
                raise MdvibError(f"{dump} is shorter ({size} bytes) than its {progress['segments_done']} completed "
                                 f"segments ({progress['dump_bytes']} bytes); delete {tdir} to rerun this temperature")
            if size > progress["dump_bytes"]:
                with open(dump, "r+b") as fh:  # drop frames of an interrupted segment
                    fh.truncate(progress["dump_bytes"])
        elif progress["dump_bytes"]:
            raise MdvibError(f"{dump} is missing but {path} records {progress['segments_done']} segments; "
                             f"delete {tdir} to rerun this temperature")
        return progress

    def _production_segment(self, index: int, tdir: Path, k: int, steps: int, progress: dict, bar) -> LammpsRun:
        md = self.config.md
        restart = tdir / f"segment_{k:04d}.restart"
        tmp = restart.with_name(restart.name + ".tmp")
        ensemble = "nve" if md.ensemble == "nve" else THERMOSTATS[md.thermostat]
        variables = self._common_variables(index) | {
            "restart_in": tdir / progress["restart"],
            "ensemble": ensemble,
            "seed": md.seeds[index] + 1 + k,
            "steps": steps,
            "stride": md.dump_stride,
            "dump_file": tdir / "production.dump",
            "restart_out": tmp,
        }
        run = run_template(template_path("production.in"), variables, tdir / f"segment_{k:04d}.log", ranks=md.ranks,
                           on_progress=self._progress(bar, f"production segment {k}"), fix_external=self._callbacks())
        os.replace(tmp, restart)
        previous = progress["restart"]
        progress.update(segments_done=k + 1, dump_bytes=(tdir / "production.dump").stat().st_size,
                        restart=restart.name, step=progress["step"] + steps)
        _write_json(tdir / "progress.json", progress)
        if previous != "equilibration.restart":
            (tdir / previous).unlink(missing_ok=True)
        return run

    def _progress(self, bar, stage: str):
        """Callback showing the live thermo tail of ``stage`` on ``bar`` (None without progress bars)."""
        return (lambda thermo: _show_thermo(bar, stage, thermo)) if self.progress else None

    def _record(self, tdir: Path, stage: str, run: LammpsRun, bar) -> None:
        """Append a LAMMPS stage to ``provenance.yaml`` and show its last thermo line."""
        self._append_provenance(tdir, {"stage": stage, "wall_s": round(run.wall_s, 3), "log": run.log.name,
                                       "command": run.command})
        _show_thermo(bar, stage, run.thermo)

    def _append_provenance(self, tdir: Path, run: dict) -> None:
        """Append one run (``stage`` first) to ``provenance.yaml``, starting the file when it is new.

        A new file records the versions (mdvib and the MD engine: LAMMPS, or i-PI
        in a PIMD campaign), the configuration, the temperature's settings and the units.
        """
        path = tdir / "provenance.yaml"
        record = yaml.safe_load(path.read_text()) if path.exists() else None
        if record is None:
            from mdvib import __version__

            if self.config.pimd is None:
                if self._lammps_version is None:
                    self._lammps_version = lammps_version()
                engine = {"lammps_version": self._lammps_version}
                units = f"LAMMPS {LAMMPS_UNITS}: Å, ps, eV; dump velocities Å/ps, forces eV/Å"
            else:
                from importlib.metadata import version

                engine = {"ipi_version": version("ipi")}
                units = ("i-PI run with explicit units: Å, fs, eV, K; centroid velocities m/s in "
                         "simulation.vc.xyz, forces eV/Å")
            record = {"mdvib_version": __version__, **engine, "created": _now(), "config": self.config.raw,
                      "settings": _read_json(tdir / "settings.json"), "units": units, "runs": []}
        record["runs"].append({"stage": run["stage"], "finished": _now(), **run})
        write_text_atomic(path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))


def _show_thermo(bar, stage: str, thermo: list[str]) -> None:
    """Put the last thermo line (step, temperature, total energy) on a progress bar."""
    if len(thermo) < 2:
        return
    values = dict(zip(thermo[0].split(), thermo[-1].split()))
    bar.set_postfix_str(f"{stage}: step {values.get('Step')} T {values.get('Temp')} K E {values.get('TotEng')} eV")


def run_campaign(config: CampaignConfig | str | Path, progress: bool = True) -> list[TemperatureResult]:
    """Run or resume a campaign from a :class:`CampaignConfig` or a TOML file path.

    See :class:`Campaign` and the module docstring.
    """
    if not isinstance(config, CampaignConfig):
        config = CampaignConfig.from_toml(config)
    return Campaign(config, progress=progress).run()
