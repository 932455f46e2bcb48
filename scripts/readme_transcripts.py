"""Run the first commands of the README's newcomer's path and keep what they print.

    python scripts/readme_transcripts.py            # all, about 25 minutes on 2 cores
    python scripts/readme_transcripts.py --only train,eval
    python benchmarks/reproduce.py --report         # the README's transcript blocks

Each command runs from a fresh temporary folder (so `runs/` is its own) exactly as the
README writes it; the lines a newcomer looks at are kept (the data line, one progress line,
validation and test lines, where the outputs went) with the wall time, the machine and
the load average, in results/transcripts/<name>.json (more than six validation lines: the
first two, "...", the last two). `benchmarks/reproduce.py --report`
fills the README's blocks `transcript_<name>` from those files, so the README shows what
the code printed, never numbers typed by hand. A command whose data is missing is skipped
with a line saying so.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from rankjax import rundir  # noqa: E402
from rankjax.platform import machine  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data")
IMAGES = ("../shared/data/UCF_CC_50/3.jpg",
          "../shared/data/ShanghaiTech/part_B/test_data/images/IMG_1.jpg")
# name: (the README's command, the data it needs or None). They run in order in one folder:
# eval reads the run that train wrote.
COMMANDS = {
    "train": ("python train.py --task crowd", None),
    "eval": ("python eval.py --workdir runs/crowd_cpu_small", None),
    "images": ("python eval.py --workdir runs/crowd_cpu_small --images " + " ".join(IMAGES),
               SHARED),
    "shb": ("python train.py --preset crowd_shb_cpu_small --data_dir "
            "../shared/data/ShanghaiTech --paradigm baseline --quiet", SHARED),
    "to_label": ("python eval.py --workdir runs/crowd_shb_cpu_small --to_label "
                 "../shared/data/UCF_CC_50 --output tolabel", SHARED),
    "cells": ("python train.py --preset crowd_folder_cpu --data_dir ~/data/vgg_cells "
              "--object_name cells --quiet", os.path.expanduser("~/data/vgg_cells")),
    "cells_small": ("python train.py --preset crowd_folder_cpu_small --data_dir "
                    "~/data/vgg_cells --object_name cells --quiet",
                    os.path.expanduser("~/data/vgg_cells")),
    "devices": ("XLA_FLAGS=--xla_force_host_platform_device_count=8 python train.py --task "
                "crowd --workdir runs/eight_devices --steps 40 --eval_every 40 --quiet", None),
}
LOGGED = re.compile(r"^\d\d:\d\d:\d\d [A-Z]+ ")   # a log line's time stamp and level
KEEP_LOGGED = re.compile(r"^data: |^devices: ")
VALIDATION = re.compile(r"^step \d+: validation")
MOST_VALIDATIONS = 6   # more: the first two, "...", the last two
KEEP_PRINTED = re.compile(r"^step \d+: validation|^test metrics|^training-mean predictor|"
                          r"^run directory|^outputs|^\S+\.(jpg|png)\t|^\d+ images, certainty|"
                          r"^[1-3]\t")


def shorten(output: str) -> list[str]:
    """The lines worth showing, in the order they were written: the data line of the log
    (without its time stamp), the progress bar closest to three eighths of the run (tqdm
    redraws it with carriage returns) in its place, and the printed results."""
    lines, bars, bar_at = [], [], None
    for line in re.split(r"[\r\n]+", output):
        line = line.strip()
        if re.search(r"\| *\d+/\d+ \[", line):
            bars.append(line)
            bar_at = len(lines) if bar_at is None else bar_at
        elif LOGGED.match(line):
            if KEEP_LOGGED.search(LOGGED.sub("", line)):
                lines.append(LOGGED.sub("", line))
        elif KEEP_PRINTED.search(line):
            lines.append(line)
    validations = [i for i, line in enumerate(lines) if VALIDATION.match(line)]
    if len(validations) > MOST_VALIDATIONS:
        dropped = set(validations[2:-2])
        first = min(dropped)
        lines = [("..." if i == first else line) for i, line in enumerate(lines)
                 if i == first or i not in dropped]
        bar_at = bar_at if bar_at is None or bar_at <= first else \
            bar_at - len(dropped) + 1
    if bars:
        def distance(bar):
            step, total = map(int, re.search(r"(\d+)/(\d+) \[", bar).groups())
            return abs(step / total - 3 / 8)
        lines.insert(bar_at, min(bars, key=distance))
    return lines


def run(name: str, command: str, folder: str) -> dict:
    start, load = time.time(), os.getloadavg()[0]
    # The README's paths are relative to the repository's root and runs/ to the folder;
    # leading NAME=value words set the environment, as a shell would.
    words = command.split()
    env = {**os.environ, "COLUMNS": "160"}
    while "=" in words[0]:
        name_, value = words.pop(0).split("=", 1)
        env[name_] = value
    argv = [sys.executable, os.path.join(ROOT, words[1]),
            *[os.path.join(ROOT, a) if a.startswith("../") else os.path.expanduser(a)
              for a in words[2:]]]
    done = subprocess.run(argv, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env)
    if done.returncode:
        sys.exit(f"error: `{command}` exited with {done.returncode}:\n{done.stdout[-2000:]}")
    lines = [line.replace(os.path.join(ROOT, ""), "").replace(folder, "/tmp/newcomer")
             .replace(os.path.expanduser("~/"), "~/") for line in shorten(done.stdout)]
    return {"name": name, "command": command, "lines": lines,
            "seconds": round(time.time() - start, 1),
            "load_average_before": round(load, 2), "machine": machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", default=os.path.join(ROOT, "results", "transcripts"))
    parser.add_argument("--only", default="",
                        help="comma-separated names (default: all; the later ones read the "
                             "runs the earlier ones wrote, so run them in one go)")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    os.makedirs(args.output_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        for name, (command, needs) in COMMANDS.items():
            if only and name not in only:
                continue
            if needs and not os.path.isdir(needs):
                print(f"{name}: skipped, {needs} is missing")
                continue
            record = run(name, command, folder)
            rundir.write_json(os.path.join(args.output_dir, f"{name}.json"), record)
            print(f"{name}: {record['seconds']} s, {len(record['lines'])} lines kept")


if __name__ == "__main__":
    main()
