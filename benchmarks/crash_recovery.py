"""Crash recovery: the local cloud killed with SIGKILL at random moments of a 1,000,000-row ingestion.

Run: .venv/bin/python benchmarks/crash_recovery.py [--rows 1000000] [--trials 6] [--seed 100] [--no-write]

The harness of tests/integration/test_crash_recovery.py (`shelfwise_local.crash_trials`) on a large file: an
uninterrupted reference run, then each trial drops the same files into a fresh `shelfwise local up`, kills it
with SIGKILL after a seeded random delay within the reference's ingestion time, restarts it on the same state
dir and compares what landed with the reference (manifests, curated rows per file, rejection reports byte for
byte, DynamoDB catalog and user-activity items, ingested-files log). Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import command_line, machine_line, markdown_table, write_section
from shelfwise_local import crash_trials

SECTION = "Crash recovery"


def large_files(rows: int, seed: int) -> list[crash_trials.DropFile]:
    return [
        crash_trials.DropFile(
            "interactions", "clicks-large.csv", crash_trials.interactions_csv(rows, seed, users=20_000)
        ),
        crash_trials.DropFile(
            "interactions", "clicks-small.csv", crash_trials.interactions_csv(20_000, seed + 1, users=20_000)
        ),
        crash_trials.DropFile("catalog", "catalog.csv", crash_trials.catalog_csv(20_000)),
        crash_trials.DropFile("sales", "no-header.csv", b"this is not the sales export\n1,2,3\n"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for every manifest")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)

    files = large_files(args.rows, args.seed)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="shelfwise-crash-") as root_name:
        root = Path(root_name)
        reference, ingest_seconds = crash_trials.run_files(root / "reference", root, files, args.timeout)
        landed = {key: manifests[0]["rows_landed"] for key, manifests in reference.manifests.items()}
        print(f"reference: {ingest_seconds:.1f} s, rows landed {landed}", flush=True)
        passed = 0
        for trial_number in range(args.trials):
            seed = args.seed + trial_number
            started = time.monotonic()
            trial = crash_trials.run_trial(
                root / f"trial-{seed}",
                root,
                files,
                seed=seed,
                kill_window=ingest_seconds,
                reference=reference,
                timeout=args.timeout,
            )
            passed += trial.passed
            large_key = f"incoming/interactions/{files[0].name}"
            large_rows = trial.outcome.curated_rows.get(large_key, 0)
            manifests = len(trial.outcome.manifests.get(large_key, []))
            announced = max(trial.outcome.log_items.values(), default=0)
            print(
                f"trial seed {seed}: killed after {trial.kill_after_seconds:.1f} s "
                f"({trial.manifests_before_kill} of {len(files)} manifests), recovered in "
                f"{trial.recovery_seconds:.1f} s, {'ok' if trial.passed else trial.differences}, "
                f"{time.monotonic() - started:.0f} s in all",
                flush=True,
            )
            rows.append(
                [
                    str(seed),
                    f"{trial.kill_after_seconds:.1f}",
                    f"{trial.manifests_before_kill} of {len(files)}",
                    f"{trial.recovery_seconds:.1f}",
                    f"{large_rows:,} of {landed[large_key]:,}",
                    str(manifests),
                    str(announced),
                    "yes" if trial.passed else "no: " + "; ".join(trial.differences)[:200],
                ]
            )

    table = markdown_table(
        [
            "seed",
            "killed after (s)",
            "manifests at the kill",
            "restart to all landed (s)",
            f"curated rows of the {args.rows:,}-row file",
            "its manifests",
            "most log items for a file",
            "identical to the uninterrupted run",
        ],
        rows,
    )
    body = f"""Command: `{command_line()}`

{machine_line()}

Files: an interactions CSV of {args.rows:,} rows (about 1% invalid), a 20,000-row interactions file with the
same users, a 20,000-row catalog, and a sales file rejected whole. Uninterrupted run: {ingest_seconds:.1f} s
from drop to the last manifest. Each trial kills `shelfwise local up` with SIGKILL after a seeded random delay
within that time, restarts it on the same state dir, and compares with the uninterrupted run: one manifest per
file with the same counts, curated rows per file equal to its rows landed, no curated part without a manifest,
the same rejection reports byte for byte, the same DynamoDB catalog and user-activity items, at most one
ingested-files log item (FileIngested/FileRejected) per file. {passed} of {args.trials} trials identical.

{table}
"""
    print(body)
    if not args.no_write:
        write_section(SECTION, "SIGKILL during ingestion", body)
    return 0 if passed == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
