"""Benchmark helpers: describe the machine, and update one section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_DOC = REPO_ROOT / "docs" / "benchmarks.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    return (
        f"Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}."
    )


def command_line() -> str:
    script = Path(sys.argv[0]).resolve()
    relative = script.relative_to(REPO_ROOT) if script.is_relative_to(REPO_ROOT) else script
    return " ".join([".venv/bin/python", str(relative), *map(shlex.quote, sys.argv[1:])])


def write_section(title: str, subsection: str, body: str, path: Path = BENCHMARKS_DOC) -> None:
    """Replace (or append) `### subsection` inside `## title`, keeping every other section as it was."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    section_pattern = re.compile(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", re.S | re.M)
    match = section_pattern.search(text)
    section = match.group(1) if match else "\n"
    block = f"### {subsection}\n\n{body.strip()}\n\n"
    sub_pattern = re.compile(rf"^### {re.escape(subsection)}\n.*?(?=^### |\Z)", re.S | re.M)
    if sub_pattern.search(section):
        section = sub_pattern.sub(lambda _: block, section)
    else:
        section = section.rstrip("\n") + "\n\n" + block
    new_section = f"## {title}\n{section}"
    if match:
        text = text[: match.start()] + new_section + text[match.end() :]
    else:
        text = text.rstrip("\n") + "\n\n" + new_section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
