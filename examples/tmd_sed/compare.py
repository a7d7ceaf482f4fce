"""Optical-branch linewidths of the TMD SED example: 50 K against 500 K, and SW against Allegro at 500 K.

Reads the lifetime tables the campaigns wrote (``<campaign>/T_<T>K/sed/lifetimes.h5``:
one Lorentzian per harmonic mode and q of the mode-projected SED) and, at the
special points Γ, M and K, prints for every optical branch (modes 4–9; modes
1–3 are the acoustic ones) the harmonic frequency, the fitted frequency ν and
FWHM Γ with their standard errors over the campaign's blocks, flagging widths
below two frequency bins (resolution-limited: an upper bound). Then:

* per material the 500 K / 50 K ratio of the mean optical FWHM at each point;
* with an Allegro campaign, ν and Γ at 500 K against the SW ones, with the
  difference in units of its combined standard error.

Writes ``comparison.csv`` (every row printed) and ``comparison.png``
(FWHM against ν for the optical branches along the whole path, with error
bars; open triangles on the dashed line: widths below two frequency bins). Run after the campaigns, in this folder::

    python compare.py                              # mose2-sw, wse2-sw
    python compare.py --allegro mose2-allegro      # and the Allegro run of MoSe2
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: Campaign folders of the SW runs by material.
SW_CAMPAIGNS = {"MoSe2": "mose2-sw", "WSe2": "wse2-sw"}
#: Harmonic modes below this index are the acoustic branches (3 per q).
FIRST_OPTICAL = 3
#: Special points reported (labels of the SED path).
POINTS = ("G", "M", "K")
TEMPERATURES_K = (50.0, 500.0)
#: Modes at one point whose harmonic frequencies differ by less than this (THz) are degenerate partners.
DEGENERATE_THZ = 1e-3


def load_table(campaign: Path, temperature: float):
    """The :class:`~mdvib.analysis.sed.lifetimes.LifetimeTable` and SED of one temperature of a campaign."""
    from mdvib.results import load_result

    folder = campaign / f"T_{temperature:g}K" / "sed"
    if not (folder / "lifetimes.h5").exists():
        raise SystemExit(f"{folder / 'lifetimes.h5'} not found: run `mdvib campaign` on {campaign.name} first")
    return load_result(folder / "lifetimes.h5"), load_result(folder / "sed.h5")


def optical_rows(table, sed, point: str | None = None) -> dict:
    """Optical rows of ``table`` at the special point ``point`` (all q when ``None``), as arrays by column."""
    if table.source != "modes":
        raise SystemExit("the lifetime table has no mode projection: give fc in [analysis.sed]")
    keep = table.branch >= FIRST_OPTICAL
    if point is not None:
        keep &= table.q_index == int(sed.label_indices[list(sed.labels).index(point)])
    columns = ("q_index", "branch", "harmonic_thz", "frequency_thz", "frequency_err_thz", "fwhm_thz",
               "fwhm_err_thz", "resolution_limited")
    return {name: np.asarray(getattr(table, name))[keep] for name in columns}


def _label(point: str) -> str:
    return "Γ" if point == "G" else point


def campaign_rows(material: str, potential: str, campaign: Path, temperatures=TEMPERATURES_K) -> list[dict]:
    """Rows (ν, Γ and errors per distinct optical branch) at Γ, M, K for each temperature of a campaign."""
    rows = []
    for temperature in temperatures:
        table, sed = load_table(campaign, temperature)
        for point in POINTS:
            found = optical_rows(table, sed, point)
            for k in range(found["branch"].size):
                rows.append({"material": material, "potential": potential, "T_K": temperature,
                             "point": _label(point), "branch": int(found["branch"][k]) + 1,
                             "harmonic_THz": found["harmonic_thz"][k], "frequency_THz": found["frequency_thz"][k],
                             "frequency_err_THz": found["frequency_err_thz"][k], "fwhm_THz": found["fwhm_thz"][k],
                             "fwhm_err_THz": found["fwhm_err_thz"][k],
                             "resolution_limited": int(found["resolution_limited"][k]),
                             "resolution_THz": table.resolution_thz, "T_kin_K": sed.temperature_k})
    return merge_degenerate(rows)


def merge_degenerate(rows: list[dict], tolerance_thz: float = DEGENERATE_THZ) -> list[dict]:
    """One row per distinct branch: degenerate modes (same point, harmonic ν within ``tolerance_thz``) merged.

    Degenerate partners are equivalent by symmetry, so their mean is the
    estimate; its error is the larger of the propagated fit errors and half
    their difference (the scatter between partners, which the fit errors of a
    single spectrum can underestimate). A merged row is resolution-limited if
    any partner is.
    """
    merged, used = [], set()
    for k, row in enumerate(rows):
        if k in used:
            continue
        group = [j for j in range(k, len(rows)) if j not in used and all(
            rows[j][key] == row[key] for key in ("material", "potential", "T_K", "point"))
            and abs(rows[j]["harmonic_THz"] - row["harmonic_THz"]) < tolerance_thz]
        used.update(group)
        members = [rows[j] for j in group]
        out = dict(row, modes="–".join(str(m["branch"]) for m in members), degeneracy=len(members))
        for value, error in (("frequency_THz", "frequency_err_THz"), ("fwhm_THz", "fwhm_err_THz")):
            values = np.array([m[value] for m in members])
            errors = np.array([m[error] for m in members])
            out[value] = float(values.mean())
            out[error] = float(max(np.sqrt((errors ** 2).sum()) / values.size, np.ptp(values) / 2))
        out["resolution_limited"] = int(any(m["resolution_limited"] for m in members))
        merged.append(out)
    return merged


def _width(row: dict) -> str:
    """FWHM ± error, or the two-bin upper bound (with the fitted value) for a resolution-limited line."""
    if row["resolution_limited"]:
        return f"< {2 * row['resolution_THz']:.3f}      (fit {row['fwhm_THz']:.4f}, resolution-limited)"
    return f"{row['fwhm_THz']:.4f} ± {row['fwhm_err_THz']:.4f}"


def print_rows(rows: list[dict], title: str) -> None:
    """The rows as a fixed-width table."""
    print(title)
    print("  point  modes  ν_harm (THz)   ν (THz)           FWHM (THz)")
    for r in rows:
        print(f"  {r['point']:>5}  {r['modes']:>5}  {r['harmonic_THz']:10.3f}   {r['frequency_THz']:6.3f} ± "
              f"{r['frequency_err_THz']:.3f}   {_width(r)}")


def broadening(rows: list[dict]) -> list[str]:
    """Per material and point: the optical widths at 50 K and 500 K, their means and the 500 K / 50 K ratio.

    Means are over the distinct branches; a resolution-limited width counts
    as its fitted value in the mean, and the two-bin bound gives the
    guaranteed lower bound of the ratio.
    """
    lines = []
    for material in dict.fromkeys(r["material"] for r in rows):
        for point in POINTS:
            stats = {}
            for temperature in TEMPERATURES_K:
                sel = [r for r in rows if r["material"] == material and r["T_K"] == temperature
                       and r["point"] == _label(point)]
                widths = np.array([r["fwhm_THz"] for r in sel])
                errors = np.array([r["fwhm_err_THz"] for r in sel])
                limited = sum(r["resolution_limited"] for r in sel)
                stats[temperature] = (widths.mean(), np.sqrt((errors ** 2).sum()) / widths.size, limited, len(sel),
                                      2 * sel[0]["resolution_THz"])
            (w50, e50, r50, n50, bound), (w500, e500, r500, n500, _) = stats[50.0], stats[500.0]
            ratio = w500 / w50
            lines.append(f"  {material:5} {_label(point)}: mean optical FWHM {w500:.4f} ± {e500:.4f} THz at 500 K "
                         f"({r500}/{n500} branches below two bins); at 50 K {w50:.4f} ± {e50:.4f} THz "
                         f"({r50}/{n50} below {bound:.3f} THz); ratio {ratio:.1f} ± "
                         f"{ratio * np.hypot(e50 / w50, e500 / w500):.1f}"
                         + (f", at least {w500 / bound:.1f}" if r50 == n50 else ""))
    return lines


def allegro_rows(campaign: Path, sw_rows: list[dict], material: str = "MoSe2",
                 temperature: float = 500.0) -> list[dict]:
    """The Allegro campaign's rows at ``temperature``, each with the SW values of its branch and the differences."""
    rows = []
    for row in campaign_rows(material, "Allegro", campaign, (temperature,)):
        modes = set(row["modes"].split("–"))  # a degenerate group may have lost a partner whose fit failed
        match = [r for r in sw_rows if r["material"] == material and r["T_K"] == temperature
                 and r["point"] == row["point"] and modes & set(r["modes"].split("–"))]
        if not match:
            continue
        sw = match[0]
        d_nu, d_fwhm = row["frequency_THz"] - sw["frequency_THz"], row["fwhm_THz"] - sw["fwhm_THz"]
        rows.append(row | {
            "sw_harmonic_THz": sw["harmonic_THz"], "sw_frequency_THz": sw["frequency_THz"],
            "sw_fwhm_THz": sw["fwhm_THz"], "sw_fwhm_err_THz": sw["fwhm_err_THz"],
            "sw_resolution_limited": sw["resolution_limited"], "d_frequency_THz": d_nu,
            "d_frequency_sigma": d_nu / np.hypot(row["frequency_err_THz"], sw["frequency_err_THz"]),
            "d_fwhm_THz": d_fwhm, "d_fwhm_sigma": d_fwhm / np.hypot(row["fwhm_err_THz"], sw["fwhm_err_THz"])})
    return rows


