"""The layers of docs/architecture.md hold: no import goes up or sideways, and no two modules import each other.

Function-local imports and `if TYPE_CHECKING:` imports count: an import loop hidden in a function is still a loop
for the reader, and a deferred import only moves the failure to run time.
"""

from __future__ import annotations

from tests.architecture.imports import all_imports, cycles, direction_errors, module_files


def test_every_import_goes_down_the_layers():
    errors = direction_errors(all_imports())
    assert not errors, "Imports against docs/architecture.md (Layers):\n" + "\n".join(errors)


def test_no_module_imports_itself_round_a_loop():
    loops = cycles(all_imports(), module_files())
    assert not loops, "Import loops:\n" + "\n".join(" <-> ".join(group) for group in loops)
