"""The table runner: cells train once, results aggregate over seeds, reports regenerate."""

import dataclasses
import importlib.util
import json
import os
import runpy
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

import fixtures
from experiments import reproduce, statistics
from rankjax import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def result(cell, seed, mae):
    return {"cell": cell, "seed": seed, "metrics": {"mae": mae, "images": 3}, "seconds": 60,
            "machine": {"cpu": "test cpu", "vector_flags": "avx2", "cores": 2,
                        "date": "2026-11-22"}}


def test_summary_and_verdicts_hand_worked():
    table = dataclasses.replace(reproduce.TABLES["smoke"], seeds=tuple(range(6)))
    # Six seeds; multitask's error is lower by 4, 5, 3, 4, 6, 2 (mean 4, sd 1.414):
    # t = 4 / (1.414 / sqrt 6) = 6.93 on 5 df, p = 0.00096; only the all-plus and
    # all-minus sign patterns are as extreme: 2 / 64.
    base = [10.0, 12.0, 9.0, 11.0, 14.0, 8.0]
    gains = [4.0, 5.0, 3.0, 4.0, 6.0, 2.0]
    results = [result("baseline_50%", s, m) for s, m in enumerate(base)] + \
        [result("multitask_50%", s, m - g) for s, (m, g) in enumerate(zip(base, gains))]
    rows = reproduce.summarise(table, results)
    assert [r["cell"] for r in rows] == ["baseline_50%", "multitask_50%"]
    assert rows[0]["mae_mean"] == pytest.approx(64 / 6)
    ((judged),) = reproduce.judge(table, results)
    assert judged.verdict is statistics.Verdict.SUPPORTED
    assert judged.paired.mean == pytest.approx(4.0)
    assert judged.paired.t_p == pytest.approx(0.00096, abs=2e-5)
    assert judged.paired.sign_flip_p == pytest.approx(2 / 64)
    ((claim, verdict),) = reproduce.verdicts(table, results)
    assert verdict.startswith("supported (gain +4.00 [+2.52, +5.48], t-test p 0.00096")
    assert "| smoke | ranking helps with 50% of the labels | paper | supported | gain +4.00" \
        in reproduce.claims_at_a_glance([(table, results)])
    # The same gains on 3 seeds: numbers, no verdict.
    ((judged),) = reproduce.judge(table, [r for r in results if r["seed"] < 3])
    assert judged.verdict is statistics.Verdict.TOO_FEW_SEEDS and judged.short() == \
        "too few seeds (3 of 6)"
    # Multitask worse in every seed: contradicted.
    worse = [result("baseline_50%", s, m) for s, m in enumerate(base)] + \
        [result("multitask_50%", s, m + g) for s, (m, g) in enumerate(zip(base, gains))]
    assert reproduce.judge(table, worse)[0].verdict is statistics.Verdict.CONTRADICTED


def test_verdicts_use_only_the_seeds_both_cells_ran():
    table = reproduce.TABLES["smoke"]
    # seed 2 of the baseline has no multitask run beside it: it is left out
    results = [result("baseline_50%", s, m) for s, m in ((0, 10.0), (1, 12.0), (2, 100.0))]
    results += [result("multitask_50%", s, m) for s, m in ((0, 6.0), (1, 7.0))]
    ((judged),) = reproduce.judge(table, results)
    assert judged.paired.seeds == (0, 1) and judged.paired.gains == (4.0, 5.0)
    ((_, verdict),) = reproduce.verdicts(table, results[:3])
    assert verdict.startswith("not run yet")
    ((_, verdict),) = reproduce.verdicts(table, results[:1] + results[4:])
    assert verdict.startswith("not run yet")  # baseline seed 0, multitask seed 1: no pair


