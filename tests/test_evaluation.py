import numpy as np
import pytest
from scipy import stats  # count_correlation below

from rankjax import evaluation
from rankjax.evaluation import Prediction


def test_quality_metrics_hand_worked():
    # truth 1 2 2 4, predicted 2 1 3 5. Pearson: centred truth -1.25 -.25 -.25 1.75,
    # predicted -.75 -1.75 .25 2.25; sum of products 5.25, norms sqrt(4.75) sqrt(8.75).
    # Spearman: truth ranks 1 2.5 2.5 4 (a tie), predicted ranks 2 1 3 4; their Pearson
    # centred -1.5 0 0 1.5 and -.5 -1.5 .5 1.5: 3 / sqrt(4.5 * 5).
    predictions = [Prediction(str(i), t, p) for i, (t, p) in enumerate(
        zip([1, 2, 2, 4], [2, 1, 3, 5]))]
    metrics = evaluation.quality_metrics(predictions)
    assert metrics["lcc"] == pytest.approx(5.25 / np.sqrt(4.75 * 8.75), rel=1e-12)
    assert metrics["srocc"] == pytest.approx(3.0 / np.sqrt(4.5 * 5), rel=1e-12)
    assert metrics["images"] == 4
    constant = [Prediction(str(i), t, 1.0) for i, t in enumerate([1, 2, 3])]
    assert evaluation.quality_metrics(constant)["srocc"] == 0.0  # not NaN


def test_crowd_metrics_hand_worked():
    # errors +2, -4, 0: MAE 2, RMSE sqrt((4 + 16 + 0) / 3); mean counts 10/3 vs 12/3
    predictions = [Prediction("a", 3, 5), Prediction("b", 7, 3), Prediction("c", 2, 2)]
    metrics = evaluation.crowd_metrics(predictions)
    assert metrics["mae"] == pytest.approx(2.0)
    assert metrics["rmse"] == pytest.approx(np.sqrt(20 / 3))
    assert metrics["count_ratio"] == pytest.approx(10 / 12)
    assert metrics["count_correlation"] == pytest.approx(stats.pearsonr([5, 3, 2], [3, 7, 2])[0])


def test_count_drift_blocks_hand_worked(tmp_path):
    """benchmarks/count_drift.py reads the predictions.csv that runs write, in name order."""
    import importlib.util
    import os

    from rankjax import rundir
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "benchmarks", "count_drift.py")
    spec = importlib.util.spec_from_file_location("count_drift", path)
    count_drift = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(count_drift)
    csv_path = str(tmp_path / "predictions.csv")
    rundir.write_predictions_csv(csv_path, [  # written out of order
        Prediction("seq_000003.jpg", 10, 14), Prediction("seq_000001.jpg", 10, 12),
        Prediction("seq_000002.jpg", 30, 24)], "count")
    first, second = count_drift.blocks(csv_path, block=2)
    # frames 1-2: truth 10, 30 (mean 20), predicted 12, 24 (mean 18), errors 2, 6
    assert (first["first"], first["last"]) == ("seq_000001.jpg", "seq_000002.jpg")
    assert first["ratio"] == pytest.approx(0.9) and first["mae"] == pytest.approx(4.0)
    assert second["ratio"] == pytest.approx(1.4) and second["mae"] == pytest.approx(4.0)
    rundir.write_predictions_csv(csv_path, [Prediction("a.jpg", 50, 60)], "score")
    with pytest.raises(SystemExit, match="not a crowd run's predictions"):
        count_drift.blocks(csv_path, block=2)
