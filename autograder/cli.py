"""The ``python -m autograder`` command line: ``release``, ``check``, ``collect``, ``grade``, ``feedback``,
``gradescope`` and ``dist``.

Exit codes: 0 success, 1 failed (``check``: a visible test fails; ``release``/``grade``: the
grader itself failed; ``dist``: a solution line would ship), 2 bad usage (the message says what was
expected; nothing was changed).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from autograder import COURSE_ROOT
from autograder.check import DEFAULT_CELL_TIMEOUT
from autograder.course import SOURCE_DIR
from autograder.errors import Stopped, UsageError
from autograder.grade import DEFAULT_MEMORY_MB, DEFAULT_STUDENT_TIMEOUT

DESCRIPTION = """\
Autograder of the multi-task and meta-learning course (nbgrader underneath).

  release   regenerate the student notebooks in notebooks/ from autograder/source/
  check     self-check one student notebook: run it and report each visible test with its points
  collect   unpack an LMS download (a zip of the class's notebooks) into the layout grade reads
  grade     autograde a folder of submissions (hidden tests included) and write grades.csv
  feedback  grade, and write each student's HTML feedback (tests, points, one-line reasons)
  gradescope  write a Gradescope autograder zip for one assignment (setup.sh, run_autograder, the course)
  dist      write the student distribution (what a class clones: no solutions, no hidden tests)

Run `python -m autograder COMMAND --help` for the options of a command.
Exit codes: 0 success; 1 check found failing tests, or the grader itself failed; 2 bad usage."""

RELEASE_HELP = """\
Regenerate notebooks/<assignment>.ipynb from autograder/source/<assignment>/<assignment>.ipynb with
nbgrader's generate_assignment: solutions become `# YOUR CODE HERE`, hidden tests disappear, nbgrader
metadata stays (check and grade need it). Runs in a temporary copy of the course, so a stale gradebook
cannot interfere; the same sources always give byte-identical notebooks. Never edit notebooks/ by hand."""

CHECK_HELP = """\
Run a student notebook top to bottom in a fresh kernel (working directory: the notebook's folder;
MTML_PROFILE=smoke unless --profile says otherwise; no downloads) and print PASS or FAIL for every
visible test with its points. The notebook file is not modified. A warning printed by a test is not a
failure. Exit 0 iff every visible test passes. Hidden tests only run when the notebook is graded."""

GRADE_HELP = """\
Autograde every submission under SUBMISSIONS/<student_id>/<assignment>/<assignment>.ipynb (nbgrader's
submitted/ layout), hidden tests included, each student in a process of its own with its kernel in a
sandbox (no network, instructor files hidden, limits; see autograder/README.md); hidden tests decide in
the grader, not in the student's kernel. Whatever a submission started is killed when its grading ends.
A submission that breaks grading (invalid notebook, dead kernel,
whole-notebook timeout, a grader error on that submission) gets 0 with a reason and the batch goes on;
a cell that runs past --cell-timeout is interrupted and the rest still runs; a kernel that does not answer
the interrupt within --interrupt-grace seconds is killed, and that cell and the rest of its notebook score
0 (the status says so). Prints a table and writes a CSV: student_id,assignment,score,max_score, one column
per graded cell, status. --student ID (repeatable) regrades only those students: their rows replace theirs
in an existing --out file and every other row stays as it was. --jobs N grades N students at once on this
machine; --scheduler sends them to a Dask cluster (a local one without ADDRESS). Ctrl-C, SIGTERM and
SIGHUP stop the batch: nothing is written, no kernel or grading process is left running, exit 130, 143
or 129 (128 + the signal). Exit 0 when grading ran (whatever the scores), 1 when the grader itself failed."""

COLLECT_HELP = """\
Unpack the zip your LMS exported for one assignment (Canvas: Download Submissions; Moodle: Download all
submissions; a zip of <student>_<anything>.ipynb files or of <student>_<anything>/ folders) into
OUT/<student_id>/<assignment>/<assignment>.ipynb, the layout `grade` reads. The student id is found in each
file's path with --pattern (default: what comes before the first underscore of the first path part that
has one). Every file left out is listed with the reason: not a notebook, no student id, a student with
several notebooks (none of them is placed), a notebook already in OUT (--force replaces it). Exit 0 when
the archive was read, 2 on bad input."""

DIST_HELP = """\
Write the student distribution into OUT, a folder outside this checkout that a class can clone (commit it
to the public student repository): notebooks/, mtml_utils/, data/README.md, the Makefile, pyproject.toml,
constraints.txt, environment.yml, .gitignore, the autograder modules that `check` and the Check my work
button need, and a student README and test suite (from autograder/student/). Never autograder/source/:
no solution and no hidden test. Files come from `git ls-files` as they are in the working tree, so run
`make release` first. Before writing, every shipped file is searched for every line of every solution and
grading.py; a hit writes nothing and exits 1. OUT must be new or empty; --force replaces a previous
distribution in OUT (everything but its .git folder, so the student repository keeps its history)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m autograder``.

    Example:
        >>> build_parser().parse_args(["check", "nb.ipynb"]).profile
        'smoke'
    """
    parser = argparse.ArgumentParser(prog="python -m autograder", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    course = argparse.ArgumentParser(add_help=False)
    course.add_argument("--course", type=Path, default=COURSE_ROOT, metavar="DIR",
                        help="nbgrader course root holding nbgrader_config.py and source/ "
                             "(default: the autograder package folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    release = sub.add_parser("release", parents=[course], help="regenerate notebooks/ from the sources",
                             description=RELEASE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                         help="assignments to release (default: every one under source/)")
    release.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                         help="where the student notebooks go (default: notebooks/ beside the course root)")

    check = sub.add_parser("check", help="self-check one student notebook", description=CHECK_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("notebook", type=Path, metavar="NOTEBOOK", help="the .ipynb file to check")
    check.add_argument("--profile", default="smoke", choices=["smoke", "laptop", "full"],
                       help="MTML_PROFILE for the run (default: smoke, seconds per cell)")
    check.add_argument("--cell-timeout", type=_positive_int, default=DEFAULT_CELL_TIMEOUT, metavar="S",
                       help=f"seconds before a running cell is interrupted (default: {DEFAULT_CELL_TIMEOUT}, "
                            "as in grading)")
    check.add_argument("--hints", action="store_true",
                       help="print the hints of each failing test's exercise under it (never a solution)")

    collect = sub.add_parser("collect", parents=[course], help="unpack an LMS download into submissions/",
                             description=COLLECT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    collect.add_argument("archive", type=Path, metavar="ZIP", help="the zip exported by the LMS")
    collect.add_argument("--assignment", required=True, metavar="A",
                         help="the assignment the notebooks belong to (e.g. 01_task_definition)")
    collect.add_argument("--out", type=Path, default=Path("submitted"), metavar="DIR",
                         help="the submissions folder to fill (default: submitted/)")
    collect.add_argument("--pattern", default=None, metavar="REGEX",
                         help="regular expression with a (?P<student_id>...) group, searched in each part "
                              "of a file's path")
    collect.add_argument("--force", action="store_true", help="replace notebooks already in --out")

    grade = sub.add_parser("grade", parents=[course], help="autograde a folder of submissions",
                           description=GRADE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                       help="folder holding <student_id>/<assignment>/<assignment>.ipynb")
    grade.add_argument("--assignment", default=None, metavar="A",
                       help="grade only this assignment (default: every assignment found)")
    grade.add_argument("--student", action="append", default=None, metavar="ID",
                       help="grade only this student (repeat for more): a regrade whose rows replace "
                            "theirs in an existing --out file, every other row kept as it was")
    grade.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                       help="students graded in parallel processes (default: 1)")
    grade.add_argument("--out", type=Path, default=Path("grades.csv"), metavar="CSV",
                       help="where to write the grades (default: grades.csv)")
    grade.add_argument("--cell-timeout", type=_positive_int, default=None, metavar="S",
                       help="seconds before a running cell is interrupted (default: c.Execute.timeout in the "
                            f"course's nbgrader_config.py, {DEFAULT_CELL_TIMEOUT} in the shipped course)")
    grade.add_argument("--interrupt-grace", type=_positive_int, default=None, metavar="S",
                       help="seconds an interrupted cell gets to answer before its kernel is killed and the "
                            "rest of the notebook scores 0 (default: c.TrustedExecute.interrupt_grace in the "
                            "course's nbgrader_config.py, 30 in the shipped course)")
    grade.add_argument("--student-timeout", type=_positive_int, default=DEFAULT_STUDENT_TIMEOUT, metavar="S",
                       help="seconds for one student's whole notebook before it scores 0 "
                            f"(default: {DEFAULT_STUDENT_TIMEOUT})")
    grade.add_argument("--profile", default="smoke", choices=["smoke", "laptop", "full"],
                       help="MTML_PROFILE for grading (default: smoke)")
    grade.add_argument("--logs", type=Path, default=None, metavar="DIR",
                       help="keep each student's nbgrader log here (instructors only)")
    grade.add_argument("--scheduler", nargs="?", const="local", default=None, metavar="ADDRESS",
                       help="grade on a Dask cluster: its scheduler address (tcp://host:8786), or no "
                            "address for a local cluster of --jobs workers")
    grade.add_argument("--memory-mb", type=_positive_int, default=DEFAULT_MEMORY_MB, metavar="MB",
                       help=f"memory limit of each kernel process (default: {DEFAULT_MEMORY_MB})")
    grade.add_argument("--feedback", type=Path, default=None, metavar="DIR",
                       help="write DIR/<student_id>/<assignment>.html for every submission")
    feedback = sub.add_parser(
        "feedback", parents=[grade], add_help=False, help="grade and write HTML feedback per student",
        description="Like grade, and write each student's feedback page (tests, points, pass or fail, "
                    "one-line reason; never hidden test code or reference values) to --feedback DIR "
                    "(default: feedback/). A submission graded into --out by an earlier run, unchanged "
                    "since (same files, course and options), is not graded again: its row and reasons are "
                    "reused; new or changed ones are graded and merged in. --regrade grades everything.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    feedback.add_argument("--regrade", action="store_true",
                          help="grade every submission again instead of reusing the last run's results")

    gradescope = sub.add_parser(
        "gradescope", parents=[course], help="write a Gradescope autograder zip for one assignment",
        description="Write the zip to upload as a Gradescope programming assignment's autograder: setup.sh "
                    "and run_autograder at its root, and the course as git tracks it with this assignment's "
                    "hidden tests (keep the zip to instructors). run_autograder grades the uploaded notebook "
                    "with this grader and writes results/results.json in Gradescope's schema (score, and per "
                    "graded cell: name, score, max_score, status, the one-line reason).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    gradescope.add_argument("assignment", metavar="ASSIGNMENT", help="e.g. 01_task_definition")
    gradescope.add_argument("--out", type=Path, default=Path("autograder.zip"), metavar="ZIP",
                            help="the zip to write (default: autograder.zip)")

    dist = sub.add_parser("dist", parents=[course], help="write the student distribution",
                          description=DIST_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    dist.add_argument("out", type=Path, metavar="OUT", help="the folder to write (outside this checkout)")
    dist.add_argument("--force", action="store_true",
                      help="replace the previous distribution in OUT (its .git folder is kept)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Example:
        >>> main(["check", "missing.ipynb"])  # doctest: +SKIP
        2
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command != "check":
            _require_sources(Path(args.course))
        if args.command == "release":
            return _release(args)
        if args.command == "check":
            return _check(args)
        if args.command == "dist":
            return _dist(args)
        if args.command == "collect":
            return _collect(args)
        if args.command == "gradescope":
            return _gradescope(args)
        return _grade(args)  # grade and feedback
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        signum = err.signum if isinstance(err, Stopped) else signal.SIGINT
        print(f"interrupted ({signal.Signals(signum).name}): nothing was written", file=sys.stderr)
        return 128 + signum


def _require_sources(course: Path) -> None:
    """Instructor commands need ``source/``; the students' copy of the course has none."""
    if not (course / SOURCE_DIR).is_dir():
        raise UsageError(
            f"No instructor sources at {course / SOURCE_DIR}: `release`, `grade`, `feedback` and `dist` need "
            "the instructor repository (this looks like the students' copy of the course, which has none). "
            "Students check their work with `python -m autograder check NOTEBOOK` (make check NB=...)."
        )


