#!/usr/bin/env python3
"""docs_check.py — every code block of the READMEs is code the tests run.

Usage: docs_check.py FFB_BIN README...

A block may be:
- ```rust in rust/README.md: the crate's doctests (rust/src/lib.rs
  includes the README), so `cargo test` compiles and runs it;
- ```go or ```c preceded by `<!-- code: PATH -->`: its lines are a
  contiguous run of PATH's lines (each with the same leading whitespace
  added), and PATH is a file the tests compile and run (a Go Example
  function, a C file of tests/docs/ built by `make test-docs`);
- ```sh (or a bare fence): commands, checked here: `make T` names a
  target of the Makefile, `ffb CMD --opt` a command and option that
  `ffb CMD --help` lists, `--example NAME` a file of rust/examples/,
  `go run ./X` a folder.
Anything else fails.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blocks(path):
    """Yields (line number, language, marker, lines) per fenced block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        marker = lines[i - 1].strip() if i > 0 else ""
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        if j == len(lines):
            raise SystemExit(f"{path}:{start + 1}: unterminated code block")
        yield start + 1, lang, marker, lines[i + 1 : j]
        i = j + 1


def is_excerpt(block, source):
    """True when block is a run of source's lines, each with one prefix."""
    block = [l.rstrip() for l in block]
    source = [l.rstrip() for l in source]
    first = block[0]
    for k, line in enumerate(source):
        if not line.endswith(first) or line[: len(line) - len(first)].strip():
            continue
        prefix = line[: len(line) - len(first)]
        run = source[k : k + len(block)]
        if len(run) == len(block) and all(
            s == (prefix + b if b else "") or (not b and not s.strip()) for s, b in zip(run, block)
        ):
            return True
    return False


def makefile_targets():
    text = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read()
    for inc in re.findall(r"^include\s+(\S+)", text, re.M):
        text += open(os.path.join(ROOT, inc), encoding="utf-8").read()
    return set(re.findall(r"^([A-Za-z][\w.-]*)\s*:", text, re.M))


help_cache = {}


def ffb_help(ffb, cmd):
    if cmd not in help_cache:
        p = subprocess.run([ffb, cmd, "--help"], capture_output=True, text=True, timeout=10)
        help_cache[cmd] = (p.returncode, p.stdout + p.stderr)
    return help_cache[cmd]


def check_commands(readme, lineno, lines, ffb, errors):
    here = os.path.dirname(readme)
    targets = makefile_targets()
    for k, line in enumerate(lines):
        where = f"{readme}:{lineno + 1 + k}"
        code = line.split("#", 1)[0]
        for part in re.split(r"&&|;|\||\(|\)", code):
            words = part.split()
            if not words:
                continue
            if words[0] == "make":
                for w in words[1:]:
                    if "=" not in w and not w.startswith("-") and w not in targets:
                        errors.append(f"{where}: `make {w}`: no such target in the Makefile")
            if os.path.basename(words[0]) == "ffb" and len(words) > 1:
                rc, text = ffb_help(ffb, words[1])
                if rc != 0:
                    errors.append(f"{where}: `ffb {words[1]} --help` failed: {text.strip()}")
                    continue
                for w in words[2:]:
                    if w.startswith("--") and not re.search(re.escape(w.split("=")[0]) + r"\b", text):
                        errors.append(f"{where}: `ffb {words[1]}` has no option {w}")
            if "--example" in words:
                name = words[words.index("--example") + 1]
                if not os.path.exists(os.path.join(ROOT, "rust", "examples", name + ".rs")):
                    errors.append(f"{where}: no Rust example {name}")
            if words[:2] == ["go", "run"]:
                target = words[2]
                if not os.path.isdir(os.path.join(here, target)):
                    errors.append(f"{where}: go run {target}: no such folder")


def main():
    ffb, readmes = sys.argv[1], sys.argv[2:]
    errors, counts = [], {}
    for readme in readmes:
        rel = os.path.relpath(readme, ROOT)
        for lineno, lang, marker, lines in blocks(readme):
            where = f"{rel}:{lineno}"
            m = re.match(r"^<!-- code: (\S+) -->$", marker)
            if lang == "rust":
                lib = open(os.path.join(ROOT, "rust/src/lib.rs"), encoding="utf-8").read()
                if rel != "rust/README.md" or 'include_str!("../README.md")' not in lib:
                    errors.append(f"{where}: a Rust block outside the crate's doctests")
            elif lang in ("go", "c"):
                if not m:
                    errors.append(f"{where}: a {lang} block without `<!-- code: PATH -->` before it")
                    continue
                path = os.path.join(ROOT, m.group(1))
                if not os.path.exists(path):
                    errors.append(f"{where}: {m.group(1)} does not exist")
                elif not is_excerpt(lines, open(path, encoding="utf-8").read().split("\n")):
                    errors.append(f"{where}: the block is not a run of lines of {m.group(1)}")
            elif lang in ("sh", ""):
                check_commands(readme, lineno, lines, ffb, errors)
            else:
                errors.append(f"{where}: a ```{lang} block nothing checks")
            counts[lang or "sh"] = counts.get(lang or "sh", 0) + 1
    for e in errors:
        print("docs:", e)
    print("docs: blocks checked:", ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
          "--", "FAILED" if errors else "ok")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
