"""``mdvib ins``: instrument-resolved INS spectra from DOS results or force constants, scored against a measurement."""

from __future__ import annotations

import argparse
from pathlib import Path

from mdvib.cli.common import check_output, positive_int, write_provenance
from mdvib.errors import SettingsError
from mdvib.spectroscopy.ins.campaign import INSSettings, provenance
from mdvib.spectroscopy.ins.inputs import ROUTES, load_models
from mdvib.spectroscopy.ins.spectrum import DEFAULT_BIN_MEV, DEFAULT_ORDERS, simulate

DESCRIPTION = """\
Simulated inelastic neutron scattering at one or several temperatures, on one
energy axis and one absolute normalisation, optionally scored against a
measured spectrum.

INPUT is a DOS result (dos.h5 of `mdvib dos` or a campaign: the incoherent
approximation with the multiphonon expansion), force constants (a phonopy YAML
file or an `mdvib tdep` output folder: mode-resolved fundamentals and order 2
with the tensor Debye-Waller factor, higher orders by convolution), a campaign
temperature folder T_<T>K, or a whole campaign folder (every temperature).

Units: energy transfer in meV (E < 0: energy gain), |Q| in 1/Å, intensity
c·σ·S(Q,E) per atom in barn/meV (divide by 4π for barn/(sr meV)); the Bose
factor at each temperature on both sides (detailed balance).

Writes (OUT is a folder):
  OUT/ins.h5             every spectrum (typed, units, provenance): per bank, per order, per species
  OUT/ins.csv            energy (meV, cm-1) and one column per temperature and bank (DOS input with block
                         errors: the standard error of the fundamentals too)
  OUT/ins.png            the spectra on one axis (one input: its multiphonon orders too)
  OUT/ins_map.png        direct geometry: the powder map S(|Q|,E) of the first input
  OUT/comparison.csv     with --measured: scale, χ², cosine, shift of each input, best first
  OUT/comparison.txt     the same as a table (also printed)
  OUT/comparison.png     with --measured: overlay with residuals

examples:
  mdvib ins dos.h5 --instrument tosca -o ins
  mdvib ins campaign_out --instrument tosca --measured tosca_10K.txt --measured-units cm-1 -o ins
  mdvib ins tdep_out --temperature 10 100 300 --instrument vision -o ins
  mdvib ins dos.h5 --instrument sequoia --ei 100 --chopper-frequency 300 -o ins
  mdvib ins dos.h5 --instrument my_instrument.toml --isotope H=D -o ins
"""


