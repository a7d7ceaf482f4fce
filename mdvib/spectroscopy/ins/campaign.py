"""INS in campaigns and on the command line: the registry entry of the ``ins`` analysis.

``[analysis.ins]`` turns each temperature's DOS (``[analysis.dos]`` must come
first) or force constants (``route = "phonons"`` after ``[analysis.tdep]``) into
the instrument's spectrum, written to ``T_<T>K/ins/``; the campaign folder gets
``ins_series.png`` with every temperature on one axis and one normalisation,
and, with ``measured = FILE``, ``ins_comparison.png``, ``ins_comparison.csv`` and
``ins_comparison.txt`` ranking the temperatures against the measurement.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from mdvib.analysis.registry import AnalysisOutput, AnalysisSpec, CampaignStep, register_analysis
from mdvib.errors import SettingsError
from mdvib.results import Provenance
from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.spectroscopy.ins.inputs import ROUTES, RouteOptions, load_models
from mdvib.spectroscopy.ins.instruments import get_instrument, load_instrument_file
from mdvib.spectroscopy.ins.spectrum import DEFAULT_BIN_MEV, DEFAULT_ORDERS, default_bins, simulate

#: Sub-folder of each temperature that holds the spectrum.
INS_FOLDER = "ins"


@dataclasses.dataclass(frozen=True)
class INSSettings:
    """Settings of an INS simulation (``[analysis.ins]`` of a campaign; the CLI builds the same).

    Attributes
    ----------
    instrument : str
        Registry name (``tosca``, ``vision``, ``tfxa``, ``mari``, ``maps``,
        ``sequoia``, ``arcs``, ...) or a TOML instrument file.
    incident_energy_mev : float, optional
        E_i of a direct-geometry instrument, meV.
    chopper_frequency_hz : float, optional
        Its chopper frequency, Hz.
    chopper : str, optional
        Its chopper package (instrument default if omitted).
    route : str
        ``auto``, ``dos`` (incoherent approximation from the partial DOS) or ``phonons`` (force constants).
    orders : int
        Highest multiphonon order.
    max_energy_mev : float, optional
        Top of the energy axis, meV (default: E_i, or 500 meV for indirect geometry).
    bin_mev : float
        Energy bin width, meV.
    cross_section : str
        ``total``, ``coherent`` or ``incoherent``.
    isotopes : dict
        Symbol → isotope (``{H = "D"}``).
    occupations : str
        ``quantum`` or ``classical`` Bose factors (DOS route).
    mesh : list of int
        q-mesh of the phonon route.
    measured : str, optional
        Measured spectrum to score every temperature against.
    measured_units : str, optional
        Its energy unit when the file does not say (``meV``, ``cm-1``, ``THz``).
    background : str
        Fitted background of the comparison: ``none``, ``flat`` or ``linear``.
    bank : str
        Indirect geometry: the bank compared and plotted (``average`` or a bank name).
    plot : bool
        Draw each temperature's spectrum.
    """

    instrument: str = "tosca"
    incident_energy_mev: float | None = None
    chopper_frequency_hz: float | None = None
    chopper: str | None = None
    route: str = "auto"
    orders: int = DEFAULT_ORDERS
    max_energy_mev: float | None = None
    bin_mev: float = DEFAULT_BIN_MEV
    cross_section: str = "total"
    isotopes: dict[str, str] = dataclasses.field(default_factory=dict)
    occupations: str = "quantum"
    mesh: list[int] = dataclasses.field(default_factory=lambda: [12, 12, 12])
    measured: str | None = None
    measured_units: str | None = None
    background: str = "none"
    bank: str = "average"
    plot: bool = True

    def __post_init__(self):
        if self.route not in ROUTES:
            raise SettingsError(f"route {self.route!r}: choose one of {ROUTES}")
        if int(self.orders) != self.orders or self.orders < 1:
            raise SettingsError(f"orders must be an integer ≥ 1, not {self.orders!r}")
        if len(self.mesh) != 3 or any(int(n) != n or n < 1 for n in self.mesh):
            raise SettingsError(f"mesh must be three positive integers, not {self.mesh!r}")
        if self.measured is not None and not Path(self.measured).is_file():
            raise SettingsError(f"measured spectrum {self.measured}: no such file")
        EnergyBins(float(self.bin_mev), 1)
        self.instrument_model  # built (and checked) once, before any work

    @functools.cached_property
    def instrument_model(self):
        """The instrument these settings name (built on first use, then kept)."""
        if Path(self.instrument).suffix.lower() == ".toml":
            return load_instrument_file(self.instrument)
        chopper = {"incident_energy_mev": self.incident_energy_mev,
                   "chopper_frequency_hz": self.chopper_frequency_hz, "chopper": self.chopper}
        return get_instrument(self.instrument, **{k: v for k, v in chopper.items() if v is not None})

    def route_options(self) -> RouteOptions:
        """Cross sections, isotopes, occupations and mesh of the routes."""
        return RouteOptions(kind=self.cross_section, isotopes=dict(self.isotopes), occupations=self.occupations,
                            mesh=tuple(int(n) for n in self.mesh))

    def bins(self) -> EnergyBins:
        """The energy axis."""
        if self.max_energy_mev is None:
            return default_bins(self.instrument_model, float(self.bin_mev))
        return EnergyBins.up_to(float(self.max_energy_mev), float(self.bin_mev))


def provenance(settings: INSSettings, inputs) -> Provenance:
    """Provenance record of a simulated spectrum (no trajectory: frame fields are empty)."""
    return Provenance.now(inputs=tuple(str(p) for p in inputs), reader="", source_units={}, frame_spacing_fs=0.0,
                          selection={}, n_frames=0, n_atoms=0, settings=dataclasses.asdict(settings))


def run_in_campaign(step: CampaignStep, settings: INSSettings) -> AnalysisOutput:
    """Simulate the spectrum of one campaign temperature from its DOS (or force constants)."""
    models, _ = load_models([step.directory], [step.temperature_k], settings.route, settings.route_options())
    result = simulate(models, settings.instrument_model, settings.bins(), settings.orders,
                      labels=[f"{step.temperature_k:g} K"], provenance=provenance(settings, [step.directory]))
    folder = step.directory / INS_FOLDER
    folder.mkdir(exist_ok=True)
    files = [folder / "ins.h5", folder / "ins.csv"]
    for path in files:
        result.save(path)
    if settings.plot:
        from mdvib.spectroscopy.ins.plots import plot_spectra

        files.append(folder / "ins.png")
        plot_spectra(result, files[-1], bank=settings.bank)
    return AnalysisOutput(result=result, files=tuple(files))


def plot_series(directories, labels, path, title: str | None = None) -> None:
    """Every temperature's spectrum (``ins/ins.h5``) on one axis; with a measured file, the comparison and ranking."""
    from mdvib.results import load_result
    from mdvib.spectroscopy.ins.plots import plot_spectra
    from mdvib.spectroscopy.ins.series import combine, compare_series

    found = [(load_result(Path(d) / INS_FOLDER / "ins.h5"), label) for d, label in zip(directories, labels)
             if (Path(d) / INS_FOLDER / "ins.h5").is_file()]
    if not found:
        return
    series = combine([result for result, _ in found], [label for _, label in found])
    settings = series.provenance.settings
    plot_spectra(series, path, bank=settings.get("bank", "average"), title=title)
    if settings.get("measured"):
        compare_series(series, settings, Path(path).parent / "ins_comparison")


def headline(result) -> str:
    """One line for the campaign summary: the strongest peaks."""
    return result.summary().splitlines()[-1].strip()


ANALYSIS = register_analysis(AnalysisSpec(
    name="ins",
    help="inelastic neutron scattering spectra (TOSCA, VISION, chopper instruments) from DOS or force constants",
    command="mdvib.cli.ins",
    campaign_settings=INSSettings,
    run_in_campaign=run_in_campaign,
    result_file=f"{INS_FOLDER}/ins.h5",
    plot_series=plot_series,
    series_file="ins_series.png",
    headline=headline,
    requires=lambda settings: ("tdep",) if settings.route == "phonons" else ("dos",),
    streams_trajectory=False,
))