def _release(args: argparse.Namespace) -> int:
    from autograder.release import ReleaseError, release_notebooks

    out_dir = args.out_dir or Path(args.course).parent / "notebooks"
    try:
        written = release_notebooks(args.course, out_dir, args.assignments or None)
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from autograder.check import check_notebook

    outcomes = check_notebook(args.notebook, profile=args.profile, cell_timeout=args.cell_timeout,
                              hints=args.hints)
    return 0 if all(o.passed for o in outcomes) else 1


def _collect(args: argparse.Namespace) -> int:
    from autograder.collect import DEFAULT_PATTERN, collect_zip
    from autograder.course import list_assignments

    known = list_assignments(Path(args.course))
    if args.assignment not in known:
        raise UsageError(f"No assignment {args.assignment!r} in the course; it has: {', '.join(known)}.")
    if not args.archive.is_file():
        raise UsageError(f"No file at '{args.archive}': give the path of the zip your LMS exported.")
    result = collect_zip(args.archive, args.assignment, args.out, args.pattern or DEFAULT_PATTERN,
                         force=args.force)
    print(result.report())
    if result.placed:
        print(f"Next: python -m autograder grade {args.out} --assignment {args.assignment}")
    return 0


def _gradescope(args: argparse.Namespace) -> int:
    from autograder.gradescope import build_bundle

    files = build_bundle(args.assignment, args.out, course_root=Path(args.course))
    print(f"wrote {args.out}: setup.sh, run_autograder and {len(files)} course files (with "
          f"{args.assignment}'s hidden tests: keep it to instructors). Upload it as the autograder of a "
          "Gradescope programming assignment.")
    return 0


