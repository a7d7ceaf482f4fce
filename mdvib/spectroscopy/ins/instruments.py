"""INS instruments: kinematics (|Q| reached at each energy transfer) and energy resolution, by name.

Built-ins (:func:`instrument_names`), all energies in meV, angles in degrees:

* indirect geometry (fixed E_f, one |Q| per bank and energy):

  - ``tosca`` (ISIS): E_f = 3.967 meV (32 cm⁻¹), banks forward 45° and backward 134.989°
    (resins tosca.yaml); σ = 2.5 + 0.005E + 1e-7E² cm⁻¹ (Dymkowski et al., Physica B 551
    (2018) 443; Cheng et al., J. Chem. Theory Comput. 15 (2019) 1974), the polynomial of
    resins' TOSCA "AbINS" model (a test checks they agree; evaluated here without importing
    resins). resins' other TOSCA model ("book", Mitchell et al. 2005) fails in resins 0.1.0 (NameError) and is not used.
  - ``vision`` (SNS): PG(002) analysers at a Bragg angle of 45°, d = 3.348 Å (resins
    vision.yaml, Seeger, Daemen & Larese, NIM A 604 (2009) 719) give λ_f = 2d sin 45° and
    E_f = 3.649 meV; banks forward 45° and backward 135°. resins' VISION model
    ("vision_paper") cannot be evaluated in resins 0.1.0 (its d_t is null: TypeError; with
    d_t = 0 it returns a constant 2.9e-25, a unit error), so the resolution is the design
    approximate figure ΔE/E_i = 1.2 % FWHM (design goal "1–2 % ΔE/E", Larese et al., ACNS
    abstract TP40); replace it by a measured σ(E) through a TOML file when one is at hand.
  - ``tfxa`` (ISIS, TOSCA's predecessor; Penfold & Tomkinson, RAL-86-019 (1986)): one
    backscattering bank at 134.989°, E_f = 3.909 meV (resins tosca.yaml, version TFXA,
    after Mitchell et al. 2005); resins' TFXA model is the failing "book" model, so the
    resolution is ΔE/E_i = 2 % FWHM, the figure usually quoted for TFXA (approximate).

* direct geometry (fixed E_i, a band of |Q| per energy): ``mari``, ``maps`` (ISIS),
  ``sequoia``, ``arcs`` (SNS) with resins' PyChop time-width models (Bewley et al. 2018;
  SEQUOIA and ARCS: Lin et al., Physica B 562 (2019) 26). Settings:
  ``incident_energy_mev`` (required), ``chopper_frequency_hz`` and ``chopper`` (the chopper
  package; defaults as in resins) and ``angle_range_deg`` (detector coverage).

Resolution outside the kinematic range
--------------------------------------
``sigma_mev`` is NaN where no neutron can reach: indirect E ≤ −E_f (E_i ≤ 0), direct
E ≥ E_i. On the energy-gain side of a chopper spectrometer (E < 0) σ is held at its
E = 0 value: PyChop's polynomial is fitted on 0 ≤ E < E_i only, and the true width
grows slowly with E_f there, so this slightly under-broadens the (Bose-weak) gain side.
Indirect models are evaluated as they stand for −E_f < E < 0. NaN also wherever a model
gives σ < 0 (a user polynomial outside its range). :func:`broaden` leaves NaN bins as they are.

User instruments come from a TOML file (:func:`load_instrument_file`).
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.constants as _sc

from mdvib.errors import SettingsError
from mdvib.spectroscopy.ins.resolution import (
    IncidentFractionResolution,
    PolynomialResolution,
    ResinsResolution,
    ResolutionModel,
    broaden,
)

__all__ = ["Instrument", "IndirectGeometry", "DirectGeometry", "get_instrument", "instrument_names",
           "load_instrument_file", "broaden", "HBAR2_OVER_2MN_MEV_A2"]

#: ħ²/(2 m_n) in meV·Å² (CODATA): E = HBAR2_OVER_2MN_MEV_A2 · k².
HBAR2_OVER_2MN_MEV_A2: float = _sc.hbar ** 2 / (2.0 * _sc.m_n) / _sc.e * 1e3 * 1e20

#: λ (Å) → E (meV): E = (2π)² ħ²/(2 m_n) / λ².
_TWO_PI_SQ = (2.0 * np.pi) ** 2


def _wavevector(energy_mev: np.ndarray) -> np.ndarray:
    return np.sqrt(energy_mev / HBAR2_OVER_2MN_MEV_A2)


def _momentum(k_i: np.ndarray, k_f: np.ndarray, angle_deg: float) -> np.ndarray:
    """|Q| = √(k_i² + k_f² − 2 k_i k_f cos θ), Å⁻¹."""
    return np.sqrt(np.maximum(k_i ** 2 + k_f ** 2 - 2.0 * k_i * k_f * np.cos(np.radians(angle_deg)), 0.0))


@dataclasses.dataclass(frozen=True)
class Instrument:
    """An instrument: name, geometry and energy resolution.

    Attributes
    ----------
    name : str
        Display name (``"TOSCA"``).
    resolution : ResolutionModel
        σ(E) model; see :mod:`mdvib.spectroscopy.ins.resolution`.
    geometry : str
        ``"indirect"`` or ``"direct"`` (class attribute).
    """

    name: str
    resolution: ResolutionModel
    geometry: ClassVar[str] = ""

    def sigma_mev(self, energy_mev: np.ndarray, bank: str | None = None) -> np.ndarray:
        """Gaussian σ (meV) of the energy resolution at each energy transfer (meV, both signs).

        Parameters
        ----------
        energy_mev : numpy.ndarray
            Energy transfers, meV, any shape; E < 0 is energy gain.
        bank : str, optional
            Detector bank (indirect geometry); the built-in models do not depend on it.

        Returns
        -------
        numpy.ndarray
            σ in meV, same shape; NaN where the instrument cannot measure (see the module notes).
        """
        energy = np.asarray(energy_mev, dtype=float)
        self._check_bank(bank)
        with np.errstate(invalid="ignore"):
            sigma = np.asarray(self._model_sigma(energy), dtype=float)
            return np.where(self._reachable(energy) & (sigma >= 0), sigma, np.nan)

    def describe(self) -> str:
        """One line: name, settings and the source of the resolution model."""
        settings = {k: v for k, v in self.settings().items() if k not in ("name", "geometry", "resolution")}
        text = ", ".join(f"{k} = {v}" for k, v in settings.items())
        return f"{self.name} ({self.geometry} geometry; {text}); resolution: {self.resolution.source}"

    def settings(self) -> dict[str, Any]:
        """JSON-able record of the instrument (provenance)."""
        return {"name": self.name, "geometry": self.geometry, **self._settings(),
                "resolution": self.resolution.record()}

    def _check_bank(self, bank: str | None) -> None:
        if bank is not None:
            raise SettingsError(f"{self.name} has no detector banks (asked for {bank!r})")

    def _model_sigma(self, energy: np.ndarray) -> np.ndarray:
        return self.resolution.sigma_mev(energy)

    def _reachable(self, energy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class IndirectGeometry(Instrument):
    """Fixed final energy E_f; each bank sees one |Q| per energy transfer.

    Attributes
    ----------
    final_energy_mev : float
        E_f, meV.
    banks : dict of str to float
        Bank name → scattering angle, degrees.
    max_energy_mev : float, optional
        Top of the instrument's useful energy range, meV (sets the default axis).
    """

    final_energy_mev: float = 0.0
    banks: Mapping[str, float] = dataclasses.field(default_factory=dict)
    max_energy_mev: float | None = None
    geometry: ClassVar[str] = "indirect"

    def __post_init__(self):
        if not np.isfinite(self.final_energy_mev) or self.final_energy_mev <= 0:
            raise SettingsError(f"{self.name}: the final energy must be a positive number of meV, "
                                f"not {self.final_energy_mev!r}")
        if not self.banks:
            raise SettingsError(f"{self.name}: an indirect-geometry instrument needs at least one bank")
        for bank, angle in self.banks.items():
            if not np.isfinite(angle) or not 0 < angle <= 180:
                raise SettingsError(f"{self.name}: bank {bank!r} angle {angle!r}: give degrees in (0, 180]")
        object.__setattr__(self, "banks", {str(k): float(v) for k, v in self.banks.items()})

    def momentum_transfer(self, energy_mev: np.ndarray, bank: str) -> np.ndarray:
        """|Q| in Å⁻¹ at each energy transfer for one bank: E_i = E_f + E; NaN where E_i ≤ 0.

        Parameters
        ----------
        energy_mev : numpy.ndarray
            Energy transfers, meV, any shape.
        bank : str
            A key of :attr:`banks`.
        """
        self._check_bank(bank)
        energy = np.asarray(energy_mev, dtype=float)
        incident = energy + self.final_energy_mev
        with np.errstate(invalid="ignore"):
            q = _momentum(_wavevector(incident), _wavevector(self.final_energy_mev), self.banks[bank])
        return np.where(incident > 0, q, np.nan)

    def _check_bank(self, bank: str | None) -> None:
        if bank is not None and bank not in self.banks:
            raise SettingsError(f"{self.name} has no bank {bank!r}; its banks are {', '.join(self.banks)}")

    def _reachable(self, energy: np.ndarray) -> np.ndarray:
        return energy + self.final_energy_mev > 0

    def _settings(self) -> dict[str, Any]:
        return {"final_energy_mev": self.final_energy_mev, "banks": dict(self.banks),
                "max_energy_mev": self.max_energy_mev}


@dataclasses.dataclass(frozen=True)
class DirectGeometry(Instrument):
    """Fixed incident energy E_i; the detectors cover a band of |Q| at each energy transfer.

    Attributes
    ----------
    incident_energy_mev : float
        E_i, meV.
    angle_range_deg : tuple of float
        Smallest and largest scattering angle of the detectors, degrees.
    angle_source : str
        Where the angle range comes from.
    chopper : str, optional
        Chopper package.
    chopper_frequency_hz : float, optional
        Chopper frequency, Hz.
    """

    incident_energy_mev: float = 0.0
    angle_range_deg: tuple[float, float] = (0.0, 180.0)
    angle_source: str = ""
    chopper: str | None = None
    chopper_frequency_hz: float | None = None
    geometry: ClassVar[str] = "direct"

    def __post_init__(self):
        if not np.isfinite(self.incident_energy_mev) or self.incident_energy_mev <= 0:
            raise SettingsError(f"{self.name}: the incident energy must be a positive number of meV, "
                                f"not {self.incident_energy_mev!r}")
        low, high = (float(a) for a in self.angle_range_deg)
        if not 0 <= low < high <= 180:
            raise SettingsError(f"{self.name}: angle range {self.angle_range_deg!r}: give (min, max) degrees with "
                                f"0 ≤ min < max ≤ 180")
        object.__setattr__(self, "angle_range_deg", (low, high))

    def q_limits(self, energy_mev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """|Q|_min and |Q|_max (Å⁻¹) at each energy transfer from the angle range; NaN where E ≥ E_i.

        Parameters
        ----------
        energy_mev : numpy.ndarray
            Energy transfers, meV, any shape.

        Returns
        -------
        tuple of numpy.ndarray
            (|Q| at the smallest angle, |Q| at the largest), each the shape of ``energy_mev``.
        """
        energy = np.asarray(energy_mev, dtype=float)
        final = self.incident_energy_mev - energy
        k_i = _wavevector(self.incident_energy_mev)
        with np.errstate(invalid="ignore"):
            k_f = _wavevector(final)
            low, high = (np.where(final > 0, _momentum(k_i, k_f, a), np.nan) for a in self.angle_range_deg)
        return low, high

    def _model_sigma(self, energy: np.ndarray) -> np.ndarray:
        return self.resolution.sigma_mev(np.maximum(energy, 0.0))

    def _reachable(self, energy: np.ndarray) -> np.ndarray:
        return energy < self.incident_energy_mev

    def _settings(self) -> dict[str, Any]:
        return {"incident_energy_mev": self.incident_energy_mev, "chopper": self.chopper,
                "chopper_frequency_hz": self.chopper_frequency_hz, "angle_range_deg": list(self.angle_range_deg),
                "angle_source": self.angle_source}


# ---------------------------------------------------------------- built-in instruments

#: PG(002) plane spacing, Å, and VISION's analyser Bragg angle, degrees (resins vision.yaml, Seeger et al. 2009).
_PG002_D_ANGSTROM = 3.348
_VISION_BRAGG_DEG = 45.0
#: E_f of VISION from the Bragg condition λ = 2 d sin θ_B, meV.
VISION_FINAL_ENERGY_MEV: float = float(_TWO_PI_SQ * HBAR2_OVER_2MN_MEV_A2
                                  / (2.0 * _PG002_D_ANGSTROM * np.sin(np.radians(_VISION_BRAGG_DEG))) ** 2)
#: TOSCA's (and TFXA's) backscattering angle, degrees (resins tosca.yaml).
_BACKSCATTERING_DEG = 134.98885653282196

_SEEGER_2009 = "P. A. Seeger, L. L. Daemen, J. Z. Larese, Nucl. Instrum. Methods A 604 (2009) 719"


def _no_settings(name: str, settings: dict) -> None:
    if settings:
        raise SettingsError(f"{name} takes no settings (got {', '.join(sorted(settings))}); it is an "
                            f"indirect-geometry instrument with a fixed final energy")


#: TOSCA's Gaussian σ(E) = 2.5 + 0.005E + 1e-7E² in cm⁻¹ (E in cm⁻¹): the polynomial resins' TOSCA "AbINS" model
#: evaluates, written here so that TOSCA does not import resins (and scipy.stats: a second) for one polynomial.
TOSCA_SIGMA_INV_CM = (2.5, 0.005, 1e-7)
TOSCA_RESOLUTION_SOURCE = ("K. Dymkowski et al., Physica B 551 (2018) 443; Y. Q. Cheng et al., J. Chem. Theory "
                           "Comput. 15 (2019) 1974 (resins' TOSCA model 'AbINS')")


def _tosca(**settings) -> IndirectGeometry:
    _no_settings("TOSCA", settings)
    return IndirectGeometry(name="TOSCA", resolution=PolynomialResolution.from_units(TOSCA_SIGMA_INV_CM, "cm-1",
                                                                                     TOSCA_RESOLUTION_SOURCE),
                            final_energy_mev=3.967, banks={"forward": 45.0, "backward": _BACKSCATTERING_DEG},
                            max_energy_mev=500.0)


def _vision(**settings) -> IndirectGeometry:
    _no_settings("VISION", settings)
    resolution = IncidentFractionResolution(0.012, VISION_FINAL_ENERGY_MEV,
                                            "ΔE/E_i = 1.2 % FWHM, approximate figure for VISION (design goal "
                                            "1–2 % ΔE/E: Larese et al., ACNS abstract TP40; model of "
                                            f"{_SEEGER_2009} not evaluable in resins 0.1.0)")
    return IndirectGeometry(name="VISION", resolution=resolution, final_energy_mev=VISION_FINAL_ENERGY_MEV,
                            banks={"forward": 45.0, "backward": 135.0}, max_energy_mev=1000.0)


def _tfxa(**settings) -> IndirectGeometry:
    _no_settings("TFXA", settings)
    final = 3.909
    resolution = IncidentFractionResolution(0.02, final, "ΔE/E_i ≈ 2 % FWHM, approximate figure for TFXA "
                                            "(J. Penfold, J. Tomkinson, RAL-86-019, 1986)")
    return IndirectGeometry(name="TFXA", resolution=resolution, final_energy_mev=final,
                            banks={"backward": _BACKSCATTERING_DEG}, max_energy_mev=500.0)


@dataclasses.dataclass(frozen=True)
class _ChopperSpectrometer:
    """Registry entry of a chopper spectrometer modelled by resins' PyChop."""

    name: str
    resins_name: str
    angle_range_deg: tuple[float, float]
    angle_source: str

    _SETTINGS: ClassVar[tuple[str, ...]] = ("incident_energy_mev", "chopper_frequency_hz", "chopper",
                                            "angle_range_deg")

    def __call__(self, **settings) -> DirectGeometry:
        unknown = sorted(set(settings) - set(self._SETTINGS))
        if unknown:
            raise SettingsError(f"{self.name}: unknown setting {', '.join(unknown)}; "
                                f"choose from {', '.join(self._SETTINGS)}")
        if settings.get("incident_energy_mev") is None:
            raise SettingsError(f"{self.name} is a chopper spectrometer: give incident_energy_mev (E_i, meV)")
        incident = float(settings["incident_energy_mev"])
        if not np.isfinite(incident) or incident <= 0:
            raise SettingsError(f"{self.name}: incident_energy_mev must be a positive number of meV, "
                                f"not {settings['incident_energy_mev']!r}")
        options: dict[str, Any] = {"e_init": incident}
        frequency = settings.get("chopper_frequency_hz")
        if frequency is not None:
            if float(frequency) != int(frequency):
                raise SettingsError(f"{self.name}: chopper_frequency_hz must be a whole number of Hz, "
                                    f"not {frequency!r}")
            options["chopper_frequency"] = int(frequency)
        if settings.get("chopper") is not None:
            options["chopper_package"] = str(settings["chopper"])
        return DirectGeometry(name=self.name, resolution=ResinsResolution(self.resins_name, **options),
                              incident_energy_mev=incident,
                              angle_range_deg=tuple(settings.get("angle_range_deg") or self.angle_range_deg),
                              angle_source=("user setting" if settings.get("angle_range_deg")
                                            else self.angle_source),
                              chopper=options.get("chopper_package", _default_package(self.resins_name)),
                              chopper_frequency_hz=float(options.get("chopper_frequency",
                                                                     _default_frequency(self.resins_name))))


