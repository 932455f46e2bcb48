"""Train a counting or quality network with self-supervised learning to rank.

    python train.py --task crowd                       # synthetic data, CPU, a few minutes
    python train.py --preset crowd_shb --data_dir ~/data/ShanghaiTech --weights_file vgg16.h5
    python train.py --preset crowd_sha_cpu_small --data_dir ~/data/ShanghaiTech --steps 2000

Presets are named after the paper's experiments (python train.py --list_presets). Any
config field can be overridden with --FIELD VALUE. Rerunning the same command resumes.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's C++ start-up notices

from rankjax import cli  # noqa: E402  (CPU flags before JAX starts; no JAX or TensorFlow yet)


def main(argv: list[str] | None = None) -> None:
    args = cli.train_parser(__doc__, argv).parse_args(argv)
    if args.list_presets:
        cli.print_presets()
        return
    # JAX and TensorFlow load here, once --help and --list_presets have answered.
    from rankjax import commands
    commands.train(args)


if __name__ == "__main__":
    cli.stop_cleanly_on_sigterm()
    main()
