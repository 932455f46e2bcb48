"""How long the command lines take to answer --help, beside what a run loads first.

Each command runs `--repeats` times in a fresh interpreter (medians of the wall time,
rounds interleaved), beside `python -c pass` (the interpreter alone) and `python -c
"import rankjax.commands"` (the library a run loads before it starts: JAX, Flax,
TensorFlow, TFDS; what --help loaded before rankjax/cli.py stopped importing it). Also
counts the modules each command has loaded when it exits. Writes --output.

    python benchmarks/startup.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from rankjax import platform, rundir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = {"python -c pass": ["-c", "pass"],
            "python train.py --help": ["train.py", "--help"],
            "python train.py --task iqa --help": ["train.py", "--task", "iqa", "--help"],
            "python train.py --list_presets": ["train.py", "--list_presets"],
            "python eval.py --help": ["eval.py", "--help"],
            'python -c "import rankjax.commands"': ["-c", "import rankjax.commands"]}
# Prints how many modules are loaded when the script ends (its output goes to /dev/null).
COUNT = ("import atexit, runpy, sys; atexit.register(lambda: print(len(sys.modules), "
         "file=sys.stderr)); sys.argv = {argv!r}; runpy.run_path({path!r}, run_name='__main__')")


def seconds(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def modules_loaded(args: list[str]) -> int:
    if args[0] == "-c":
        code = f"import sys; {args[1]}; print(len(sys.modules), file=sys.stderr)"
    else:
        code = COUNT.format(argv=args, path=os.path.join(ROOT, args[0]))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return int(out.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", default="results/benchmarks/startup.json")
    args = parser.parse_args()
    times = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            times[name].append(seconds(argv))
    library = statistics.median(times['python -c "import rankjax.commands"'])
    rows = []
    for name, argv in COMMANDS.items():
        row = {"command": name, "median_s": statistics.median(times[name]),
               "runs_s": times[name], "modules": modules_loaded(argv)}
        rows.append(row)
        print(f"{name:38s} {row['median_s']:.2f} s (median of {args.repeats}; "
              f"{row['median_s'] / library:.2f} x importing rankjax.commands), "
              f"{row['modules']} modules")
    load = os.getloadavg()[0]
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    rundir.write_json(args.output, {"rows": rows, "machine": platform.machine(),
                                    "load_average_at_end": load, "repeats": args.repeats,
                                    "command": "python benchmarks/startup.py"})
    print(f"load average {load:.2f}; written: {args.output}")


if __name__ == "__main__":
    main()
