"""The ``[pimd]`` table of a campaign: i-PI path-integral MD instead of LAMMPS MD at every temperature.

With a ``[pimd]`` table every temperature of ``[md].temperatures_k`` runs one
i-PI simulation (:func:`mdvib.engines.ipi.run_pimd`: the server, LAMMPS
clients with the campaign's potential, the watchdog, resume from i-PI's
checkpoint) in ``T_<T>K/pimd/``, of ``equilibration_steps + steps`` steps.
The analyses then read the ring-polymer centroid (``simulation.xc.xyz`` with
its velocities ``vc`` and bead-averaged forces ``fc``) from the first frame
after the equilibration:

* with ``mode = "trpmd"`` the centroid velocity autocorrelation is TRPMD's
  approximation to the Kubo-transformed one, so ``[analysis.dos]`` gives the
  quantum DOS, and ``[analysis.ins]`` its INS (docs/physics.md, "PIMD");
* ``[analysis.tdep]`` fits centroid forces to centroid displacements (the
  effective force constants of the quantum crystal) with either mode;
* ``mode = "pimd"`` samples the quantum statistics with thermostatted
  internal modes whose time correlations are not dynamics: analyses that
  need them (``needs_dynamics`` in the registry: DOS, SED, and INS through
  the DOS) are refused;
* ``mode = "rpmd"`` (no thermostat) is refused: a campaign starts from the
  ideal structure and needs a thermostat to equilibrate.

Keys (:data:`PIMD_KEYS`): every :class:`~mdvib.engines.ipi_input.PIMDSettings`
field except ``temperature_k`` and ``seed`` (which come from ``[md]``), plus
``equilibration_steps`` (a multiple of ``stride``; default 0). ``[md]`` then
takes only ``temperatures_k`` and ``seed``/``seeds``.

Every temperature also gets ``pimd.json``: the quantum kinetic energy per
atom (centroid-virial and primitive estimators, with block errors over the
production) against the classical 3/2 k_B T, and the i-PI speed; the
campaign draws them over the temperatures in ``pimd_kinetic.png``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mdvib.analysis.correlator import block_bounds, block_mean_error
from mdvib.engines.ipi_input import OUTPUT_PREFIX, PIMDSettings
from mdvib.errors import MdvibError, SettingsError
from mdvib.results import write_text_atomic
from mdvib.units import KB_EV_PER_K

#: Keys of ``[pimd]`` that are not PIMDSettings fields.
CAMPAIGN_ONLY_KEYS = ("equilibration_steps",)
#: PIMDSettings fields a campaign sets from ``[md]``.
FROM_MD = ("temperature_k", "seed")
#: Every key ``[pimd]`` accepts.
PIMD_KEYS = tuple(f.name for f in dataclasses.fields(PIMDSettings) if f.name not in FROM_MD) + CAMPAIGN_ONLY_KEYS
#: Keys ``[md]`` accepts in a PIMD campaign.
MD_KEYS_WITH_PIMD = ("temperatures_k", "seed", "seeds")
#: Folder of the i-PI run inside a temperature's folder.
PIMD_FOLDER = "pimd"
#: Per-temperature summary (quantum kinetic energy, speed).
SUMMARY_FILE = "pimd.json"
#: Campaign figure of the quantum kinetic energy over the temperatures.
SERIES_FILE = "pimd_kinetic.png"
#: Blocks of the production over which the kinetic-energy errors are estimated.
KINETIC_BLOCKS = 5


@dataclass(frozen=True)
class PIMDCampaignSettings:
    """A validated ``[pimd]`` table.

    Attributes
    ----------
    template : PIMDSettings
        The run settings; :meth:`for_temperature` fills in temperature, seed and the total steps.
    equilibration_steps : int
        Steps run before the production (frames of steps < this are not analysed).
    """

    template: PIMDSettings
    equilibration_steps: int = 0

    @classmethod
    def from_table(cls, table: Mapping[str, object]) -> PIMDCampaignSettings:
        """Validate a campaign's ``[pimd]`` table.

        Raises
        ------
        SettingsError
            For unknown keys (with the closest valid one), ``temperature_k``/``seed`` given here,
            invalid values, ``mode = "rpmd"``, or lengths that are not whole strides.
        """
        from mdvib.analysis.registry import did_you_mean

        for key in table:
            if key in FROM_MD:
                where = "temperatures_k" if key == "temperature_k" else "seed or seeds"
                raise SettingsError(f"[pimd]: {key} comes from [md] ({where}) in a campaign")
            if key not in PIMD_KEYS:
                raise SettingsError(f"[pimd]: unknown setting {key!r}{did_you_mean(key, PIMD_KEYS)}; allowed: "
                                    f"{list(PIMD_KEYS)}")
        values = dict(table)
        equilibration = values.pop("equilibration_steps", 0)
        if isinstance(equilibration, bool) or not isinstance(equilibration, int) or equilibration < 0:
            raise SettingsError(f"[pimd]: equilibration_steps = {equilibration!r} must be an integer >= 0")
        template = PIMDSettings.from_mapping(values)
        if template.mode == "rpmd":
            raise SettingsError("[pimd]: mode 'rpmd' (no thermostat) cannot equilibrate a campaign started from "
                                "the ideal structure; use mode = 'trpmd' (thermostatted ring-polymer MD)")
        for name, n in (("steps", template.steps), ("equilibration_steps", equilibration)):
            if n % template.stride:
                raise SettingsError(f"[pimd]: {name} = {n} must be a whole number of strides ({template.stride})")
        return cls(template, equilibration)

    def for_temperature(self, temperature_k: float, seed: int) -> PIMDSettings:
        """The i-PI run of one temperature: equilibration and production in one run."""
        return dataclasses.replace(self.template, temperature_k=float(temperature_k), seed=int(seed),
                                   steps=self.equilibration_steps + self.template.steps)

    @property
    def first_frame(self) -> int:
        """Index of the first production frame (i-PI writes frames at steps 0, stride, 2 stride, ...)."""
        return self.equilibration_steps // self.template.stride

    @property
    def n_frames(self) -> int:
        """Frames of a finished run, step 0 included."""
        return (self.equilibration_steps + self.template.steps) // self.template.stride + 1

    def describe(self) -> dict:
        """Plain dictionary for settings records."""
        return {**self.template.describe(), "equilibration_steps": self.equilibration_steps}


def check_md_table(table: Mapping[str, object]) -> None:
    """Refuse LAMMPS MD settings in ``[md]`` when ``[pimd]`` gives the dynamics."""
    extra = sorted(set(table) - set(MD_KEYS_WITH_PIMD))
    if extra:
        raise SettingsError(f"[md]: {extra} do not apply with [pimd]: give the time step and lengths in [pimd] "
                            f"(timestep_fs, steps, equilibration_steps, stride); [md] takes only "
                            f"{list(MD_KEYS_WITH_PIMD)} there")


def check_analyses(settings: PIMDCampaignSettings, analyses: Sequence[str]) -> None:
    """Refuse dynamical analyses of a path-integral sampling run (``mode = "pimd"``)."""
    from mdvib.analysis.registry import get_analysis

    if settings.template.mode != "pimd":
        return
    dynamical = [name for name in analyses if get_analysis(name).needs_dynamics]
    if dynamical:
        raise SettingsError(f"[pimd] mode 'pimd' samples quantum statistics, not dynamics: {dynamical} need time "
                            "correlations; use mode = 'trpmd' (the centroid then gives the Kubo-transformed "
                            "correlations), or keep only static analyses such as [analysis.tdep]")


def centroid_files(run_dir: Path) -> tuple[Path, dict[str, Path]]:
    """The centroid trajectory of a run folder and its reader options (velocity and force companions)."""
    positions = run_dir / f"{OUTPUT_PREFIX}.xc.xyz"
    return positions, {"velocities_file": run_dir / f"{OUTPUT_PREFIX}.vc.xyz",
                       "forces_file": run_dir / f"{OUTPUT_PREFIX}.fc.xyz"}


def kinetic_summary(properties_file: Path, first_step: int, n_atoms: int, temperature_k: float,
                    blocks: int = KINETIC_BLOCKS) -> dict:
    """Quantum kinetic energy per atom over the production, with block errors.

    Parameters
    ----------
    properties_file : Path
        i-PI's ``simulation.out`` (with ``kinetic_cv`` and ``kinetic_td``, eV for all atoms).
    first_step : int
        First production step (lines of earlier steps are the equilibration).
    n_atoms : int
        Atoms of the physical system.
    temperature_k : float
        Target temperature, K (for the classical value 3/2 k_B T).
    blocks : int
        Contiguous blocks of the production; the error is the standard error of the block means.

    Returns
    -------
    dict
        ``kinetic_cv_mev``/``kinetic_td_mev`` (per atom, meV) with ``*_err_mev``,
        ``classical_mev`` (3/2 k_B T), ``ratio_cv`` (quantum/classical), ``lines``.

    Raises
    ------
    MdvibError
        If the production has fewer lines than ``blocks``.
    """
    from mdvib.io.ipi_properties import read_properties

    properties = read_properties(properties_file)
    keep = properties.steps >= first_step
    if keep.sum() < blocks:
        raise MdvibError(f"{properties_file}: {int(keep.sum())} production lines (steps >= {first_step}), need at "
                         f"least {blocks} for the kinetic-energy errors")
    summary = {"lines": int(keep.sum()), "first_step": int(first_step)}
    for name in ("kinetic_cv", "kinetic_td"):
        per_atom = properties.values(name)[keep] / n_atoms * 1000.0
        bounds = block_bounds(len(per_atom), blocks)
        _, error = block_mean_error(np.array([per_atom[lo:hi].mean() for lo, hi in zip(bounds[:-1], bounds[1:])]))
        summary[f"{name}_mev"] = float(per_atom.mean())
        summary[f"{name}_err_mev"] = float(error)
    summary["classical_mev"] = 1.5 * KB_EV_PER_K * temperature_k * 1000.0
    summary["ratio_cv"] = summary["kinetic_cv_mev"] / summary["classical_mev"]
    return summary


def write_summary(tdir: Path, summary: dict) -> Path:
    """Write ``pimd.json`` atomically; return its path."""
    path = tdir / SUMMARY_FILE
    write_text_atomic(path, json.dumps(summary, indent=2) + "\n")
    return path


def read_summary(tdir: Path) -> dict | None:
    """``pimd.json`` of a temperature folder (``None`` when absent or unreadable)."""
    try:
        return json.loads((tdir / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None


def headline(summary: dict) -> str:
    """One line for the campaign summary."""
    return (f"quantum kinetic energy {summary['kinetic_cv_mev']:.2f} ± {summary['kinetic_cv_err_mev']:.2f} "
            f"meV/atom (centroid virial) = {summary['ratio_cv']:.3f} × classical 3/2 kT, "
            f"{summary['beads']} beads, {summary['steps_per_s']:.1f} steps/s")


def plot_kinetic_series(temperatures_k: Sequence[float], summaries: Sequence[dict], path: Path,
                        title: str = "") -> None:
    """Quantum kinetic energy per atom against temperature, with the classical 3/2 k_B T line.

    Parameters
    ----------
    temperatures_k : sequence of float
    summaries : sequence of dict
        :func:`kinetic_summary` of each temperature (with ``beads``).
    path : Path
        Figure file (written atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mdvib.plot import save_figure

    t = np.asarray(temperatures_k, dtype=float)
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    for name, label in (("kinetic_cv", "centroid virial"), ("kinetic_td", "primitive")):
        ax.errorbar(t, [s[f"{name}_mev"] for s in summaries], yerr=[s[f"{name}_err_mev"] for s in summaries],
                    marker="o", capsize=3, label=f"PIMD, {label}")
    grid = np.linspace(0.0, t.max() * 1.1, 100)
    ax.plot(grid, 1.5 * KB_EV_PER_K * grid * 1000.0, "k--", label="classical 3/2 $k_BT$")
    ax.set_xlabel("temperature (K)")
    ax.set_ylabel("kinetic energy (meV/atom)")
    ax.set_xlim(0.0, grid[-1])
    ax.set_ylim(bottom=0.0)
    ax.legend()
    if title:
        ax.set_title(title, fontsize=9)
    save_figure(fig, path)
