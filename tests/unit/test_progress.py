"""Progress reports (issue 19): what a stage's counted job looks like in a log file — first and last step,
every logged step, and a line at least every `every` seconds even while one step runs long."""

from __future__ import annotations

import io
import re
import time

from kgtools.progress import Reporter, Steps, steps_text, tag


class _NotATerminal:
    is_terminal = False


def _lines(stream: io.StringIO) -> list[str]:
    return [re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", line) for line in stream.getvalue().splitlines()]


def test_log_lines_for_messages_first_last_and_logged_steps():
    out = io.StringIO()
    with Reporter(_NotATerminal(), every=3600, stream=out) as say:
        say("loading the model")
        for step in range(1, 11):
            say(Steps("kg_sft", step, 10, {"loss": 5.0 - step / 10}, logged=step % 5 == 0))
    lines = _lines(out)
    assert all(re.match(r"\[\d\d:\d\d:\d\d\] ", line) for line in out.getvalue().splitlines())
    assert lines[0] == "loading the model"
    assert [re.sub(r", \d+:\d\d elapsed.*", "", line) for line in lines[1:]] == [
        "kg_sft: step 1/10 (10%), loss 4.9", "kg_sft: step 5/10 (50%), loss 4.5", "kg_sft: step 10/10 (100%), loss 4"]
    assert "left" in lines[2] and "left" not in lines[3]  # time left from the rate so far; none at the end


def test_a_line_every_few_seconds_even_inside_one_long_step():
    out = io.StringIO()
    with Reporter(_NotATerminal(), every=0.25, stream=out) as say:
        say(Steps("distill", 1, 4, {"kl": 0.5}))
        time.sleep(1.2)  # one long step: the heartbeat writes where the job stands, about every 0.25 s
        say(Steps("distill", 4, 4, {"kl": 0.4}))
    lines = _lines(out)
    assert lines[0].startswith("distill: step 1/4 (25%), kl 0.5, 0:00 elapsed")
    still = [line for line in lines if line.endswith("(still on step 2)")]
    assert len(still) >= 2 and all(line.startswith("distill: step 1/4 (25%), kl 0.5") for line in still)
    assert lines[-1].startswith("distill: step 4/4 (100%), kl 0.4")


def test_time_left_and_pipeline_tags():
    s = Steps("evaluate", 30, 120, unit="example")
    assert steps_text(s, (0.0, 0), now=60.0) == "evaluate: example 30/120 (25%), 1:00 elapsed, ~3:00 left"
    assert steps_text(Steps("kg_sft", 1, 3), (0.0, 0), now=7300.0).endswith("2:01:40 elapsed, ~4:03:20 left")
    assert tag("kg_sft", Steps("kg_sft", 1, 2)).job == "kg_sft"
    assert tag("update/kg_sft", Steps("kg_sft", 1, 2)).job == "update/kg_sft"
    assert tag("evaluate", "writing the report") == "evaluate: writing the report"
    assert tag("kg_sft", "kg_sft: loading the model") == "kg_sft: loading the model"  # said once, not twice
    assert tag("update/kg_sft", "kg_sft: loading the model") == "update/kg_sft: loading the model"
