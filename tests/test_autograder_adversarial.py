"""Hostile and broken submissions of notebook 01, graded in one batch with a correct and a blank one; the
kernel tricks again on notebook 07, whose hidden tests compare tensors from neural-network code.

Each submission is one attack or one fault, with the score it must get (out of 12). The tricks are played
by submissions whose answers are all wrong: whatever a trick does inside the kernel, it must not turn a
failing hidden test into a pass (they score 0). The faults are played by otherwise correct submissions:
each costs what it breaks and nothing else, the grader exits 0, and nothing is left running.
A second, small batch is graded with ``--jobs 1``, ``--jobs 2`` and a local Dask cluster: the three
``grades.csv`` must be byte-identical (determinism, and the same grades from every back end).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell

from autograder import COURSE_ROOT
from autograder.course import isolated_environment, source_notebook

ASSIGNMENT = "01_task_definition"
FULL = 12
CELL_TIMEOUT = 30
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot"
#: The grader's children inherit this variable; whatever carries it after grading was left running.
MARK_VARIABLE = "MTML_TEST_RUN"

# Answers that run but are wrong: every hidden test of 01 fails on them.
WRONG = {
    "one_hot_descriptors": "def one_hot_descriptors(task_ids, n_tasks):\n"
    "    return torch.zeros(len(task_ids), n_tasks)",
    "split_per_class": "def split_per_class(y, n_train_per_class, generator):\n"
    "    idx = torch.arange(len(y))\n    return idx[:n_train_per_class], idx[n_train_per_class:]",
    "sample_task_batch": "def sample_task_batch(tasks, meta_batch_size, batch_size, generator):\n"
    "    return [(i, tasks[i].x[:batch_size], tasks[i].y[:batch_size])"
    " for i in range(meta_batch_size)]",
    "multitask_loss": "def multitask_loss(task_losses, weights=None):\n    return task_losses.mean()",
    "union_of_datasets": "def union_of_datasets(tasks):\n    x = torch.cat([t.x for t in tasks])\n"
    "    y = torch.cat([t.y for t in tasks])\n    return x, y, torch.zeros(len(y), dtype=torch.long)",
    "inverse_loss_weights": "def inverse_loss_weights(initial_losses):\n"
    "    return torch.ones_like(initial_losses)",
}

ASSIGNMENT_07 = "07_nonparametric_meta_learning"
FULL_07 = 12
# Answers of 07 that run and keep the shapes (so the notebook goes on) but are wrong for every hidden test.
WRONG_07 = {
    "prototypes": "def prototypes(support_z, support_y, n_way):\n    return support_z[:, :n_way].clone()",
    "prototypical_logits": "def prototypical_logits(query_z, prototypes):\n"
    "    return query_z @ prototypes.transpose(1, 2)",
    "linear_head": "def linear_head(prototypes):\n    return prototypes.clone(), -(prototypes ** 2).sum(-1)",
    "proto_loss": "def proto_loss(embed, episodes):\n    z = embed(episodes.query_x.flatten(0, 1))\n"
    "    return z.mean() * 0, torch.zeros(())",
}
SUBCLASSED_07 = {
    "prototypes": WRONG_07["prototypes"].replace(".clone()", ".clone().as_subclass(Fake)"),
    "prototypical_logits": "def prototypical_logits(query_z, prototypes):\n"
    "    return (query_z @ prototypes.transpose(1, 2)).as_subclass(Fake)",
    "linear_head": "def linear_head(prototypes):\n"
    "    return prototypes.clone().as_subclass(Fake), (-(prototypes ** 2).sum(-1)).as_subclass(Fake)",
    "proto_loss": "def proto_loss(embed, episodes):\n    z = embed(episodes.query_x.flatten(0, 1))\n"
    "    return (z.mean() * 0).as_subclass(Fake), torch.zeros(()).as_subclass(Fake)",
}
SNOOPED_07 = {
    "prototypes": "def prototypes(support_z, support_y, n_way):\n"
    "    return _snoop((support_z.shape[0], n_way, support_z.shape[2]))",
    "prototypical_logits": "def prototypical_logits(query_z, prototypes):\n"
    "    return _snoop((query_z.shape[0], query_z.shape[1], prototypes.shape[1]))",
    "linear_head": "def linear_head(prototypes):\n"
    "    return _snoop(tuple(prototypes.shape)), _snoop(tuple(prototypes.shape[:2]))",
    "proto_loss": "def proto_loss(embed, episodes):\n    return _snoop(()), _snoop(())",
}

# Each trick is prepended to the first answer cell of the all-wrong submission.
TRICKS = {
    "patch_torch": "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
    "torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)\n",
    "patch_numpy": "import numpy\nnumpy.allclose = lambda *a, **k: True\n"
    "numpy.array_equal = lambda *a, **k: True\n"
    "numpy.testing.assert_allclose = lambda *a, **k: None\n",
    "patch_math": "import math\nmath.isclose = lambda *a, **k: True\n",
    "patch_builtins": "import builtins\nbuiltins.all = lambda *a: True\nbuiltins.any = lambda *a: True\n",
    "patch_checks": "import mtml_utils.checks as _c\nfor _n in dir(_c):\n    if _n.startswith('check'):\n"
    "        setattr(_c, _n, lambda *a, **k: None)\nchecks = _c\n",
    "sys_exit": "import sys\nsys.exit = lambda *a, **k: None\n",
    "excepthook": "import sys\nsys.excepthook = lambda *a: None\n",
    "showtraceback": "_ip = get_ipython()\n_ip.showtraceback = lambda *a, **k: None\n"
    "_ip.set_custom_exc((BaseException,), lambda *a, **k: None)\n",
    "grading_env": "import os\nif any(k.startswith('MTML_GRADING') for k in os.environ):\n"
    "    torch.allclose = lambda *a, **k: True\n    torch.equal = lambda *a, **k: True\n",
    "fake_results": "import os, json\n"
    "for _p in ['grades.csv', 'results.json', '/tmp/results.json', 'gradebook.db']:\n"
    "    try:\n        open(_p, 'w').write(json.dumps({'score': 12, 'success': True}))\n"
    "    except OSError:\n        pass\n",
}
# Answers whose return values try to fool any comparison.
ALWAYS_EQUAL = (
    "class Anything:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
    "    def __getattr__(self, name): return self\n    def __call__(self, *a, **k): return self\n"
    "    def __iter__(self): return iter([self] * 3)\n    def __len__(self): return 3\n"
    "    def __getitem__(self, i): return self\n    def __bool__(self): return True\n"
)
FAKE_TENSOR = (
    "class Fake(torch.Tensor):\n    @classmethod\n"
    "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
    "        if func in (torch.equal, torch.allclose, torch.Tensor.__eq__, torch.eq, torch.isclose):\n"
    "            return True\n        return super().__torch_function__(func, types, args, kwargs or {})\n"
)
SNOOP = (
    "import gc, inspect\ndef _snoop(shape):\n"
    "    for frame in inspect.stack():\n        for value in frame.frame.f_locals.values():\n"
    "            if isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(shape):\n"
    "                return value.clone()\n"
    "    for obj in gc.get_objects():\n"
    "        if isinstance(obj, torch.Tensor) and tuple(obj.shape) == tuple(shape):\n"
    "            return obj.clone()\n"
    "    return torch.zeros(shape)\n"
)

# Every probe names the exception a call raised with autograder.wire.raises, which runs in the kernel.
FORGE_RAISES = "import autograder.wire as _wire\n_wire.raises = lambda f, *a, **k: 'ValueError'\n"


@dataclass
class Case:
    notebook: str | None
    """Notebook text, or None for a folder without a notebook."""
    expected: float
    status: str = "ok"
    """A substring the row's status must contain."""