def test_smoke_table_runs_skips_and_reports(tmp_path, monkeypatch, capsys):
    command = [sys.executable, os.path.join(ROOT, "benchmarks", "reproduce.py"), "--table",
               "smoke", "--runs_dir", str(tmp_path / "runs"), "--results_dir",
               str(tmp_path / "results"), "--quiet"]
    env = fixtures.child_env()
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=400)
    assert first.returncode == 0, first.stderr[-3000:]
    files = sorted(os.listdir(tmp_path / "results" / "smoke"))
    assert files == ["baseline_50%_seed0.json", "multitask_50%_seed0.json"]
    saved = json.load(open(tmp_path / "results" / "smoke" / files[0]))
    assert saved["metrics"]["images"] == 30 and saved["machine"]["cores"]
    assert saved["config"]["seed"] == 0 and "data_dir" not in saved["config"]
    # The same command again, in this process (no start-up): it trains nothing.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", command[1:] + ["--report", "--output",
                                                    str(tmp_path / "RESULTS.md")])
    runpy.run_path(command[1], run_name="__main__")
    printed = capsys.readouterr()
    assert ": validation " not in printed.out + printed.err  # nothing trained again
    report = (tmp_path / "RESULTS.md").read_text()
    assert "| multitask_50% | 1 |" in report and "smoke.png" in report
    assert (tmp_path / "results" / "smoke.csv").is_file()
    assert (tmp_path / "results" / "smoke.png").is_file()
    monkeypatch.setattr(sys, "argv", [command[1], "--list", "--results_dir",
                                      str(tmp_path / "results")])
    runpy.run_path(command[1], run_name="__main__")
    assert "done: 0 of seeds 0" in capsys.readouterr().out


def curve_result(cell, seed, maes):
    return {**result(cell, seed, maes[-1]), "curve": [
        {"cycle": c, "labeled": 10 * (c + 1), "labeled_fraction": 0.1 * (c + 1), "mae": m,
         "images": 3} for c, m in enumerate(maes)]}


def test_claims_are_paired_by_seed_on_best_and_last_checkpoints():
    table = reproduce.TABLES["smoke"]
    results = [result("baseline_50%", 0, 10.0), result("baseline_50%", 1, 12.0),
               result("baseline_50%", 2, 11.0), result("multitask_50%", 0, 6.0),
               result("multitask_50%", 1, 13.5)]
    for r, last in zip(results, (9.0, 12.0, 11.0, 8.5, 11.0)):
        r["metrics_last_checkpoint"] = {"mae": last, "count_ratio": last / 10}
    rows = {r["cell"]: r for r in reproduce.summarise(table, results)}
    # crowd tables show the last checkpoints' count level too: (0.85 + 1.1) / 2
    assert rows["multitask_50%"]["count_ratio_last_mean"] == pytest.approx(0.975)
    ((pair,),) = [reproduce.paired_claims(table, results)]
    # seed 2 has no multitask run: only seeds 0 and 1 pair up
    assert pair["best"] == {0: -4.0, 1: 1.5} and pair["last"] == {0: -0.5, 1: -1.0}
    text = reproduce.markdown(table, reproduce.summarise(table, results), results, "cmd")
    assert "| multitask_50% - baseline_50% | -4.00 (-0.50) | +1.50 (-1.00) | -1.25 (-0.75) |" \
        in text
    del results[3]["metrics_last_checkpoint"]  # an old result file: best checkpoint only
    text = reproduce.markdown(table, reproduce.summarise(table, results), results, "cmd")
    assert "| multitask_50% - baseline_50% | -4.00 | +1.50 (-1.00) | -1.25 |" in text


