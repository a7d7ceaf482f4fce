"""``mdvib demo``: the main job end to end on a built-in Si setup.

By default the demo runs the LAMMPS temperature campaign of
``mdvib/data/demo_campaign.toml`` (Stillinger–Weber Si, 216 atoms, 100, 300 and
600 K) through :class:`mdvib.campaign.Campaign`, the code path of
``mdvib campaign``: NVT equilibration, segmented NVE production and the phonon
DOS of every temperature, then ``dos_series.png``. It adds a ``dos.png`` per
temperature and prints a summary: the kinetic-temperature check, the DOS
peaks (THz) and the output paths of each temperature, and the wall time.

``--potential allegro`` (or ``nequip``) runs the same campaign with the tiny
SW-trained model shipped in ``mdvib/data/models/`` through mdvib's LAMMPS
plugin pair style (built and cached on first use), with fewer atoms and steps
(:data:`DEMO_POTENTIALS`); ``--quick`` shortens any of them further
(:data:`QUICK`). Each choice runs in its own folder ``OUTDIR/<potential>[-quick]``,
so the demos never mix; running the same demo again resumes it (finished
temperatures are skipped, an interrupted one continues from its last restart
file).

``--from-dump`` is the fast path of earlier versions: only the DOS of the
shipped 216-atom SW-Si LAMMPS dump at 300 K (``mdvib/data/si_sw_300K.dump.gz``,
made by ``scripts/make_demo_trajectory.py``: 1 fs time step, frames every 5
steps, atoms shuffled per frame as in an MPI run), written to ``OUTDIR``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import tomllib
from pathlib import Path

from mdvib.errors import MdvibError, SettingsError
from mdvib.resources import data_file

#: Campaign settings each ``--potential`` changes in the built-in campaign (table → settings).
#: The MLIP plugin runs about 20-30 k atom-steps/s here (64 atoms, one thread), SW about 1 M, hence
#: fewer atoms, temperatures and steps for the models (about a minute on 2 cores, 5 at most).
DEMO_POTENTIALS: dict[str, dict[str, dict]] = {
    "sw": {},
    "allegro": {
        "structure": {"supercell": [2, 2, 2]},
        "potential": {"style": "allegro", "file": "si_allegro.nequip.pt2", "elements": ["Si"]},
        "md": {"temperatures_k": [300, 600], "equilibration_ps": 1.0, "production_ps": 6.0, "segment_ps": 2.0},
        "analysis": {"dos": {"window": 100, "blocks": 3}, "sed": {"blocks": 3}},
    },
    "nequip": {
        "structure": {"supercell": [2, 2, 2]},
        "potential": {"style": "nequip", "file": "si_nequip.nequip.pt2", "elements": ["Si"]},
        "md": {"temperatures_k": [300, 600], "equilibration_ps": 1.0, "production_ps": 4.0, "segment_ps": 2.0},
        "analysis": {"dos": {"window": 100, "blocks": 2}, "sed": {"blocks": 2}},
    },
}
#: Settings ``--quick`` changes on top of the potential's (two temperatures, 2.5 ps each).
QUICK: dict[str, dict] = {
    "md": {"temperatures_k": [300, 600], "equilibration_ps": 0.5, "production_ps": 2.0, "segment_ps": 1.0},
    "analysis": {"dos": {"window": 50, "blocks": 2}, "sed": {"blocks": 2}},
}
#: Width of the kinetic-temperature check, in standard deviations of the canonical
#: instantaneous kinetic temperature, T·sqrt(2/(3N)) (the time average fluctuates less).
TEMPERATURE_SIGMAS = 3.0


def demo_trajectory() -> Path:
    """Path of the packaged example LAMMPS dump."""
    return data_file("si_sw_300K.dump.gz")


def demo_campaign_file() -> Path:
    """Path of the packaged demo campaign description (TOML)."""
    return data_file("demo_campaign.toml")


def demo_folder(output_dir: str | Path, potential: str = "sw", quick: bool = False) -> Path:
    """Campaign folder of a demo: ``OUTPUT_DIR/<potential>[-quick]``."""
    return Path(output_dir) / (potential + ("-quick" if quick else ""))


def demo_config(output_dir: str | Path = "mdvib-demo", potential: str = "sw", quick: bool = False,
                ranks: int | None = None):
    """The :class:`~mdvib.campaign.CampaignConfig` of a demo.

    Parameters
    ----------
    output_dir : path
        Demo folder; the campaign runs in :func:`demo_folder`.
    potential : str
        A key of :data:`DEMO_POTENTIALS`. The MLIP styles build the LAMMPS plugin
        here if it is not cached yet (about a minute).
    quick : bool
        Apply :data:`QUICK`.
    ranks : int, optional
        MPI ranks per LAMMPS run (default: the file's, 1).

    Raises
    ------
    SettingsError
        Unknown potential, bad rank count.
    """
    from mdvib.campaign import CampaignConfig

    check_options(potential, ranks)
    path = demo_campaign_file()
    data = tomllib.loads(path.read_text())
    changes = [DEMO_POTENTIALS[potential]] + ([QUICK] if quick else [])
    if ranks is not None:
        changes.append({"md": {"ranks": ranks}})
    for change in changes:
        _merge(data, change)
    return CampaignConfig.from_dict(data, base_dir=path.parent, output_dir=demo_folder(output_dir, potential, quick))


def _merge(table: dict, changes: dict) -> None:
    """Update the nested TOML ``table`` with ``changes`` (sub-tables merged key by key)."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(table.get(key), dict):
            _merge(table[key], value)
        else:
            table[key] = value


def check_options(potential: str, ranks: int | None = None) -> None:
    """Refuse an unknown demo potential or a rank count it cannot use (:class:`SettingsError`)."""
    if potential not in DEMO_POTENTIALS:
        raise SettingsError(f"--potential {potential!r}: choose one of {', '.join(DEMO_POTENTIALS)}")
    if ranks is not None and ranks < 1:
        raise SettingsError(f"--ranks must be a positive integer, got {ranks}")


def register(subparsers) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo", help="run a LAMMPS temperature campaign and its DOS on built-in Si (about a minute)",
        description="The main job end to end: a LAMMPS temperature campaign on built-in Si (default: "
        "Stillinger-Weber, 216 atoms, 100/300/600 K, 4 ps NVT + 20 ps NVE each, about a minute on 2 cores; "
        "the settings are in mdvib/data/demo_campaign.toml), the phonon DOS of every temperature (dos.h5, "
        "dos.csv, dos.png in OUTDIR/<potential>/T_<value>K/) and dos_series.png, with a summary of the "
        "kinetic-temperature checks (K), DOS peaks (THz) and wall time. Runs the code of 'mdvib campaign'; "
        "running it again resumes (finished temperatures are skipped; after Ctrl-C the interrupted "
        "temperature continues from its last restart file).",
    )
    parser.add_argument("-o", "--output-dir", default="mdvib-demo", metavar="OUTDIR",
                        help="demo folder (default: mdvib-demo); the campaign runs in OUTDIR/<potential>[-quick]")
    parser.add_argument("--potential", metavar="{" + ",".join(DEMO_POTENTIALS) + "}",
                        help="sw (default): LAMMPS pair_style sw; allegro or nequip: the built-in tiny SW-trained "
                        "model (mdvib/data/models/) through mdvib's LAMMPS plugin, built on first use (about "
                        "a minute, cached); 64 atoms, 300/600 K, 1 ps NVT + 4-6 ps NVE each (about a minute after "
                        "the build)")
    parser.add_argument("--ranks", metavar="N", help="MPI ranks per LAMMPS run (default 1; more: mpirun)")
    parser.add_argument("--quick", action="store_true",
                        help="short runs: 300 and 600 K, 0.5 ps NVT + 2 ps NVE each (about 10 s with sw)")
    parser.add_argument("--from-dump", action="store_true",
                        help="no MD: only the DOS of the shipped 216-atom SW-Si dump at 300 K, written to "
                        "OUTDIR/dos.h5, dos.csv, dos.png (seconds)")


