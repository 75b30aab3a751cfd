"""perfkit k8s-job's plan as a Document: the Job's settings and the steps to run it."""

from __future__ import annotations

from perfkit.k8s import JobPlan
from perfkit.render.model import Document, Table, name, number, text
from perfkit.units import fmt_rate


def job_document(plan: JobPlan) -> Document:
    """What the Job will do, and the kubectl steps that follow."""
    o = plan.options
    backend = (o.base_url or "-") if o.base_url_secret is None else (
        f"the URL in Secret {o.base_url_secret.name}/{o.base_url_secret.key}")
    what = o.load.target or (o.load.scenario.filename if o.load.scenario else "-")
    image = o.image.image + (f" + pip install {o.image.pip_spec}" if o.image.pip_spec else "")
    records = (f"claim {o.results.pvc}, folder {o.name}/" if o.results.pvc
               else o.results.prefix(o.name) + "/")
    rows = [["target", f"{what} on {backend}"], ["load", load_text(plan)],
            ["pods", f"{o.segments} at once (pod k runs segment k+1/{o.segments}), "
                     f"{o.load.workers} bench process each"],
            ["start", f"{o.start_at_iso}; the Job stops {plan.deadline_s} s after apply"],
            ["image", image], ["records", records],
            ["files", f"{plan.files.job}, {plan.files.merge}"]]
    settings = Table.of(f"perfkit k8s-job: {o.name}", [name("what"), text("value")], rows)
    steps = Table.of("then run", [number("step"), text("why", drop=1), name("command")],
                     [[str(i), s.why, s.command] for i, s in enumerate(plan.steps, start=1)])
    return Document().table(settings).table(steps)


def load_text(plan: JobPlan) -> str:
    """The whole run's schedule and one pod's share, in words."""
    load, pods = plan.options.load, plan.options.segments
    if load.rate_per_s is not None:
        shape = (f"open loop, {fmt_rate(load.rate_per_s)}/s in all "
                 f"({fmt_rate(load.rate_per_s / pods)}/s a pod)")
    else:
        shape = f"closed loop, {load.concurrency or 1} connection(s) in all"
    bound = [f"for {load.duration}"] if load.duration else []
    if load.requests is not None:
        bound.append(f"at most {load.requests} requests in all")
    return ", ".join([shape, *bound])
