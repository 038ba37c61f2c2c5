"""Medians of a training log's figures per window of env steps, read from SB3's printed tables.

    python -m sb3_wasserstein.benchmarks.log_medians logs/onpolicy/seed0/spo_HalfCheetah-v5.log --window 200000 \
        --keys train/std train/approx_kl train/beta

With ``--verbose 1`` SB3 prints one table per logger dump (the suite runner keeps it as
``<log_folder>/seed<seed>/<algo>_<env>.log``): a ``| section/ |`` line opens each section, ``|    name | value |``
lines follow, and rules of dashes close the table. Each table is read as one record of its numbers, keyed
``section/name``. Records are grouped by their ``time/total_timesteps`` into windows ``(start, start + window]``, and
the median of each key is printed per window (blank where no record of the window has the key; a window where none
has any of the keys is left out, e.g. past a run's last ``train/`` figures).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from sb3_wasserstein.benchmarks import write_rows

_SECTION = re.compile(r"^\|\s*([\w/]+)/\s*\|\s*\|$")
_FIGURE = re.compile(r"^\|\s+(\w+)\s+\|\s*(\S+)\s*\|$")


def read_tables(lines) -> list[dict[str, float]]:
    """One record per printed table: ``{"section/name": value}`` for every numeric figure in it."""
    records, record, section = [], {}, ""
    for line in lines:
        line = line.strip()
        if line.startswith("---"):
            if record:
                records.append(record)
            record, section = {}, ""
        elif match := _SECTION.match(line):
            section = match.group(1)
        elif (match := _FIGURE.match(line)) and section:
            try:
                record[f"{section}/{match.group(1)}"] = float(match.group(2))
            except ValueError:
                continue
    return records


def window_medians(records: list[dict[str, float]], window: int, keys: list[str]) -> list[dict]:
    """Per window ``(start, start + window]`` of ``time/total_timesteps``: its bounds and each key's median over the
    window's records (``""`` where none has it; windows where none has any key are left out)."""
    timed = [record for record in records if "time/total_timesteps" in record]
    if not timed:
        return []
    rows = []
    last = max(record["time/total_timesteps"] for record in timed)
    for start in range(0, int(last), window):
        inside = [record for record in timed if start < record["time/total_timesteps"] <= start + window]
        row = dict(from_step=start, to_step=start + window)
        for key in keys:
            values = [record[key] for record in inside if key in record]
            row[key] = f"{np.median(values):.4g}" if values else ""
        if any(row[key] for key in keys):
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path, help="a training log with SB3's printed tables")
    parser.add_argument("--window", type=int, default=100000, help="env steps per window")
    parser.add_argument("--keys", nargs="+", default=["train/std", "train/approx_kl", "train/beta"])
    parser.add_argument("--out", type=Path, default=None, help="also write the rows to this CSV")
    args = parser.parse_args(argv)
    if args.window < 1:
        parser.error(f"--window must be a positive number of env steps, got {args.window}")
    rows = window_medians(read_tables(args.log.read_text().splitlines()), args.window, args.keys)
    if not rows:
        parser.error(f"{args.log} holds no table with time/total_timesteps (was it trained with --verbose 1?)")
    for row in rows:
        print(" ".join(f"{key} {value}" for key, value in row.items()), flush=True)
    if args.out is not None:
        write_rows(args.out, rows)


if __name__ == "__main__":
    main()