def _default_package(resins_name: str) -> str:
    import resins

    inst = resins.Instrument.from_default(resins_name)
    return inst.get_model_signature().parameters["chopper_package"].default


def _default_frequency(resins_name: str) -> float:
    import resins

    return float(resins.Instrument.from_default(resins_name).get_model_data().defaults["chopper_frequency"])


#: name (lower case) → constructor taking the instrument's settings as keywords.
_REGISTRY: dict[str, Callable[..., Instrument]] = {
    "tosca": _tosca,
    "vision": _vision,
    "tfxa": _tfxa,
    "mari": _ChopperSpectrometer("MARI", "MARI", (3.0, 134.0), "ISIS MARI detector bank, 3°–134°"),
    "maps": _ChopperSpectrometer("MAPS", "MAPS", (3.0, 60.0), "ISIS MAPS detector banks, 3°–60°"),
    "sequoia": _ChopperSpectrometer("SEQUOIA", "SEQUOIA", (2.0, 60.0), "SNS SEQUOIA detectors, up to 60°"),
    "arcs": _ChopperSpectrometer("ARCS", "ARCS", (2.0, 135.0), "SNS ARCS detectors, up to 135°"),
}


def instrument_names() -> list[str]:
    """Names :func:`get_instrument` accepts (lower case)."""
    return sorted(_REGISTRY)


