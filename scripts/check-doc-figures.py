#!/usr/bin/env python3
"""Fails when a measured figure is stated in more than one document.

A figure lives in one place: the README (the headline figures, with their
commands) or Benchmarks/README.md (the tables); the DocC articles and the
examples' READMEs point there. This reads those documents (prose and tables,
not code blocks) and lists every figure that two of them state.

A figure is a number with a unit that a measurement gives: any decimal
(0.82x, 1.5 ms), a ratio (3x), a duration in ns or µs, a rate (k ports/s), a
count of bytes, or a thousands-separated count with a unit (33,040 bytes).
Whole numbers of MB, MiB, GB, ms, s or % are settings (a 64 MB heap, a 100 ms
hold, 30 s) and are not checked; PARAMETERS below lists the other settings
that documents may share, each with why.

Usage: python3 scripts/check-doc-figures.py
"""
import collections
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

UNITS = r"(?:ns|µs|us|ms|s|MB|MiB|GB|GiB|kB|KiB|KB|bytes|x|%|k ports/s|ports/s|it/s|M/s)"
FIGURE = re.compile(r"(?<![\w.,])(\d[\d,]*(?:\.\d+)?)\s?(" + UNITS + r")(?![\w])")
FENCE = re.compile(r"^```.*?^```\s*$", re.M | re.S)
# Units whose whole numbers are settings, not measurements.
SETTING_UNITS = {"MB", "MiB", "GB", "GiB", "kB", "KiB", "KB", "ms", "s", "%"}
# Settings and definitions documents share (number, unit): why.
PARAMETERS = {
    ("8", "bytes"): "a pointer's size",
    ("16", "bytes"): "libgc's smallest object (granule)",
    ("23", "bytes"): "a string port's inline capacity, a constant of the code",
    ("2", "x"): "a goal (at most 2x), not a measurement",
    ("1.1", "x"): "a goal (at most 1.1x), not a measurement",
    ("0.8", "x"): "a goal (at least 0.8x), not a measurement",
    ("0.5", "x"): "a goal (at least 0.5x), not a measurement",
    ("0.6", "x"): "the default budget's heap fraction, a setting",
    ("1.25", "x"): "a goal's bound on peak RSS (at most 1.25x closed's), not a measurement",
}


def documents():
    yield ROOT / "README.md"
    yield ROOT / "Benchmarks" / "README.md"
    yield from sorted(ROOT.glob("Sources/*/*.docc/*.md"))
    yield from sorted(ROOT.glob("Examples/*/README.md"))


def figures(path):
    """(number, unit, line) of every figure in the document's prose."""
    text = path.read_text()
    # Blank out code blocks, keeping their lines so line numbers stay true.
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for match in FIGURE.finditer(text):
        number, unit = match.group(1), match.group(2)
        if unit in SETTING_UNITS and "." not in number and "," not in number:
            continue
        if unit == "x" and re.match(r"\s*\d", text[match.end():]):
            continue  # "3 x 1M inserts": a product, not a ratio
        if (number, unit) in PARAMETERS:
            continue
        yield number, unit, text.count("\n", 0, match.start()) + 1


def main():
    where = collections.defaultdict(list)
    for path in documents():
        for number, unit, line in figures(path):
            where[(number, unit)].append(f"{path.relative_to(ROOT)}:{line}")
    twice = {
        figure: places
        for figure, places in where.items()
        if len({place.rsplit(":", 1)[0] for place in places}) > 1
    }
    for (number, unit), places in sorted(twice.items()):
        print(f"{number} {unit} is stated in more than one document: {', '.join(places)}")
    if twice:
        print(f"{len(twice)} figures are stated twice: keep each in one document and point there from the others")
        return 1
    print("no figure is stated in two documents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
