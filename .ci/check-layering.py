#!/usr/bin/env python3
"""Module layering of vigil's crates, checked on the Rust sources (stdlib Python 3.11+ only).

cargo and .ci/check-deps.sh see crates; this sees the modules inside them. For every crate in
.ci/layering.toml it builds the module tree from the file layout (lib.rs or main.rs, `mod x;`,
x.rs or x/mod.rs), collects each module's paths into its own crate (`use crate::..`, `super::..`,
`self::..`, grouped uses, inline paths such as `crate::forecast::progress::StageProgress`) with
comments, string and char literals and test-only code (`#[cfg(test)]` items, `mod tests`) left
out, resolves each path to the deepest module it names, and enforces:

  cycle      no import cycles between modules: data flows one way through the stages (data ->
             analysis -> forecast -> alerts, with output's writers), so no two modules may depend
             on each other, directly or around a loop (references to an ancestor are left to
             `parent`, so `crate::EngineError` from anywhere is not a cycle);
  parent     a module does not use the items of its parent's (or an ancestor's) own file
             (a/mod.rs or a.rs): the parent declares and re-exports its children, so a child using
             it back is a cycle in disguise. Items re-exported by the crate root are fine;
  forbidden  no forbidden crate or path per crate: the analytics core stays free of the HTTP
             server, differential-privacy and plotting stacks (which live in vigil-api,
             vigil-share and vigil-report), and the API does not depend on the forecast stage.

A path is resolved by name: `super::run::write` names the sibling module `run`; `super::write`
names the parent itself, even when the parent only re-exports `write`; a path through a
re-export of the crate root stops at the root. `#[path]` attributes are not followed, and a
`mod x;` without its file is reported (`tree`). Run with --self-test to check the checker on
small planted crates.
"""
import argparse, pathlib, re, sys, tempfile
try:
    import tomllib
except ImportError:
    sys.exit("check-layering.py needs Python 3.11+ (tomllib)")

