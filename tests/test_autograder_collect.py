"""``python -m autograder collect``: an LMS download (Canvas and Moodle naming) into the layout ``grade``
reads, with every file it cannot place reported, and nothing overwritten unless asked."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from autograder import COURSE_ROOT
from autograder.cli import main
from autograder.submissions import find_submissions

ASSIGNMENT = "01_task_definition"
NOTEBOOK = (COURSE_ROOT.parent / "notebooks" / f"{ASSIGNMENT}.ipynb").read_bytes()


def lms_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_canvas_and_moodle_downloads_land_in_the_submissions_layout(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = lms_zip(tmp_path / "export.zip", {
        f"doejane_12345_67890_{ASSIGNMENT}.ipynb": NOTEBOOK,                    # Canvas
        f"Li Wei_2233_assignsubmission_file_/{ASSIGNMENT} (1).ipynb": NOTEBOOK,  # Moodle, renamed by the LMS
        "roe_1_2_notes.pdf": b"%PDF",                                           # not a notebook
        f"{ASSIGNMENT}.ipynb": NOTEBOOK,                                        # whose?
        "kim_1_2_a.ipynb": NOTEBOOK, "kim_1_3_b.ipynb": NOTEBOOK,               # two: which one?
        "__MACOSX/._doejane.ipynb": b"",                                        # archiver noise
    })
    out = tmp_path / "submitted"
    code, text = run(capsys, "collect", str(archive), "--assignment", ASSIGNMENT, "--out", str(out))
    assert code == 0, text
    assert (out / "doejane" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes() == NOTEBOOK
    assert (out / "Li_Wei" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes() == NOTEBOOK
    assert sorted(p.name for p in out.iterdir()) == ["Li_Wei", "doejane"], "kim (two notebooks) gets none"
    assert "SKIPPED roe_1_2_notes.pdf: not a notebook" in text
    assert f"SKIPPED {ASSIGNMENT}.ipynb: no student id in its path" in text
    assert text.count("kim has 2 notebooks") == 2 and "MACOSX" not in text
    assert "2 notebook(s) placed, 4 file(s) left out." in text
    found = find_submissions(out, COURSE_ROOT, ASSIGNMENT)
    assert sorted(s.student_id for s in found) == ["Li_Wei", "doejane"], "grade finds them"
    # Run again: nothing replaced unless --force.
    (out / "doejane" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_bytes(b"regraded by hand")
    code, text = run(capsys, "collect", str(archive), "--assignment", ASSIGNMENT, "--out", str(out))
    assert code == 0 and "is already there (--force replaces it)" in text
    assert (out / "doejane" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes() == b"regraded by hand"
    code, text = run(capsys, "collect", str(archive), "--assignment", ASSIGNMENT, "--out", str(out),
                     "--force")
    assert (out / "doejane" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes() == NOTEBOOK


def test_a_custom_pattern_reads_the_id_elsewhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = lms_zip(tmp_path / "gs.zip", {"submission_777/hw.ipynb": NOTEBOOK})
    out = tmp_path / "submitted"
    code, text = run(capsys, "collect", str(archive), "--assignment", ASSIGNMENT, "--out", str(out),
                     "--pattern", r"^submission_(?P<student_id>\d+)$")
    assert code == 0, text
    assert (out / "777" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--assignment", "99_nope"], "No assignment '99_nope'"),
    (["--assignment", ASSIGNMENT, "--pattern", "(unclosed"], "is not a regular expression"),
    (["--assignment", ASSIGNMENT, "--pattern", "^(.+)_"], "has no (?P<student_id>...) group"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              argv: list[str], message: str) -> None:
    archive = lms_zip(tmp_path / "export.zip", {"doejane_1_2_x.ipynb": NOTEBOOK})
    out = tmp_path / "submitted"
    code, text = run(capsys, "collect", str(archive), "--out", str(out), *argv)
    assert code == 2 and message in text, text
    assert not out.exists()
    (tmp_path / "not.zip").write_text("hello")
    code, text = run(capsys, "collect", str(tmp_path / "not.zip"), "--assignment", ASSIGNMENT, "--out",
                     str(out))
    assert code == 2 and "is not a zip archive" in text and not out.exists()