def print_allegro(rows: list[dict]) -> None:
    """The Allegro − SW differences as a table, then their summary."""
    print(f"Allegro against SW, {rows[0]['material']} at {rows[0]['T_K']:g} K (Allegro T_kin "
          f"{rows[0]['T_kin_K']:.1f} K), optical branches:")
    print("  point  modes  ν_harm SW/Allegro   ν_SW    ν_Allegro        Δν (σ)         FWHM_SW           "
          "FWHM_Allegro      ΔFWHM (σ)")
    for r in rows:
        print(f"  {r['point']:>5}  {r['modes']:>5}  {r['sw_harmonic_THz']:6.3f} / {r['harmonic_THz']:6.3f}  "
              f"{r['sw_frequency_THz']:6.3f}  {r['frequency_THz']:6.3f} ± {r['frequency_err_THz']:.3f}  "
              f"{r['d_frequency_THz']:+.3f} ({r['d_frequency_sigma']:+5.1f})  "
              f"{r['sw_fwhm_THz']:.4f} ± {r['sw_fwhm_err_THz']:.4f}  {r['fwhm_THz']:.4f} ± {r['fwhm_err_THz']:.4f}  "
              f"{r['d_fwhm_THz']:+.4f} ({r['d_fwhm_sigma']:+5.1f})"
              + ("  resolution-limited" if r["resolution_limited"] or r["sw_resolution_limited"] else ""))
    d_nu = np.array([r["d_frequency_THz"] for r in rows])
    d_harm = np.array([r["harmonic_THz"] - r["sw_harmonic_THz"] for r in rows])
    d_fwhm = np.array([r["d_fwhm_THz"] for r in rows])
    print(f"  harmonic ν: mean |Δ| {np.abs(d_harm).mean():.3f} THz (max {np.abs(d_harm).max():.3f}); 500 K ν: "
          f"mean |Δ| {np.abs(d_nu).mean():.3f} THz (max {np.abs(d_nu).max():.3f}); mean FWHM "
          f"{np.mean([r['fwhm_THz'] for r in rows]):.4f} (Allegro) vs {np.mean([r['sw_fwhm_THz'] for r in rows]):.4f}"
          f" THz (SW), mean |ΔFWHM| {np.abs(d_fwhm).mean():.4f} THz, "
          f"{int(np.sum(np.abs([r['d_fwhm_sigma'] for r in rows]) > 2))}/{len(rows)} widths differ by more than 2σ")