ROOT = pathlib.Path(__file__).resolve().parent.parent
ID = r"[A-Za-z_]\w*"
LEXEME = re.compile(r"""//[^\n]*|/\*|(?<!\w)[bc]?r(#*)".*?"\1|(?<!\w)[bc]?"(?:\\.|[^"\\])*"|(?<!\w)b?'(?:\\.[^']*|[^\\'])'""", re.S)
NESTED = re.compile(r"/\*|\*/")
CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
FILE_CFG_TEST = re.compile(r"#!\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
TESTS_BLOCK = re.compile(r"(?<![\w:])mod\s+tests\s*\{")
VISIBILITY_IN = re.compile(r"\bpub\s*\(\s*in\s+[^)]*\)")
MOD_DECL = re.compile(rf"(?<![\w:])mod\s+({ID})\s*;")
MOD_BLOCK = re.compile(rf"(?<![\w:])mod\s+({ID})\s*\{{")
USE = re.compile(r"(?<![\w:$])use\s+(?=[A-Za-z_:{$])")
EXTERN = re.compile(rf"(?<![\w:])extern\s+crate\s+({ID})(?:\s+as\s+({ID}))?\s*;")
PATH = re.compile(rf"(?<![\w$:>)\]])(?:::\s*)?(?:\$crate|{ID})(?:\s*::\s*{ID})+")
USE_TOKEN = re.compile(rf"\$crate|{ID}|::|[{{}},*]")


def strip_code(text):
    """Blanks comments (nested too), string, raw string, byte and char literals; keeps newlines."""
    out, i = [], 0
    while m := LEXEME.search(text, i):
        j = m.end()
        if m.group() == "/*":
            depth, j = 1, len(text)
            for d in NESTED.finditer(text, m.end()):
                depth += 1 if d.group() == "/*" else -1
                if not depth:
                    j = d.end()
                    break
        out += [text[i:m.start()], re.sub(r"[^\n]", " ", text[m.start():j])]
        i = j
    return "".join(out) + text[i:]


def item_end(s, i):
    """End of the item starting at i: its `;` or the `}` closing its body, outside brackets."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] in "([{":
            depth += 1
        elif s[j] in ")]}":
            depth -= 1
            if depth <= 0 and s[j] == "}":
                return j + 1
        elif s[j] == ";" and depth == 0:
            return j + 1
    return len(s)


def blank_span(s, a, b):
    return s[:a] + re.sub(r"[^\n]", " ", s[a:b]) + s[b:]


def prepare(text):
    """Source as scanned: no comments or literals, no test-only code, no `pub(in path)`."""
    s = strip_code(text)
    if FILE_CFG_TEST.search(s):
        return re.sub(r"[^\n]", " ", s)
    for rx in (CFG_TEST, TESTS_BLOCK):
        while m := rx.search(s):
            s = blank_span(s, m.start(), item_end(s, m.end() if rx is CFG_TEST else m.start()))
    return VISIBILITY_IN.sub(lambda m: " " * len(m.group()), s)


def inline_mods(s):
    return [(m.start(), item_end(s, m.start()), m.group(1)) for m in MOD_BLOCK.finditer(s)]


def parse_use(body, base):
    """Leaves of a use tree: (segments, alias or None, offset of the leaf's last token)."""
    leaves, stack, segs, alias, off, want_alias = [], [[]], [], None, base, False

    def leaf():
        if segs:
            leaves.append((stack[-1] + segs, alias, off))

    for m in USE_TOKEN.finditer(body):
        tok, pos = m.group(), base + m.start()
        if tok == "{":
            stack.append(stack[-1] + segs)
            segs = []
        elif tok in ",}":
            leaf()
            segs, alias = [], None
            if tok == "}" and len(stack) > 1:
                stack.pop()
        elif tok == "::":
            segs = segs or ([] if stack[-1] else ["::"])
        elif tok == "as" and segs:
            want_alias = True
        elif want_alias:
            alias, off, want_alias = tok, pos, False
        else:
            segs, off = segs + [tok], pos
    leaf()
    return leaves


class Crate:
    def __init__(self, name, base, src, root_file):
        self.name, self.base, self.modules, self.texts = name, base, {}, {}
        self.refs, self.externs, self.errors = [], [], []
        queue = [((), src / root_file, src)]
        while queue:
            mod, path, child_dir = queue.pop()
            s = prepare(path.read_text(encoding="utf-8"))
            self.modules[mod], self.texts[mod] = path, s
            blocks = inline_mods(s)
            for m in MOD_DECL.finditer(s):
                name = m.group(1)
                if name == "tests" or any(a < m.start() < b for a, b, _ in blocks):
                    continue
                found = [p for p in (child_dir / f"{name}.rs", child_dir / name / "mod.rs") if p.is_file()]
                if found:
                    queue.append((mod + (name,), found[0], child_dir / name))
                else:
                    self.errors.append((self.rel(path), line_of(s, m.start()), "tree",
                                        f"`mod {name};` but neither {name}.rs nor {name}/mod.rs exists in {self.rel(child_dir)}"))
        for mod in sorted(self.modules):
            self.scan(mod)

    def rel(self, path):
        return str(path.relative_to(self.base)) if path.is_relative_to(self.base) else str(path)

    def resolve(self, mod, inline, segs, aliases):
        """('local', module, names the module itself) or ('extern', segments)."""
        first, eff = segs[0], mod + tuple(inline)
        if first == "::":
            return ("extern", segs[1:])
        if first in ("crate", "$crate"):
            base, rest = (), segs[1:]
        elif first in ("self", "super"):
            base, rest = eff, segs[1:] if first == "self" else segs
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        elif not inline and mod + (first,) in self.modules:
            base, rest = mod, segs
        elif first in aliases:
            kind, target = aliases[first]
            if kind == "extern":
                return ("extern", list(target) + segs[1:])
            base, rest = target, segs[1:]
        else:
            return ("extern", segs)
        if base not in self.modules:  # inside an inline `mod name { }`: part of its file's module
            while base not in self.modules:
                base = base[:-1]
            return ("local", base, False)
        for i, seg in enumerate(rest):
            if base + (seg,) not in self.modules:
                return ("local", base, rest[i:] == ["self"])
            base += (seg,)
        return ("local", base, True)

    def scan(self, mod):
        """References of one module: its use trees (which also name aliases), then inline paths."""
        s, path = self.texts[mod], self.modules[mod]
        uses = []
        for m in list(USE.finditer(s)):
            end = s.find(";", m.end())
            end = len(s) if end < 0 else end
            uses += [(segs, alias, off) for segs, alias, off in parse_use(s[m.end():end], m.end()) if segs]
        for m in EXTERN.finditer(s):
            uses.append((["::", m.group(1)], m.group(2) or m.group(1), m.start()))
        for m in list(USE.finditer(s)) + list(EXTERN.finditer(s)):
            s = blank_span(s, m.start(), s.find(";", m.start()) + 1 or len(s))
        blocks = inline_mods(s)
        inline_at = lambda off: [name for a, b, name in blocks if a < off < b]
        aliases = {}
        for _ in range(3):  # `use crate::data; use data::panel::Panel;` needs a second round
            for segs, alias, off in uses:
                r = self.resolve(mod, inline_at(off), segs, aliases)
                name = alias or (segs[-2] if segs[-1] == "self" and len(segs) > 1 else segs[-1])
                if name in ("*", "_", "self"):
                    continue
                if r[0] == "local" and r[2]:
                    aliases[name] = ("local", r[1])
                elif r[0] == "extern" and alias:
                    aliases[name] = ("extern", tuple(r[1]))
        refs = [(segs, off, True) for segs, _, off in uses]
        refs += [(re.split(r"\s*::\s*", m.group().strip()), m.start(), False) for m in PATH.finditer(s)]
        for segs, off, is_use in refs:
            if segs[0] == "":
                segs = ["::"] + segs[1:]
            r = self.resolve(mod, inline_at(off), segs, aliases)
            where = (self.rel(path), line_of(s, off), "::".join(segs).replace("::::", "::"))
            if r[0] == "extern":
                if r[1]:
                    self.externs.append((r[1],) + where)
            elif r[1] != mod and not (is_use and r[2] and r[1] == mod[:len(r[1])]):
                self.refs.append((mod, r[1]) + where)


def line_of(s, off):
    return s.count("\n", 0, off) + 1


def show(mod):
    return "::".join(mod) or "crate"


def sccs(nodes, adj):
    """Tarjan's strongly connected components, iterative."""
    index, low, stack, on, out = {}, {}, [], set(), []
    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root), on.add(root)
        work = [(root, iter(sorted(adj.get(root, ()))))]
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w), on.add(w)
                    work.append((w, iter(sorted(adj.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while not comp or comp[-1] != v:
                        comp.append(stack.pop())
                        on.discard(comp[-1])
                    out.append(sorted(comp))
    return out


def shortest_cycle(start, comp, adj):
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(adj.get(v, ())):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return path[::-1]
                if w in comp and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start]


def check_crate(crate, rules):
    out = list(crate.errors)
    edges = {}
    for a, b, file, line, text in crate.refs:
        if b == a[:len(b)]:
            if b:
                kin = "parent" if len(b) == len(a) - 1 else "ancestor"
                out.append((file, line, "parent", f"module {show(a)} uses {text} from its {kin} {show(b)}'s own "
                            f"file {crate.rel(crate.modules[b])}; import it from the submodule of {show(b)} that "
                            f"defines it, or move it into a submodule both can import"))
        else:
            edges.setdefault((a, b), (file, line, text))
    adj = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
    for comp in sccs(sorted(crate.modules), adj):
        if len(comp) < 2:
            continue
        cycle = shortest_cycle(comp[0], set(comp), adj)
        for i in range(len(cycle)):
            loop = cycle[i:] + cycle[:i]
            file, line, text = edges[(loop[0], loop[1 % len(loop)])]
            chain = "".join(f", which imports {show(m)}" for m in loop[2:] + [loop[0]])
            rest = sorted(set(comp) - set(cycle))
            extra = f" (the knot also holds {', '.join(map(show, rest))})" if rest else ""
            out.append((file, line, "cycle", f"module {show(loop[0])} imports {show(loop[1 % len(loop)])} ({text}){chain}: cycle "
                        f"{' -> '.join(map(show, loop + [loop[0]]))}{extra}; move the shared item into a "
                        f"module {'both' if len(cycle) == 2 else 'all of them'} can import"))
    reason = f"; {rules['reason']}" if rules.get("reason") else ""
    for segs, file, line, text in crate.externs:
        if segs[0] in rules.get("forbidden", ()):
            out.append((file, line, "forbidden", f"{crate.name} must not use the {segs[0]} crate ({text}){reason}"))
        for fp in rules.get("forbidden_paths", ()):
            if segs[:len(fp.split("::"))] == fp.split("::"):
                out.append((file, line, "forbidden", f"{crate.name} must not use {fp} ({text}){reason}"))
    return out


def load_config(path):
    crates = tomllib.loads(path.read_text(encoding="utf-8")).get("crates", {})
    for name, rules in crates.items():
        unknown = set(rules) - {"src", "root", "forbidden", "forbidden_paths", "reason"}
        bad = [n for n in rules.get("forbidden", []) if not re.fullmatch(ID, n)]
        if unknown or "src" not in rules or bad:
            sys.exit(f"{path}: [crates.{name}] needs src; unknown keys {sorted(unknown)}; not Rust crate names {bad}")
    return crates


def run(base, crates):
    """(violations, summary) for the crates of a config, paths relative to base."""
    violations, nmods, nrefs = [], 0, 0
    for name, rules in crates.items():
        src = base / rules["src"]
        root = rules.get("root") or ("lib.rs" if (src / "lib.rs").is_file() else "main.rs")
        if not (src / root).is_file():
            violations.append((rules["src"], 0, "tree", f"crate {name}: no {root} in {rules['src']}"))
            continue
        crate = Crate(name, base, src, root)
        nmods, nrefs = nmods + len(crate.modules), nrefs + len(crate.refs)
        violations += check_crate(crate, rules)
    return sorted(set(violations)), f"{len(crates)} crates, {nmods} modules, {nrefs} references"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=pathlib.Path, default=ROOT / ".ci" / "layering.toml")
    ap.add_argument("--self-test", action="store_true", help="check the checker on planted crates")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    violations, summary = run(ROOT, load_config(args.config))
    for file, line, rule, msg in violations:
        print(f"{file}:{line}: {rule}: {msg}")
    if violations:
        print(f"layering: {len(violations)} violations ({summary})", file=sys.stderr)
        return 1
    print(f"layering: {summary}, no cycles, no parent-module imports, no forbidden imports")
    return 0


LIB_AB = {"lib.rs": "pub mod a;\npub mod b;\n"}
CASES = [  # (name, files under demo/src, extra config, rules expected, text expected in a message)
    ("clean crate", {"lib.rs": "pub mod a;\npub mod b;\npub use a::X;\npub struct Root;\n",
                     "a/mod.rs": "pub mod inner;\nuse crate::{b::Y, Root};\npub struct X(pub Y);\n"
                                 "fn f<'a>(s: &'a str) -> char { let _ = s; '{' }\n",
                     "a/inner.rs": "pub(in crate::a) fn g() -> crate::b::Y { crate::b::Y }\n",
                     "b.rs": "use super::Root;\npub struct Y;\npub fn h(_: Root) {}\n"}, {}, set(), ""),
    ("two-module cycle", dict(LIB_AB, **{"a.rs": "use crate::b::Y;\npub struct X;\n",
                                         "b.rs": "use crate::a::X;\npub struct Y;\n"}), {}, {"cycle"}, "a -> b -> a"),
    ("three-module cycle through inline paths",
     {"lib.rs": "mod a;\nmod b;\nmod c;\n", "a.rs": "pub struct X;\npub fn fa() -> crate::b::Y { todo!() }\n",
      "b.rs": "pub struct Y;\npub fn fb() -> crate::c::Z { todo!() }\n",
      "c.rs": "pub struct Z;\npub fn fc() -> super::a::X { todo!() }\n"}, {}, {"cycle"}, "a -> b -> c -> a"),
    ("cycle through grouped uses", {"lib.rs": "mod a;\nmod b;\nmod c;\n",
                                    "a.rs": "use crate::{c::Z, b::{self, Y}};\npub struct X;\n",
                                    "b.rs": "use self::super::a::X;\npub struct Y;\n", "c.rs": "pub struct Z;\n"},
     {}, {"cycle"}, "a -> b -> a"),
    ("child uses its parent's own item", {"lib.rs": "mod p;\n", "p/mod.rs": "pub mod child;\npub mod sibling;\npub struct Thing;\n",
                                          "p/child.rs": "use super::Thing;\n", "p/sibling.rs": "pub struct Other;\n"},
     {}, {"parent"}, "p::child uses super::Thing"),
    ("child uses its sibling through super", {"lib.rs": "mod p;\n", "p/mod.rs": "pub mod child;\npub mod sibling;\npub use sibling::Thing;\n",
                                              "p/child.rs": "use super::sibling::Thing;\nuse crate::p;\nfn f() -> p::sibling::Thing { super::sibling::Thing }\n"
                                                            "mod inner {\n    use super::super::sibling::Thing;\n}\n",
                                              "p/sibling.rs": "pub struct Thing;\n"}, {}, set(), ""),
    ("forbidden crate", {"lib.rs": "use axum::Router;\n"}, {"forbidden": ["axum"]}, {"forbidden"}, "axum crate"),
    ("forbidden names only in comments, docs and strings",
     {"lib.rs": '//! Not `axum::Router`.\n// use axum::Router;\n/// axum::serve\n/* a /* nested axum::x */ axum::y */\n'
                'const S: &str = "use axum::Router;";\nconst Q: char = \'"\';\nconst R: &str = r#"axum::x "q" "#;\n'
                'const B: &[u8] = b"axum::z";\nconst E: char = \'\\\'\';\npub fn f() {}\n'}, {"forbidden": ["axum"]}, set(), ""),
    ("cycle edge only in test code", dict(LIB_AB, **{"a.rs": "pub struct X;\nmod tests;\n#[cfg(test)]\nmod tests2 {\n    use crate::b::Y;\n}\n",
                                                     "a/tests.rs": "use crate::b::Y;\nuse axum::Router;\n",
                                                     "b.rs": "use crate::a::X;\npub struct Y;\n#[cfg(test)]\nuse axum::Router;\n"}),
     {"forbidden": ["axum"]}, set(), ""),
    ("forbidden path", {"lib.rs": "use vigil_core::{output::RunWriter, forecast::Model};\n"},
     {"forbidden_paths": ["vigil_core::forecast"]}, {"forbidden"}, "vigil_core::forecast::Model"),
    ("forbidden path through a renamed crate", {"lib.rs": "use vigil_core as core_;\npub fn f(_: core_::forecast::Model) {}\n"},
     {"forbidden_paths": ["vigil_core::forecast"]}, {"forbidden"}, "core_::forecast::Model"),
    ("allowed paths of the same crate", {"lib.rs": "use vigil_core::output::RunWriter;\npub fn f(_: vigil_core::Classification) {}\n"},
     {"forbidden_paths": ["vigil_core::forecast"], "forbidden": ["axum"]}, set(), ""),
    ("missing module file", {"lib.rs": "mod gone;\n"}, {}, {"tree"}, "gone.rs"),
]


def self_test():
    passed, failed = 0, 0
    for name, files, extra, want, text in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            base = pathlib.Path(tmp)
            for rel, body in files.items():
                (base / "demo/src" / rel).parent.mkdir(parents=True, exist_ok=True)
                (base / "demo/src" / rel).write_text(body, encoding="utf-8")
            toml = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in extra.items())
            (base / "layering.toml").write_text(f'[crates.demo]\nsrc = "demo/src"\n{toml}', encoding="utf-8")
            violations, _ = run(base, load_config(base / "layering.toml"))
        got = {v[2] for v in violations}
        if got == want and (not text or any(text in v[3] for v in violations)):
            passed += 1
        else:
            failed += 1
            print(f"self-test FAILED: {name}: expected {sorted(want) or 'no violations'}, got:")
            for v in violations or [("-", 0, "-", "no violations")]:
                print(f"    {v[0]}:{v[1]}: {v[2]}: {v[3]}")
    print(f"self-test: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
