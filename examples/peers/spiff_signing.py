#!/usr/bin/env python3
"""The peer of examples/load.rs: the same 4-step online signing (invite, accept, department,
school; every tenth graduate refused at the start) run in SpiffWorkflow 3.2, embedded, with
the workflow's state written to SQLite and committed after every step (WAL,
synchronous=FULL); with --reload each step first reads the workflow back, as a server
answering requests would. Prints steps/s — a benchmark, it asserts nothing about speed.

    pip install SpiffWorkflow==3.2.0
    python3 examples/peers/spiff_signing.py --graduates 4000
"""

import argparse
import os
import sqlite3
import tempfile
import time

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--graduates", type=int, default=4000)
    args.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    args.add_argument(
        "--reload",
        action="store_true",
        help="read each step's workflow back from SQLite, as a server answering requests would",
    )
    a = args.parse_args()

    parser = BpmnParser()
    parser.add_bpmn_file(os.path.join(os.path.dirname(__file__), "signing.bpmn"))
    spec = parser.get_spec("signing")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure())

    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(os.path.join(d, "peer.sqlite"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={a.synchronous}")
        db.execute("CREATE TABLE workflows (id INTEGER PRIMARY KEY, state TEXT NOT NULL)")

        def store(i, wf, first):
            state = serializer.serialize_json(wf)
            db.execute("BEGIN")
            if first:
                db.execute("INSERT INTO workflows (id, state) VALUES (?, ?)", (i, state))
            else:
                db.execute("UPDATE workflows SET state = ? WHERE id = ?", (state, i))
            db.execute("COMMIT")

        steps = refused = completed = 0
        started = time.perf_counter()
        for i in range(a.graduates):
            wf = BpmnWorkflow(spec)
            wf.get_tasks(state=TaskState.READY)[0].data["refused"] = i % 10 == 0
            wf.do_engine_steps()
            if wf.is_completed():
                refused += 1  # refused at the start: nothing stored
                continue
            store(i, wf, True)
            steps += 1
            for _ in ("accept", "department", "school"):
                if a.reload:
                    (row,) = db.execute("SELECT state FROM workflows WHERE id = ?", (i,)).fetchone()
                    wf = serializer.deserialize_json(row)
                task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
                task.run()
                wf.do_engine_steps()
                store(i, wf, False)
                steps += 1
            completed += wf.is_completed()
        secs = time.perf_counter() - started
        mode = "read back per step" if a.reload else "kept in memory"
        print(f"SpiffWorkflow 3.2, SQLite WAL synchronous={a.synchronous}, one commit per step, {mode}")
        print(f"graduates {a.graduates}: {completed} signed, {refused} refused at the start")
        print(f"steps: {steps} in {secs:.2f} s = {steps / secs:.0f}/s")


if __name__ == "__main__":
    main()