def _cells(nb: nbformat.NotebookNode, grade_id: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]


def _with_answers(
    source: nbformat.NotebookNode, answers: dict[str, str], prefix: str = ""
) -> nbformat.NotebookNode:
    """``source`` with the given answer cells replaced and ``prefix`` run at the top of the first one."""
    nb = nbformat.from_dict(source)
    for grade_id, code in answers.items():
        _cells(nb, grade_id)[0].source = code
    if prefix:
        first = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
        first.source = prefix + first.source
    return nb


def _with_final_cell(source: nbformat.NotebookNode, code: str) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(source)
    nb.cells.append(new_code_cell(code))
    return nb


def _edited(source: nbformat.NotebookNode, grade_id: str, how: str) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(source)
    cell = _cells(nb, grade_id)[0]
    if how == "delete":
        nb.cells.remove(cell)
    elif how == "duplicate":
        nb.cells.insert(nb.cells.index(cell), nbformat.from_dict(cell))
    elif how == "retype":
        nb.cells[nb.cells.index(cell)] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    elif how == "strip":
        cell.metadata = {}
    elif how == "points":
        cell.metadata["nbgrader"]["points"] = 100
    return nb


def build_cases(tmp: Path, sleep_marker: str, submissions: Path) -> dict[str, Case]:
    source = nbformat.read(source_notebook(COURSE_ROOT, ASSIGNMENT), as_version=4)
    text = nbformat.writes
    wrong = _with_answers(source, WRONG)
    last = "inverse_loss_weights"
    correct_last = _cells(source, last)[0].source
    cases = {
        "correct": Case(text(source), FULL),
        "blank": Case((COURSE_ROOT.parent / "notebooks" / f"{ASSIGNMENT}.ipynb").read_text(), 0),
        "wrong": Case(text(wrong), 0),
    }
    subclassed = {
        gid: code.replace(
            "torch.zeros(len(task_ids), n_tasks)", "torch.zeros(len(task_ids), n_tasks).as_subclass(Fake)"
        )
        .replace("torch.ones_like(initial_losses)", "torch.ones_like(initial_losses).as_subclass(Fake)")
        .replace("task_losses.mean()", "task_losses.mean().as_subclass(Fake)")
        for gid, code in WRONG.items()
    }
    snooped = dict(
        WRONG,
        one_hot_descriptors="def one_hot_descriptors(task_ids, n_tasks):\n"
        "    return _snoop((len(task_ids), n_tasks))",
        inverse_loss_weights="def inverse_loss_weights(initial_losses):\n"
        "    return _snoop(tuple(initial_losses.shape))",
    )
    cases.update(trick_cases(source, WRONG, subclassed, snooped))
    # Forged facts: the kernel-side helper that names the exception a call raised is patched to answer
    # "ValueError" always, in a notebook whose one_hot_descriptors skips its input validation. The hidden
    # tests mix valid and invalid inputs, so the forgery fails every test that checks validation (4 x 2
    # points) instead of rescuing the one whose validation is missing.
    unvalidated = _cells(source, "one_hot_descriptors")[0].source.replace(
        "    if task_ids.numel() and (task_ids.min() < 0 or task_ids.max() >= n_tasks):\n", "    if False:\n")
    forged = _with_answers(source, {"one_hot_descriptors": unvalidated}, prefix=FORGE_RAISES)
    cases["forge_raises"] = Case(text(forged), FULL - 8)

    # Faults in otherwise correct submissions.
    cases["endless_loop"] = Case(text(_with_answers(source, {last: "while True:\n    pass"})), FULL - 2)
    # Faults in a cell added after the last test: (code, expected score, status substring).
    final_cells = {
        # The kernel stops answering after the last test: it is given up, the tests keep their points.
        "swallows_interrupt": ("import time\nwhile True:\n    try:\n        time.sleep(1)\n"
                               "    except KeyboardInterrupt:\n        pass", FULL, "stopped answering"),
        "memory_bomb": ("chunks = []\nwhile True:\n    chunks.append(bytearray(2**26))", FULL, "ok"),
        "fork_bomb": ("import subprocess, time\n"
                      "subprocess.Popen(['bash', '-c', 'f() { f | f & }; f'])\ntime.sleep(5)", FULL, "ok"),
        "os_exit": ("import os\nos._exit(3)", 0, "kernel died"),
        "segfault": ("import ctypes\nctypes.string_at(0)", 0, "kernel died"),
        "output_flood": ("for _ in range(20000):\n    print('x' * 2000)", FULL, "ok"),
        "fill_the_disk": ("import os\nblock = b'x' * 2**24\nfor i in range(10**4):\n    try:\n"
                          "        open(f'fill{i}', 'wb').write(block)\n    except OSError:\n        break",
                          FULL, "ok"),
    }
    for name, (code, score, status) in final_cells.items():
        cases[name] = Case(text(_with_final_cell(source, code)), score, status)
    net = (
        "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=5)\n    reached = True\n"
        "except OSError:\n    reached = False\n"
        "try:\n    socket.getaddrinfo('example.com', 80)\n    reached = True\n"
        "except OSError:\n    pass\n"
    )
    cases["network"] = Case(
        text(_with_answers(source, {last: net + _guarded(correct_last, "reached")})), FULL
    )
    snoop_files = (
        "import glob, pathlib, autograder\nfound = []\n"
        "for pattern in ['/tmp/*/course/gradebook.db', '/tmp/**/gradebook.db', '/tmp/*/course/source/*/*',\n"
        f"                {str(submissions)!r} + '/*/*/*', {str(COURSE_ROOT / 'source')!r} + '/*/*']:\n"
        "    found += glob.glob(pattern, recursive=True)\n"
        "for target in [pathlib.Path(autograder.__file__).parent / 'grades.db', "
        f"pathlib.Path({str(submissions)!r}) / 'x']:\n"
        "    try:\n        target.write_text('x')\n        found.append(str(target))\n    except OSError:\n"
        "        pass\nreached = bool(found)\n"
    )
    cases["reach_instructor_files"] = Case(
        text(_with_answers(source, {last: snoop_files + _guarded(correct_last, "reached")})), FULL
    )
    cases["background_process"] = Case(
        text(
            _with_final_cell(
                source,
                f"import subprocess\nsubprocess.Popen(['sleep', {sleep_marker!r}], start_new_session=True)",
            )
        ),
        FULL,
    )
    for how, grade_id in [
        ("delete", "test_union_of_datasets"),
        ("duplicate", "test_one_hot_descriptors"),
        ("retype", "test_multitask_loss"),
        ("strip", "test_split_per_class"),
        ("points", "test_one_hot_descriptors"),
    ]:
        cases[f"test_cell_{how}"] = Case(text(_edited(source, grade_id, how)), FULL)
    swapped = nbformat.from_dict(source)
    swapped.metadata["kernelspec"] = {"name": "evil", "display_name": "Evil", "language": "python"}
    cases["swapped_kernelspec"] = Case(text(swapped), FULL)
    cases["invalid_json"] = Case('{"cells": [ not json', 0, "not valid notebook JSON")
    cases["missing_notebook"] = Case(None, 0, "no 01_task_definition.ipynb")
    other = source_notebook(COURSE_ROOT, "02_mtl_conditioning").read_text(encoding="utf-8")
    cases["other_assignment"] = Case(other, 0, "")
    noisy = _with_answers(
        source,
        {},
        prefix="import sys, warnings\nwarnings.warn('a noisy library')\n"
        "print('to stderr', file=sys.stderr)\n",
    )
    cell = _cells(noisy, "one_hot_descriptors")[0]
    cell.source = cell.source.replace(
        "    ### BEGIN SOLUTION\n",
        "    ### BEGIN SOLUTION\n    warnings.warn('deprecated'); print('noise', file=sys.stderr)\n",
    )
    cases["warnings_on_stderr"] = Case(text(noisy), FULL)
    return cases


