"""The package's shape: no import cycles, imports at module level only (except optional heavy dependencies),
the environment read in one place, every module saying what it takes and gives."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rag", "ui")
# optional heavy dependencies a function may import when it needs them (torch and friends are not loaded on
# the lexical-only path; Milvus, ONNX Runtime, llama.cpp and Gradio only by those who use them)
HEAVY = {"torch", "transformers", "sentence_transformers", "tokenizers", "onnx", "onnxruntime", "faiss", "pymilvus",
         "milvus_lite", "gradio", "ui", "llama_cpp",
         "matplotlib", "sklearn"}   # a survey's chart file and threads: ~1 s of imports a search never needs
LAZY_OK = {"rag/__init__.py"}   # `from rag import Index` without loading the index stack
ENV_READERS = {"rag/settings.py", "rag/cli/main.py"}


def modules():
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            name = rel[:-3].replace("/", ".").removesuffix(".__init__")
            yield rel, name, ast.parse(path.read_text(encoding="utf-8"))


def _targets(node, name: str, is_package: bool, known: set[str]) -> list[str]:
    """Modules of ours an import statement imports (a `from X import Y` of a submodule counts as X.Y)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] in PACKAGES]
    base = node.module or ""
    if node.level:
        parts = name.split(".") if is_package else name.split(".")[:-1]
        base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
    if base.split(".")[0] not in PACKAGES:
        return []
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]


def test_no_function_level_imports_except_heavy_optional_dependencies():
    bad = []
    for rel, name, tree in modules():
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and rel not in LAZY_OK:
                    roots = ([a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import)
                             else [(node.module or "").split(".")[0]])
                    if not all(r in HEAVY for r in roots):
                        bad.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
    assert not bad, "imports inside functions:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    parsed = list(modules())
    known = {n for _, n, _ in parsed}
    for rel, name, tree in parsed:
        edges = graph.setdefault(name, set())
        for node in tree.body:   # module-level imports (function-level ones are checked above)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for t in _targets(node, name, rel.endswith("__init__.py"), known):
                    parts = t.split(".")
                    edges.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))   # parents load first
        edges.discard(name)
    for name in graph:   # a package's own parents are loaded before it, not by it
        graph[name] -= {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    state: dict[str, int] = {}
    cycles = []

    def visit(n, stack):
        state[n] = 1
        for m in sorted(graph.get(n, ())):
            if m not in graph:
                continue
            if state.get(m) == 1:
                cycles.append(" -> ".join(stack[stack.index(m):] + [m]))
            elif not state.get(m):
                visit(m, stack + [m])
        state[n] = 2

    for n in sorted(graph):
        if not state.get(n):
            visit(n, [n])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_environment_read_only_in_settings():
    bad = [f"{rel}:{i}" for rel, _, _ in modules() if rel not in ENV_READERS
           for i, line in enumerate((ROOT / rel).read_text(encoding="utf-8").splitlines(), 1)
           if re.search(r"\bos\.environ\b|\bgetenv\(|\benviron\.get\(", line)]
    assert not bad, "environment read outside rag/settings.py: " + ", ".join(bad)


def test_every_module_says_what_it_takes_and_gives():
    missing = []
    for rel, _, tree in modules():
        doc = ast.get_docstring(tree) or ""
        lines = [x for x in doc.splitlines() if x.strip()]
        if len(lines) < 2 or not re.search(r"\b(take|takes|taking)\b", lines[1] + " " + lines[0], re.I):
            missing.append(rel)
    assert not missing, "modules without a two-line docstring (what it takes, what it gives): " + ", ".join(missing)


def test_a_cycle_or_late_import_is_caught(tmp_path):
    """The checks above read real code: a function-level import of our own module is found."""
    tree = ast.parse("def f():\n    from rag import lexicon\n")
    found = [n for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
             for n in ast.walk(fn) if isinstance(n, ast.ImportFrom) and n.module.split(".")[0] not in HEAVY]
    assert found
