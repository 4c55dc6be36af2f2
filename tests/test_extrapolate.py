"""experiments/extrapolate.py and ``reproduce.py extrapolate``: where a constant-rate run's validation curve heads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))

from extrapolate import describe, fit_power_law  # noqa: E402


def test_a_power_law_curve_is_recovered_and_its_target_epoch_solved():
    epochs = list(range(1, 21))
    fit = fit_power_law(epochs, [80.0 + 6.0 * e ** -0.8 for e in epochs])
    assert (fit.level, fit.scale, fit.exponent) == pytest.approx((80.0, 6.0, 0.8), rel=2e-3)
    assert fit.rms < 1e-3 and fit.at(50) == pytest.approx(80.0 + 6.0 * 50 ** -0.8, abs=1e-3)
    assert fit.epoch_reaching(80.5) == pytest.approx((6.0 / 0.5) ** (1 / 0.8), rel=1e-2)  # 22.4
    assert fit.epoch_reaching(79.9) is None  # below where it levels off


def test_the_description_says_whether_the_paper_s_figure_is_in_reach():
    fit = fit_power_law(list(range(1, 11)), [80.0 + 6.0 * e ** -0.8 for e in range(1, 11)])
    text = describe(fit, 10, 50, 79.5, "nats/image", 0.2)
    assert "levels off at 80.00, above the paper's 79.50: not at this rate" in text
    text = describe(fit, 10, 50, 80.5, "nats/image", 0.2)
    assert "reaches the paper's 80.50 at epoch 22" in text and "2.5 CPU h from here" in text  # (22.4 - 10) · 0.2
    assert "at epoch 50: 80.26" in describe(fit, 10, 50, None, "nats/image", None)


def test_a_fit_needs_four_epochs_from_one():
    with pytest.raises(ValueError, match="at least four epochs"):
        fit_power_law([1, 2, 3], [3.0, 2.0, 1.0])
    with pytest.raises(ValueError):
        fit_power_law([0, 1, 2, 3], [4.0, 3.0, 2.0, 1.0])


def test_reproduce_extrapolates_constant_rate_runs_only(tmp_path, capsys):
    import reproduce

    row_lstm, pixelcnn = (next(run for run in reproduce.RUNS if run.folder == name)
                          for name in ("table4-row-lstm", "table4-pixelcnn"))
    for run in (row_lstm, pixelcnn):
        (tmp_path / run.folder).mkdir()
        (tmp_path / run.folder / "metrics.jsonl").write_text("".join(
            json.dumps({"epoch": e, "step": e, "time": float(e), "kind": "valid", "nats_per_image": 81 + 5 * e ** -1.0,
                        "bits_per_dim": 0.15}) + "\n" for e in range(1, 9)))
    reproduce.extrapolate([row_lstm, pixelcnn], tmp_path)
    out = capsys.readouterr().out
    assert "table4-row-lstm: 8 epochs, best validation 81.625; fit over 8 epochs: v(e) = 81.00 + 5.00" in out
    assert "reaches the paper's 80.54" not in out and "above the paper's 80.54: not at this rate" in out
    assert "table4-pixelcnn: no extrapolation: its rate is annealed (cosine)" in out


def test_the_page_row_of_an_unfinished_constant_rate_run_shows_its_fitted_curve(tmp_path):
    import results_page

    from pixelrnn.training.recipes import get_recipe

    (tmp_path / "metrics.jsonl").write_text("".join(
        json.dumps({"epoch": e, "step": e, "time": float(e), "kind": "valid", "nats_per_image": 81 + 5 * e ** -1.0,
                    "bits_per_dim": 0.15}) + "\n" for e in range(1, 9)))
    text = results_page.progress(tmp_path, get_recipe("pixelrnn/table4/row-lstm"))
    assert text == ("best validation 81.62 after 8 of 50 epochs (not finished; its fitted curve: 81.10 at epoch 50, "
                    "levelling off at 81.00)")
    annealed = results_page.progress(tmp_path, get_recipe("pixelrnn/table4/pixelcnn"))
    assert annealed.endswith("of 6 epochs (not finished)")
