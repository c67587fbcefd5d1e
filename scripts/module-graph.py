#!/usr/bin/env python3
"""Prints the module dependency edges between the files under src/ and reports cycles.

An edge `a.rs -> b.rs` means that code in a.rs names an item of b.rs through a path:
a `use crate::...`, `use super::...`, `use self::...` or `use child::...` statement, or the
same kind of path written inline (`super::layout::list_rows(...)`, `contexts::draw(...)`).
A path is resolved to the longest module prefix that is a file (`x.rs` or `x/mod.rs`), then
through that file's `pub use` re-exports, so `crate::model::Health` names model/health.rs (where
`Health` is defined) rather than the facade model/mod.rs that re-exports it.
Declaring a child (`mod contexts;`) is not an edge: only using it is.
Code under `#[cfg(test)]` (test modules and test-only files) is left out: tests may reach
anywhere.

Usage: scripts/module-graph.py [SRC_DIR] [--only PREFIX]
  --only src/tui   print only the edges whose source file is under that prefix (cycles are
                   always searched in the whole graph and printed when they touch the prefix)
It also counts each file's lines of code (no blank lines, comments or test code) and names the
files over 500.
Exit status: 0 without cycles or long files, 1 otherwise.
"""

import os
import re
import sys


MAX_CODE_LINES = 500


def module_of(path, src):
    """src/tui/ui/mod.rs -> ['tui', 'ui']; src/lib.rs -> []."""
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel


def strip_comments_and_strings(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def strip_cfg_test(text):
    """Removes every item annotated with #[cfg(test)] (a module with its braces, or one line)."""
    out = []
    i = 0
    marker = re.compile(r"#\[cfg\(test\)\]")
    while True:
        found = marker.search(text, i)
        if not found:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i : found.start()])
        j = found.end()
        semicolon = text.find(";", j)
        brace = text.find("{", j)
        if brace == -1 or (semicolon != -1 and semicolon < brace):
            i = semicolon + 1
            continue
        depth = 0
        k = brace
        while k < len(text):
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        i = k + 1


def expand_use(tree):
    """'a::{b, c::{d, e}}' -> ['a::b', 'a::c::d', 'a::c::e'] (renames and globs kept as paths)."""
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace == -1:
        return [re.sub(r"as\w+$", "", tree)]
    prefix = tree[:brace]
    inner = tree[brace + 1 : tree.rfind("}")]
    parts, depth, start = [], 0, 0
    for index, char in enumerate(inner):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(inner[start:index])
            start = index + 1
    parts.append(inner[start:])
    paths = []
    for part in filter(None, parts):
        paths.extend(expand_use(prefix + part))
    return paths


def main():
    args = sys.argv[1:]
    only = None
    if "--only" in args:
        position = args.index("--only")
        only = args[position + 1]
        del args[position : position + 2]
    src = args[0] if args else "src"
    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                files[tuple(module_of(path, src))] = os.path.normpath(path)

    reexports = {}

    def resolve(segments, hops=0):
        for length in range(len(segments), -1, -1):
            module = tuple(segments[:length])
            target = files.get(module)
            if not target:
                continue
            exported = reexports.get(module, {})
            if length < len(segments) and segments[length] in exported and hops < 16:
                return resolve(exported[segments[length]] + segments[length + 1 :], hops + 1)
            return target
        return None

    def absolute_path(module, children, used):
        """The path `used`, written in `module`, from the crate root; None for outside paths."""
        segments = used.split("::")
        if segments[0] == "crate":
            return segments[1:]
        if segments[0] in ("super", "self"):
            base = list(module)
            while segments and segments[0] in ("super", "self"):
                if segments[0] == "super":
                    base = base[:-1]
                segments = segments[1:]
            return base + segments
        if segments[0] in children:
            return list(module) + segments
        return None

    texts = {}
    test_only = set()
    for module, path in files.items():
        with open(path, encoding="utf-8") as handle:
            texts[module] = strip_comments_and_strings(handle.read())
        for child in re.findall(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", texts[module]):
            test_only.add(module + (child,))
    # A file is test-only when it or an ancestor is declared under #[cfg(test)].
    for module in list(files):
        if any(module[:length] in test_only for length in range(1, len(module) + 1)):
            del files[module]

    def children_of(text):
        return set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, flags=re.M))

    for module in files:
        text = strip_cfg_test(texts[module])
        children = children_of(text)
        for statement in re.findall(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for used in expand_use(statement):
                absolute = absolute_path(module, children, used)
                if absolute and absolute[-1] != "*":
                    reexports.setdefault(module, {})[absolute[-1]] = absolute

    edges = {}
    for module, path in files.items():
        text = strip_cfg_test(texts[module])
        children = children_of(text)
        paths = []
        for statement in re.findall(r"\buse\s+([^;]+);", text):
            paths.extend(expand_use(statement))
        paths.extend(re.findall(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)", text))
        if children:
            pattern = r"(?<![\w:])((?:%s)(?:::\w+)+)" % "|".join(sorted(children))
            paths.extend(re.findall(pattern, text))
        for used in paths:
            absolute = absolute_path(module, children, used)
            if absolute is None:
                continue
            target = resolve(absolute)
            if target and target != path:
                edges.setdefault(path, set()).add(target)

    for source in sorted(edges):
        if only and not source.startswith(only):
            continue
        for target in sorted(edges[source]):
            print(f"{source} -> {target}")

    # Tarjan's strongly connected components: each with more than one file is a cycle.
    index_of, low, stack, on_stack, components = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index_of[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index_of:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index_of[successor])
        if low[node] == index_of[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(set(files.values())):
        if node not in index_of:
            visit(node)
    shown = [c for c in components if not only or any(member.startswith(only) for member in c)]
    failed = False
    if shown:
        print(f"\n{len(shown)} cycle(s):")
        for component in shown:
            print("  " + " <-> ".join(component))
        failed = True
    else:
        print("\nno cycles" + (f" touching {only}" if only else ""))

    # Lines of code (no blank lines, comments or test code) per file: none may pass the limit.
    too_long = []
    for module, path in files.items():
        lines = [line for line in strip_cfg_test(texts[module]).splitlines() if line.strip()]
        if len(lines) > MAX_CODE_LINES and (not only or path.startswith(only)):
            too_long.append((len(lines), path))
    if too_long:
        print(f"\n{len(too_long)} file(s) over {MAX_CODE_LINES} lines of code (tests excluded):")
        for count, path in sorted(too_long, reverse=True):
            print(f"  {count} {path}")
        failed = True
    else:
        print(f"no file over {MAX_CODE_LINES} lines of code (tests excluded)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
