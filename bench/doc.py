"""docs/benchmarks.md is shared by the bench modules: each one rewrites only its own marked section."""

import os
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

HEADER = """# Benchmarks

Produced by `make bench`; each section names the module that wrote it (`python -m bench.<module>`), and
every figure in a section comes from one run on one machine ({cores} cores, {cpu}), so compare the ratios,
not the seconds, across machines.
"""


def cpu() -> str:
    with open("/proc/cpuinfo") as info:
        return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section between `<!-- bench:name -->` markers, leaving the others alone."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = DOC.read_text() if DOC.exists() else HEADER.format(cores=os.cpu_count(), cpu=cpu())
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
