"""doctor's Document: the title says what was judged."""

from __future__ import annotations

from perfkit.doctor import Box, DoctorResult, Status
from perfkit.render.doctor import doctor_document, headline
from perfkit.render.markdown import document


def test_the_title_counts_the_boxes_not_judged() -> None:
    result = DoctorResult([Box("backend answers", Status.PASS, "200 in 3 ms"),
                           Box("no route slower", Status.SKIP, "too few samples"),
                           Box("5xx near 0%", Status.SKIP, "no traffic in the window")])
    assert headline(result) == "all pass, 2 not judged"
    assert "**perfkit doctor: all pass, 2 not judged**" in document(doctor_document(result))
    failing = DoctorResult([Box("backend answers", Status.FAIL, "refused"),
                            Box("no route slower", Status.SKIP, "too few samples")])
    assert headline(failing) == "SOME FAIL, 1 not judged"
    assert headline(DoctorResult([Box("backend answers", Status.PASS, "ok")])) == "all pass"