def get_instrument(name: str, **settings) -> Instrument:
    """A built-in instrument by (case-insensitive) name.

    Parameters
    ----------
    name : str
        One of :func:`instrument_names`.
    **settings
        Direct geometry: ``incident_energy_mev`` (required), ``chopper_frequency_hz``,
        ``chopper`` (package), ``angle_range_deg``. Indirect geometry: none.

    Raises
    ------
    SettingsError
        Unknown name (with the closest names), unknown or missing setting, or settings the
        resolution model rejects.

    Examples
    --------
    >>> get_instrument("mari", incident_energy_mev=100.0, chopper_frequency_hz=400.0).geometry
    'direct'
    """
    key = str(name).strip().lower()
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, _REGISTRY, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise SettingsError(f"unknown instrument {name!r}: {hint}known instruments: {', '.join(instrument_names())}"
                            f" (or give a .toml instrument file)")
    return _REGISTRY[key](**settings)


# ---------------------------------------------------------------- user instruments

_COMMON_KEYS = {"name", "geometry", "resolution"}
_GEOMETRY_KEYS = {"indirect": {"final_energy_mev", "banks", "max_energy_mev"},
                  "direct": {"incident_energy_mev", "angle_range_deg"}}
_REQUIRED_KEYS = {"indirect": {"final_energy_mev", "banks"}, "direct": {"incident_energy_mev", "angle_range_deg"}}
_RESOLUTION_FORMS = ("sigma", "fwhm", "relative_fwhm")


