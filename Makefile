# Entry points of the course. Every target installs what it needs first (once: a second run
# reinstalls nothing unless pyproject.toml, the constraints file or the torch choice changed).
#
#   make lab                         start JupyterLab on your copies of the notebooks in work/
#                                    (made from notebooks/ on first run; http://127.0.0.1:$(PORT)/lab)
#   make update [NB=03_negative_transfer]  take a course update of a notebook into work/, keeping your
#                                    answers (the old copy goes to work/backups/)
#   make test [LONG_JOBS=2] [TEST_JOBS=0]  run the whole test suite: the laptop-profile notebook runs two at a
#                                    time at low priority beside the other tests (TEST_JOBS=auto: one worker per core)
#   make setup                       install only
#   make release                     regenerate notebooks/ from autograder/source/
#   make check NB=work/01_task_definition.ipynb [HINTS=1]  self-check one notebook (HINTS=1: with
#                                    the hints of every failing test's exercise)
#   make grade SUBMISSIONS=path/to/submitted [ASSIGNMENT=01_task_definition] [OUT=grades.csv]
#   make student-dist OUT=../mtml-course-student [FORCE=1]  the students' copy (no solutions, no hidden tests)
#
# release, grade and student-dist need the instructor sources (autograder/source/); in the students' copy
# of the course they stop with a message saying so.
#
# A CUDA build of PyTorch: make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128
# Another torch version:   make setup TORCH_SPEC=torch==X.Y.Z CONSTRAINTS=my-constraints.txt

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
CONSTRAINTS ?= constraints.txt
PORT ?= 8888
NB ?=
HINTS ?=
SUBMISSIONS ?=
ASSIGNMENT ?=
OUT ?= grades.csv
JOBS ?= 1
FORCE ?=
PYTEST_ARGS ?=
TEST_JOBS ?= 0
LONG_JOBS ?= 2

PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_CHOICE := $(VENV)/.torch-choice

.PHONY: setup lab update test release check grade student-dist lint FORCE

setup: $(STAMP)

# Records the torch choice; the file only changes (and so only triggers a reinstall) when the choice does.
$(TORCH_CHOICE): FORCE
	@mkdir -p $(VENV)
	@echo '$(TORCH_SPEC) $(TORCH_INDEX)' | cmp -s - $@ || echo '$(TORCH_SPEC) $(TORCH_INDEX)' > $@

# torch first (so pip never pulls a different build), then the project under a constraints file that pins it.
$(STAMP): pyproject.toml $(CONSTRAINTS) $(TORCH_CHOICE)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PY) -m pip install --disable-pip-version-check -c $(CONSTRAINTS) -e ".[dev]"
	@touch $@

lab: $(STAMP)
	$(PY) -m mtml_utils.lab --port $(PORT)

update: $(STAMP)
	$(PY) -m mtml_utils.workcopy update $(NB)

# The whole suite runs in two parts (tests/run_all.py). The notebooks in the laptop profile (tests marked
# `long`: minutes of computation each, one torch thread each, deterministic, with no tight time limit),
# LONG_JOBS of them at a time, run in the background at the lowest CPU priority, kernels included: they use
# mostly what the other tests leave idle, and their report is printed after them (on the 2-core reference
# machine, from a clean clone: 22 min 51 s one after the other, 19 min 35 s side by side; the other tests took
# 5 % longer beside them, 901 s against 947 s). Every other test runs in the foreground with TEST_JOBS
# parallel pytest-xdist workers (0: in one process, the default: many of these tests keep both cores busy
# themselves, grading with two kernels or a browser beside JupyterLab, and several have tight time limits that
# a loaded machine breaks; on the 2-core reference machine two workers kept both cores busy, 97 % against
# 64 %, and finished no sooner: 1761 s against 1745 s). Instead, the expensive fixtures run their independent
# work side by side themselves, one kernel per core: the grading batches and check runs of every notebook
# (tests/test_autograder_grade.py), the kernels of the mistake catalogue (tests/test_mistake_catalogue.py) and
# the smoke runs of the notebooks (tests/test_notebooks_execute.py).
# Tests sharing an expensive module fixture stay on one worker (tests/conftest.py).
# Both parts always run; make test fails when either does, and ends with the 25 slowest tests of the two
# together (each part's JUnit XML report is kept in test-artifacts/junit/). With PYTEST_ARGS (e.g. a test
# file, -k or -m), one pytest run with those arguments and TEST_JOBS workers instead.
test: $(STAMP)
ifeq ($(strip $(PYTEST_ARGS)),)
	@$(PY) tests/run_all.py --long-jobs $(LONG_JOBS) --test-jobs $(TEST_JOBS)
else
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)
endif

release: $(STAMP)
	$(PY) -m autograder release

check: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make check NB=work/01_task_definition.ipynb"; exit 2; }
	$(PY) -m autograder check "$(NB)" $(if $(HINTS),--hints)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path/to/submitted [ASSIGNMENT=01_task_definition] [OUT=grades.csv] [JOBS=N]"; exit 2; }
	$(PY) -m autograder grade "$(SUBMISSIONS)" $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT)) --jobs $(JOBS) --out "$(OUT)"

# OUT must be given: its default (grades.csv) belongs to `grade`.
student-dist: $(STAMP)
	@test "$(origin OUT)" != "file" || { echo "usage: make student-dist OUT=../mtml-course-student [FORCE=1]"; exit 2; }
	$(PY) -m autograder dist "$(OUT)" $(if $(FORCE),--force)

lint: $(STAMP)
	$(PY) -m ruff check .
