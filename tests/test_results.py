"""load_result: files of other versions, damaged files and files that do not match their class."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from mdvib.analysis.dos import DOSAnalysis, DOSResult
from mdvib.errors import MdvibError
from mdvib.results import load_result, result_type_name
from mdvib.trajectory import Trajectory

DUMP = Path(__file__).resolve().parents[1] / "mdvib" / "data" / "si_sw_300K.dump.gz"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("results") / "dos.h5"
    DOSAnalysis(blocks=2).run(Trajectory.open(DUMP, dt_fs=1.0, type_map={1: "Si"}), stop=200).save(path)
    return path


def _copy(saved, tmp_path, edit) -> Path:
    path = tmp_path / "edited.h5"
    path.write_bytes(saved.read_bytes())
    with h5py.File(path, "r+") as h5:
        edit(h5)
    return path


def test_class_is_recorded_as_module_and_qualname(saved):
    with h5py.File(saved) as h5:
        assert h5.attrs["result_type"] == result_type_name(DOSResult) == "mdvib.analysis.dos:DOSResult"
    assert isinstance(load_result(saved), DOSResult)


def test_files_of_mdvib_0_1_load_through_the_alias_table(saved, tmp_path):
    def legacy(h5):
        h5.attrs["result_type"] = "DOSResult"
        del h5["provenance"].attrs["execution"]

    result = load_result(_copy(saved, tmp_path, legacy))
    assert isinstance(result, DOSResult) and result.provenance.execution == {}


@pytest.mark.parametrize("edit, message", [
    (lambda h5: h5.__delitem__("total"), r"required field 'total' of DOSResult is missing"),
    (lambda h5: (h5.__delitem__("total"), h5.create_dataset("total", data=np.ones(7))),
     r"field 'total' has n_freq = 7 .* but field 'frequencies_thz' has n_freq = "),
    (lambda h5: h5["partial"].attrs.__setitem__("unit", "1/meV"), r"field 'partial' is in '1/meV'"),
    (lambda h5: (h5.__delitem__("partial"), h5.create_dataset("partial", data=np.ones(5))),
     r"field 'partial' has shape \(5,\), expected \(n_species, n_freq\)"),
    (lambda h5: h5.attrs.__setitem__("result_type", "os:system"), r"'os:system' is not an mdvib result type"),
    (lambda h5: h5.attrs.__setitem__("result_type", "mdvib.nowhere:Thing"), r"cannot be found"),
    (lambda h5: h5.attrs.__setitem__("mdvib_schema", 99), r"schema 99 is newer"),
])
def test_mismatching_files_name_the_field(saved, tmp_path, edit, message):
    with pytest.raises(MdvibError, match=message):
        load_result(_copy(saved, tmp_path, edit))


def test_damaged_and_missing_files(saved, tmp_path):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(saved.read_bytes()[: 3000])
    with pytest.raises(MdvibError, match=r"broken.h5: not a readable HDF5 file"):
        load_result(broken)
    with pytest.raises(MdvibError, match=r"nothing.h5: no such result file"):
        load_result(tmp_path / "nothing.h5")
