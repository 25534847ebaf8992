"""Who else is in the services' consumer groups: anyone there shares the benchmark's work.

aiokafka's describe_consumer_groups cannot decode Kafka 4.1's answer, so this asks Kafka's own
ConsumerGroupCommand, from the local install's jars. Without them the answer is None (unknown).
"""
from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence

from bench.config import ROOT

KAFKA_LIBS = ROOT / ".local" / "kafka" / "libs"
COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


async def group_members(bootstrap: str, groups: Sequence[str], timeout: float = 30.0) -> dict[str, int] | None:
    java = shutil.which("java")
    if java is None or not KAFKA_LIBS.is_dir():
        return None
    args = [java, "-cp", f"{KAFKA_LIBS}/*", COMMAND, "--bootstrap-server", bootstrap, "--describe", "--members"]
    for g in groups:
        args += ["--group", g]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    members = dict.fromkeys(groups, 0)
    for line in out.decode(errors="replace").splitlines():
        cols = line.split()
        # Member rows: GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS
        if len(cols) >= 5 and cols[0] in members and cols[1] != "CONSUMER-ID":
            members[cols[0]] += 1
    return members