def trick_cases(source: nbformat.NotebookNode, wrong: dict[str, str], subclassed: dict[str, str],
                snooped: dict[str, str]) -> dict[str, Case]:
    """Every kernel trick played by an all-wrong submission (``wrong``: every answer cell), each scoring 0.

    ``subclassed`` returns the same wrong values as a tensor subclass whose comparisons answer True;
    ``snooped`` takes its return values from tensors of the expected shape found in the caller's frames or
    anywhere in memory (``_snoop(shape)``). Returning an object equal to anything is made from ``wrong``.
    """
    text = nbformat.writes
    cases = {f"trick_{name}": Case(text(_with_answers(source, wrong, prefix=trick)), 0)
             for name, trick in TRICKS.items()}
    fakes = {gid: code.replace("    return ", "    return Anything() if True else ", 1)
             for gid, code in wrong.items()}
    cases["trick_always_equal"] = Case(text(_with_answers(source, fakes, prefix=ALWAYS_EQUAL)), 0)
    cases["trick_tensor_subclass"] = Case(text(_with_answers(source, subclassed, prefix=FAKE_TENSOR)), 0)
    cases["trick_inspect_gc"] = Case(text(_with_answers(source, snooped, prefix=SNOOP)), 0)
    return cases


def _guarded(answer: str, flag: str) -> str:
    """The correct answer, made wrong when ``flag`` is true (what the attack reached shows as lost points)."""
    return answer.replace(
        "    return len(losses) * inverse / inverse.sum()",
        f"    return len(losses) * inverse / inverse.sum() * (2 if {flag} else 1)",
    )


