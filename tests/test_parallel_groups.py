"""Tests that share an expensive module fixture run on one pytest-xdist worker (see conftest.py), also when
they reach it through different parameters of another fixture (the grading batches of
``test_autograder_grade.py`` all come from one ``runs`` fixture)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from conftest import _shared_fixture_groups


class FakeItem(SimpleNamespace):
    """A stand-in for a collected test (one object per test, as pytest's items)."""

    __eq__ = object.__eq__
    __hash__ = object.__hash__


def fake_item(module: str, uses: dict[str, str], params: dict[str, str] | None = None) -> FakeItem:
    """A test of ``module`` using the fixtures ``uses`` (name -> scope), with the parameters ``params``."""
    defs = {name: [SimpleNamespace(scope=scope)] for name, scope in uses.items()}
    return FakeItem(module=SimpleNamespace(__name__=module), fixturenames=list(uses),
                           _fixtureinfo=SimpleNamespace(name2fixturedefs=defs),
                           callspec=SimpleNamespace(params=params or {}))


def test_tests_connected_through_a_shared_fixture_form_one_group() -> None:
    batch_01 = fake_item("grade", {"batch": "module", "runs": "module", "tmp_path": "function"},
                         {"batch": "01"})
    batch_02 = fake_item("grade", {"batch": "module", "runs": "module"}, {"batch": "02"})
    check = fake_item("grade", {"runs": "module", "tmp_path": "function"})
    lab_a = fake_item("browser", {"lab": "module"}, {"notebook": "01"})
    lab_b = fake_item("browser", {"lab": "module"}, {"notebook": "02"})
    alone = fake_item("browser", {"dist": "module"})
    plain = fake_item("grade", {"tmp_path": "function"})
    groups = _shared_fixture_groups([batch_01, batch_02, check, lab_a, lab_b, alone, plain])
    assert groups[batch_01] == groups[batch_02] == groups[check]
    assert groups[lab_a] == groups[lab_b]
    assert len({groups[batch_01], groups[lab_a], groups[alone]}) == 3
    assert plain not in groups  # no module fixture: any worker may take it


def test_one_parameter_of_a_module_fixture_is_its_own_group() -> None:
    first = fake_item("grade", {"batch": "module"}, {"batch": "01"})
    again = fake_item("grade", {"batch": "module", "tmp_path": "function"}, {"batch": "01"})
    other = fake_item("grade", {"batch": "module"}, {"batch": "02"})
    groups = _shared_fixture_groups([first, again, other])
    assert groups[first] == groups[again] != groups[other]


def test_every_test_of_the_grading_module_reading_its_runs_is_in_one_group(request: pytest.FixtureRequest
                                                                             ) -> None:
    """On the tests this session runs (all of them in make test)."""
    grading = sys.modules.get("test_autograder_grade")
    mine = [item for item in request.session.items if grading and getattr(item, "module", None) is grading]
    readers = [item for item in mine if "runs" in item.fixturenames]
    if len(readers) < 2:
        pytest.skip("fewer than two tests of tests/test_autograder_grade.py reading its runs are selected")
    assert {item.originalname for item in readers} >= {"test_grading_ran_and_wrote_one_row_per_student",
                                                        "test_check_reports_visible_tests"}
    assert len({_shared_fixture_groups(mine)[item] for item in readers}) == 1
