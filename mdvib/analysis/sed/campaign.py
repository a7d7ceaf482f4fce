"""SED in campaigns and on the command line: the registry entry of the ``sed`` analysis.

``[analysis.sed]`` in a campaign computes each temperature's SED against the
campaign's own ideal structure (its LAMMPS data file) and writes
``T_<T>K/sed/`` (``sed.h5``, ``lifetimes.csv``/``.h5`` and the figures of
``mdvib sed``); the campaign folder gets ``sed_linewidths.png`` with every
temperature's linewidths.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

from mdvib.analysis.registry import AnalysisOutput, AnalysisSpec, CampaignStep, register_analysis
from mdvib.analysis.sed.analysis import SEDAnalysis, SEDWarning
from mdvib.analysis.sed.lifetimes import MODELS, fit_lifetimes
from mdvib.errors import SettingsError

#: Sub-folder of each temperature that holds the SED.
SED_FOLDER = "sed"


@dataclasses.dataclass(frozen=True)
class SEDCampaignSettings:
    """``[analysis.sed]`` of a campaign.

    Attributes
    ----------
    path : str
        ``"auto"``, special-point labels (``"G X K G L"``) or ``"grid"``.
    unitcell : str, optional
        Unit-cell file (default: the primitive cell of the campaign structure).
    fc : str, optional
        Force constants (phonopy YAML or an ``mdvib tdep`` folder) for the
        mode-projected SED.
    segment : int, optional
        Frames per Fourier segment (default: the whole block).
    blocks : int
        Blocks for standard errors.
    max_frequency_thz : float, optional
        Keep frequencies up to this.
    model : str
        Peak shape of the lifetime fits (``lorentzian`` or ``dho``).
    peaks : int, optional
        Peaks per q without force constants.
    plot : bool
        Draw each temperature's heat map, line spectra and linewidths.
    workers : int
        Blocks analysed in parallel processes.
    """

    path: str = "auto"
    unitcell: str | None = None
    fc: str | None = None
    segment: int | None = None
    blocks: int = 4
    max_frequency_thz: float | None = None
    model: str = "lorentzian"
    peaks: int | None = None
    plot: bool = True
    workers: int = 1

    def __post_init__(self):
        if self.model not in MODELS:
            raise SettingsError(f"model must be one of {list(MODELS)}, got {self.model!r}")
        for name in ("blocks", "workers"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.segment is not None and self.segment < 4:
            raise SettingsError(f"segment must be at least 4 frames, got {self.segment}")


def run_in_campaign(step: CampaignStep, settings: SEDCampaignSettings) -> AnalysisOutput:
    """SED of one campaign temperature: ``T_<T>K/sed/``."""
    from mdvib.analysis.tdep.reference import read_reference

    type_map = {k + 1: symbol for k, symbol in enumerate(step.elements)}
    reference = read_reference(step.structure_file, type_map=type_map)
    unitcell = read_reference(settings.unitcell, type_map=type_map) if settings.unitcell else None
    analysis = SEDAnalysis(reference, unitcell, qpoints=settings.path, modes=settings.fc, segment=settings.segment,
                           blocks=settings.blocks, max_frequency_thz=settings.max_frequency_thz,
                           progress=step.progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SEDWarning)  # recorded in the result
        result = analysis.run(step.open_trajectory(), start=step.first_frame, workers=settings.workers)
    folder = step.directory / SED_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    result.save(folder / "sed.h5")
    files = [folder / "sed.h5"]
    try:
        table = fit_lifetimes(result, model=settings.model, peaks=settings.peaks)
    except SettingsError:  # no peak could be fitted (a short run): the SED itself stands
        table = None
    if table is not None:
        files += [folder / "lifetimes.csv", folder / "lifetimes.h5"]
        table.save(files[1])
        table.save(files[2])
    if settings.plot:
        from mdvib.analysis.sed.plots import plot_line_spectra, plot_sed_map

        plot_sed_map(result, folder / "sed_map.png")
        plot_line_spectra(result, table, folder / "sed_lines.png")
        files += [folder / "sed_map.png", folder / "sed_lines.png"]
    return AnalysisOutput(result, tuple(files))


def plot_series(directories, labels, path, title: str | None = None) -> None:
    """Every temperature's linewidths (``sed/lifetimes.h5``) on one figure."""
    from mdvib.analysis.sed.plots import plot_linewidths
    from mdvib.results import load_result

    tables = [(label, load_result(Path(d) / SED_FOLDER / "lifetimes.h5")) for d, label in zip(directories, labels)
              if (Path(d) / SED_FOLDER / "lifetimes.h5").exists()]
    if tables:
        plot_linewidths(tables, path)


def headline(result) -> str:
    """One line for a campaign summary."""
    return (f"SED at {len(result.qpoints_reduced)} q, T_kin = {result.temperature_k:.1f} K, resolution "
            f"{result.resolution_thz:.3f} THz")


ANALYSIS = register_analysis(AnalysisSpec(
    name="sed",
    help="spectral energy density: finite-temperature dispersion and lifetimes",
    command="mdvib.cli.sed",
    campaign_settings=SEDCampaignSettings,
    run_in_campaign=run_in_campaign,
    result_file=f"{SED_FOLDER}/sed.h5",
    plot_series=plot_series,
    series_file="sed_linewidths.png",
    headline=headline,
    needs_dynamics=True,
))