def test_active_learning_curves_hand_worked(tmp_path):
    table = reproduce.TABLES["active_learning_shb"]
    results = [curve_result("ranking", 0, [40, 30, 28, 27]),
               curve_result("ranking", 1, [42, 32, 29, 28]),
               curve_result("random", 0, [40, 36, 33, 31]),
               curve_result("random", 1, [42, 38, 35, 30]),
               result("all_labels", 0, 25.0), result("all_labels", 1, 26.0)]
    rows = reproduce.summarise(table, results)
    by = {r["cell"]: r for r in rows}
    assert [r["cell"] for r in rows][:4] == ["ranking@0", "ranking@1", "ranking@2", "ranking@3"]
    assert by["ranking@1"]["mae_mean"] == 31 and by["ranking@1"]["labeled_fraction"] == 0.2
    assert by["random@3"]["mae_mean"] == 30.5 and by["all_labels"]["reference"]
    verdict = dict((claim.text, v) for claim, v in reproduce.verdicts(table, results))
    assert verdict["ranking beats random at 20%"].startswith("too few seeds (2 of 6)")
    # Six seeds. ranking@1 is worse than random@3 by 0.5 +- 0.1 MAE (random@3 about 30):
    # well inside the declared 5 % margin (1.5), so it matches; random@3 beats random@1
    # by 6 in every seed, so matching it says something.
    six = [curve_result("ranking", s, [40, 30.5 + d, 28, 27]) for s, d in
           enumerate([0.0, 0.1, -0.1, 0.05, -0.05, 0.0])]
    six += [curve_result("random", s, [40, 36, 33, 30]) for s in range(6)]
    table6 = dataclasses.replace(table, seeds=tuple(range(6)))
    verdict = dict((c.text, v) for c, v in reproduce.verdicts(table6, six))
    assert verdict["labels chosen by ranking at 20% match random ones at 40%"].startswith(
        "supported")
    # If 40 % random labels are no better than 20 %, matching them says nothing.
    flat = six[:6] + [curve_result("random", s, [40, 36 + d, 36, 36 - d]) for s, d in
                      enumerate([0.5, -0.5, 0.2, -0.2, 0.1, -0.1])]
    verdict = dict((c.text, v) for c, v in reproduce.verdicts(table6, flat))
    assert verdict["labels chosen by ranking at 20% match random ones at 40%"].startswith(
        "inconclusive")
    text = reproduce.markdown(table, rows, results, "cmd")
    assert "| ranking@1 (20% labeled) | 2 |" in text and "Not run yet" not in text
    paired = reproduce.paired_by_seed(table, results)
    assert [p["differences"] for p in paired] == [[0, 0], [-6, -6], [-5, -6], [-4, -2]]
    assert "| 40% | -4 | -2 | -3 |" in text
    assert reproduce.plot(table, rows, str(tmp_path / "al.png"))


def test_a_cell_that_is_another_tables_run_is_not_trained_twice(tmp_path):
    """paradigms_shb's baseline and all-pairs cells are label_scarcity_shb's 10 % cells
    (same preset, overrides and data): their results are taken, relabelled; others are not."""
    shb, ablation = reproduce.TABLES["label_scarcity_shb"], reproduce.TABLES["paradigms_shb"]
    cells = {c.name: c for c in ablation.cells}
    os.makedirs(tmp_path / "label_scarcity_shb")
    recorded = {"best_validation": {"mae": 40.0}, "training": {"hinge_active_share": 0.1}}
    for name in ("baseline_10%", "multitask_10%"):
        with open(tmp_path / "label_scarcity_shb" / f"{name}_seed0.json", "w") as f:
            json.dump({**result(name, 0, 50.0), "table": shb.name, **recorded}, f)
    with open(tmp_path / "label_scarcity_shb" / "baseline_10%_seed1.json", "w") as f:
        json.dump({**result("baseline_10%", 1, 50.0), "table": shb.name}, f)  # an older file
    found = reproduce.identical_result(ablation, cells["multitask_all"], 0, "/data",
                                       str(tmp_path))
    assert found["cell"] == "multitask_all" and found["table"] == "paradigms_shb"
    assert found["same_run_as"] == "label_scarcity_shb/multitask_10%"
    assert reproduce.identical_result(ablation, cells["baseline"], 0, "/data",
                                      str(tmp_path))["same_run_as"].endswith("baseline_10%")
    for name, seed in (("multitask_random", 0), ("baseline", 1)):
        assert reproduce.identical_result(ablation, cells[name], seed, "/data",
                                          str(tmp_path)) is None
    # A quality run stands for another table's run only with its held-out ranking check.
    clive, rank_only = reproduce.TABLES["ranked_sets_clive"], reproduce.TABLES["rank_only_clive"]
    twin = next(c for c in rank_only.cells if c.name == "paper4_600_steps")
    os.makedirs(tmp_path / clive.name)
    path = tmp_path / clive.name / "rank_only_paper4_seed0.json"
    path.write_text(json.dumps({**result("rank_only_paper4", 0, 0.1), **recorded}))
    assert reproduce.identical_result(rank_only, twin, 0, "/data", str(tmp_path)) is None
    path.write_text(json.dumps({**result("rank_only_paper4", 0, 0.1), **recorded,
                                "ranking_check": {"types": {}}}))
    assert reproduce.identical_result(rank_only, twin, 0, "/data", str(tmp_path))[
        "same_run_as"] == "ranked_sets_clive/rank_only_paper4"


