import numpy as np
import pytest
from scipy import stats

from rankjax import evaluation
from rankjax.evaluation import Prediction


def test_rankdata_and_correlations_match_scipy():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 6, 40).astype(float)  # many ties
    predicted = truth + rng.normal(0, 1.5, 40)
    predicted[:5] = predicted[5]  # ties in the predictions too
    np.testing.assert_allclose(evaluation.rankdata(truth), stats.rankdata(truth))
    metrics = evaluation.quality_metrics([Prediction(str(i), t, p) for i, (t, p) in
                                          enumerate(zip(truth, predicted))])
    assert metrics["lcc"] == pytest.approx(stats.pearsonr(predicted, truth)[0], rel=1e-10)
    assert metrics["srocc"] == pytest.approx(stats.spearmanr(predicted, truth)[0], rel=1e-10)
    assert metrics["images"] == 40


def test_crowd_metrics_hand_worked():
    # errors +2, -4, 0: MAE 2, RMSE sqrt((4 + 16 + 0) / 3); mean counts 10/3 vs 12/3
    predictions = [Prediction("a", 3, 5), Prediction("b", 7, 3), Prediction("c", 2, 2)]
    metrics = evaluation.crowd_metrics(predictions)
    assert metrics["mae"] == pytest.approx(2.0)
    assert metrics["rmse"] == pytest.approx(np.sqrt(20 / 3))
    assert metrics["count_ratio"] == pytest.approx(10 / 12)
    assert metrics["count_correlation"] == pytest.approx(stats.pearsonr([5, 3, 2], [3, 7, 2])[0])
