"""TDEP in campaigns and on the command line: the registry entry of the ``tdep`` analysis.

``[analysis.tdep]`` in a campaign fits each temperature's production dump
against the campaign's own ideal structure (its LAMMPS data file, so the cell
is exactly the one LAMMPS ran, whatever the orientation of the input
structure) and writes the fit to ``T_<T>K/tdep/`` (the files of
:func:`~mdvib.analysis.tdep.export.write_outputs`); the campaign folder gets
``tdep_dispersion.png`` with every temperature's dispersion.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

from mdvib.analysis.registry import AnalysisOutput, AnalysisSpec, CampaignStep, register_analysis
from mdvib.analysis.tdep.fit import TDEPAnalysis, TDEPWarning
from mdvib.errors import SettingsError

#: Sub-folder of each temperature that holds the fit.
TDEP_FOLDER = "tdep"


@dataclasses.dataclass(frozen=True)
class TDEPCampaignSettings:
    """``[analysis.tdep]`` of a campaign.

    Attributes
    ----------
    rc2 : float
        FC2 cutoff, Å (required).
    rc3 : float, optional
        FC3 cutoff, Å.
    fit : str
        ``sequential`` or ``joint``.
    stride : int or "auto"
        Frames between fitted snapshots (default ``"auto"``: 2 τ_int).
    cv_folds : int
        Cross-validation folds (0: none).
    invariances : list of str
        Rotational invariances imposed on FC2.
    decorrelation_series : str
        Series of the automatic stride (``displacements`` or ``forces``).
    plot : bool
        Draw each temperature's dispersion.
    workers : int
        Processes accumulating the fit in parallel.
    """

    rc2: float
    rc3: float | None = None
    fit: str = "sequential"
    stride: int | str = "auto"
    cv_folds: int = 0
    invariances: list[str] = dataclasses.field(default_factory=list)
    decorrelation_series: str = "displacements"
    plot: bool = True
    workers: int = 1

    def __post_init__(self):
        if isinstance(self.stride, str) and self.stride != "auto":
            raise SettingsError(f"stride must be a positive integer or 'auto', got {self.stride!r}")
        if isinstance(self.stride, int) and self.stride < 1:
            raise SettingsError(f"stride must be a positive integer or 'auto', got {self.stride}")
        if self.workers < 1:
            raise SettingsError(f"workers must be >= 1, got {self.workers}")
        TDEPAnalysis(None, **self._analysis_options())  # the analyser's own checks, before any MD runs

    def _analysis_options(self) -> dict:
        return {"rc2": self.rc2, "rc3": self.rc3, "fit": self.fit, "cv_folds": self.cv_folds,
                "invariances": tuple(self.invariances), "decorrelation_series": self.decorrelation_series}

    def analysis(self, reference, temperature_k: float, progress: bool = False) -> TDEPAnalysis:
        """The configured analyser for one temperature."""
        return TDEPAnalysis(reference, **self._analysis_options(), temperature_k=temperature_k, progress=progress)


def run_in_campaign(step: CampaignStep, settings: TDEPCampaignSettings) -> AnalysisOutput:
    """Fit one campaign temperature and write ``T_<T>K/tdep/``."""
    from mdvib.analysis.tdep.export import write_outputs
    from mdvib.analysis.tdep.reference import read_reference

    type_map = {k + 1: symbol for k, symbol in enumerate(step.elements)}
    reference = read_reference(step.structure_file, type_map=type_map)
    analysis = settings.analysis(reference, step.temperature_k, step.progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TDEPWarning)  # they are recorded in the result
        result = analysis.run(step.open_trajectory(), start=step.first_frame, step=settings.stride,
                              workers=settings.workers)
    _, _, written = write_outputs(result, step.directory / TDEP_FOLDER, plot=settings.plot)
    return AnalysisOutput(result, tuple(written))


def plot_series(directories, labels, path, title: str | None = None) -> None:
    """Every temperature's dispersion (``tdep/phonons.h5``) on one figure."""
    from mdvib.analysis.tdep.export import plot_dispersion
    from mdvib.results import load_result

    plot_dispersion([(label, load_result(Path(d) / TDEP_FOLDER / "phonons.h5"))
                     for d, label in zip(directories, labels)], path)


def headline(result) -> str:
    """One line for a campaign summary: the fit's quality."""
    return (f"R² = {result.r2:.4f}, force RMSE {result.rmse:.3g} eV/Å, {result.n_snapshots} snapshots "
            f"(stride {result.stride})")


ANALYSIS = register_analysis(AnalysisSpec(
    name="tdep",
    help="effective force constants (TDEP) from MD snapshots",
    command="mdvib.cli.tdep",
    campaign_settings=TDEPCampaignSettings,
    run_in_campaign=run_in_campaign,
    result_file=f"{TDEP_FOLDER}/tdep.h5",
    plot_series=plot_series,
    series_file="tdep_dispersion.png",
    headline=headline,
))