def test_benchmarks_import_rankjax_where_tensorflow_is_missing():
    """The train-step benchmarks run on a JAX-only GPU image (no TensorFlow wheel there):
    rankjax imports with the stand-in, and using TensorFlow says it is missing."""
    code = """
import sys
sys.modules["tensorflow"] = None  # as if it were not installed
sys.path.insert(0, "benchmarks")
import no_tensorflow
no_tensorflow.stub_if_missing()
from rankjax import config, input_pipeline, losses, presets, training
import jax.numpy as jnp
import tensorflow as tf
# The stand-in leaves JAX's side working: the rank loss of the docstring's example.
loss, aux = losses.pairwise_rank_hinge(jnp.array([3., 1., 2.]), jnp.array([0, 0, 0]),
                                       jnp.array([0, 1, 2]), margin=0.5)
print("rank loss:", round(float(loss), 4), int(aux["pairs"]))
try:
    tf.constant(1.0)
except RuntimeError as error:
    print("raised:", error)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "raised: TensorFlow is not installed" in done.stdout
    # By hand: pairs (0,1) and (0,2) are ordered by more than the margin, (1,2) misses it
    # by 1 + 0.5: (0 + 0 + 1.5) / 3 pairs.
    assert "rank loss: 0.5 3" in done.stdout
    assert "TensorFlow is not installed; stubbed" in done.stderr


def test_a_result_made_with_another_config_is_refused(tmp_path):
    """A preset changed after its runs: the table runner and the report name the file and
    the field instead of mixing old runs into the new table; files from before configs were
    recorded are not checked."""
    table = reproduce.TABLES["smoke"]
    cell = table.cells[0]
    saved = reproduce.settings(reproduce.cell_config(cell, 0, "/elsewhere/data"))
    assert "name" not in saved and "data_dir" not in saved
    current = {**result(cell.name, 0, 1.0), "config": saved}
    reproduce.check_current(table, [current], str(tmp_path))          # the same: accepted
    reproduce.check_current(table, [result(cell.name, 0, 1.0)], str(tmp_path))  # no config
    old = {**current, "config": {**saved, "image_size": saved["image_size"] // 2}}
    assert reproduce.stale_fields(table, old) == {
        "image_size": (saved["image_size"] // 2, saved["image_size"])}
    # A field added to Config after the run: the run used its default, so it still matches
    # a cell at the default, and not a cell that sets another value.
    before = {**current, "config": {k: v for k, v in saved.items() if k != "validation_split"}}
    assert reproduce.stale_fields(table, before) == {}
    moved = dataclasses.replace(table, cells=(dataclasses.replace(
        cell, overrides={**cell.overrides, "validation_split": "last"}),))
    assert reproduce.stale_fields(moved, before) == {"validation_split": ("random", "last")}
    os.makedirs(tmp_path / "smoke")
    with open(tmp_path / "smoke" / f"{cell.name}_seed0.json", "w") as f:
        json.dump(old, f)
    with pytest.raises(ValueError, match=rf"{cell.name}_seed0.json \(image_size: "):
        reproduce.run_table(table, "", str(tmp_path / "runs"), str(tmp_path), progress=False)
    assert not os.path.exists(tmp_path / "runs")  # refused before training anything


def test_every_declared_cell_is_a_valid_config():
    """A typo in a table's overrides (a field, a distortion type, a paradigm) fails here,
    not an hour into a table run."""
    from rankjax import config as config_lib

    for table in reproduce.TABLES.values():
        for cell in table.cells:
            cfg = reproduce.cell_config(cell, table.seeds[0], "/data")
            config_lib.validate(cfg)
            for field, value in cell.overrides.items():
                assert value is not None, (table.name, cell.name, field)  # a setting not set
                if field != "test_data_dir":  # a folder, like data_dir: not a setting
                    assert field in reproduce.settings(cfg), (table.name, cell.name, field)
    clive = {c.name: reproduce.cell_config(c, 0, "/data")
             for c in reproduce.TABLES["ranked_sets_clive"].cells}
    assert clive["rank_only_no_noise"].distortions == ("gaussian_blur", "jpeg", "jpeg2000")
    assert "gaussian_noise" in clive["rank_only_paper4"].distortions


def test_a_note_is_filled_from_the_result_files_and_fails_on_what_they_lack(tmp_path,
                                                                          monkeypatch):
    table = dataclasses.replace(reproduce.TABLES["smoke"], declared="2026-12-04", seeds=(0, 1))
    results = [result("baseline_50%", 0, 10.0), result("baseline_50%", 1, 12.5),
               result("multitask_50%", 0, 9.0), result("multitask_50%", 1, 12.0)]
    monkeypatch.setattr(reproduce, "NOTES_DIR", str(tmp_path))
    note = tmp_path / "smoke.md"
    note.write_text('Baseline {{ mean("baseline_50%", "metrics.mae") :.2f }} MAE over '
                    '{{ seeds("baseline_50%") :d }} seeds; seed 1 gains '
                    '{{ -difference("multitask_50%", "baseline_50%", 1, "metrics.mae") }}, '
                    'both {{ mean_difference("multitask_50%", "baseline_50%", '
                    '"metrics.mae") :+.2f }}, lower in {{ below("multitask_50%", '
                    '"baseline_50%", "metrics.mae") }} of 2.\n')
    assert reproduce.fill_note(table, results) == (
        "Baseline 11.25 MAE over 2 seeds; seed 1 gains 0.5, both -0.75, lower in 2 of 2.")
    note.write_text('Seed 2: {{ value("baseline_50%", 2, "metrics.mae") }}')
    with pytest.raises(reproduce.NoteError, match="no seed 2"):
        reproduce.fill_note(table, results)
    # While the table still runs, a number its missing runs will give is not an error.
    assert reproduce.fill_note(table, results[:3]) == "Seed 2: (not run yet)"
    note.write_text('{{ mean("baseline_50%", "metrics.rmse") }}')
    with pytest.raises(reproduce.NoteError, match="metrics.rmse"):
        reproduce.fill_note(table, results)
    note.write_text("The baseline scored 11.25 here.")  # typed by hand: refused
    with pytest.raises(reproduce.NoteError, match="types 11.25"):
        reproduce.fill_note(table, results)
    # A number in a dotted path indexes a list (an active-learning run's curve).
    results[0]["curve"] = [{"mae": 30.0}, {"mae": 20.0}]
    note.write_text('{{ value("baseline_50%", 0, "curve.1.mae") :.1f }}')
    assert reproduce.fill_note(table, results) == "20.0"
    note.write_text('{{ value("baseline_50%", 0, "curve.2.mae") }}')
    with pytest.raises(reproduce.NoteError, match="curve.2.mae"):
        reproduce.fill_note(table, results)
    assert reproduce.typed_numbers("11.25 and {{ 2.5 }}, 3 seeds, ratio -0.9") == [
        "11.25", "-0.9"]


def test_a_readme_block_is_regenerated_between_its_markers():
    table = dataclasses.replace(reproduce.TABLES["smoke"], seeds=(0, 1))
    results = [result("baseline_50%", 0, 10.0), result("baseline_50%", 1, 12.0),
               result("multitask_50%", 0, 9.0), result("multitask_50%", 1, 11.0)]
    block = reproduce.readme_block(table, results)
    assert "| baseline_50% | 2 | 11 ± 1.4 |" in block
    assert "| multitask_50% | 2 | 10 ± 1.4 |" in block
    assert "- ranking helps with 50% of the labels: too few seeds (2 of 6)" in block
    text = "intro\n<!-- results:smoke -->\nold numbers\n<!-- /results:smoke -->\nrest\n"
    filled = reproduce.fill_blocks(text, {"smoke": block, "other": "x"})
    assert filled == f"intro\n<!-- results:smoke -->\n{block}<!-- /results:smoke -->\nrest\n"
    assert reproduce.fill_blocks(filled, {"smoke": block}) == filled  # stable


def test_the_claims_block_lists_every_claim_with_its_seeds_or_not_run_yet():
    table = reproduce.TABLES["smoke"]
    results = [result("baseline_50%", s, 10.0 + s) for s in range(3)] + [
        result("multitask_50%", s, 9.0 + s + 0.1 * s * s) for s in range(3)]
    done = reproduce.claims_block([(table, results)]).splitlines()
    assert done[0] == "| table | claim | whose | verdict | numbers |"
    # Gains 1.0, 0.9, 0.6 (baseline minus multitask; lower MAE is better): mean 0.83.
    assert done[2].startswith("| smoke | ranking helps with 50% of the labels | ")
    assert "| too few seeds (3 of 6) | gain +0.83 [" in done[2] and done[2].endswith("n 3 |")
    assert reproduce.claims_block([(table, [])]).splitlines()[2].endswith(
        "| not run yet |  |")


def test_minutes_per_run_leave_out_resumed_runs():
    runs = [{"seconds": 600.0}, {"seconds": 1200.0, "resumed_from": 0},
            {"seconds": 5.4, "resumed_from": 2400}]
    assert reproduce._minutes_per_run(runs) == pytest.approx(15.0)
    assert np.isnan(reproduce._minutes_per_run(runs[2:]))


def test_the_claims_plot_is_drawn_only_from_paired_seeds(tmp_path):
    table = reproduce.TABLES["smoke"]
    assert reproduce.claims_plot([(table, [])], str(tmp_path / "none.png")) is None
    results = [result(cell, s, 10.0 + s + (cell == "multitask_50%")) for s in range(2)
               for cell in ("baseline_50%", "multitask_50%")]
    path = reproduce.claims_plot([(table, results)], str(tmp_path / "claims.png"))
    picture = np.asarray(Image.open(path).convert("RGB"))
    assert picture.shape[0] > 50 and picture.shape[1] > 300  # a drawn figure, not a stub
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 2  # marks on the background
    # A seed that only one cell of the claim has changes nothing: the same pixels.
    unpaired = reproduce.claims_plot([(table, results + [result("baseline_50%", 2, 30.0)])],
                                     str(tmp_path / "unpaired.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(unpaired).convert("RGB")), picture)
    # A paired third seed does change it (the interval narrows, n 3 in the label).
    paired = reproduce.claims_plot([(table, results + [result("baseline_50%", 2, 12.0),
                                                       result("multitask_50%", 2, 13.0)])],
                                   str(tmp_path / "paired.png"))
    assert not np.array_equal(np.asarray(Image.open(paired).convert("RGB")), picture)


def test_the_cells_block_gives_each_picked_cell_its_command_and_spread():
    runs = []
    for seed, (best, last, cpu) in enumerate([(10.0, 12.0, "A"), (14.0, 13.0, "B")]):
        run = result("baseline_50%", seed, best)
        run.update(preset="crowd_cpu_small", overrides={"paradigm": "baseline",
                                                         "labeled_fraction": 1.0},
                   metrics_last_checkpoint={"mae": last, "count_ratio": 1.2},
                   machine={"cpu": cpu, "date": "2026-12-05"}, seconds=600.0 * (seed + 1))
        run["metrics"]["count_ratio"] = 0.9
        runs.append(run)
    lines = reproduce.cells_block([(runs, "baseline_50%"), (runs, "multitask_50%")]).splitlines()
    assert len(lines) == 3  # a cell without runs has no row
    # By hand: best 12 ± 2.8 (std of 10, 14), last 12.5 ± 0.71, minutes (10 + 20) / 2.
    assert lines[2] == ("| `python train.py --preset crowd_cpu_small --paradigm baseline` | 2 "
                        "| 12 ± 2.8 | 12.5 ± 0.71 | 0.90 / 1.20 | 15 | A, 2026-12-05; "
                        "B, 2026-12-05 |")


def test_the_presets_block_puts_the_training_mean_beside_each_cell():
    from experiments.declare import Cell, Table

    table = Table("presets", "t", (Cell("shb", "crowd_cpu_small", {"paradigm": "baseline"}),
                                   Cell("sha", "crowd_cpu_small", {"paradigm": "baseline"})),
                  "mae")
    runs = []
    for seed, (best, last, mean) in enumerate([(20.0, 22.0, 70.0), (24.0, 22.0, 74.0)]):
        run = result("shb", seed, best)
        run.update(preset="crowd_shb_cpu", overrides={"paradigm": "baseline"},
                   metrics_last_checkpoint={"mae": last}, training_mean={"mae": mean},
                   machine={"cpu": "A", "date": "2026-12-07"}, seconds=180.0 * (seed + 1))
        runs.append(run)
    lines = reproduce.presets_block(table, runs).splitlines()
    assert len(lines) == 3  # a cell without runs has no row
    # By hand: best 22 ± 2.8 (std of 20, 24), last 22 ± 0, mean 72 ± 2.8, (3 + 6) / 2 minutes.
    assert lines[2] == ("| `python train.py --preset crowd_shb_cpu --paradigm baseline` | 2 "
                        "| 22 ± 2.8 | 22 ± 0 | 72 ± 2.8 | 4.5 | A, 2026-12-07 |")


def test_the_runner_stops_on_sigterm_as_train_py_does(tmp_path, monkeypatch):
    """benchmarks/reproduce.py installs the same SIGTERM handling as train.py (tested for
    real in tests/test_reliability.py: the run's lock is released, exit status 143)."""
    installed = []
    monkeypatch.setattr(cli, "stop_cleanly_on_sigterm", lambda: installed.append(True))
    script = os.path.join(ROOT, "benchmarks", "reproduce.py")
    monkeypatch.setattr(sys, "argv", [script, "--list", "--results_dir", str(tmp_path)])
    runpy.run_path(script, run_name="__main__")
    assert installed == [True]


def test_zoom_level_block_hand_worked(tmp_path):
    """The README's zoom_level block from per-seed files: means, the paired gain in the
    claimed direction (baseline MAE minus multitask MAE), and no verdict below 6 seeds."""
    folder = tmp_path / "zoom_level"
    folder.mkdir()
    machine = {"cpu": "Test CPU", "cores": 2, "date": "2026-12-05"}
    # seed: (baseline best, multitask best, baseline last, multitask last)
    maes = {0: (0.5, 0.4, 0.6, 0.45), 1: (0.6, 0.4, 0.7, 0.45), 2: (0.55, 0.4, 0.65, 0.5)}
    for seed, (b, m, bl, ml) in maes.items():
        record = {"seed": seed, "steps": 400, "labeled_images": 12, "unlabeled_images": 300,
                  "test_images": 100, "training_mean": {"mae": 0.7}, "seconds": 60.0,
                  "machine": machine,
                  "baseline": {"test": {"mae": b, "srocc": 0.6}, "test_last": {"mae": bl}},
                  "multitask": {"test": {"mae": m, "srocc": 0.8}, "test_last": {"mae": ml}}}
        (folder / f"seed{seed}.json").write_text(json.dumps(record))
    block = reproduce.zoom_level_block(str(tmp_path))
    assert "seeds 0, 1, 2" in block
    assert "| regression only (`baseline`) | 0.550 ± 0.050 | 0.650 ± 0.050 | 0.600 ± 0.000 |" \
        in block
    assert "| regression + ranking (`multitask`) | 0.400 ± 0.000 |" in block
    # Gains 0.1, 0.2, 0.15: mean 0.15, sd 0.05, standard error 0.05 / sqrt 3 = 0.0289; the
    # 97.5 % quantile of t with 2 df is 4.303: 0.15 -+ 0.124 = [0.026, 0.274].
    assert "too few seeds (3 of 6) (gain +0.150 [+0.026, +0.274]" in block
    assert "per seed +0.100, +0.200, +0.150" in block
    assert "last checkpoints: gain +0.183" in block
    assert "Test CPU (2 cores), 2026-12-05, 1.0 minutes per seed" in block
    assert reproduce.zoom_level_block(str(tmp_path / "none")) is None


def test_readme_transcripts_keep_the_lines_a_newcomer_reads_and_say_where_they_ran(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "readme_transcripts", os.path.join(ROOT, "scripts", "readme_transcripts.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    output = ("12:00:00 INFO data: 108 labeled, 108 unlabeled\n12:00:01 INFO devices: 1\n"
              "run:   0%|  | 0/800 [00:00<?]\rrun:  38%|###  | 300/800 [00:25<00:37]\r"
              "run:  50%|#####  | 400/800 [00:30<00:30]\n"
              "step 400: validation mae=19.4\ntest metrics: {\"mae\": 14.5}\n"
              "12:00:09 INFO test metrics of the last checkpoint (step 800): {}\n"
              "test metrics of the last checkpoint: {}\nrun directory: /tmp/x/runs\n")
    assert script.shorten(output) == [
        "data: 108 labeled, 108 unlabeled", "devices: 1",
        "run:  38%|###  | 300/800 [00:25<00:37]",
        "step 400: validation mae=19.4", "test metrics: {\"mae\": 14.5}",
        "test metrics of the last checkpoint: {}", "run directory: /tmp/x/runs"]
    # More than six validations: the first two, "...", the last two.
    many = "".join(f"step {i}: validation mae={i}\n" for i in range(1, 9))
    assert script.shorten(many) == ["step 1: validation mae=1", "step 2: validation mae=2",
                                     "...", "step 7: validation mae=7",
                                     "step 8: validation mae=8"]

    (tmp_path / "transcripts").mkdir()
    (tmp_path / "default_crowd").mkdir()
    record = {"command": "python train.py --task crowd", "seconds": 88.6,
              "load_average_before": 0.04, "lines": ["test metrics: {\"mae\": 14.5}"],
              "machine": {"cpu": "Test CPU", "cores": 2, "date": "2026-12-05",
                          "vector_flags": "avx avx2 avx512f"}}
    (tmp_path / "transcripts" / "train.json").write_text(json.dumps(record))
    (tmp_path / "default_crowd" / "same.json").write_text(json.dumps({"metrics": {"mae": 14.5}}))
    (tmp_path / "default_crowd" / "other.json").write_text(
        json.dumps({"metrics": {"mae": 14.6}}))
    block = reproduce.transcript_block(str(tmp_path), "train", "default_crowd/same.json")
    assert block.startswith("```\n$ python train.py --task crowd\ntest metrics:")
    assert "It took 89 s on Test CPU (2 cores, AVX-512), 2026-12-05, load average 0.0" in block
    assert "the same to the last digit as those of results/default_crowd/same.json" in block
    block = reproduce.transcript_block(str(tmp_path), "train", "default_crowd/other.json")
    assert "are not those of results/default_crowd/other.json" in block
    assert reproduce.transcript_block(str(tmp_path), "eval") is None
