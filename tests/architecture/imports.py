"""The import rules of docs/architecture.md ("Layers"), checked from the source text.

Every `import` and `from ... import` counts: at module level, inside functions, under `if TYPE_CHECKING:`, in
try/except. A module belongs to the longest component name that prefixes it; components sit in layers, and a module
may import only from its own component or from a lower layer (two components in one layer are independent). Each
checked module must belong to a component, so a new package has to be placed before it can be imported. Separately,
no two modules may import each other, directly or round a loop.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A module may import from its own component and from components in lower layers only.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("canvas_client", "demo_school", "tools"),  # no Django: plain Python
    ("mentorship.settings", "mentorship.celery", "mentorship.redaction"),  # project plumbing, no app
    ("mentorship.audit",),  # the log: models, append, chain, verification
    ("mentorship.core",),  # middleware, logging, error pages
    ("mentorship.accounts",),
    ("mentorship.people",),
    ("mentorship.assignments",),
    ("mentorship.sync",),
    ("mentorship.mentors",),
    # cross-app readers: auditor pages, dashboards, home, health, demo commands; /metrics; the SIS team's API
    ("mentorship.portal", "mentorship.metrics", "mentorship.api"),
    ("mentorship", "mentorship.urls", "mentorship.wsgi"),  # the project: wires everything together
)
# Test and demo tooling: may use the bottom layer, and nothing in LAYERS may import it.
# (canvas_client.fake is where the fake used to live, inside the client it judges: it must not come back.)
TOOLING: tuple[str, ...] = ("fake_canvas", "canvas_client.fake")
# Packages of the bottom layer and the tooling that must not import Django at all.
NO_DJANGO: tuple[str, ...] = ("canvas_client", "demo_school", "fake_canvas", "tools")
EXACT_ONLY: frozenset[str] = frozenset({"mentorship"})
CHECKED_TOPS: tuple[str, ...] = ("mentorship", "canvas_client", "fake_canvas", "demo_school", "tools")


@dataclass(frozen=True)
class Import:
    importer: str  # module name
    target: str  # the module named (for `from a import b`, `a.b` when that is a module, else `a`)
    path: str
    line: int


def _component_layer() -> dict[str, int]:
    table = {name: index for index, names in enumerate(LAYERS) for name in names}
    table.update({name: len(LAYERS) for name in TOOLING})
    return table


COMPONENT_LAYER = _component_layer()


def component_of(module: str) -> str | None:
    """The longest component name that is `module` or a package prefix of it; None for third-party modules.

    The project package `mentorship` is a component of its own `__init__` only, so a new app under it belongs to
    nothing until it is placed in LAYERS."""
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        name = ".".join(parts[:size])
        if name in COMPONENT_LAYER and (name not in EXACT_ONLY or name == module):
            return name
    return None


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> file, for every checked .py file except migrations."""
    found: dict[str, Path] = {}
    for top in CHECKED_TOPS:
        single = root / f"{top}.py"
        if single.exists():
            found[top] = single
        for path in sorted((root / top).rglob("*.py")) if (root / top).is_dir() else []:
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_in(module: str, path: Path, source: str, known: Iterable[str]) -> Iterator[Import]:
    """Every import in the file, resolved to the deepest module name that exists (relative imports included)."""
    known_set = set(known)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source, filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - (node.level - 1)])
                stem = f"{base}.{node.module}" if node.module else base
            else:
                stem = node.module or ""
            names = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in known_set else stem for alias in node.names]
        for name in names:
            yield Import(importer=module, target=name, path=str(path), line=node.lineno)


def all_imports(root: Path = ROOT, extra: dict[str, str] | None = None) -> list[Import]:
    """The imports of the checked tree; `extra` adds (module name -> source) for the checker's own tests."""
    files = module_files(root)
    sources = {name: (path, path.read_text()) for name, path in files.items()}
    for name, text in (extra or {}).items():
        sources[name] = (root / (name.replace(".", "/") + ".py"), text)
    found: list[Import] = []
    for name, (path, text) in sources.items():
        found.extend(imports_in(name, path, text, sources))
    return found


def direction_errors(imports: Iterable[Import]) -> list[str]:
    """One line per import that goes against the layers (or uses Django where it must not)."""
    errors = []
    for item in imports:
        source, target = component_of(item.importer), component_of(item.target)
        where = f"{item.path}:{item.line}: {item.importer} imports {item.target}"
        if source is None:
            errors.append(f"{where}: {item.importer} belongs to no component (add it to LAYERS)")
            continue
        if item.target.split(".")[0] == "django" and source.split(".")[0] in NO_DJANGO:
            errors.append(f"{where}: {source} must not use Django")
        if target is None or target == source:
            continue
        if target in TOOLING and source not in TOOLING:
            errors.append(f"{where}: production code must not import the test/demo tooling {target}")
        elif COMPONENT_LAYER[target] > COMPONENT_LAYER[source]:
            errors.append(f"{where}: {source} is below {target}")
        elif COMPONENT_LAYER[target] == COMPONENT_LAYER[source] and source not in TOOLING:
            errors.append(f"{where}: {source} and {target} are independent (same layer)")
    return sorted(set(errors))


def cycles(imports: Iterable[Import], known: Iterable[str]) -> list[list[str]]:
    """Module-level import loops (strongly connected groups of two or more modules), each sorted."""
    known_set = set(known)
    graph: dict[str, set[str]] = {name: set() for name in known_set}
    for item in imports:
        target = item.target
        while target and target not in known_set:
            target = target.rpartition(".")[0]
        # Importing a package's own parent runs its __init__ first anyway: not a loop worth reporting.
        if target and target != item.importer and not item.importer.startswith(target + "."):
            graph[item.importer].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative Tarjan: the module graph is deep enough to worry Python's recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(groups)
