"""Run one of the project's commands with its clock moved: ``python -m tests.e2e.scenario.clock
2026-12-04T06:30:00+05:30 celery -A billing_portal worker ...``.

The scenario cannot wait three weeks for an invoice to fall overdue. A worker started through this
module runs the project's code unchanged, but its clock (``time.time``, ``datetime.now``,
``date.today``, in the main process and in the pool children it forks) starts at the given moment
and ticks on from there, as time-machine moves it. Only the command's own process group is moved:
PostgreSQL, Redis and the other processes keep the machine's time.
"""

import datetime
import sys

import time_machine


def main() -> None:
    moment = datetime.datetime.fromisoformat(sys.argv[1])
    if moment.tzinfo is None:
        raise SystemExit("the moment needs a time zone offset, e.g. +05:30")
    time_machine.travel(moment, tick=True).start()
    sys.argv = sys.argv[2:]
    if sys.argv[:1] != ["celery"]:
        raise SystemExit("only celery commands are run with a moved clock")
    from celery.__main__ import main as celery

    celery()


if __name__ == "__main__":
    main()
