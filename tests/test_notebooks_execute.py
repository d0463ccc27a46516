"""Every instructor notebook runs top to bottom in the smoke profile, on real Omniglot and offline.

The instructor sources hold the solutions, so running them exercises every experiment and every test cell
(visible and hidden) the way a student's finished notebook would run.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import Future
from functools import partial
from pathlib import Path

import nbformat
import pytest
from conftest import selected_tests, side_by_side
from figure_audit import KERNEL_HOOK, KERNEL_REPORT, REPORT_MARKER
from nbclient import NotebookClient
from run_all import yield_cpu

from mtml_utils.effects import parse_line

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "autograder" / "source").glob("*/*.ipynb"))


def _uses_characters(source: Path) -> bool:
    """Notebooks on character images run on real Omniglot and on the offline glyphs; the others (synthetic
    data generated in the notebook) need no data files and run once."""
    return "load_characters" in source.read_text(encoding="utf-8")


CHARACTER_SOURCES = [s for s in SOURCES if _uses_characters(s)]
# Notebooks that read character images in `smoke` and `full` but not in `laptop` (06 skips its Omniglot
# section there and says so): both columns of their table come from the same computation, so their laptop
# run happens once, on the Omniglot column; a test checks that the two columns agree, and the laptop run
# that the notebook said it skipped the character images.
LAPTOP_WITHOUT_CHARACTERS = {"06_maml_hessian"}
SKIPPED_CHARACTERS = "skipped in this profile"
# Notebooks whose table states laptop numbers on Omniglot only: 07 compares learners on the Omniglot
# benchmark (its final exam, the official runs, exists only there). Offline it runs the same code on the
# glyphs, which the smoke run on the glyphs below covers; a second laptop run would add five minutes to every
# test run for numbers the notebook does not state.
LAPTOP_OMNIGLOT_ONLY = {"07_nonparametric_meta_learning"}
# (notebook, data): the runs whose laptop numbers the conclusion states, one table column each.
LAPTOP_RUNS = [(s, d) for s in SOURCES
               for d in (("none",) if s not in CHARACTER_SOURCES else
                         ("omniglot",) if s.stem in LAPTOP_WITHOUT_CHARACTERS | LAPTOP_OMNIGLOT_ONLY
                         else ("omniglot", "glyphs"))]


def test_there_are_notebooks_to_run():
    assert SOURCES, "no instructor notebooks found under autograder/source/"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_first_code_cell_installs_the_course_then_one_import_and_one_setup_call(source):
    """The install cell (nothing but a check where mtml_utils imports; tests/test_hosted_install.py runs it
    where it does not), then one import and one ``setup(seed=...)``."""
    nb = nbformat.read(source, as_version=4)
    install, first = [c for c in nb.cells if c.cell_type == "code"][:2]
    guard = ast.parse(install.source).body
    assert [type(node) for node in guard] == [ast.Import, ast.If], (
        f"{source.name}: the first code cell must be the install cell (tests/test_hosted_install.py)")
    assert ast.unparse(guard[1].test) == "importlib.util.find_spec('mtml_utils') is None"
    assert "nbgrader" not in install.metadata, f"{source.name}: the install cell is no nbgrader cell"
    tree = ast.parse(first.source)
    assert len(tree.body) == 2, f"{source.name}: the second code cell must be one import and one setup(...)"
    imp, call = tree.body
    assert isinstance(imp, ast.Import) and imp.names[0].name == "mtml_utils"
    assert "setup(seed=" in ast.unparse(call)


def _execute(source: Path, data_dir: Path, tmp_path: Path, profile: str = "smoke",
             audit_figures: bool = False) -> nbformat.NotebookNode:
    nb = nbformat.read(source, as_version=4)
    if audit_figures:  # see tests/figure_audit.py: every figure shown is checked as it is drawn
        nb.cells.insert(0, nbformat.v4.new_code_cell(KERNEL_HOOK))
        nb.cells.append(nbformat.v4.new_code_cell(KERNEL_REPORT))
    env = {
        "MTML_PROFILE": profile,
        "MTML_DATA_DIR": str(data_dir),
        "MTML_OFFLINE": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # figures land in the outputs, headless
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    # Per cell: a guard against hangs, not a time budget (benchmarks/time_notebooks.py measures those). A
    # laptop training cell takes two minutes on the fast 2-core machines and several times that on slow ones,
    # and in make test it yields the CPU to the other tests (below) until they are done.
    client = NotebookClient(nb, timeout=300 if profile == "smoke" else 3600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    if profile != "smoke":  # minutes of computation: on what the other tests leave idle (tests/run_all.py)
        client.on_notebook_start = lambda **_: yield_cpu(client.km.provisioner.pid)
    client.execute(env={**os.environ, **env})  # raises CellExecutionError on the first failing cell
    return nb


def _stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream" and o.name == "stdout")


def _figures(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


# Notebooks whose laptop run reads the glyphs already run offline on them there (and that test checks what
# this one checks); a second, smoke run on the glyphs would only repeat that path at a smaller size.
GLYPHS_ONLY_IN_SMOKE = [s for s in CHARACTER_SOURCES if (s, "glyphs") not in LAPTOP_RUNS]
GLYPH_NOTICE = "without Omniglot files the notebook says it uses the glyphs"
# The smoke runs of the two tests below start up front, this many at a time: a kernel runs its cells one after
# another on one torch thread, so one run keeps about one core busy (one after another they took 77 s on the
# 2-core reference machine, at about one core).
SMOKE_RUNS_AT_ONCE = 2
SMOKE_TESTS = {"test_notebook_runs_on_real_omniglot": "omniglot",
               "test_notebook_runs_offline_on_generated_glyphs": "glyphs"}


@pytest.fixture(scope="module")
def smoke_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[dict[tuple[str, str], Future]]:
    """The smoke runs the selected tests read, ``(data, notebook) -> Future`` of the executed notebook
    (``data``: "omniglot", with the figure audit, or "glyphs"), the later (longer) notebooks first."""
    wanted = sorted({(SMOKE_TESTS[item.originalname], item.callspec.params["source"])
                     for item in selected_tests(request) if item.originalname in SMOKE_TESTS},
                    key=lambda run: (run[1].stem, run[0]), reverse=True)
    folders = {}
    for data in {data for data, _ in wanted}:
        try:
            folders[data] = (request.getfixturevalue("omniglot_data_dir") if data == "omniglot"
                             else request.getfixturevalue("default_glyphs").data_dir)
        except pytest.skip.Exception:  # no Omniglot files: its tests skip on their own fixture
            pass
    calls = {(data, source.stem): partial(_execute, source, folders[data],
                                          tmp_path_factory.mktemp(f"smoke-{data}-{source.stem}"),
                                          audit_figures=data == "omniglot")
             for data, source in wanted if data in folders}
    with side_by_side(calls, SMOKE_RUNS_AT_ONCE) as futures:
        yield futures


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_on_real_omniglot(source, omniglot_data_dir, smoke_runs):
    nb = smoke_runs[("omniglot", source.stem)].result()
    out = _stdout(nb)
    assert "profile smoke" in out
    if source in CHARACTER_SOURCES:
        assert "Omniglot" in out and "glyph" not in out.lower(), "with the files present, Omniglot is used"
    assert _figures(nb) >= 3, "the experiments draw their plots"
    report = next(line for line in out.splitlines() if line.startswith(REPORT_MARKER))
    assert json.loads(report[len(REPORT_MARKER):]) == [], "figures without a title or an axis label"


@pytest.mark.slow
@pytest.mark.parametrize("source", GLYPHS_ONLY_IN_SMOKE, ids=lambda p: p.stem)
def test_notebook_runs_offline_on_generated_glyphs(source, default_glyphs, smoke_runs):
    nb = smoke_runs[("glyphs", source.stem)].result()
    assert "glyph" in _stdout(nb).lower(), GLYPH_NOTICE


# What each notebook's prose concludes, as orderings of the numbers its last cell prints: (a, op, b) with op
# "<" or ">" and b a printed name or a number. The laptop test below checks them on its fresh run, so the
# words cannot drift from the figures even within the ±TOLERANCE that the table allows.
CLAIMS: dict[str, list[tuple[str, str, str | float]]] = {
    "01_task_definition": [
        ("shared, z at the output", ">", "shared, z at the input"),
        ("union of attributes, with z", ">", "union of attributes, without z"),
        ("classification accuracy, weighted", ">", "classification accuracy, plain sum"),
    ],
    "02_mtl_conditioning": [
        ("toy lines: unexplained variance, FiLM", "<", "toy lines: unexplained variance, concat"),
        ("regression test MSE/var, additive", "<", "regression test MSE/var, separate"),
        ("regression test MSE/var, FiLM", "<", "regression test MSE/var, separate"),
        ("regression test MSE/var, FiLM", "<", "regression test MSE/var, MMoE"),
        ("engagement AUC, MMoE, conflicting", ">", "engagement AUC, shared-bottom, conflicting"),
        ("engagement AUC, shared-bottom, aligned", ">", "engagement AUC, MMoE, aligned"),
        ("gate overlap of the objectives, conflicting", "<", "gate overlap of the objectives, aligned"),
        ("experts' share on engagement's inputs, conflicting", "<", 0.5),
        ("top weight per input, engagement, gates x100", ">",
         "top weight per input, engagement, gates x1 (section 5)"),
        ("engagement AUC, MMoE, conflicting", ">", "engagement AUC, MMoE, gates x100"),
        ("top weight per input, engagement, gates x100 + dropout", ">", 0.9),
        ("top weight per input, satisfaction, gates x100 + dropout", ">",
         "top weight per input, satisfaction, gates x100"),
    ],
    "03_negative_transfer": [
        ("small: shared_bottom, p=0.0", ">", "small: shared_bottom, p=1.0"),
        ("equal: mmoe, p=0.0", "<", "equal: omoe, p=0.0"),
        ("soft sharing n=30: lambda=10, p=1.0", "<", "soft sharing n=30: separate, p=1.0"),
        ("soft sharing n=30: lambda=10, p=0.0", ">", "soft sharing n=30: separate, p=0.0"),
        ("gradient cosine, p=1 (mean over training)", ">", 0.0),
        ("gradient cosine, p=0 (mean over training)", "<", 0.0),
        ("conflicting steps, p=0 (fraction)", ">", 0.5),
        ("surgery p = -0.9, SGD: task 1, PCGrad", "<", "surgery p = -0.9, SGD: task 1, plain sum"),
        ("weighting: task 1 MSE, scale-normalised", "<", "weighting: task 1 MSE, plain sum"),
        ("weighting: worst MSE, min-max", "<", "weighting: worst MSE, plain sum"),
        ("weighting: worst MSE, min-max", "<", "weighting: worst MSE, uncertainty"),
    ],
    "04_fine_tuning": [
        ("fine-tuning, k=1", ">", "scratch, k=1"),
        ("fine-tuning, k=5", ">", "scratch, k=5"),
        ("fine-tuning minus scratch, k=1", ">", "fine-tuning minus scratch, k=19"),
        ("fine-tuning minus scratch, k=2", ">", "fine-tuning minus scratch, k=10"),
        ("linear probe, k=1", ">", "scratch, k=1"),
        ("linear probe, k=10", "<", "fine-tuning, k=10"),
        ("plain encoder, fine-tuning: distortion upright", ">",
         "plain encoder, fine-tuning: distortion rotated"),
        ("plain encoder, LP-FT: distortion upright", "<", "plain encoder, fine-tuning: distortion upright"),
        ("plain encoder, LP-FT: distortion rotated", "<", "plain encoder, fine-tuning: distortion rotated"),
        ("plain encoder, linear probe: accuracy rotated", "<",
         "plain encoder, linear probe: accuracy upright"),
        ("rotation-aware encoder, linear probe: accuracy rotated", ">",
         "plain encoder, linear probe: accuracy rotated"),
        ("no shift: untuned", ">", 0.5),
        ("inverted images: untuned", "<", 0.2),
        ("rotated drawings: untuned", "<", 0.5),
        ("permuted labels: untuned", "<", 0.2),
        ("inverted images: tune block2", ">", "inverted images: tune head"),
        ("inverted images: tune block2", ">", "inverted images: tune block4"),
        ("inverted images: tune block2", ">", "inverted images: tune block1"),
        ("rotated drawings: tune block3", ">", "rotated drawings: tune block1"),
        ("rotated drawings: tune block4", ">", "rotated drawings: tune block2"),
        ("permuted labels: tune head", ">", "permuted labels: tune block2"),
        ("permuted labels: tune block4", ">", "permuted labels: tune block1"),
        ("inverted images, block1 exact fix: accuracy", ">", "inverted images, block1 tuned: accuracy"),
        ("inverted images, block1 tuned 5x longer: accuracy", ">", "inverted images, block1 tuned: accuracy"),
        ("inverted images, block1 exact fix: moved", ">", "inverted images, block1 tuned: moved"),
        ("inverted images, block1 exact fix, border padded: accuracy", ">",
         "inverted images, block1 exact fix: accuracy"),
    ],
    "05_blackbox_meta_learning": [
        ("LSTM, 2-way 1-shot", ">", 0.80),
        ("LSTM, 3-way 1-shot", ">", 0.65),
        ("transformer, 3-way 1-shot", ">", 0.70),
        ("transformer, 5-way 1-shot", ">", 0.55),
        ("grid: transformer, N=5 K=5", ">", "grid: transformer, N=5 K=1"),
        ("grid: transformer, N=2 K=1", ">", "grid: transformer, N=5 K=1"),
        ("20-way one-shot error, transformer (meta-learned)", "<",
         "20-way one-shot error, nearest neighbour (pixels)"),
    ],
    "06_maml_hessian": [  # within 25 % of Finn et al.'s 0.67 / 0.38 / 0.35, the baseline at least 5x worse
        ("MAML, K=5: MSE after 1 steps", "<", 1.25 * 0.67),
        ("MAML, K=5: MSE after 5 steps", "<", 1.25 * 0.38),
        ("MAML, K=5: MSE after 10 steps", "<", 1.25 * 0.35),
        ("pre-trained / MAML, K=5, after 10 steps", ">", 5.0),
        ("MAML, K=5: MSE after 0 steps", ">", "MAML, K=5: MSE after 1 steps"),
        ("MAML, K=10: MSE after 1 steps", "<", "MAML, K=5: MSE after 1 steps"),
        ("MAML: tasks in their region after 10 steps", ">",
         "pre-trained: tasks in their region after 10 steps"),
        ("second order (250 meta-steps): MSE after 1 step", "<",
         "first order (250 meta-steps): MSE after 1 step"),
        ("second order (1000 meta-steps): MSE after 1 step", "<",
         "first order (1000 meta-steps): MSE after 1 step"),
        ("second order, 8 inner steps: MB held", ">", "second order, 1 inner steps: MB held"),
        ("first order, 8 inner steps: MB held", "<", "second order, 8 inner steps: MB held"),
    ],
    # The course's target is at most 20 % error on the official runs (measured: 18.8 %, seeds 15.5 / 21.0 /
    # 20.0); the test allows 25 %: another CPU's rounding moves the mean of three seeds by a point or two.
    "07_nonparametric_meta_learning": [
        ("20-way one-shot error, prototypical network", "<", 0.25),
        ("20-way one-shot error, prototypical network", "<",
         "20-way one-shot error, nearest neighbour (pixels)"),
        ("5-way 1-shot accuracy, prototypical network", ">", "5-way 1-shot accuracy, black box"),
        ("memory per episode (MB), MAML (second order)", ">", "memory per episode (MB), MAML (first order)"),
    ],
}


# The effects each notebook names in its prose, measured over seeds (mtml_utils.effects): in ``laptop`` each
# one must be printed by the run and hold (the ordering on every seed, or the mean difference beyond 2 SE,
# >= 3 seeds). Every other effect line the notebook prints must hold too.
EFFECTS: dict[str, list[str]] = {
    "02_mtl_conditioning": [
        "MMoE gains more over shared-bottom on engagement AUC when objectives conflict",
        "MMoE beats shared-bottom on engagement AUC, conflicting",
        "shared-bottom beats MMoE on engagement AUC, aligned",
        "conflicting objectives share fewer experts",
        "conflicting: the experts read satisfaction's features more than engagement's",
        "conflicting: the engagement gate leans towards the experts that read its features",
        "gates x100 polarise the engagement gate (top weight per input above gates x1 (section 5))",
        "gates x10 polarise the engagement gate (top weight per input above gates x1 (section 5))",
        "polarised gates cost engagement AUC (gates x1 (section 5) above gates x100)",
        "polarised gates cost rating correlation (gates x1 (section 5) above gates x100)",
        "gates x10 cost engagement AUC (gates x1 (section 5) above x10)",
        "gates x100: no one expert serves every input (engagement, largest usage < 0.9)",
        "gates x100: no one expert serves every input (satisfaction, largest usage < 0.9)",
        "gate dropout 0.1 leaves the gates x100 engagement gate polarised (top weight > 0.9)",
        "gate dropout 0.1 polarises the gates x100 satisfaction gate further",
        "gate dropout 0.1 lowers the rating correlation of gates x100",
    ],
    "03_negative_transfer": [
        "small size: the shared bottom loses more from p=1 to p=0 than separate networks",
        "equal size, p=0: MMoE below shared-bottom",
        "equal size, p=0: MMoE below OMoE",
        "equal size: MMoE's edge over OMoE grows from p=1 to p=0",
        "equal size: the shared bottom splits its units between the tasks more at p=0 than at p=1",
        "n=30, identical tasks: strong coupling beats separate networks",
        "n=30, unrelated tasks: strong coupling loses to separate networks",
        "n=30: the best lambda is larger for identical than for unrelated tasks",
        "identical tasks: the mean gradient cosine is positive",
        "unrelated tasks: more than half of the steps conflict",
        "the mean cosine is lower for unrelated than for identical tasks",
        "SGD, conflicting tasks: PCGrad lowers the small task's error",
        "scale normalisation lowers the smaller-scale task's error",
        "min-max weighting lowers the worst task's error",
    ],
    "04_fine_tuning": [
        "fine-tuning beats scratch with k=1",
        "the linear probe beats scratch with k=1",
        "LP-FT beats scratch with k=1",
        "tuning the last block beats scratch with k=1",
        "fine-tuning moves the features of upright test drawings more than of rotated ones",
        "LP-FT moves the features of upright test drawings less than fine-tuning",
        "LP-FT moves the features of rotated test drawings less than fine-tuning",
        "rotation-aware encoder: LP-FT moves upright features less than fine-tuning",
        "rotation-aware encoder: fine-tuning moves upright features more than rotated ones",
        "rotation-aware pre-training raises the linear probe's accuracy on rotated drawings",
        "rotation-aware encoder: fine-tuning loses more accuracy on rotated drawings than the linear probe",
        "inverted images: tuning block2 beats tuning block1",
        "inverted images: tuning block2 beats tuning the head",
        "rotated drawings: tuning block3 beats tuning block1",
        "rotated drawings: tuning block4 beats tuning block2",
        "permuted labels: tuning the head beats tuning block2",
        "permuted labels: tuning block4 beats tuning block1",
        "inverted images: the exact fix in block1 beats block1 tuned",
        "inverted images: padding the border with background completes the exact fix",
        "inverted images: block1 tuned 5x longer beats block1 tuned",
        "inverted images: the exact fix lies farther than tuning moved block1",
    ],
    # 05 prints one more with the Omniglot files only (the 20-way exam), checked as every printed effect is.
    "05_blackbox_meta_learning": [
        "the 2-way LSTM answers held-out queries above chance",
        "the 3-way LSTM answers held-out queries above chance",
        "the transformer answers held-out 5-way queries above chance",
        "the 3-way LSTM scores higher on meta-training episodes than on the held-out alphabet",
        "the transformer uses more shots than it was meta-trained on (5-way: K=5 above K=1)",
        "the transformer's accuracy falls with N (1-shot: 2-way above 5-way)",
    ],
    "06_maml_hessian": [
        "second order below first order after 250 meta-steps (MSE after 1 step)",
        "second order below first order after 1000 meta-steps (MSE after 1 step)",
        "MAML (1000 meta-steps) beats pre-training (1000 steps) after 10 steps",
    ],
    "07_nonparametric_meta_learning": [
        "5-way 1-shot: the prototypical network above the black box",
        "5-way 1-shot: MAML above the black box",
        "5-way 1-shot: the prototypical network above MAML",
        "the prototypical network gains from 5 shots over 1",
        "MAML gains from 5 shots over 1",
        "5-way 1-shot: the prototypical network above pixel nearest neighbour",
        "MAML takes longer to adapt to an episode than the prototypical network",
        "20-way runs: the prototypical network errs less than pixel nearest neighbour",
        "20-way runs: the prototypical network errs less than the black box",
    ],
}
MIN_SEEDS = 3


def _effect_failures(out: str, required: list[str]) -> list[str]:
    effects = [e for line in out.splitlines() if (e := parse_line(line))]
    names = {e["name"] for e in effects}
    failures = [f"not printed: {name!r}" for name in required if name not in names]
    failures += [f"{e['name']!r}: {e['wins']}/{e['n']} seeds, diff {e['mean']:+.3f} ± {e['se']:.3f} SE"
                 for e in effects if not e["holds"] or e["n"] < MIN_SEEDS]
    return failures


def _broken_claims(claims, measured: dict[str, float]) -> list[str]:
    broken = []
    for a, op, b in claims:
        right = measured[b] if isinstance(b, str) else b
        holds = measured[a] < right if op == "<" else measured[a] > right
        if not holds:
            broken.append(f"{a} ({measured[a]:.3f}) {op} {b} ({right:.3f})")
    return broken


RESULT_LINE = re.compile(r"^(?P<name>\S.*?)\s{2,}(?P<value>-?\d+\.\d{3})$")
TOLERANCE = 0.05
# 04 fine-tunes on small tasks (10 classes, 1-19 drawings each, 3 tasks per row), and training amplifies
# the rounding differences between CPUs' floating-point kernels: its laptop run on an AVX-512 Xeon moved rows
# by up to 0.073 from the figures measured on an AMD EPYC (0.067 on Omniglot, 0.073 on the glyphs; every
# ordering and effect held on both). Its table gives one figure per row, checked within this wider tolerance.
TOLERANCE_BY_NOTEBOOK = {"04_fine_tuning": 0.10}


NOT_APPLICABLE = "—"  # a table cell saying the result does not exist with this data (e.g. offline)
FIGURE = re.compile(r"-?[\d.]+")  # a table cell the laptop test compares with its run


def _stated_cells(nb: nbformat.NotebookNode, column: int) -> dict[str, str]:
    """One column of the results table in the conclusion: ``| name | Omniglot | glyphs |`` (column 1 or 2),
    or ``| name | value |`` for a notebook on synthetic data (column 1), as text."""
    conclusion = "".join(c.source for c in nb.cells if c.cell_type == "markdown" and "| result |" in c.source)
    rows = [line.strip().strip("|").split("|") for line in conclusion.splitlines() if line.startswith("| ")]
    return {r[0].strip(): r[column].strip() for r in rows[1:] if len(r) > column}


def _stated_results(nb: nbformat.NotebookNode, column: int) -> dict[str, float]:
    """The numbers of one column of the results table (see _stated_cells)."""
    cells = _stated_cells(nb, column)
    return {name: float(value) for name, value in cells.items() if FIGURE.fullmatch(value)}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_figure_of_the_laptop_table_is_checked(source):
    """A cell of the conclusion's table is a figure the laptop test compares with its run, or "—" (cannot be
    measured with that data): a range or a word would be a figure no test checks."""
    table = nbformat.read(source, as_version=4)
    columns = [1, 2] if source in CHARACTER_SOURCES else [1]
    unchecked = {(name, text) for column in columns for name, text in _stated_cells(table, column).items()
                 if not FIGURE.fullmatch(text) and text != NOT_APPLICABLE}
    assert _stated_cells(table, 1), f"{source.stem}: no '| result | ...' table of laptop-profile numbers"
    assert not unchecked, f"{source.stem}: cells neither a figure nor {NOT_APPLICABLE!r}: {unchecked}"


@pytest.mark.parametrize("name", sorted(LAPTOP_WITHOUT_CHARACTERS))
def test_laptop_columns_agree_where_laptop_reads_no_characters(name):
    source = next(s for s in CHARACTER_SOURCES if s.stem == name)
    table = nbformat.read(source, as_version=4)
    omniglot, glyphs = _stated_cells(table, 1), _stated_cells(table, 2)
    assert omniglot and omniglot == glyphs, f"{name}: its laptop run reads no character images, so both " \
        "columns of its table must be the same numbers (its laptop test runs once)"


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize(("source", "data"), LAPTOP_RUNS, ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_laptop_numbers_in_the_conclusion_are_reproduced(source, data, request, tmp_path):
    """The conclusion's table: column 1 measured on real Omniglot, column 2 offline on the glyph alphabets;
    a notebook on synthetic data has one column and runs with an empty data folder. The orderings in
    CLAIMS must hold on the fresh run too."""
    column = {"omniglot": 1, "glyphs": 2, "none": 1}[data]
    table = nbformat.read(source, as_version=4)
    stated = _stated_results(table, column)
    absent = {name for name, text in _stated_cells(table, column).items() if text == NOT_APPLICABLE}
    assert stated, f"{source.name}: its conclusion has no '| result | ...' table of laptop-profile numbers"
    if data == "none":
        data_dir = tmp_path / "no-data"
        data_dir.mkdir()
    else:
        data_dir = (request.getfixturevalue("omniglot_data_dir") if data == "omniglot"
                    else request.getfixturevalue("default_glyphs").data_dir)
    nb = _execute(source, data_dir, tmp_path, profile="laptop")
    if source.stem in LAPTOP_WITHOUT_CHARACTERS:
        assert SKIPPED_CHARACTERS in _stdout(nb), f"{source.stem} read character images in laptop after all"
    if data == "glyphs":
        assert "glyph" in _stdout(nb).lower(), GLYPH_NOTICE
    measured = {m["name"]: float(m["value"]) for line in _stdout(nb).splitlines()
                if (m := RESULT_LINE.match(line.strip()))}
    assert "profile laptop" in _stdout(nb)
    missing = sorted(set(stated) - set(measured))
    assert not missing, f"the notebook no longer prints {missing}"
    claims = CLAIMS.get(source.stem, [])
    assert claims, f"CLAIMS lists none of the orderings {source.stem}'s conclusion states"
    present = sorted(absent & set(measured))
    assert not present, f"the table says {present} cannot be measured on {data} data, yet the run prints them"
    # An ordering about a result the table marks as not measurable with this data is not checked on this run.
    applicable = [c for c in claims if not {c[0], c[2]} & absent]
    assert applicable, f"none of {source.stem}'s orderings applies to a run on {data} data"
    failed_effects = _effect_failures(_stdout(nb), EFFECTS.get(source.stem, []))
    assert not failed_effects, f"effects the notebook claims but its run does not show: {failed_effects}"
    broken = _broken_claims(applicable, measured)
    assert not broken, f"the conclusion's prose no longer matches the figures: {broken}"
    tolerance = TOLERANCE_BY_NOTEBOOK.get(source.stem, TOLERANCE)
    off = {k: (stated[k], round(measured[k], 3)) for k in stated if abs(stated[k] - measured[k]) > tolerance}
    assert not off, (
        f"laptop results moved more than {tolerance} from the conclusion "
        f"(stated, measured): {off}"
    )
