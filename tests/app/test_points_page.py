"""AppTest for "Your own points": preview with column pickers and swap, a fit that traces back to the file's rows,
calibrated flags, downloads, and bad data that never costs the data or the model in hand."""

import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(0)
LON_LAT = RNG.normal(size=(150, 2)) * [0.5, 3.0] + [10.0, 50.0]
TABLE = "lon,lat,site\n" + "".join(f"{a:.4f},{b:.4f},s{i}\n" for i, (a, b) in enumerate(LON_LAT))


def points_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/points.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def paste(at: AppTest, text: str) -> None:
    at.text_area(key="pts-paste-text").set_value(text)
    at.button(key="pts-paste-use").click().run()
    assert not at.exception, [e.value for e in at.exception]


def fit(at: AppTest, budget: int = 3) -> None:
    at.slider(key="pts-budget").set_value(budget).run()
    at.button(key="pts-fit").click().run()
    deadline = time.monotonic() + 90
    while at.session_state["points_page"].fitted is None and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["points_page"].fitted is not None, "the fit did not finish"
    at.run()


def test_pickers_are_shown_for_two_columns_and_swap_transposes():
    at = points_page()
    paste(at, "\n".join(f"{a:.4f}, {b:.4f}" for a, b in LON_LAT[:60]))
    assert any("Preview: 60 points" in s.value for s in at.subheader)
    assert at.selectbox(key="pts-col-x").value == "column 1" and at.selectbox(key="pts-col-y").value == "column 2"
    before = at.session_state["points_page"].candidate["points"].copy()
    at.button(key="pts-swap").click().run()
    after = at.session_state["points_page"].candidate["points"]
    assert at.selectbox(key="pts-col-x").value == "column 2"
    assert np.array_equal(after, before[:, ::-1])
    layout = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert (layout["xaxis"]["title"]["text"], layout["yaxis"]["title"]["text"]) == ("column 2", "column 1")


def test_fit_scores_every_row_by_its_file_row_and_a_bad_paste_keeps_everything():
    at = points_page()
    paste(at, TABLE)
    assert at.selectbox(key="pts-col-x").value == "lon"
    at.button(key="pts-swap").click().run()
    assert at.session_state["points_page"].candidate["report"].columns_used == ("lat", "lon")
    fit(at)
    page = at.session_state["points_page"]
    fitted = page.fitted
    assert fitted.names == ("lat", "lon")
    assert not at.exception
    # the fit is never worse than the Gaussian on its validation rows
    assert fitted.fit.heldout_nll <= fitted.fit.gaussian_nll + 1e-6
    # the score table: one row per file row, keyed by the spreadsheet row number, every original column kept
    table = at.dataframe[0].value
    assert {"lon", "lat", "site"} <= set(table.columns) and len(table) == 150
    assert table.index[0] == 2 and table.index[-1] == 151  # the header is row 1
    assert table.loc[2, "site"] == "s0" and abs(table.loc[151, "lat"] - round(LON_LAT[-1, 1], 4)) < 1e-9
    metrics = {m.label: m.value for m in at.metric}
    n_flagged = int(metrics["Flagged rows"].replace(",", ""))
    assert n_flagged == int(table["flagged"].sum())
    assert n_flagged <= 0.1 * len(table)  # a 1% flag calibrated on validation rows flags few ordinary points
    # a bad paste shows a message and costs neither the data nor the fit
    candidate = page.candidate
    paste(at, "hello, world\nthis is not, numbers\n")
    assert at.error and "Could not use the pasted text" in at.error[0].value
    assert page.candidate is candidate and page.fitted is fitted
    assert any("previous data and any model" in c.value for c in at.caption)


def test_scored_and_unflagged_downloads_match_the_table():
    from playground.views.points import score_rows, scored_csv, unflagged_csv

    at = points_page()
    paste(at, TABLE + "999,999,far\n")
    fit(at)
    fitted = at.session_state["points_page"].fitted
    log_p = fitted.fit.log_prob(fitted.points)
    rows = score_rows(log_p, fitted.row_numbers, fitted.fit.validation_log_prob, 0.01, table=fitted.table)
    scored = pd.read_csv(io.StringIO(scored_csv(rows)), index_col="row")
    assert list(scored.index) == list(range(2, 153)) and bool(scored.loc[152, "flagged"])  # the far point
    kept = pd.read_csv(io.StringIO(unflagged_csv(rows)))
    assert list(kept.columns) == ["lon", "lat", "site"] and "far" not in set(kept["site"])
    assert len(kept) == 151 - rows.n_flagged


def test_the_fitted_model_opens_on_the_layer_by_layer_page():
    at = points_page()
    paste(at, TABLE)
    fit(at)
    # The button sets the hand-over flag and calls st.switch_page("pages/layers.py"). AppTest keeps the page it
    # was switched to by path (pages/points.py) when a page switches itself, so this test follows the switch the
    # way the button does it; tests/browser/test_browser_pages.py clicks the real button in Chromium.
    at.session_state["layers-source"] = "points"
    at.switch_page("pages/layers.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(t.value == "Layer by layer" for t in at.title)
    assert at.session_state["layers-model-choice"] == "points"
    shown = [s.value for s in at.success]
    assert any("fitted on **Your own points**" in s for s in shown), shown
    fitted = at.session_state["points_page"].fitted
    # the page's likelihood check reads the fit's own log-density (original units)
    assert fitted.for_layers is not None and fitted.for_layers.model is fitted.fit.model