def plot(campaigns: dict, allegro: Path | None, path: Path) -> None:
    """FWHM against ν of the optical branches along the path: 50 K and 500 K per material, Allegro at 500 K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(campaigns), figsize=(5.5 * len(campaigns), 4.2), squeeze=False)
    series = [(50.0, "SW 50 K", "tab:blue", "o"), (500.0, "SW 500 K", "tab:red", "s")]
    for ax, (material, campaign) in zip(axes[0], campaigns.items()):
        runs = [(campaign, *s) for s in series]
        if allegro is not None and material == "MoSe2":
            runs.append((allegro, 500.0, "Allegro 500 K", "tab:green", "^"))
        for folder, temperature, label, colour, marker in runs:
            table, sed = load_table(folder, temperature)
            rows = optical_rows(table, sed)
            resolved = rows["resolution_limited"] == 0
            ax.errorbar(rows["frequency_thz"][resolved], rows["fwhm_thz"][resolved],
                        xerr=rows["frequency_err_thz"][resolved], yerr=rows["fwhm_err_thz"][resolved], fmt=marker,
                        ms=4, color=colour, label=label, alpha=0.8, elinewidth=0.8, capsize=1.5)
            bound = np.full((~resolved).sum(), 2 * table.resolution_thz)  # upper limits: below two bins
            ax.plot(rows["frequency_thz"][~resolved], bound, "v", ms=4, mfc="none", color=colour, alpha=0.6,
                    label=f"{label}: below two bins")
        ax.axhline(2 * table.resolution_thz, color="0.5", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_xlabel("frequency ν (THz)")
        ax.set_ylabel("FWHM Γ (THz)")
        ax.set_title(f"{material}: optical branches along Γ–M–K–Γ")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def write_csv(rows: list[dict], path: Path) -> None:
    """Every row (the union of the columns; empty where a row has none)."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the tables, write the CSV and the figure; returns the rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE, help="folder holding the campaign folders (default: here)")
    parser.add_argument("--materials", nargs="+", default=list(SW_CAMPAIGNS), choices=list(SW_CAMPAIGNS))
    parser.add_argument("--allegro", type=Path, help="Allegro campaign folder of MoSe2 (relative to --root)")
    parser.add_argument("-o", "--output", type=Path, default=Path("comparison"),
                        help="output stem: STEM.csv and STEM.png (relative to --root; default comparison)")
    args = parser.parse_args(argv)
    campaigns = {m: args.root / SW_CAMPAIGNS[m] for m in args.materials}
    rows = []
    for material, campaign in campaigns.items():
        found = campaign_rows(material, "SW", campaign)
        for temperature in TEMPERATURES_K:
            sel = [r for r in found if r["T_K"] == temperature]
            print_rows(sel, f"{material}, SW, {temperature:g} K (T_kin {sel[0]['T_kin_K']:.1f} K, resolution "
                            f"{sel[0]['resolution_THz']:.4f} THz), optical branches:")
        rows += found
    print("500 K broadening:")
    print("\n".join(broadening(rows)))
    allegro = None
    if args.allegro is not None:
        allegro = args.root / args.allegro
        if "MoSe2" not in campaigns:
            raise SystemExit("--allegro compares with the MoSe2 SW campaign: keep MoSe2 in --materials")
        found = allegro_rows(allegro, rows)
        print_allegro(found)
        rows += found
    stem = args.root / args.output
    write_csv(rows, stem.with_suffix(".csv"))
    plot(campaigns, allegro, stem.with_suffix(".png"))
    print(f"wrote {stem.with_suffix('.csv')} and {stem.with_suffix('.png')}")
    return rows


if __name__ == "__main__":
    main()
