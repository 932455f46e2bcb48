"""The vocabulary of the experiment tables: a `Table` of `Cell`s (a preset plus overrides),
`Claim`s between cells, seeds, and the settings shared by several tables. Tables are
declared in experiments/tables/, one module each; experiments.reproduce runs and reports
them."""

from __future__ import annotations

import dataclasses

from rankjax import presets, tasks


@dataclasses.dataclass(frozen=True)
class Cell:
    name: str
    preset: str
    overrides: dict = dataclasses.field(default_factory=dict)
    data_subdir: str = ""        # joined to --data_dir for the cell's data_dir


@dataclasses.dataclass(frozen=True)
class Claim:
    """`better` should beat `worse` on `metric` (e.g. multitask vs baseline at 10 %), or,
    with `matches`, be no worse than it by more than the seed spread (e.g. ranking-chosen
    labels at 20 % vs random ones at 40 %). In curve tables a cell is "<cell>@<cycle>".
    `needs` (better, worse): a matching claim says something only if this gap exists (e.g.
    random labels at 40 % beat random ones at 20 %); without it the verdict is
    inconclusive."""
    text: str
    better: str
    worse: str
    matches: bool = False
    needs: tuple[str, str] | None = None
    # The paper's relative gain for this claim (e.g. 0.068: its MAE 14.7 -> 13.7), declared
    # before the runs: a confidence interval that ends below it excludes a paper-sized
    # effect.
    paper_gain: float | None = None
    # matches claims: how much worse `better` may be (a share of `worse`'s mean).
    margin: float | None = None
    # Whether the paper makes this claim (None: as the table says); e.g. the paper has no
    # 10 % or 25 % crowd experiments, so "ranking helps at 10 %" is ours.
    papers: bool | None = None

    def whose(self, table: "Table") -> str:
        return "paper" if (table.papers_claims if self.papers is None else self.papers) \
            else "ours"


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    title: str
    cells: tuple[Cell, ...]
    metric: str                  # the headline metric (mae: lower is better; srocc: higher)
    claims: tuple[Claim, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
    x_field: str = "labeled_fraction"    # plot: x axis
    line_field: str = "paradigm"         # plot: one line per value
    paper: dict = dataclasses.field(default_factory=dict)  # cell name -> the paper's number
    # Metrics also shown for each run's last checkpoint (column `<metric>_last`); default:
    # the headline metric, and count_ratio in crowd tables (ranking moves the count level).
    last_metrics: tuple[str, ...] = ()
    # "cells": one number per run; "curve": active-learning runs, one number per cycle
    # (rows "<cell>@<cycle>"), cells that are not active-learning runs drawn as references.
    kind: str = "cells"
    # False: the claims are ours (explanations of what the paper's tables showed here).
    papers_claims: bool = True
    # Which split the headline metric comes from: "test" (the best checkpoint on
    # validation, scored on test), or "validation" (a sweep that chooses a setting: its
    # test numbers are not shown, so nothing is chosen on them).
    split: str = "test"
    # When the table was declared (claims, metric, checkpoint and seeds fixed before any
    # of its runs).
    declared: str = ""

    @property
    def higher_is_better(self) -> bool:
        """Which way the headline metric is better, as the task of the table's cells says."""
        return tasks.get(presets.get_preset(self.cells[0].preset).task
                         ).metric_higher_is_better(self.metric)

    @property
    def metrics_of_last_checkpoints(self) -> tuple[str, ...]:
        return self.last_metrics or ((self.metric, "count_ratio") if self.metric == "mae"
                                     else (self.metric,))


def scarcity(name, title, preset, subdir, fractions, metric, extra=None, paper=None,
              paper_gain=None, papers_claims=False):
    """Baseline and multitask at each labeled fraction. The paper has crowd numbers with
    every label only (its unlabeled photographs crawled from the web): a claim at a
    fraction below 1 is ours, the one at 1 the paper's where `papers_claims`, with its
    relative gain `paper_gain`."""
    cells, claims = [], []
    for fraction in fractions:
        label = f"{round(fraction * 100)}%"
        for paradigm in ("baseline", "multitask"):
            cells.append(Cell(f"{paradigm}_{label}", preset,
                              {"paradigm": paradigm, "labeled_fraction": fraction,
                               **(extra or {})}, subdir))
        papers = papers_claims and fraction == 1.0
        claims.append(Claim(f"ranking helps with {label} of the labels",
                            f"multitask_{label}", f"baseline_{label}",
                            paper_gain=paper_gain if papers else None, papers=papers))
    return Table(name, title, tuple(cells), metric, tuple(claims), paper=paper or {},
                 papers_claims=papers_claims)


# Active-learning tables retrain every cycle (4 trainings per run, 2 strategies x 3 seeds):
# a quarter of the scarcity tables' 3,000 steps, to fit the table in a few hours of 2 cores.
AL_SHORT_TRAINING = {"steps": 750, "lr_decay_every": 500, "eval_every": 250,
                     "checkpoint_every": 250}


def active_learning(name, title, preset, subdir, training, seeds, cycles=3,
                     per_cycle=0.1, start=0.1):
    cells = tuple(Cell(strategy, preset, {"active_learning": strategy, "labeled_fraction": start,
                                          "cycles": cycles, "per_cycle": per_cycle, **training},
                       subdir) for strategy in ("ranking", "random"))
    cells += (Cell("all_labels", preset, {"labeled_fraction": 1.0, **training}, subdir),)
    claims = (Claim(f"labels chosen by ranking at {round(100 * (start + per_cycle))}% match "
                    f"random ones at {round(100 * (start + cycles * per_cycle))}%",
                    "ranking@1", f"random@{cycles}", matches=True,
                    needs=(f"random@{cycles}", "random@1"), margin=0.05),
              Claim(f"ranking beats random at {round(100 * (start + per_cycle))}%",
                    "ranking@1", "random@1"))
    return Table(name, title, cells, "mae", claims, seeds=seeds, line_field="strategy",
                 kind="curve")


# CLIVE's ranked sets without Gaussian noise (see the ranked_sets_clive table).
NO_NOISE = "gaussian_blur,jpeg,jpeg2000"
# In a cell's overrides, "{data_dir}" stands for the runner's --data_dir (e.g. folders of
# other datasets for the unlabeled pool). Result files record the placeholder, not a
# machine's path.
DATA_DIR = "{data_dir}"


# The claim tables' seeds: at least 6, so that paired tests can decide (statistics.MIN_SEEDS).
SIX_SEEDS = (0, 1, 2, 3, 4, 5)
# The rank hinge's margin (people) in the claim tables' multitask cells: margin_shb's choice
# on validation MAE (the lowest mean over its seeds; results/margin_shb), set when that
# sweep finished and before any claim-table run.
CLAIM_MARGIN = 1.0


# The default run's margin (people; the default_crowd table and crowd_cpu_small):
# margin_default's choice on validation MAE (the lowest mean over its seeds;
# results/margin_default), set when that sweep finished and before default_crowd ran.
DEFAULT_MARGIN = 0.0
