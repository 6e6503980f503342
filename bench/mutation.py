"""A small AST mutation tester: do the tests notice when behaviour breaks?

For each target module it parses the source, makes one small change at a time
(an operator, a constant, a dropped statement...), writes the changed source
over the module in a temporary copy of the repository and runs the module's
focused tests there. A mutant is "killed" when the tests fail (or time out),
"survived" when they still pass. /work/main itself is never written to.

    python -m bench.mutation                          # the default targets
    python -m bench.mutation --module renewbot/domain/thresholds.py
    python -m bench.mutation --quick 20               # at most 20 mutants per module (spread evenly)
    python -m bench.mutation --renote                 # copy SURVIVOR_NOTES into the results, run nothing

Results go to bench/results/mutation.json; explanations of known survivors are
kept in SURVIVOR_NOTES below (keyed by module, line and mutation) and copied
into the results. See docs/mutation.md.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "mutation.json"
PYTHON = ROOT / ".venv" / "bin" / "python"
TIMEOUT = 60  # seconds; a mutant that makes the tests hang counts as killed
WORKERS = 2

# Each target and its focused tests: pure unit tests first, so `-x` stops early on most mutants.
TARGETS: dict[str, list[str]] = {
    "renewbot/domain/thresholds.py": ["tests/test_thresholds.py", "tests/blocks/", "tests/jobs/test_scan.py"],
    "renewbot/domain/validation.py": ["tests/test_validation.py", "tests/blocks/test_builders.py",
                                      "tests/usecases/test_renewal.py",
                                      "tests/handlers/test_views.py"],
    "renewbot/usecases/renewal.py": ["tests/usecases/test_renewal.py", "tests/handlers/test_views.py",
                                     "tests/test_loop_end_to_end.py"],
    "renewbot/blocks/notice.py": ["tests/blocks/", "tests/jobs/test_scan.py"],
    "renewbot/blocks/messages.py": ["tests/blocks/", "tests/handlers/"],
    "renewbot/blocks/modal.py": ["tests/blocks/", "tests/handlers/"],
    # Not tests/test_hostile_input.py: it alone takes longer than TIMEOUT, so every mutant would "time out".
    "renewbot/blocks/common.py": ["tests/blocks/"],
    "renewbot/blocks/runbook.py": ["tests/blocks/", "tests/handlers/"],
    "renewbot/domain/kinds.py": ["tests/domain/test_kinds.py", "tests/test_validation.py", "tests/blocks/",
                                 "tests/test_importer.py", "tests/usecases/test_importing_rules.py"],
    "renewbot/domain/inventory.py": ["tests/test_importer.py", "tests/usecases/test_importing_rules.py",
                                     "tests/usecases/test_import_speed_shapes.py", "tests/blocks/",
                                     "tests/test_validation.py"],
}
DEFAULT_TARGETS = list(TARGETS)[:4]

# Survivors that are explained rather than tested: (module, line, mutation) -> why.
# Lines are those of the unmutated source.
FROZEN = ("equivalent for behaviour: @dataclass(frozen=True) -> frozen=False only allows mutating an instance, "
          "which no code does")
NOT_OWNER_DEFAULT = ("equivalent: the default of not_allowed_text(why=...) is not one of the named reasons, so it "
                     "reaches the final \"only its owners\" text, as any unknown reason does (pinned by "
                     "test_not_allowed_text_without_named_owners_has_no_parentheses)")
WILDCARD_GUARD = ("equivalent: `o != \"*\"` is redundant, since \"*\" never matches OWNER_RE, the other half of the "
                  "condition; the wildcard is left out of the named owners either way (pinned by "
                  "test_not_allowed_text_for_a_non_owner_lists_named_owners_only)")
EMPTY_METADATA = ("equivalent: with no metadata, ModalState.load parses `raw or \"{}\"`; a mutated \"{}\" fails to "
                  "parse and the except gives ModalState() too, which is what \"{}\" gives")
TITLE_LIMIT = ("equivalent: the modal's title, close and submit texts (\"Renew token\", \"Cancel\", \"Renew\") are "
               "fixed and far below 24 characters, so a limit of 25 clips nothing either")
ZULU = ("equivalent on Python 3.11+ (the project's floor): datetime.fromisoformat reads a trailing \"Z\" itself, "
        "and a naive result is taken as UTC, so not rewriting \"Z\" (or rewriting it to nothing) gives the same moment")
CACHE_BOUND = ("equivalent for behaviour: the bound only limits how many parsed expiries are remembered (memory); "
               "a value that reaches it was parsed, so it is a date or text and hashable either way")
SURVIVOR_NOTES: dict[tuple[str, int, str], str] = {
    ("renewbot/domain/validation.py", 68, "True -> False"): FROZEN,
    ("renewbot/domain/validation.py", 81, "True -> False"): FROZEN,
    ("renewbot/usecases/renewal.py", 27, "True -> False"): FROZEN,
    ("renewbot/usecases/renewal.py", 79, "True -> False"): FROZEN,
    ("renewbot/usecases/renewal.py", 68, "drop statement: session.add(account)"):
        "equivalent: the accounts were loaded by this session, so they are already tracked and their changed "
        "enabled/fetch_orders are flushed on commit without add(); dropping the assignment itself is killed",
    ("renewbot/usecases/renewal.py", 74, "drop statement: session.flush()"):
        "equivalent: the caller's session_scope commits, which flushes; nothing in the outcome is read back "
        "from the database",
    ("renewbot/domain/kinds.py", 34, "False -> True"):
        "equivalent: compare=True on Kind._compiled also compares the compiled patterns, and two re.Pattern "
        "objects are equal exactly when their pattern texts and flags are, i.e. when `pattern` (already compared) "
        "is; the other False -> True on that line (repr=True) is killed",
    ("renewbot/blocks/common.py", 32, "\":/?#[]@!$&'()*+,;=%~-._\" -> 'XX' + s"):
        "equivalent: adding X to quote()'s safe characters changes nothing, letters are never encoded",
    ("renewbot/domain/inventory.py", 32, "True -> False"): FROZEN,
    ("renewbot/domain/inventory.py", 48, "'Z' -> 'XX' + s"): ZULU,
    ("renewbot/domain/inventory.py", 48, "'+00:00' -> ''"): ZULU,
    ("renewbot/domain/inventory.py", 70, "', ' -> 'XX' + s"):
        "equivalent: lstrip() takes a set of characters, and \", line N\" loses the same ones with X added",
    ("renewbot/domain/inventory.py", 124, "all -> any in all((isinstance(d, int) and (not isinstance(d, bool)) and (…"):
        "killed since this run: test_token_notify_days[days3-False] ([7, 0] is refused) was added after it; "
        "checked by running that test on the mutant",
    ("renewbot/domain/inventory.py", 297,
     "and -> or in len(self._moments) < 100000 and isinstance(value, date | st…"): CACHE_BOUND,
    ("renewbot/domain/inventory.py", 297, "< -> <= in len(self._moments) < 100000"): CACHE_BOUND,
    ("renewbot/domain/inventory.py", 297, "100000 -> 100001"): CACHE_BOUND,
    ("renewbot/blocks/modal.py", 40, "'{}' -> ''"): EMPTY_METADATA,
    ("renewbot/blocks/modal.py", 40, "'{}' -> 'XX' + s"): EMPTY_METADATA,
    ("renewbot/blocks/modal.py", 85, "False -> True"):
        "equivalent: zip(options, group, strict=True) cannot raise, the options are built from the group itself",
    ("renewbot/blocks/modal.py", 125, "24 -> 25"): TITLE_LIMIT,
    ("renewbot/blocks/modal.py", 126, "24 -> 25"): TITLE_LIMIT,
    ("renewbot/blocks/modal.py", 131, "24 -> 25"): TITLE_LIMIT,
    ("renewbot/blocks/messages.py", 44, "'not_owner' -> ''"): NOT_OWNER_DEFAULT,
    ("renewbot/blocks/messages.py", 44, "'not_owner' -> 'XX' + s"): NOT_OWNER_DEFAULT,
    ("renewbot/blocks/messages.py", 48, "'*' -> ''"): WILDCARD_GUARD,
    ("renewbot/blocks/messages.py", 48, "'*' -> 'XX' + s"): WILDCARD_GUARD,
}

IGNORE = shutil.ignore_patterns(".venv", ".git", "data", "__pycache__", ".pytest_cache", "*.egg-info", "build")

COMPARE_SWAPS: dict[type, list[type]] = {
    ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt], ast.GtE: [ast.Gt, ast.LtE],
    ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.Is: [ast.IsNot], ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn], ast.NotIn: [ast.In],
}
BINOP_SWAPS: dict[type, list[type]] = {
    ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult, ast.FloorDiv],
    ast.FloorDiv: [ast.Div],
}
CALL_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}
OP_TEXT = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
    ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
    ast.Div: "/", ast.FloorDiv: "//", ast.And: "and", ast.Or: "or",
}
DROPPABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.If, ast.For, ast.Continue, ast.Break, ast.Raise)
LOG_NAMES = {"log", "logger", "logging", "LOG"}


@dataclass(frozen=True)
class Mutation:
    index: int  # position of the node in ast.walk order
    line: int
    text: str
    apply: Callable[[ast.AST], None]  # mutates the node found at `index` in a fresh copy of the tree


# ---------------------------------------------------------------------------------------------- finding mutants

def _skipped_nodes(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, logging calls, __future__ imports, format specs."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                mark(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
            for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                      node.args.vararg, node.args.kwarg]:
                if a is not None:
                    mark(a.annotation)
        if isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            mark(node)
        if isinstance(node, ast.FormattedValue):
            mark(node.format_spec)
        if isinstance(node, ast.Call) and _is_logging(node):
            mark(node)
    return skip


def _is_logging(call: ast.Call) -> bool:
    f = call.func
    while isinstance(f, ast.Attribute):
        f = f.value
    return isinstance(f, ast.Name) and f.id in LOG_NAMES


def _set(attr: str, value: object) -> Callable[[ast.AST], None]:
    def apply(node: ast.AST) -> None:
        setattr(node, attr, value)
    return apply


def _set_op(i: int, op: type) -> Callable[[ast.AST], None]:
    def apply(node: ast.AST) -> None:
        node.ops[i] = op()
    return apply


def _replace_in_parent(parent_field: str, position: int | None, make: Callable[[ast.AST], ast.AST]):
    """For mutations that replace a node: applied to the parent, swapping one child."""
    def apply(parent: ast.AST) -> None:
        value = getattr(parent, parent_field)
        if position is None:
            setattr(parent, parent_field, make(value))
        else:
            value[position] = make(value[position])
    return apply


def _plus_one(expr: ast.AST) -> ast.AST:
    return ast.BinOp(left=expr, op=ast.Add(), right=ast.Constant(1))


def _children(node: ast.AST) -> Iterator[tuple[str, int | None, ast.AST]]:
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield name, i, item
        elif isinstance(value, ast.AST):
            yield name, None, value


def _short(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def find_mutations(tree: ast.Module) -> list[Mutation]:
    skip = _skipped_nodes(tree)
    found: list[Mutation] = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                for new in COMPARE_SWAPS.get(type(op), []):
                    found.append(Mutation(index, line, f"{OP_TEXT[type(op)]} -> {OP_TEXT[new]} in {_short(node)}",
                                          _set_op(i, new)))
        elif isinstance(node, ast.BinOp):
            for new in BINOP_SWAPS.get(type(node.op), []):
                found.append(Mutation(index, line, f"{OP_TEXT[type(node.op)]} -> {OP_TEXT[new]} in {_short(node)}",
                                      _set("op", new())))
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            found.append(Mutation(index, line, f"{OP_TEXT[type(node.op)]} -> {OP_TEXT[new]} in {_short(node)}",
                                  _set("op", new())))
        elif isinstance(node, ast.Constant):
            found.extend(_constant_mutations(index, line, node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CALL_SWAPS:
            new_name = CALL_SWAPS[node.func.id]
            found.append(Mutation(index, line, f"{node.func.id} -> {new_name} in {_short(node)}",
                                  _set("func", ast.Name(id=new_name, ctx=ast.Load()))))
        elif isinstance(node, ast.Return) and node.value is not None \
                and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            found.append(Mutation(index, line, f"return {_short(node.value, 40)} -> return None",
                                  _set("value", ast.Constant(None))))
        elif isinstance(node, ast.Slice):
            for bound in ("lower", "upper"):
                value = getattr(node, bound)
                if value is not None and not isinstance(value, ast.Constant):
                    found.append(Mutation(index, line, f"slice {bound} {_short(value)} -> +1",
                                          _set(bound, _plus_one(value))))
        # Mutations replacing a child: recorded on the parent.
        for name, pos, child in _children(node):
            if id(child) in skip or (isinstance(child, ast.Expr) and id(child.value) in skip):
                continue
            cline = getattr(child, "lineno", line)
            if isinstance(child, ast.UnaryOp) and isinstance(child.op, (ast.Not, ast.USub)):
                sign = "not " if isinstance(child.op, ast.Not) else "-"
                found.append(Mutation(index, cline, f"{sign}x -> x in {_short(child)}",
                                      _replace_in_parent(name, pos, lambda n: n.operand)))
            if pos is not None and isinstance(child, DROPPABLE) and isinstance(child, ast.stmt):
                found.append(Mutation(index, cline, f"drop statement: {_short(child)}",
                                      _replace_in_parent(name, pos, lambda n: ast.Pass())))
            if isinstance(node, ast.Subscript) and name == "slice" and _looks_numeric(child):
                found.append(Mutation(index, cline, f"index {_short(child)} -> +1",
                                      _replace_in_parent(name, pos, _plus_one)))
    return found


def _looks_numeric(expr: ast.AST) -> bool:
    """An index that is arithmetic or a unary minus (not a dict key): worth shifting by one."""
    return isinstance(expr, (ast.BinOp, ast.UnaryOp))


def _constant_mutations(index: int, line: int, node: ast.Constant) -> list[Mutation]:
    v = node.value
    out: list[Mutation] = []
    if isinstance(v, bool):
        out.append(Mutation(index, line, f"{v} -> {not v}", _set("value", not v)))
    elif isinstance(v, int):
        targets = {v + 1}
        if v == 0:
            targets.add(1)
        if v == 1:
            targets.add(0)
        for t in sorted(targets):
            out.append(Mutation(index, line, f"{v} -> {t}", _set("value", t)))
    elif isinstance(v, str):
        if v:
            out.append(Mutation(index, line, f"{_short(node, 40)} -> ''", _set("value", "")))
        out.append(Mutation(index, line, f"{_short(node, 40)} -> 'XX' + s", _set("value", "XX" + v)))
    return out


def mutants(source: str) -> Iterator[tuple[Mutation, str]]:
    """Each mutation with the mutated source; mutants identical to the original (or to another) are skipped."""
    tree = ast.parse(source)
    original = ast.unparse(tree)
    seen = {original}
    for m in find_mutations(tree):
        fresh = copy.deepcopy(tree)
        node = next(n for i, n in enumerate(ast.walk(fresh)) if i == m.index)
        m.apply(node)
        ast.fix_missing_locations(fresh)
        try:
            text = ast.unparse(fresh)
            compile(text, "<mutant>", "exec")
        except (SyntaxError, ValueError, TypeError):
            continue
        if text in seen:
            continue
        seen.add(text)
        yield m, text


# ---------------------------------------------------------------------------------------------- running them

class Workspaces:
    """One copy of the repository per worker, handed out one at a time."""

    def __init__(self, count: int) -> None:
        self._base = Path(tempfile.mkdtemp(prefix="renewbot-mutation-"))
        self._free: list[Path] = []
        self._lock = threading.Lock()
        for n in range(count):
            dest = self._base / f"w{n}"
            shutil.copytree(ROOT, dest, ignore=IGNORE)
            self._free.append(dest)

    def take(self) -> Path:
        with self._lock:
            return self._free.pop()

    def give(self, path: Path) -> None:
        with self._lock:
            self._free.append(path)

    def close(self) -> None:
        shutil.rmtree(self._base, ignore_errors=True)


def run_tests(copy_root: Path, tests: list[str]) -> tuple[bool, float]:
    """(passed, seconds). A timeout counts as a failure, i.e. the mutant is killed."""
    env = dict(os.environ, PYTHONPATH=str(copy_root), PYTHONDONTWRITEBYTECODE="1", CI="false")
    cmd = [str(PYTHON), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
           *tests, "-k", "not postgresql"]
    start = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=copy_root, env=env, capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, time.monotonic() - start
    return done.returncode == 0, time.monotonic() - start


def run_module(module: str, workspaces: Workspaces, quick: int | None) -> dict:
    source = (ROOT / module).read_text()
    tests = TARGETS.get(module) or ["tests/"]
    todo = list(mutants(source))
    if quick and len(todo) > quick:
        step = len(todo) / quick
        todo = [todo[int(i * step)] for i in range(quick)]

    # The unparsed original must pass, or every mutant would look killed.
    ws = workspaces.take()
    try:
        (ws / module).write_text(ast.unparse(ast.parse(source)))
        ok, _ = run_tests(ws, tests)
        (ws / module).write_text(source)
    finally:
        workspaces.give(ws)
    if not ok:
        raise SystemExit(f"{module}: the tests fail on the unmutated module; fix that first")

    def one(item: tuple[Mutation, str]) -> dict:
        m, text = item
        ws = workspaces.take()
        try:
            (ws / module).write_text(text)
            passed, secs = run_tests(ws, tests)
        finally:
            (ws / module).write_text(source)
            workspaces.give(ws)
        return {"line": m.line, "mutation": m.text, "killed": not passed, "seconds": round(secs, 1)}

    results = []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for n, r in enumerate(pool.map(one, todo), 1):
            results.append(r)
            if n % 20 == 0 or n == len(todo):
                print(f"  {module}: {n}/{len(todo)} run, {sum(not x['killed'] for x in results)} survived",
                      file=sys.stderr, flush=True)
    results.sort(key=lambda r: r["line"])
    survivors = []
    for r in results:
        if not r["killed"]:
            note = SURVIVOR_NOTES.get((module, r["line"], r["mutation"]), "not yet explained")
            survivors.append({"line": r["line"], "mutation": r["mutation"], "explanation": note})
    killed = sum(r["killed"] for r in results)
    total = len(results)
    return {"tests": tests, "total": total, "killed": killed, "survived": len(survivors),
            "score": round(100 * killed / total, 1) if total else None, "survivors": survivors}


def _write_results(modules_out: dict) -> None:
    total = sum(m["total"] for m in modules_out.values())
    killed = sum(m["killed"] for m in modules_out.values())
    out = {"tool": "bench/mutation.py", "timeout_seconds": TIMEOUT,
           "overall": {"total": total, "killed": killed, "score": round(100 * killed / total, 1) if total else None},
           "modules": modules_out}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(RESULTS)


def renote() -> int:
    """Survivors explained after their run get their explanation without running the module again."""
    modules_out = json.loads(RESULTS.read_text())["modules"]
    for module, result in modules_out.items():
        for s in result["survivors"]:
            s["explanation"] = SURVIVOR_NOTES.get((module, s["line"], s["mutation"]), s["explanation"])
            print(f"{module}:{s['line']}: {s['mutation']}  [{s['explanation']}]")
    _write_results(modules_out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", help="a target module path (repeatable)")
    parser.add_argument("--quick", type=int, help="at most N mutants per module, spread over the file")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument("--renote", action="store_true",
                        help="copy SURVIVOR_NOTES onto the survivors already in the results, running nothing")
    args = parser.parse_args(argv)
    modules = args.module or DEFAULT_TARGETS
    if args.renote:
        return renote()
    if args.list:
        for module in modules:
            for m, _ in mutants((ROOT / module).read_text()):
                print(f"{module}:{m.line}: {m.text}")
        return 0

    modules_out: dict = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so the temporary copies are removed
    workspaces = Workspaces(WORKERS)
    try:
        for module in modules:
            start = time.monotonic()
            result = run_module(module, workspaces, args.quick)
            result["seconds"] = round(time.monotonic() - start, 1)
            result["quick"] = args.quick
            modules_out[module] = result
            print(f"{module}: {result['killed']}/{result['total']} killed, score {result['score']}% "
                  f"({result['seconds']} s)", flush=True)
            for s in result["survivors"]:
                print(f"  survived line {s['line']}: {s['mutation']}  [{s['explanation']}]", flush=True)
    finally:
        workspaces.close()
    # The other modules' results are read only now, so a run of other modules that ended meanwhile is kept.
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    _write_results({**previous.get("modules", {}), **modules_out})
    return 0


if __name__ == "__main__":
    sys.exit(main())
