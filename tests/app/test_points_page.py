"""AppTest for "Your own points": good data previews, bad data shows a message and keeps what was there,
training and scoring work, and a bad upload never touches the model being trained."""

from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
GOOD = "\n".join(f"{x:.4f}, {y:.4f}" for x, y in np.random.default_rng(0).normal(size=(60, 2)) * [1.0, 3.0])


def points_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/your_points.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def paste(at: AppTest, text: str) -> None:
    at.text_area(key="pts-paste-text").set_value(text)
    at.button(key="pts-paste-use").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_good_paste_previews_and_bad_paste_keeps_previous_data():
    at = points_page()
    paste(at, GOOD)
    assert any("Preview: 60 points" in s.value for s in at.subheader)
    before = at.session_state["pts-candidate"]["points"].copy()
    paste(at, "hello, world\nthis is not, numbers\n")
    assert at.error and "Could not use the pasted text" in at.error[0].value
    assert "Accepted" in at.error[0].value or "Expected" in at.error[0].value
    assert np.array_equal(at.session_state["pts-candidate"]["points"], before)


def test_train_score_and_a_bad_upload_leaves_the_model_alone():
    at = points_page()
    paste(at, GOOD)
    at.button(key="pts-train").click().run()
    state = at.session_state["points_playground"]
    assert state.trainer is not None and state.trainer.entropy is None
    assert len(state.trainer.train_points) == 48 and len(state.trainer.heldout_points) == 12
    at.button(key="pts-step").click().run()
    assert not at.exception, [e.value for e in at.exception]
    trainer, steps = state.trainer, state.trainer.step_count
    assert steps > 0
    assert any(s.value == "Every point scored" for s in at.subheader)
    assert len(at.dataframe) == 1
    history = list(trainer.history.train_nll)
    paste(at, "1,1\n1,1\n")  # a bad "upload" while a model exists
    assert at.error
    assert at.session_state["points_playground"].trainer is trainer
    assert trainer.step_count == steps and trainer.history.train_nll == history