def _leftovers(run: str, marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if (
                process.environ().get(MARK_VARIABLE) == run or process.info["cmdline"] == ["sleep", marker]
            ) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.Error, OSError):
            pass
    return found


def _grade(tmp: Path, submissions: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    """``grade`` the folder as an instructor would (every assignment found in it)."""
    env = {**os.environ, **isolated_environment(tmp / "home", "smoke"), MARK_VARIABLE: str(tmp)}
    if DATA_DIR.is_dir():
        env["MTML_DATA_DIR"] = str(DATA_DIR)
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out),
               "--cell-timeout", str(CELL_TIMEOUT), "--student-timeout", "300", "--memory-mb", "1536",
               *options]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=3000)


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def _grade_cases(tmp: Path, submissions: Path, assignment: str, cases: dict[str, Case],
                 jobs: int = 2) -> dict:
    """Hand in every case as its own student's ``assignment`` and grade the batch with ``jobs`` jobs."""
    for student, case in cases.items():
        folder = submissions / student / assignment
        folder.mkdir(parents=True)
        (folder / "notes.txt").write_text("my notes")
        if case.notebook is not None:
            (folder / f"{assignment}.ipynb").write_text(case.notebook, encoding="utf-8")
    started = time.monotonic()
    proc = _grade(tmp, submissions, tmp / "grades.csv", "--jobs", str(jobs))
    print(f"graded {len(cases)} submissions of {assignment} in {time.monotonic() - started:.1f} s")
    rows = _rows(tmp / "grades.csv") if (tmp / "grades.csv").exists() else {}
    return {"proc": proc, "rows": rows, "cases": cases, "run": str(tmp)}