def _dist(args: argparse.Namespace) -> int:
    from autograder.dist import DistError, build

    try:
        written = build(args.out, course_root=args.course, force=args.force)
    except DistError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    size = sum((args.out / path).stat().st_size for path in written)
    print(f"wrote {len(written)} files ({size / 2**20:.1f} MiB) to {args.out}: no solution, no hidden test.")
    if (args.out / ".git").exists():
        print(f"To publish: cd {args.out} && git add -A && git commit -m 'Course update' && git push")
    else:
        print(f"To publish: commit {args.out} to the student repository (see autograder/README.md).")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from autograder.grade import GraderError, grade_submissions

    try:
        grade_submissions(
            args.submissions, out=args.out, course_root=args.course, assignment=args.assignment,
            jobs=args.jobs, cell_timeout=args.cell_timeout, student_timeout=args.student_timeout,
            interrupt_grace=args.interrupt_grace,
            profile=args.profile, logs_dir=args.logs, scheduler=args.scheduler, memory_mb=args.memory_mb,
            feedback_dir=args.feedback or (Path("feedback") if args.command == "feedback" else None),
            students=args.student, reuse=args.command == "feedback" and not args.regrade,
        )
    except GraderError as err:
        print(f"error: the grader failed: {err}", file=sys.stderr)
        return 1
    return 0
