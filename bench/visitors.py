"""Who follows the referral links in the redirect phase: browsers, new and returning visitors.

One mix for both load generators (wrk's Lua script and bench.openloop's raw requests):
NEW_VISITORS of the requests carry no cookie (a first visit: the redirect mints a visitor id and
records a click); the rest are RETURNING visitors, each with its own kaskade_vid cookie and its
own link, so their repeat visits inside the dedup window are not counted again.
"""
from __future__ import annotations

import random

NEW_VISITORS = 0.7
RETURNING = 1000
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
)
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
LANGUAGE = "en-GB,en;q=0.9"


def _visit(rng: random.Random, codes: list[str]) -> tuple[str, str | None]:
    """(referral code, visitor cookie or None) of one visit."""
    if rng.random() < NEW_VISITORS:
        return rng.choice(codes), None
    j = rng.randrange(RETURNING)
    return codes[j % len(codes)], f"rv{j:05d}"


def raw_requests(codes: list[str], host: str, n: int, seed: int = 1) -> list[bytes]:
    """`n` HTTP/1.1 keep-alive requests, ready to write to a socket."""
    rng, out = random.Random(seed), []
    for _ in range(n):
        code, visitor = _visit(rng, codes)
        cookie = f"Cookie: kaskade_vid={visitor}\r\n" if visitor else ""
        out.append(f"GET /r/{code} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {rng.choice(USER_AGENTS)}\r\n"
                   f"Accept: {ACCEPT}\r\nAccept-Language: {LANGUAGE}\r\n{cookie}\r\n".encode())
    return out


def wrk_script(codes: list[str]) -> str:
    """The same mix as a wrk Lua script; `done` prints wrk's figures as one JSON line."""
    lua_list = lambda xs: "{" + ",".join(f'"{x}"' for x in xs) + "}"  # noqa: E731 - codes and UAs need no escaping
    return f"""
local codes = {lua_list(codes)}
local agents = {lua_list(USER_AGENTS)}
math.randomseed(os.time())
request = function()
  local h = {{["User-Agent"] = agents[math.random(#agents)], ["Accept"] = "{ACCEPT}",
              ["Accept-Language"] = "{LANGUAGE}"}}
  local code
  if math.random() < {NEW_VISITORS} then
    code = codes[math.random(#codes)]
  else
    local j = math.random(0, {RETURNING - 1})
    code = codes[(j % #codes) + 1]
    h["Cookie"] = string.format("kaskade_vid=rv%05d", j)
  end
  return wrk.format("GET", "/r/" .. code, h)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nWRK_JSON {{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
    .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""