def _unexpected_scores(graded: dict, full: float) -> list[str]:
    wrong = []
    for student, case in graded["cases"].items():
        row = graded["rows"].get(student)
        if (
            row is None
            or float(row["score"]) != case.expected
            or case.status not in row["status"]
            or float(row["max_score"]) != full
        ):
            wrong.append(
                f"{student}: expected {case.expected:g} ({case.status!r}), got "
                f"{row and row['score']} ({row and row['status']!r})"
            )
    return wrong


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("adversarial")
    submissions = tmp / "submitted"
    marker = f"{400 + os.getpid() % 1000}.{time.time_ns() % 983}"
    cases = build_cases(tmp, marker, submissions)
    # Three jobs: several cases wait out a cell timeout or a sleep without using the CPU, and a third job
    # fills the cores meanwhile (alone on the 2-core reference machine: 125 s against 164 s with two).
    return {**_grade_cases(tmp, submissions, ASSIGNMENT, cases, jobs=3), "marker": marker}


@pytest.mark.slow
def test_the_grader_survives_the_batch(adversarial: dict) -> None:
    proc = adversarial["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(adversarial["rows"]) == sorted(adversarial["cases"])


@pytest.mark.slow
def test_every_submission_gets_exactly_its_expected_score(adversarial: dict) -> None:
    wrong = _unexpected_scores(adversarial, FULL)
    assert not wrong, "\n".join(wrong) + "\n" + adversarial["proc"].stdout[-2000:]


@pytest.mark.slow
def test_no_kernel_trick_rescues_a_wrong_notebook_07(tmp_path: Path) -> None:
    """07's hidden tests compare tensors coming back from network code, and proto_loss runs with reference
    prototypes swapped into the kernel: none of the tricks turns a wrong answer there into points."""
    source = nbformat.read(source_notebook(COURSE_ROOT, ASSIGNMENT_07), as_version=4)
    cases = {"correct": Case(nbformat.writes(source), FULL_07),
             "wrong": Case(nbformat.writes(_with_answers(source, WRONG_07)), 0),
             **trick_cases(source, WRONG_07, SUBCLASSED_07, SNOOPED_07)}
    graded = _grade_cases(tmp_path, tmp_path / "submitted", ASSIGNMENT_07, cases)
    assert graded["proc"].returncode == 0, graded["proc"].stdout[-3000:] + graded["proc"].stderr[-3000:]
    wrong = _unexpected_scores(graded, FULL_07)
    assert not wrong, "\n".join(wrong) + "\n" + graded["proc"].stdout[-2000:]
    assert not _leftovers(graded["run"], "no sleep marker"), "nothing is left running"


@pytest.mark.slow
def test_nothing_is_left_running(adversarial: dict) -> None:
    deadline = time.monotonic() + 15
    while left := _leftovers(adversarial["run"], adversarial["marker"]):
        assert time.monotonic() < deadline, f"still running after grading: {left}"
        time.sleep(0.5)


@pytest.mark.slow
def test_the_same_grades_twice_and_from_every_back_end(tmp_path: Path) -> None:
    source = nbformat.read(source_notebook(COURSE_ROOT, ASSIGNMENT), as_version=4)
    submissions = tmp_path / "submitted"
    notebooks = {
        "alice": nbformat.writes(source),
        "bob": (COURSE_ROOT.parent / "notebooks" / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"),
        "carol": nbformat.writes(_with_answers(source, {"multitask_loss": WRONG["multitask_loss"]})),
    }
    for student, notebook in notebooks.items():
        folder = submissions / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{ASSIGNMENT}.ipynb").write_text(notebook, encoding="utf-8")
    # alice hands in a second assignment: two of her notebooks may be graded at the same time.
    second = "02_mtl_conditioning"
    (submissions / "alice" / second).mkdir()
    shutil.copy(source_notebook(COURSE_ROOT, second), submissions / "alice" / second / f"{second}.ipynb")
    outputs = {}
    for name, options in {
        "jobs1": ["--jobs", "1"],  # three gradings of the same batch: byte-identical grades twice over
        "jobs2": ["--jobs", "2"],
        "dask": ["--jobs", "2", "--scheduler"],
    }.items():
        out = tmp_path / f"{name}.csv"
        proc = _grade(tmp_path, submissions, out, *options)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        outputs[name] = out.read_bytes()
    with open(tmp_path / "jobs1.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    scores = {(row["student_id"], row["assignment"]): (row["score"], row["status"]) for row in rows}
    assert scores == {("alice", ASSIGNMENT): ("12", "ok"), ("alice", second): ("13", "ok"),
                      ("bob", ASSIGNMENT): ("0", "ok"), ("carol", ASSIGNMENT): ("10", "ok")}
    assert all(data == outputs["jobs1"] for data in outputs.values()), {
        k: v.decode() for k, v in outputs.items()
    }
