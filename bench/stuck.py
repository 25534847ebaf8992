"""Where a phase that overran its budget was waiting: every task's chain of awaits and every
thread's stack, taken before the cancel unwinds them. A stall that happens once in dozens of runs
is then found from the one that shows it."""
from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from typing import Any

DEEPEST = 64


def awaits(awaitable: Any) -> list[str]:
    """The chain a coroutine is suspended in, outermost first, down to the future it waits on."""
    lines: list[str] = []
    for _ in range(DEEPEST):
        if awaitable is None:
            break
        frame = (getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
                 or getattr(awaitable, "ag_frame", None))
        if frame is None:  # a future (or a finished coroutine): the end of the chain
            lines.append(repr(awaitable)[:300])
            break
        lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        awaitable = (getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
                     or getattr(awaitable, "ag_await", None))
    return lines


def describe() -> str:
    """Every task of the running loop and every thread, as they wait now."""
    out = []
    for task in sorted(asyncio.all_tasks(), key=lambda t: t.get_name()):
        out.append(f"task {task.get_name()}:")
        out += [f"    {line}" for line in awaits(task.get_coro())]
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():  # noqa: SLF001 - the only way to a thread's stack
        out.append(f"thread {names.get(ident, ident)}:")
        out += [f"    {s.filename}:{s.lineno} in {s.name}" for s in traceback.extract_stack(frame)]
    return "\n".join(out) + "\n"
