"""Outages (bench/evidence.py): connection failures grouped into the stretches a backend was
down, kept by the Run record through JSON, merges of workers and repeats."""

from __future__ import annotations

from perfkit.bench.evidence import Outage, Outages
from perfkit.bench.record import Run
from perfkit.render.run import outage_line


def test_failures_group_into_outages_that_an_answer_ends() -> None:
    outages = Outages()
    outages.failed(1.0, "disconnected")
    outages.failed(1.2, "refused")
    outages.failed(1.1, "500")  # an HTTP answer is no connection failure
    outages.failed(1.9, "refused")
    outages.answered(2.0)
    outages.answered(2.1)  # up: nothing to end
    outages.failed(3.5, "reset")
    assert outages.lost == 4
    assert outages.close() == [Outage(1.0, 1.9, 2.0, 2, 1), Outage(3.5, 3.5, None, 0, 1)]


def test_the_record_keeps_outages_and_names_who_saw_them() -> None:
    first, second = Run(base_url="http://127.0.0.1:1"), Run(base_url="http://127.0.0.1:1")
    first.outages = [Outage(1.0, 1.9, 2.0, 2, 1)]
    back = Run.from_json(first.to_json())
    assert back.outages == first.outages
    assert first.merge(second).outages == first.outages
    repeats = Run.of_repeats([second, first])
    assert [o.source for o in repeats.outages] == ["repeat 2"]
    worker = first.outages[0].within("worker 1 (segment 1/2, pid 7)").within("repeat 2")
    assert worker.source == "repeat 2, worker 1 (segment 1/2, pid 7)"


def test_one_line_says_what_the_backend_did_and_when() -> None:
    assert outage_line(Outage(1.0, 1.9, 2.0, 2, 1), "http://b") == (
        "the backend at http://b refused 2 and closed 1 connections between 1.00 s and 1.90 s "
        "into the run; it answered again at 2.00 s, and the run went on (each is an error of "
        "its route: refused, disconnected, reset)")
    assert outage_line(Outage(3.5, 3.5, None, 0, 1, "worker 2"), "http://b").startswith(
        "worker 2: the backend at http://b closed 1 connection at 3.50 s into the run; it did "
        "not answer again before the run ended")