def _ranks(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        ranks = int(text)
    except ValueError:
        ranks = 0
    if ranks < 1:
        raise SettingsError(f"--ranks must be a positive integer, got {text!r}")
    return ranks


def run(args: argparse.Namespace) -> None:
    """Run the demo campaign (or, with ``--from-dump``, the DOS of the shipped dump)."""
    ranks = _ranks(args.ranks)
    if args.from_dump:
        given = [name for name, value in (("--potential", args.potential), ("--ranks", ranks),
                                          ("--quick", args.quick)) if value]
        if given:
            raise SettingsError(f"--from-dump analyses the shipped SW dump without MD; it takes no {', '.join(given)}")
        return run_from_dump(Path(args.output_dir))
    potential = args.potential or "sw"
    check_options(potential, ranks)  # before the plugin build and any output
    # One OpenMP thread per LAMMPS rank, as mdvib.engines.lammps intends: set before torch or LAMMPS load
    # their OpenMP runtimes (the plugin build check imports torch first), else an in-process MLIP run
    # gets 2 spinning threads per runtime and slows down several times on 2 shared cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    argv = ["demo", "-o", str(args.output_dir)] + (["--potential", potential] if args.potential else []) \
        + (["--ranks", str(ranks)] if ranks else []) + (["--quick"] if args.quick else [])
    try:
        run_campaign_demo(Path(args.output_dir), potential, args.quick, ranks)
    except KeyboardInterrupt:
        print(f"interrupted: run 'mdvib {' '.join(argv)}' again to resume", file=sys.stderr)
        raise


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _resume_state(config) -> list[str]:
    """One phrase per temperature already started in the campaign folder (empty for a fresh one)."""
    import json

    from mdvib.campaign import DONE_MARKER, temperature_dirname

    phrases = []
    for temperature in config.md.temperatures_k:
        tdir = config.output_dir / temperature_dirname(temperature)
        n_segments = len(config.md.segment_steps())
        if (tdir / DONE_MARKER).exists():
            phrases.append(f"{temperature:g} K finished (skipped)")
        elif (tdir / "progress.json").exists():
            done = json.loads((tdir / "progress.json").read_text()).get("segments_done", 0)
            phrases.append(f"{temperature:g} K continues after production segment {done} of {n_segments}")
        elif (tdir / "equilibration.restart").exists():
            phrases.append(f"{temperature:g} K equilibrated, production starts")
    return phrases


def _md_wall_s(tdir: Path) -> float | None:
    """Sum of the LAMMPS run times recorded in ``provenance.yaml`` (s)."""
    import yaml

    try:
        record = yaml.safe_load((tdir / "provenance.yaml").read_text())
        return float(sum(run["wall_s"] for run in record["runs"]))
    except (OSError, KeyError, TypeError, ValueError):
        return None


def run_campaign_demo(output_dir: Path, potential: str = "sw", quick: bool = False, ranks: int | None = None) -> list:
    """Run (or resume) a demo campaign, plot each DOS and print the summary.

    Returns the campaign's :class:`~mdvib.campaign.TemperatureResult` list.

    Raises
    ------
    MdvibError
        A failed run, or a kinetic temperature outside the check's band.
    """
    from mdvib.campaign import Campaign
    from mdvib.plot import plot_dos

    start = time.perf_counter()
    if potential != "sw":
        print(f"potential {potential}: the built-in model through mdvib's LAMMPS plugin "
              "(the plugin is compiled on first use, about a minute, then cached)", flush=True)
    config = demo_config(output_dir, potential, quick, ranks)
    md, structure = config.md, config.structure
    n_atoms = len(structure.build())
    temps = "/".join(f"{t:g}" for t in md.temperatures_k)
    print(f"mdvib demo: LAMMPS campaign, {structure.element} {config.potential.style} "
          f"({config.potential.file.name}), {n_atoms} atoms, {temps} K: {md.equilibration_ps:g} ps NVT "
          f"({md.thermostat}) + {md.production_ps:g} ps {md.ensemble.upper()} each, {md.timestep_fs:g} fs steps, "
          f"{md.ranks} MPI rank{'s' if md.ranks > 1 else ''}", flush=True)
    print(f"campaign folder: {_shown(config.output_dir)}", flush=True)
    resumed = _resume_state(config)
    if resumed:
        print(f"resuming the earlier run in this folder: {'; '.join(resumed)}", flush=True)

    results = Campaign(config, progress=True).run()

    label = f"{'-'.join(config.potential.elements)} ({config.potential.style})"
    tolerance = TEMPERATURE_SIGMAS * math.sqrt(2.0 / (3.0 * n_atoms))
    failed = []
    print(f"\nsummary ({label}, {n_atoms} atoms; kinetic-temperature check: |T_kin - T| < "
          f"{100 * tolerance:.0f} % = {TEMPERATURE_SIGMAS:g}σ of the canonical fluctuation for {n_atoms} atoms):")
    for result in results:
        dos, tdir = result.dos, result.directory
        png = tdir / "dos.png"
        if not result.skipped or not png.exists():
            plot_dos(dos, png, title=f"{label}, {result.temperature_k:g} K: T_kin = {dos.temperature_k:.0f} K")
        deviation = dos.temperature_k / result.temperature_k - 1.0
        ok = abs(deviation) < tolerance
        if not ok:
            failed.append(result)
        md_s = _md_wall_s(tdir)
        timing = "" if md_s is None else f"; LAMMPS {md_s:.1f} s"
        state = f"finished earlier, skipped{timing} then" if result.skipped else f"ran{timing}"
        peaks = ", ".join(f"{nu:.2f}" for nu in dos.peaks(max_peaks=4))
        print(f"  {result.temperature_k:g} K ({state})")
        print(f"    T_kin = {dos.temperature_k:.1f} K ({100 * deviation:+.1f} %): "
              f"{'ok' if ok else 'FAILED'}")
        print(f"    DOS peaks: {peaks} THz (resolution {dos.resolution_fwhm_thz:.2f} THz FWHM)")
        print(f"    {_shown(tdir / 'dos.h5')}, {_shown(tdir / 'dos.csv')}, {_shown(png)}")
        if (tdir / "sed" / "sed_map.png").exists():
            print(f"    SED heat map: {_shown(tdir / 'sed' / 'sed_map.png')}")
        if (tdir / "ins" / "ins.png").exists():
            ins = tdir / "ins"
            print(f"    simulated TOSCA spectrum: {_shown(ins / 'ins.png')}, {_shown(ins / 'ins.csv')}")
    print(f"  temperature series: {_shown(config.output_dir / 'dos_series.png')}")
    if (config.output_dir / "sed_linewidths.png").exists():
        print(f"  SED linewidths: {_shown(config.output_dir / 'sed_linewidths.png')}")
    if (config.output_dir / "ins_series.png").exists():
        print(f"  TOSCA spectra of the series: {_shown(config.output_dir / 'ins_series.png')}")
    n_skipped = sum(r.skipped for r in results)
    if n_skipped:
        print(f"resumed: {n_skipped} of {len(results)} temperatures were finished earlier and skipped")
    print(f"wall time: {time.perf_counter() - start:.1f} s")
    if failed:
        which = ", ".join(f"{r.temperature_k:g} K (T_kin {r.dos.temperature_k:.1f} K)" for r in failed)
        raise MdvibError(f"kinetic-temperature check failed at {which}; see the LAMMPS logs in "
                         f"{_shown(failed[0].directory)}")
    return results


def run_from_dump(out: Path) -> None:
    """DOS of the shipped dump, written to ``out`` (dos.h5, dos.csv, dos.png, provenance YAML)."""
    from mdvib.analysis.dos import DOSAnalysis
    from mdvib.cli.common import write_provenance
    from mdvib.plot import plot_dos  # matplotlib is imported only by commands that plot
    from mdvib.trajectory import Trajectory

    out.mkdir(parents=True, exist_ok=True)
    trajectory = Trajectory.open(demo_trajectory(), units="metal", dt_fs=1.0, type_map={1: "Si"})
    print(f"example: {trajectory.path}\n  {trajectory.n_atoms} atoms × {trajectory.n_frames} frames, "
          f"Δt = {trajectory.frame_spacing_fs():g} fs (SW Si, LAMMPS metal units)")
    result = DOSAnalysis(window=200, blocks=4, progress=True).run(trajectory)
    for name in ("dos.h5", "dos.csv"):
        result.save(out / name)
    write_provenance(out / "dos.h5", result.provenance, argv=["demo", "--from-dump", "-o", str(out)])
    plot_dos(result, out / "dos.png")
    print(result.summary())
    print(f"wrote {out / 'dos.h5'}, {out / 'dos.csv'}, {out / 'dos.png'}")
