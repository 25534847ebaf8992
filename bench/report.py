"""The benchmark's verdict: a table of figures, the ratios, the targets, and where the CPU went."""
from __future__ import annotations

from typing import Any

from bench.config import TARGET_CEILING_FRACTION, TARGET_NAIVE_MULTIPLE, TARGET_PURCHASES_PER_S


def _get(results: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(results, dict) or key not in results:
            return None
        results = results[key]
    return results


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, ratios and target verdicts (None where a phase did not finish)."""
    ceiling = _get(results, "ceiling", "per_s")
    kaskade = _get(results, "kaskade", "throughput", "per_s")
    naive = _get(results, "naive", "per_s")
    vs_ceiling = round(kaskade / ceiling, 3) if kaskade and ceiling else None
    vs_naive = round(kaskade / naive, 2) if kaskade and naive else None

    def verdict(value: float | None, target: float) -> str:
        return "n/a" if value is None else "PASS" if value >= target else "MISS"

    return {
        "ceiling_per_s": ceiling, "kaskade_per_s": kaskade, "naive_per_s": naive,
        "kaskade_p50_ms": _get(results, "kaskade", "latency", "p50_ms"),
        "kaskade_p99_ms": _get(results, "kaskade", "latency", "p99_ms"),
        "kaskade_vs_ceiling": vs_ceiling, "kaskade_vs_naive": vs_naive,
        "targets": {
            f"kaskade >= {TARGET_PURCHASES_PER_S:,.0f} purchases/s": verdict(kaskade, TARGET_PURCHASES_PER_S),
            f"kaskade >= {TARGET_CEILING_FRACTION} x ceiling": verdict(vs_ceiling, TARGET_CEILING_FRACTION),
            f"kaskade >= {TARGET_NAIVE_MULTIPLE:g} x naive": verdict(vs_naive, TARGET_NAIVE_MULTIPLE),
        },
    }


def _cpu_order(item: tuple[str, float]) -> int:
    """Processes first, then their Postgres backends, the rest of Postgres, Kafka, the bench, totals."""
    name = item[0]
    order = ["postgres", "kafka", "bench", "total", "other"]
    return 100 + order.index(name) if name in order else 50 if name.startswith("pg:") else 0


def _num(v: float | None, unit: str = "") -> str:
    return "-" if v is None else f"{v:,.1f}{unit}" if v < 100 else f"{v:,.0f}{unit}"


def render(results: dict[str, Any], summary: dict[str, Any]) -> str:
    c, k, n = results.get("ceiling") or {}, results.get("kaskade") or {}, results.get("naive") or {}
    thr, lat = k.get("throughput") or {}, k.get("latency") or {}
    rows = [
        ("ceiling", "pass-through, 4 processes, batched", _num(summary["ceiling_per_s"], " msg/s"),
         f"{c.get('messages', '-')} msgs in {c.get('seconds', '-')} s" if c else ""),
        ("kaskade", "sustained purchases -> RewardGranted", _num(summary["kaskade_per_s"], " /s"),
         f"{thr.get('purchases', '-')} purchases in {thr.get('seconds', '-')} s" if thr else ""),
        ("kaskade", "  ... all notifications stored", _num(thr.get("notifications_stored_s"), " s"),
         "after the first send (notification caught up on kaskade.rewards.v1)" if thr else ""),
        ("kaskade", f"latency at {lat.get('offered_per_s', '-')}/s offered",
         f"p50 {_num(lat.get('p50_ms'))} ms" if lat else "-",
         f"p95 {_num(lat.get('p95_ms'))} / p99 {_num(lat.get('p99_ms'))} / max {_num(lat.get('max_ms'))} ms"
         if lat else ""),
        ("naive", "FastStream per message + tx + await", _num(summary["naive_per_s"], " msg/s"),
         f"{n.get('messages', '-')} msgs in {n.get('seconds', '-')} s; rows stored per hop "
         f"{'/'.join(str(r) for r in n.get('rows_per_hop', []))}" if n else ""),
    ]
    out = [f"{'phase':<9} {'what':<38} {'figure':>14}   detail", "-" * 100]
    out += [f"{a:<9} {b:<38} {v:>14}   {d}" for a, b, v, d in rows]
    out += ["", f"kaskade / ceiling = {summary['kaskade_vs_ceiling'] or '-'}    "
                f"kaskade / naive = {summary['kaskade_vs_naive'] or '-'}", ""]
    out += [f"  {verdict:<5} {target}" for target, verdict in summary["targets"].items()]
    out += ["", "CPU in cores busy during each timed part (2 cores = machine saturated):"]
    for label, cpu in (("ceiling", c.get("cpu_cores")), ("kaskade idle", k.get("idle_cpu_cores")),
                       ("kaskade b1", thr.get("cpu_cores")),
                       ("kaskade b2", lat.get("cpu_cores")), ("naive", n.get("cpu_cores"))):
        if cpu:
            out.append(f"  {label:<12} " + "  ".join(f"{g} {v:.2f}" for g, v in sorted(cpu.items(), key=_cpu_order)))
    if thr.get("hops"):
        out += ["", "Kaskade b1, when this run's events reached each topic (s after the first send; first .. last):"]
        out += [f"  {topic:<26} {h['events']:>7} events  {h['first_s']:>7.2f} .. {h['last_s']:.2f}"
                for topic, h in thr["hops"].items()]
    if lat.get("per_hop"):
        out += ["", "Kaskade b2, latency added per hop (ms, between arrivals of one purchase's events):"]
        out += [f"  {hop:<52} p50 {h['p50_ms']:>6.1f}  p99 {h['p99_ms']:>7.1f}  max {h['max_ms']:>7.1f}"
                for hop, h in lat["per_hop"].items()]
    for phase, error in (results.get("errors") or {}).items():
        out.append(f"\nFAILED {phase}: {error}")
    for warning in results.get("warnings") or []:
        out.append(f"WARNING: {warning}")
    return "\n".join(out)
