"""The redirect's ceiling: the same server stack as share-ingest answering a bare route.

    python -m bench.hello PORT

uvicorn + uvloop + FastAPI, one worker, run with share-ingest's settings (no access log, no
logging config). The route sits at /r/{code} so the load generators send it the very requests
the redirect gets; it reads nothing from them and touches no database. It exits on SIGTERM, or
when the benchmark process that started it is gone.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI(title="bench hello-world")


@app.get("/r/{code}", response_class=PlainTextResponse)
async def hello(code: str) -> str:
    return "hello, world"


@app.get("/healthz")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _exit_with_parent() -> None:
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False, loop="uvloop")
