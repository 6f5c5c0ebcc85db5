"""The seeds' canonical forms kept on disk (analysis/canonical_seeds.py): what is read back is
what computing them gives, text and constants exactly; another code version computes them
again and drops the old file; a damaged file or a folder that cannot be written only costs the
computation; processes writing at once each leave a whole file."""
import json
import shutil
import subprocess
import sys

import pytest

from lion_search.analysis import canonical_seeds as kept
from lion_search.analysis.structure import canonical
from lion_search.language.library import SEEDS_DIR, read_program, seed_names


@pytest.fixture(scope="module")
def computed():
    return {name: canonical(read_program(name))[0] for name in seed_names()}


def same(forms, computed) -> bool:
    """Equal programs that print alike (the docstring and every constant's repr included)."""
    return forms.keys() == computed.keys() and all(
        forms[n] == computed[n] and str(forms[n]) == str(computed[n]) for n in computed)


def test_the_kept_forms_are_the_computed_forms(tmp_path, computed, monkeypatch):
    assert same(kept.canonical_seeds(tmp_path), computed)
    file, = tmp_path.glob("*.json")
    assert file.name == f"{kept.forms_version()}.json"
    assert json.loads(file.read_text()) == {n: str(form) for n, form in computed.items()}
    monkeypatch.setattr(kept, "canonical", None)   # read back, not computed: nothing to call
    assert same(kept.canonical_seeds(tmp_path), computed)


def test_another_code_version_computes_them_again(tmp_path, computed, monkeypatch):
    kept.canonical_seeds(tmp_path)
    monkeypatch.setattr(kept, "forms_version", lambda: "another")
    assert same(kept.canonical_seeds(tmp_path), computed)
    assert [p.name for p in tmp_path.iterdir()] == ["another.json"]


def test_the_version_changes_with_a_seed_file(tmp_path, monkeypatch):
    seeds = shutil.copytree(SEEDS_DIR, tmp_path / "seeds")
    monkeypatch.setattr(kept, "SEEDS_DIR", seeds)
    kept.forms_version.cache_clear()
    try:
        before = kept.forms_version()
        kept.forms_version.cache_clear()
        adamw = seeds / "adamw.py"
        adamw.write_text(adamw.read_text().replace("0.999", "0.998"))
        assert kept.forms_version() != before
    finally:
        kept.forms_version.cache_clear()


@pytest.mark.parametrize("damage", ["{not json", "[]", '{"adamw": "def"}', '{"adamw": 1}'])
def test_a_damaged_file_is_computed_again(tmp_path, computed, damage):
    (tmp_path / f"{kept.forms_version()}.json").write_text(damage)
    assert same(kept.canonical_seeds(tmp_path), computed)
    assert same(kept.canonical_seeds(tmp_path), computed)   # and rewritten whole


def test_a_folder_that_cannot_be_written_costs_only_the_computation(tmp_path, computed):
    (tmp_path / "file").write_text("")
    assert same(kept.canonical_seeds(tmp_path / "file" / "forms"), computed)


def test_processes_writing_at_once_each_leave_a_whole_file(tmp_path, computed):
    script = ("import sys; from pathlib import Path; "
              "from lion_search.analysis.canonical_seeds import canonical_seeds; "
              "print(len(canonical_seeds(Path(sys.argv[1]))))")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err for _, err in outputs]
    assert {out.strip() for out, _ in outputs} == {str(len(computed))}
    assert [p.name for p in tmp_path.iterdir()] == [f"{kept.forms_version()}.json"]
    assert same(kept.canonical_seeds(tmp_path), computed)
