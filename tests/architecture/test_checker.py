"""The import checker itself: it must flag what it is there to flag (planted imports, never written to disk)."""

from __future__ import annotations

import textwrap

from tests.architecture.imports import all_imports, component_of, cycles, direction_errors, module_files


def errors_with(**sources: str) -> list[str]:
    """The direction errors of the real tree plus planted modules (dotted names given with __ for the dots)."""
    extra = {name.replace("__", "."): textwrap.dedent(text) for name, text in sources.items()}
    return [line for line in direction_errors(all_imports(extra=extra)) if "planted" in line]


def test_components_are_the_longest_prefix():
    assert component_of("mentorship.audit.models") == "mentorship.audit"
    assert component_of("mentorship.urls") == "mentorship.urls"
    assert component_of("mentorship") == "mentorship"
    assert component_of("canvas_client.client") == "canvas_client"
    assert component_of("django.db") is None


def test_an_upward_import_inside_a_function_is_flagged():
    found = errors_with(
        mentorship__audit__planted="""
        def f():
            from mentorship.assignments.models import Program
            return Program
        """
    )
    assert len(found) == 1
    assert "mentorship.audit is below mentorship.assignments" in found[0]


def test_an_upward_import_under_type_checking_is_flagged():
    found = errors_with(
        mentorship__people__planted="""
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from mentorship.sync.models import ObserverLink
        """
    )
    assert any("mentorship.people is below mentorship.sync" in line for line in found)


def test_a_relative_upward_import_is_flagged():
    found = errors_with(
        mentorship__core__planted="""
        from ..accounts import selectors
        """
    )
    assert any("mentorship.core is below mentorship.accounts" in line for line in found)


def test_siblings_in_one_layer_are_independent():
    found = errors_with(canvas_client__planted="import demo_school\n")
    assert any("are independent" in line for line in found)


def test_production_code_may_not_import_the_fake_and_the_client_no_django():
    found = errors_with(
        mentorship__portal__planted="from fake_canvas import FakeCanvas\n",
        canvas_client__planted="from django.conf import settings\n",
    )
    assert any("must not import the test/demo tooling fake_canvas" in line for line in found)
    assert any("canvas_client must not use Django" in line for line in found)


def test_a_module_outside_every_component_is_flagged():
    found = errors_with(mentorship__planted__views="import os\n")
    assert len(found) == 1
    assert "belongs to no component" in found[0]


def test_downward_imports_pass():
    assert not errors_with(
        mentorship__sync__planted="""
        from mentorship.assignments.models import MentorAssignment
        from mentorship.audit.services import audit_record
        from canvas_client import CanvasClient
        """
    )


def test_a_loop_between_modules_is_found():
    known = set(module_files()) | {"mentorship.sync.planted_a", "mentorship.sync.planted_b"}
    imports = all_imports(
        extra={
            "mentorship.sync.planted_a": "def f():\n    from mentorship.sync import planted_b\n",
            "mentorship.sync.planted_b": "from mentorship.sync.planted_a import f\n",
        }
    )
    assert ["mentorship.sync.planted_a", "mentorship.sync.planted_b"] in cycles(imports, known)
