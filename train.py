"""Train a counting or quality network with self-supervised learning to rank.

    python train.py --task crowd                       # synthetic data, CPU, a few minutes
    python train.py --preset crowd_shb --data_dir ~/data/ShanghaiTech --weights_file vgg16.h5
    python train.py --preset crowd_sha_cpu_small --data_dir ~/data/ShanghaiTech --steps 2000

Presets are named after the paper's experiments (python train.py --list_presets). Any
config field can be overridden with --FIELD VALUE. Rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's C++ start-up notices

import rankjax  # noqa: E402,F401  (CPU flags before JAX starts)
from rankjax import cli, presets  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from rankjax import tasks

    parser.add_argument("--task", choices=tasks.TASKS.names(), default="crowd",
                        help="crowd counting or image quality (picks the default preset)")
    parser.add_argument("--preset", help="a preset name (default: crowd_cpu_small or "
                        "iqa_cpu_small, the embedded synthetic data at CPU scale)")
    parser.add_argument("--workdir", help="run directory (default: runs/<preset name>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete a run in --workdir whose config differs in anything (else "
                        "a different one is refused, and one that differs only in --steps "
                        "or another resumable setting is resumed)")
    parser.add_argument("--list_presets", action="store_true", help="print the presets and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    cli.add_debug_option(parser)
    cli.add_config_options(parser, cli.chosen_preset(argv))
    args = parser.parse_args(argv)
    if args.list_presets:
        for name, preset in sorted(presets.PRESETS.items()):
            print(f"{name:28s} task={preset.task} dataset={preset.dataset} "
                  f"paradigm={preset.paradigm} steps={preset.steps}")
        return
    if args.preset and args.preset in presets.PRESETS:
        args.task = presets.PRESETS[args.preset].task
    cli.setup_logging()
    with cli.user_errors(args.debug, also=(KeyError, ValueError)):
        cfg = cli.config_from_args(args)
    workdir = args.workdir or os.path.join("runs", cfg.name)
    from rankjax import storage

    from rankjax import experiment, sharding
    sharding.maybe_initialize_distributed(cfg.distributed)
    with cli.user_errors(args.debug, also=(ValueError,)):
        sharding.check_batch_split(cfg.labeled_batch, cfg.ranked_groups)
    if cfg.active_learning:
        from rankjax import active
        with cli.user_errors(args.debug):
            rows = active.run(cfg, workdir, args.overwrite, progress=not args.quiet)
        for row in rows:
            metrics = {k: v for k, v in row.items()
                       if k not in ("cycle", "labeled", "labeled_fraction")}
            print(f"cycle {row['cycle']}: {row['labeled']} labeled "
                  f"({100 * row['labeled_fraction']:.0f}%), test metrics: {json.dumps(metrics)}")
        print(f"selections: {storage.absolute(storage.join(workdir, 'selected.csv'))}")
        print(f"curve: {storage.absolute(storage.join(workdir, 'active_learning.png'))}")
        return
    with cli.user_errors(args.debug):
        metrics = experiment.train_and_evaluate(cfg, workdir, args.overwrite,
                                                progress=not args.quiet)
    print(f"test metrics: {json.dumps(metrics)}")
    last = storage.join(workdir, "test_last", "results.json")
    if storage.exists(last):
        print(f"test metrics of the last checkpoint: "
              f"{json.dumps(json.loads(storage.read_text(last))['metrics'])}")
    summary = storage.join(workdir, "summary.json")
    if storage.exists(summary):
        print(f"training-mean predictor (the labeled images' mean for every test image): "
              f"{json.dumps(json.loads(storage.read_text(summary))['training_mean'])}")
    print(f"run directory: {storage.absolute(workdir)}")


if __name__ == "__main__":
    cli.stop_cleanly_on_sigterm()
    main()
