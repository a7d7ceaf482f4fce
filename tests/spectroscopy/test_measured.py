"""Reading measured INS spectra: text/CSV, Mantid SaveAscii and SaveNexusProcessed, units, bad input."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest

from mdvib.errors import SettingsError
from mdvib.spectroscopy.measured import MeasuredSpectrum, load_measured, normalise_unit
from mdvib.units import THZ_TO_INV_CM, THZ_TO_MEV

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "ins" / "measured"
#: 1 meV in cm⁻¹ (CODATA 2018: 8.0655439 cm⁻¹), written out independently of mdvib.units.
INV_CM_PER_MEV = 8.065544


def _fixture_module():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(tmp_path: Path, text: str, name: str = "spectrum.dat") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ----------------------------------------------------------------- text and units


@pytest.mark.parametrize("header, unit", [
    ("# energy (meV)  intensity", "meV"),
    ("# E [meV], S", "meV"),
    ("# energy (cm-1)  S", "cm-1"),
    ("# energy (cm^-1)  S", "cm-1"),
    ("# energy 1/cm  S", "cm-1"),
    ("# wavenumber  S", "cm-1"),
    ("# Energy (cm⁻¹) S (1/meV)", "cm-1"),       # the first unit of the line is the energy's
    ("# frequency (THz)  S", "THz"),
])
def test_header_names_the_unit(tmp_path, header, unit):
    path = _write(tmp_path, f"{header}\n1.0 2.0\n2.0 3.0\n3.0 1.0\n")
    spectrum = load_measured(path)
    assert spectrum.source_units == unit
    assert spectrum.errors is None and not spectrum.weighted
    np.testing.assert_allclose(spectrum.energies_mev, np.array([1.0, 2.0, 3.0]) * {
        "meV": 1.0, "cm-1": 1 / INV_CM_PER_MEV, "THz": 4.135667696}[unit], rtol=1e-7)


def test_inverse_cm_converts_exactly(tmp_path):
    cm = np.array([-80.0, 16.1310878, 250.0, 806.5544])
    path = _write(tmp_path, "# energy (cm-1), S, error\n" + "".join(f"{c:.10g}, 1.0, 0.1\n" for c in cm))
    spectrum = load_measured(path)
    np.testing.assert_allclose(spectrum.energies_mev * INV_CM_PER_MEV, cm, rtol=1e-7)   # 1 meV = 8.065544 cm⁻¹
    np.testing.assert_allclose(spectrum.energies_mev, cm * THZ_TO_MEV / THZ_TO_INV_CM, rtol=1e-15)
    assert spectrum.energies_mev[-1] == pytest.approx(100.0, rel=1e-7)
    assert spectrum.energies_mev[0] < 0          # the energy-gain side is kept


def test_units_argument_overrides_the_header_and_takes_aliases(tmp_path):
    path = _write(tmp_path, "# energy (meV)\n10 1\n20 2\n")
    for alias in ("cm-1", "1/cm", "cm^-1", "wavenumber", "CM-1"):
        spectrum = load_measured(path, units=alias, label="x")
        assert spectrum.source_units == "cm-1" and spectrum.label == "x"
        np.testing.assert_allclose(spectrum.energies_mev, [10 / INV_CM_PER_MEV, 20 / INV_CM_PER_MEV], rtol=1e-7)
    assert load_measured(path, units="THz").energies_mev[0] == pytest.approx(41.35667696, rel=1e-9)


def test_csv_header_row_descending_rows_and_errors_follow_the_sort(tmp_path):
    path = _write(tmp_path, "energy_meV,intensity,error\n30,3,0.3\n-10,1,0.1\n20,2,0.2\n")
    spectrum = load_measured(path)
    np.testing.assert_array_equal(spectrum.energies_mev, [-10.0, 20.0, 30.0])
    np.testing.assert_array_equal(spectrum.intensity, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(spectrum.errors, [0.1, 0.2, 0.3])
    assert spectrum.label == "spectrum" and spectrum.format == "text"


def test_tosca_like_file_in_inverse_cm(tmp_path):
    fixtures = _fixture_module()
    spectrum = load_measured(FIXTURES / "tosca_cm1.dat")
    assert spectrum.source_units == "cm-1"
    assert np.all(np.diff(spectrum.energies_mev) > 0)
    cm = spectrum.energies_mev * INV_CM_PER_MEV
    np.testing.assert_allclose(cm[[0, -1]], [24.0, 400.0], rtol=1e-7)
    np.testing.assert_allclose(spectrum.intensity, fixtures.density(np.round(cm, 3) / 8.0), rtol=1e-8, atol=1e-30)


# ----------------------------------------------------------------- Mantid


def test_mantid_saveascii_needs_units_and_loads_with_them():
    fixtures = _fixture_module()
    path = FIXTURES / "mantid_saveascii.txt"
    with pytest.raises(SettingsError, match=r"mantid_saveascii.txt: .*Mantid SaveAscii files do not record the X "
                                            r"unit.*units='meV'.*--units"):
        load_measured(path)
    spectrum = load_measured(path, units="meV")
    assert spectrum.format == "mantid-ascii"
    np.testing.assert_allclose(spectrum.energies_mev, np.arange(-5.0, 40.0, 0.5))
    np.testing.assert_allclose(spectrum.intensity, fixtures.density(spectrum.energies_mev), rtol=1e-5, atol=1e-30)
    np.testing.assert_array_equal(spectrum.errors, 0.01)


def test_mantid_saveascii_with_dx_column():
    spectrum = load_measured(FIXTURES / "mantid_saveascii_dx.txt", units="meV")
    plain = load_measured(FIXTURES / "mantid_saveascii.txt", units="meV")
    np.testing.assert_array_equal(spectrum.intensity, plain.intensity)
    np.testing.assert_array_equal(spectrum.errors, plain.errors)


def test_mantid_saveascii_with_two_spectra_is_refused():
    with pytest.raises(SettingsError, match=r"2 spectra.*SumSpectra"):
        load_measured(FIXTURES / "mantid_saveascii_two_spectra.txt", units="meV")


def test_mantid_nexus_histogram_in_inverse_cm():
    fixtures = _fixture_module()
    spectrum = load_measured(FIXTURES / "mantid_nexus.nxs")
    assert spectrum.format == "mantid-nexus" and spectrum.source_units == "cm-1"
    with h5py.File(FIXTURES / "mantid_nexus.nxs") as h5:                 # the layout read independently
        edges = h5["mantid_workspace_1/workspace/axis1"][()]
    centres_cm = 0.5 * (edges[1:] + edges[:-1])
    np.testing.assert_allclose(spectrum.energies_mev * INV_CM_PER_MEV, centres_cm, rtol=1e-7)
    widths_mev = np.diff(edges) / INV_CM_PER_MEV
    # counts per bin became a density per meV: counts / width(meV) = density · width(cm⁻¹) / width(meV)
    np.testing.assert_allclose(spectrum.intensity, fixtures.density(centres_cm / 8.0) * INV_CM_PER_MEV,
                               rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(spectrum.errors, fixtures.ERROR * np.diff(edges) / widths_mev, rtol=1e-6)


def test_nexus_points_and_distribution_are_taken_as_they_are(tmp_path):
    path = tmp_path / "points.nxs"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("mantid_workspace_1/workspace")
        group.create_dataset("values", data=[[1.0, 2.0, 3.0]])
        group.create_dataset("errors", data=[[0.1, 0.1, 0.1]])
        group.create_dataset("axis1", data=[5.0, 6.0, 7.0]).attrs["units"] = "DeltaE"
    spectrum = load_measured(path)
    np.testing.assert_array_equal(spectrum.energies_mev, [5.0, 6.0, 7.0])
    np.testing.assert_array_equal(spectrum.intensity, [1.0, 2.0, 3.0])


def test_nexus_bad_layouts(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("data", data=[1.0])
    with pytest.raises(SettingsError, match=r"other.h5: no mantid_workspace_1/workspace group.*data"):
        load_measured(path)
    path = tmp_path / "tof.nxs"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("mantid_workspace_1/workspace")
        group.create_dataset("values", data=[[1.0, 2.0]])
        group.create_dataset("axis1", data=[1.0, 2.0, 3.0]).attrs["units"] = "TOF"
    with pytest.raises(SettingsError, match=r"tof.nxs: axis1 is in Mantid unit 'TOF'.*ConvertUnits"):
        load_measured(path)
    path = tmp_path / "map.nxs"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("mantid_workspace_1/workspace")
        group.create_dataset("values", data=np.ones((3, 2)))
        group.create_dataset("axis1", data=[1.0, 2.0, 3.0]).attrs["units"] = "DeltaE"
    with pytest.raises(SettingsError, match=r"map.nxs: the workspace holds 3 spectra"):
        load_measured(path)


# ----------------------------------------------------------------- bad input


def test_no_unit_anywhere_says_how_to_pass_one(tmp_path):
    path = _write(tmp_path, "1 2\n2 3\n", "bare.txt")
    with pytest.raises(SettingsError, match=r"bare.txt: cannot tell the energy unit.*units='meV'.*--units"):
        load_measured(path)


def test_unknown_unit_argument_lists_the_accepted_ones(tmp_path):
    path = _write(tmp_path, "1 2\n2 3\n", "bare.txt")
    with pytest.raises(SettingsError, match=r"bare.txt: unknown energy unit 'kelvin'; pass units= .*mev"):
        load_measured(path, units="kelvin")
    with pytest.raises(SettingsError, match=r"unknown energy unit"):
        normalise_unit("eV")


def test_ambiguous_comment_units_are_refused(tmp_path):
    path = _write(tmp_path, "# resolution 2.5 cm-1\n# energy in meV\n1 2\n2 3\n")
    with pytest.raises(SettingsError, match=r"several energy units \(line 1: cm-1, line 2: meV\); pass units="):
        load_measured(path)
    assert load_measured(path, units="meV").source_units == "meV"


@pytest.mark.parametrize("text, message", [
    ("", r"no data rows \(the file is empty"),
    ("# only a comment (meV)\n\n", r"no data rows"),
    ("# meV\n1\n2\n3\n", r"line 3: 1 column\(s\); a measured spectrum has 2"),
    ("# meV\n1.5\n2.5\n", r"line 2: 1 column\(s\)"),
    ("# meV\n1 2 3 4 5\n2 3 4 5 6\n", r"line 2: 5 column\(s\)"),
    ("# meV\n1 2 0.1\n2 3 -0.2\n3 4 0.1\n", r"line 3: negative error -0.2 \(1 in all\)"),
    ("# meV\n1 2\n2 3\n1 5\n", r"energy 1 appears twice \(line 2 and line 4"),
    ("# meV\n1 2\n2 nan\n", r"line 3: non-finite value"),
    ("# meV\n1 2\n2 3 4\n", r"line 3: 3 columns, but line 2 has 2"),
    ("# meV\n1 2\n2 abc\n", r"line 3: 'abc' is not a number"),
])
def test_bad_text_files_name_file_and_line(tmp_path, text, message):
    path = _write(tmp_path, text, "bad.dat")
    with pytest.raises(SettingsError, match=r"bad.dat.*" + message):
        load_measured(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(SettingsError, match=r"nothing.dat: no such file"):
        load_measured(tmp_path / "nothing.dat")
    path = tmp_path / "binary.dat"
    path.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(SettingsError, match=r"binary.dat: not a text file"):
        load_measured(path, units="meV")


def test_in_memory_spectrum_is_checked():
    with pytest.raises(SettingsError, match=r"strictly ascending"):
        MeasuredSpectrum(np.array([2.0, 1.0]), np.array([1.0, 1.0]), None, "", "meV", "x")
    with pytest.raises(SettingsError, match=r"non-negative"):
        MeasuredSpectrum(np.array([1.0, 2.0]), np.array([1.0, 1.0]), np.array([0.1, -1.0]), "", "meV", "x")
    with pytest.raises(SettingsError, match=r"at least 2"):
        MeasuredSpectrum(np.array([1.0]), np.array([1.0]), None, "", "meV", "x")