def load_instrument_file(path) -> Instrument:
    """An instrument described by a small TOML file.

    Keys (energies in meV, angles in degrees)::

        name = "MY-TOSCA"                # required
        geometry = "indirect"            # required: "indirect" or "direct"
        # indirect geometry
        final_energy_mev = 3.967         # required
        max_energy_mev = 500.0           # optional: top of the default energy axis
        [banks]                          # required: bank name = scattering angle
        forward = 45.0
        backward = 134.989
        # direct geometry
        incident_energy_mev = 100.0      # required
        angle_range_deg = [3.0, 134.0]   # required: smallest and largest scattering angle
        [resolution]                     # required; exactly one of sigma, fwhm, relative_fwhm
        sigma = [2.5, 0.005, 1e-7]       # c0, c1, c2, ... of σ(E) = Σ c_k E^k (Gaussian standard deviation)
        # fwhm = [...]                   # the same for the FWHM
        # relative_fwhm = 0.012          # FWHM = fraction × E_i, E_i = E + E_f (indirect only)
        units = "cm-1"                   # optional, "meV" (default) or "cm-1": the unit of E and σ above
        source = "Dymkowski et al. 2018" # optional: citation shown by describe()

    Parameters
    ----------
    path : str or os.PathLike
        The TOML file.

    Raises
    ------
    SettingsError
        Unreadable file, missing or unknown keys, wrong values; the message names the file and key.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise SettingsError(f"{path}: cannot read the instrument file ({error.strerror})") from error
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: not valid TOML ({error})") from error
    geometry = data.get("geometry")
    if geometry not in _GEOMETRY_KEYS:
        raise SettingsError(f"{path}: key 'geometry' must be \"indirect\" or \"direct\", not {geometry!r}")
    _check_keys(path, "", set(data), _COMMON_KEYS | _GEOMETRY_KEYS[geometry],
                _REQUIRED_KEYS[geometry] | _COMMON_KEYS)
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise SettingsError(f"{path}: key 'name' must be a non-empty string, not {name!r}")
    try:
        if geometry == "indirect":
            final = _number(path, "final_energy_mev", data["final_energy_mev"])
            banks = data["banks"]
            if not isinstance(banks, dict) or not banks:
                raise SettingsError(f"{path}: key 'banks' must be a table of bank name = angle in degrees")
            banks = {bank: _number(path, f"banks.{bank}", angle) for bank, angle in banks.items()}
            top = data.get("max_energy_mev")
            return IndirectGeometry(name=name, resolution=_resolution(path, data["resolution"], final),
                                    final_energy_mev=final, banks=banks,
                                    max_energy_mev=None if top is None else _number(path, "max_energy_mev", top))
        angles = data["angle_range_deg"]
        if not isinstance(angles, list) or len(angles) != 2:
            raise SettingsError(f"{path}: key 'angle_range_deg' must be [min, max] in degrees, not {angles!r}")
        return DirectGeometry(name=name, resolution=_resolution(path, data["resolution"], None),
                              incident_energy_mev=_number(path, "incident_energy_mev", data["incident_energy_mev"]),
                              angle_range_deg=tuple(_number(path, "angle_range_deg", a) for a in angles),
                              angle_source=f"user file {path.name}")
    except SettingsError as error:
        message = str(error)
        raise SettingsError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def _check_keys(path: Path, table: str, keys: set, allowed: set, required: set) -> None:
    where = f"[{table}] " if table else ""
    unknown = sorted(keys - allowed)
    if unknown:
        raise SettingsError(f"{path}: unknown key {where}{', '.join(map(repr, unknown))}; allowed: "
                            f"{', '.join(sorted(allowed))}")
    missing = sorted(required - keys)
    if missing:
        raise SettingsError(f"{path}: missing key {where}{', '.join(map(repr, missing))}")


def _number(path: Path, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{path}: key '{key}' must be a number, not {value!r}")
    return float(value)


def _resolution(path: Path, table, final_energy_mev: float | None) -> ResolutionModel:
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: key 'resolution' must be a table ([resolution])")
    _check_keys(path, "resolution", set(table), {*_RESOLUTION_FORMS, "units", "source"}, set())
    forms = [form for form in _RESOLUTION_FORMS if form in table]
    if len(forms) != 1:
        raise SettingsError(f"{path}: [resolution] needs exactly one of {', '.join(_RESOLUTION_FORMS)}, "
                            f"found {', '.join(forms) or 'none'}")
    form = forms[0]
    source = str(table.get("source", f"user file {path.name}"))
    if form == "relative_fwhm":
        if final_energy_mev is None:
            raise SettingsError(f"{path}: key 'resolution.relative_fwhm' is for indirect geometry (FWHM = "
                                f"fraction × E_i); give sigma or fwhm coefficients for a direct instrument")
        if "units" in table:
            raise SettingsError(f"{path}: key 'resolution.units' does not apply to relative_fwhm (a fraction)")
        return IncidentFractionResolution(_number(path, "resolution.relative_fwhm", table[form]), final_energy_mev,
                                          source)
    coefficients = table[form]
    if not isinstance(coefficients, list) or not coefficients:
        raise SettingsError(f"{path}: key 'resolution.{form}' must be a list of polynomial coefficients "
                            f"[c0, c1, ...], not {coefficients!r}")
    values = [_number(path, f"resolution.{form}", c) for c in coefficients]
    return PolynomialResolution.from_units(values, table.get("units", "meV"), source, fwhm=(form == "fwhm"))

