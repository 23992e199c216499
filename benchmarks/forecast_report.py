"""For the forecasting benchmarks: machine description and the Forecasting section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
from importlib.metadata import version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_DOC = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = "## Forecasting"


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), flags=re.MULTILINE)
        cpu = names[0] if names else cpu
    return (
        f"{cpu}, {os.cpu_count()} vCPU visible (shared), Python {platform.python_version()}, "
        f"statsforecast {version('statsforecast')}, pandas {version('pandas')}, numpy {version('numpy')}"
    )


def write_subsection(title: str, body: str, doc: Path = BENCHMARKS_DOC) -> None:
    """Replace (or add) `### title` inside the Forecasting section; every other section is left as it is."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    subsection = f"### {title}\n\n{body.strip()}\n"
    if SECTION not in text:
        text = text.rstrip() + f"\n\n{SECTION}\n\n{subsection}"
    else:
        start = text.index(SECTION)
        following = re.search(r"^## ", text[start + len(SECTION) :], flags=re.MULTILINE)
        end = start + len(SECTION) + following.start() if following else len(text)
        section = text[start:end]
        pattern = re.compile(rf"^### {re.escape(title)}\n.*?(?=^### |\Z)", flags=re.MULTILINE | re.DOTALL)
        if pattern.search(section):
            section = pattern.sub(lambda _: subsection + "\n", section)
        else:
            section = section.rstrip() + f"\n\n{subsection}\n"
        text = text[:start] + section.rstrip() + "\n\n" + text[end:].lstrip()
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text.rstrip() + "\n")
