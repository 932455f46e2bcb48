"""The `active_learning_shb` table (its note: experiments/notes/active_learning_shb.md)."""

from experiments.declare import AL_SHORT_TRAINING, active_learning

TABLE = (
    active_learning("active_learning_shb", "ShanghaiTech B: active learning by ranking "
                    "consistency vs random labels", "crowd_shb_cpu_small", "ShanghaiTech",
                    AL_SHORT_TRAINING, seeds=(0, 1, 2))
)