def _isotopes(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        symbol, sep, isotope = item.partition("=")
        if not sep or not symbol or not isotope:
            raise SettingsError(f"--isotope {item!r}: expected SYMBOL=ISOTOPE, e.g. H=D or B=B11")
        out[symbol.strip()] = isotope.strip()
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mdvib ins``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="DOS results, force constants or campaign folders")
    inst = parser.add_argument_group("instrument")
    inst.add_argument("--instrument", default="tosca",
                      help="tosca, vision, tfxa (indirect); mari, maps, sequoia, arcs, ... (direct); or a TOML "
                      "instrument file (default: tosca)")
    inst.add_argument("--ei", type=float, metavar="MEV", help="incident energy of a direct-geometry instrument, meV")
    inst.add_argument("--chopper-frequency", type=float, metavar="HZ", help="chopper frequency, Hz")
    inst.add_argument("--chopper", metavar="NAME", help="chopper package (default: the instrument's)")
    phys = parser.add_argument_group("physics")
    phys.add_argument("--temperature", type=float, nargs="+", metavar="K",
                      help="temperature(s), K: default each DOS's own; several with one input give a series")
    phys.add_argument("--orders", type=positive_int, default=DEFAULT_ORDERS,
                      help=f"highest multiphonon order (default {DEFAULT_ORDERS})")
    phys.add_argument("--route", choices=ROUTES, default="auto", help="dos, phonons, or auto by the input (default)")
    phys.add_argument("--cross-section", choices=("total", "coherent", "incoherent"), default="total",
                      help="bound cross section weighting each species (Sears 1992; default total)")
    phys.add_argument("--isotope", action="append", metavar="X=ISO",
                      help="cross section and mass of an isotope, e.g. H=D or B=B11 (repeatable)")
    phys.add_argument("--occupations", choices=("quantum", "classical"), default="quantum",
                      help="Bose factors of the DOS route (classical: the symmetric spectrum of classical MD)")
    phys.add_argument("--mesh", type=positive_int, nargs=3, default=[12, 12, 12], metavar="N",
                      help="q-mesh of the force-constant route (default 12 12 12)")
    axis = parser.add_argument_group("energy axis")
    axis.add_argument("--max-energy", type=float, metavar="MEV",
                      help="top of the axis, meV (default: E_i, or 500 meV for indirect geometry)")
    axis.add_argument("--bin-width", type=float, default=DEFAULT_BIN_MEV, metavar="MEV",
                      help=f"bin width, meV (default {DEFAULT_BIN_MEV})")
    cmp = parser.add_argument_group("comparison with a measurement")
    cmp.add_argument("--measured", metavar="FILE",
                     help="measured spectrum: 2-3 column text or CSV (energy, intensity[, error]), Mantid SaveAscii "
                     "or SaveNexusProcessed")
    cmp.add_argument("--measured-units", choices=("meV", "cm-1", "THz"),
                     help="energy unit of FILE when its header does not say")
    cmp.add_argument("--background", choices=("none", "flat", "linear"), default="none",
                     help="background fitted with the scale (default none)")
    cmp.add_argument("--fit-range", type=float, nargs=2, metavar=("LO", "HI"), help="energies compared, meV")
    cmp.add_argument("--bank", default="average", help="indirect geometry: bank compared and plotted (default: "
                     "the average of the banks)")
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", default="ins", metavar="OUT", help="output folder (default: ins)")
    out.add_argument("--energy-unit", choices=("meV", "cm-1"), default="meV", help="x axis of the figures")
    out.add_argument("--no-plots", action="store_true", help="no figures")
    out.add_argument("--quiet", action="store_true", help="no summary")


def settings_from_args(args: argparse.Namespace) -> INSSettings:
    """The :class:`INSSettings` the options describe (validated, instrument built)."""
    return INSSettings(instrument=args.instrument, incident_energy_mev=args.ei,
                       chopper_frequency_hz=args.chopper_frequency, chopper=args.chopper, route=args.route,
                       orders=args.orders, max_energy_mev=args.max_energy, bin_mev=args.bin_width,
                       cross_section=args.cross_section, isotopes=_isotopes(args.isotope),
                       occupations=args.occupations, mesh=list(args.mesh), measured=args.measured,
                       measured_units=args.measured_units, background=args.background, bank=args.bank, plot=False)


def run(args: argparse.Namespace) -> None:
    """Simulate, write, plot and compare as the options say."""
    check_output(args.output, (), "-o", directory=True)
    settings = settings_from_args(args)
    instrument = settings.instrument_model
    models, labels = load_models(args.inputs, args.temperature, settings.route, settings.route_options())
    result = simulate(models, instrument, settings.bins(), settings.orders, labels=labels,
                      provenance=provenance(settings, args.inputs))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    result.save(out / "ins.h5")
    result.save(out / "ins.csv")
    write_provenance(out / "ins.h5", result.provenance)
    if not args.no_plots:
        from mdvib.spectroscopy.ins.plots import plot_map, plot_spectra

        plot_spectra(result, out / "ins.png", bank=args.bank, energy_unit=args.energy_unit)
        if instrument.geometry == "direct":
            plot_map(result, out / "ins_map.png", energy_unit=args.energy_unit)
    scores = None
    if args.measured:
        from mdvib.spectroscopy.ins.series import compare_series

        record = {"measured": args.measured, "measured_units": args.measured_units, "background": args.background,
                  "bank": args.bank, "fit_range": args.fit_range}
        scores = compare_series(result, record, out / "comparison")
    if not args.quiet:
        print(result.summary())
        if scores:
            from mdvib.spectroscopy.compare import ranking_table

            print(ranking_table(scores))
        print(f"wrote {out}/")
