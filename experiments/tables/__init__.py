"""The tables, one module per table (experiments/tables/<name>.py, each defining TABLE),
in the order RESULTS.md shows them. A new table: a module here, its name in ORDER, and its
note in experiments/notes/<name>.md."""

from __future__ import annotations

import importlib

from experiments.declare import Table

ORDER = (
    "label_scarcity_shb",
    "label_scarcity_mall",
    "validation_mall",
    "label_scarcity_clive",
    "paradigms_shb",
    "ranked_sets_clive",
    "active_learning_shb",
    "labels_curve_shb",
    "margin_shb",
    "margin_default",
    "ranked_crops_default",
    "mall_paper_protocol",
    "transfer_shb_to_sha",
    "starved_shb",
    "default_crowd",
    "default_backbone",
    "score_scale_clive",
    "rank_only_clive",
    "starved_clive",
    "pretrained_tuning_shb",
    "pretrained_schedule",
    "pretrained_presets",
    "pretrained_presets_clive",
    "smoke",
)

# The tables that test the paper's claim where labels limit the model (issue 29): the
# README and docs/claims.md show their verdicts (block `claims`).
CLAIM_TABLES = ("mall_paper_protocol", "transfer_shb_to_sha", "starved_shb", "starved_clive")

# Tables of presets, whose README blocks give per cell the command, the test metric and the
# training-mean predictor's (experiments.reproduce.presets_block).
PRESET_TABLES = ("pretrained_presets", "pretrained_presets_clive")

# The runs that show what a real-data CPU preset reaches with every label (the README's
# "CPU presets on real data", block `cpu_presets`): (table, cell).
PRESET_CELLS = (("label_scarcity_mall", "baseline_100%"), ("label_scarcity_shb", "baseline_100%"))


def load() -> dict[str, Table]:
    tables = {name: importlib.import_module(f"experiments.tables.{name}").TABLE
              for name in ORDER}
    for name, table in tables.items():
        if table.name != name:
            raise ValueError(f"experiments/tables/{name}.py declares table {table.name!r}")
    return tables
