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


def test_timeouts_with_no_answer_while_they_waited_are_a_hang() -> None:
    outages = Outages()
    outages.failed(1.3, "timeout", sent_s=1.0)  # alone: maybe a slow request
    outages.answered(1.4)
    outages.failed(1.8, "timeout", sent_s=1.2)  # answers came while it waited: slow
    outages.failed(1.9, "timeout", sent_s=1.3)
    assert outages.lost == 0 and not outages.down
    outages.failed(2.3, "timeout", sent_s=2.0)  # nothing answered since 1.4: hung
    outages.failed(2.4, "timeout", sent_s=2.1)
    outages.failed(2.5, "refused")
    outages.answered(2.6)
    outages.failed(3.3, "timeout", sent_s=3.0)  # one unanswered at the end: not a hang
    assert outages.lost == 3
    assert outages.close() == [Outage(2.0, 2.5, 2.6, 1, 0, timed_out=2)]


def test_the_record_keeps_outages_and_names_who_saw_them() -> None:
    first, second = Run(base_url="http://127.0.0.1:1"), Run(base_url="http://127.0.0.1:1")
    first.outages = [Outage(1.0, 1.9, 2.0, 2, 1), Outage(2.5, 2.9, 3.0, 0, 0, timed_out=4)]
    back = Run.from_json(first.to_json())
    assert back.outages == first.outages
    assert first.merge(second).outages == first.outages
    repeats = Run.of_repeats([second, first])
    assert [o.source for o in repeats.outages] == ["repeat 2", "repeat 2"]
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
    assert outage_line(Outage(1.0, 1.9, 2.0, 0, 0, timed_out=12), "http://b") == (
        "the backend at http://b hung: it answered none of the 12 requests sent between "
        "1.00 s and 1.90 s into the run; it answered again at 2.00 s, and the run went on "
        "(each is an error of its route: timeout)")
    assert outage_line(Outage(1.0, 1.9, None, 3, 0, timed_out=1), "http://b") == (
        "the backend at http://b refused 3 connections and did not answer the request sent "
        "between 1.00 s and 1.90 s into the run; it did not answer again before the run "
        "ended (each is an error of its route: refused, disconnected, reset, timeout)")
