#!/usr/bin/env python3
"""Result rows and tables for loadtest/run.sh (standard library only).

  report.py row LABEL KIND K6_SUMMARY CLK_TCK SERVER_TICKS BACKEND_TICKS K6_CPU_S SYS_TICKS
  report.py wrkrow LABEL WRK_OUTPUT CLK_TCK SERVER_TICKS BACKEND_TICKS WRK_CPU_S SYS_TICKS
  report.py strace LABEL STRACE_C_OUTPUT REQUESTS
  report.py bench CRITERION_DIR
  report.py table RESULTS_TSV STRACE_TSV BENCH_TSV ENV_TXT
  report.py pair LABEL NAME_A WRK_A TICKS_A NAME_B WRK_B TICKS_B      (pair.sh)
  report.py pairacs LABEL K6_SUMMARY SERVER_TICKS VERIFY_OUTPUT METRICS (pair.sh)
  report.py compare RESULTS_TSV SPLIT_TSV ENV_TXT                    (compare/compare.sh)
"""

import json
import os
import statistics
import sys

# Reference figures of the issue, per server CPU-second.
ACS_TARGET = 8400.0
PASS_TARGET_VS_BARE = 0.9
ACS_TARGET_VS_VERIFY = 0.7

ROW_FIELDS = [
    "label", "kind", "requests", "ok", "failed", "wall_s", "server_cpu_s",
    "backend_cpu_s", "k6_cpu_s", "busy_s", "p50_ms", "p99_ms",
]


def metric(summary, name, key, default=0.0):
    m = summary.get("metrics", {}).get(name)
    if not m:
        return default
    return m.get("values", {}).get(key, default)


def load_summary(path):
    """A k6 summary (handleSummary JSON); empty when the run wrote none."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def row(args):
    label, kind, path, clk, server, backend, k6cpu, busy = args
    clk = float(clk)
    s = load_summary(path)
    requests = metric(s, "http_reqs", "count")
    if kind == "acs":
        ok = metric(s, "acs_accepted", "count")
    else:
        ok = metric(s, "checks", "passes")
    failed = requests - ok
    wall = s.get("state", {}).get("testRunDurationMs", 0.0) / 1000.0
    values = [
        label, kind, int(requests), int(ok), int(failed), f"{wall:.2f}",
        f"{int(server) / clk:.2f}", f"{int(backend) / clk:.2f}", f"{float(k6cpu):.2f}",
        f"{int(busy) / clk:.2f}",
        f"{metric(s, 'http_req_duration', 'med'):.3f}",
        f"{metric(s, 'http_req_duration', 'p(99)'):.3f}",
    ]
    print("\t".join(str(v) for v in values))


def wrk_time_ms(text):
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    for u in ("us", "ms", "s"):
        if text.endswith(u):
            return float(text[: -len(u)]) * units[u]
    return float(text)


def parse_wrk(path):
    """(requests, failed, wall_s, p50_ms, p99_ms) from wrk --latency output."""
    requests, non2xx, wall, p50, p99 = 0, 0, 0.0, 0.0, 0.0
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "requests" and parts[2] == "in":
                    requests = int(parts[0])
                    wall = wrk_time_ms(parts[3].rstrip(",")) / 1000.0
                elif line.strip().startswith("Non-2xx"):
                    non2xx = int(parts[-1])
                elif len(parts) == 2 and parts[0] == "50%":
                    p50 = wrk_time_ms(parts[1])
                elif len(parts) == 2 and parts[0] == "99%":
                    p99 = wrk_time_ms(parts[1])
                elif line.strip().startswith("Socket errors"):
                    non2xx += sum(int(x.rstrip(",")) for x in parts[2::2] if x.rstrip(",").isdigit())
    except OSError:
        pass
    return requests, non2xx, wall, p50, p99


def wrkrow(args):
    """A row from wrk --latency output, in the same fields as `row`."""
    label, path, clk, server, backend, gencpu, busy = args
    clk = float(clk)
    requests, non2xx, wall, p50, p99 = parse_wrk(path)
    values = [
        label, "wrk", requests, requests - non2xx, non2xx, f"{wall:.2f}",
        f"{int(server) / clk:.2f}", f"{int(backend) / clk:.2f}", f"{float(gencpu):.2f}",
        f"{int(busy) / clk:.2f}", f"{p50:.3f}", f"{p99:.3f}",
    ]
    print("\t".join(str(v) for v in values))


CLK = float(os.sysconf("SC_CLK_TCK"))


def pair(args):
    """One paired pass-through round (pair.sh): two wrk outputs, two tick counts."""
    label, name_a, wrk_a, ticks_a, name_b, wrk_b, ticks_b = args
    (req_a, bad_a, _, p50_a, p99_a), (req_b, bad_b, _, p50_b, p99_b) = parse_wrk(wrk_a), parse_wrk(wrk_b)
    cpu_a, cpu_b = int(ticks_a) / CLK, int(ticks_b) / CLK
    rate_a = (req_a - bad_a) / cpu_a if cpu_a else 0.0
    rate_b = (req_b - bad_b) / cpu_b if cpu_b else 0.0
    ratio = rate_b / rate_a if rate_a else 0.0
    print(f"{label}: {name_a} {rate_a:,.0f}/CPU-s ({req_a - bad_a} ok, {bad_a} failed, {cpu_a:.2f} CPU-s, "
          f"p50 {p50_a:.2f} ms, p99 {p99_a:.2f} ms); "
          f"{name_b} {rate_b:,.0f}/CPU-s ({req_b - bad_b} ok, {bad_b} failed, {cpu_b:.2f} CPU-s, "
          f"p50 {p50_b:.2f} ms, p99 {p99_b:.2f} ms); "
          f"{name_b}/{name_a} = {ratio:.3f}{ran_out(bad_a + bad_b)}")


def ran_out(rejected):
    """A flood that runs out of unique Responses posts replays: each costs
    the gateway a full verification but is no login, so the rate per
    CPU-second is too low. Said on the line, not left to be noticed."""
    if not rejected:
        return ""
    return (f"; UNDERCOUNTED: {int(rejected)} answers were not successes (an ACS flood: the unique"
            " Responses ran out? generate more with run.sh ACS_COUNT)")


def pairacs(args):
    """One paired ACS round: k6 summary + server ticks, verify_loop output, /metrics."""
    label, summary, ticks, verify_out, metrics_path = args
    if summary.endswith(".txt"):
        # wrk (loadtest/acs.lua): an accepted login is a 303, anything
        # else counts as "Non-2xx or 3xx".
        requests, rejected, *_ = parse_wrk(summary)
        accepted = requests - rejected
    else:
        s = load_summary(summary)
        accepted = metric(s, "acs_accepted", "count")
        rejected = metric(s, "acs_rejected", "count")
    cpu = int(ticks) / CLK
    rate = accepted / cpu if cpu else 0.0
    validated, vcpu = 0, 0.0
    try:
        with open(verify_out) as f:
            fields = dict(kv.split("=", 1) for kv in f.read().split())
        validated, vcpu = int(fields.get("validated", 0)), float(fields.get("cpu_seconds", 0))
    except (OSError, ValueError):
        pass
    vrate = validated / vcpu if vcpu else 0.0
    # The same validate() call timed inside the gateway (threads = 1 and
    # pinned: wall time is close to CPU time).
    total = count = cpu_total = 0.0
    try:
        with open(metrics_path) as f:
            for line in f:
                if line.startswith("samlgate_acs_validation_seconds_sum"):
                    total = float(line.split()[-1])
                elif line.startswith("samlgate_acs_validation_seconds_count"):
                    count = float(line.split()[-1])
                elif line.startswith("samlgate_acs_validation_cpu_seconds_sum"):
                    cpu_total = float(line.split()[-1])
    except (OSError, ValueError):
        pass
    inside = total / count * 1e6 if count else 0.0
    inside_cpu = cpu_total / count * 1e6 if count else 0.0
    alone = 1e6 / vrate if vrate else 0.0
    ratio = rate / vrate if vrate else 0.0
    print(f"{label}: samlgate ACS {rate:,.0f} accepted/CPU-s ({int(accepted)} accepted, {int(rejected)} not, "
          f"{cpu:.2f} CPU-s, {1e6 / rate if rate else 0:.0f} us each); engine alone {vrate:,.0f}/CPU-s "
          f"({alone:.0f} us each); ACS/engine = {ratio:.3f}; validate() inside the gateway {inside:.0f} us wall, "
          f"{inside_cpu:.0f} us thread CPU{ran_out(rejected)}")


def strace(args):
    label, path, requests = args
    requests = float(requests)
    calls = {}
    total = 0
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and not line.startswith("-"):
                    name = parts[-1]
                    n = int(parts[3])
                    if name == "total":
                        total = n
                    else:
                        calls[name] = n
    except OSError:
        pass
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
    detail = ", ".join(f"{k} {v / requests:.2f}" for k, v in top)
    print(f"{label}\t{total}\t{total / requests:.2f}\t{detail}")


def bench(args):
    base = args[0]
    for name in ("full_typical", "floor_rsa2048"):
        p = os.path.join(base, "verify", name, "new", "estimates.json")
        try:
            with open(p) as f:
                e = json.load(f)
            print(f"{name}\t{e['median']['point_estimate']:.1f}")
        except (OSError, ValueError, KeyError):
            pass


def read_tsv(path, fields=None):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if not parts or not parts[0]:
                    continue
                rows.append(dict(zip(fields, parts)) if fields else parts)
    except OSError:
        pass
    return rows


def other_cpu(r):
    """CPU of everything else on the machine during the run (the other
    engineer's compiler, the idle servers...): the noise indicator."""
    own = float(r["server_cpu_s"]) + float(r["k6_cpu_s"])
    if r["label"] != "direct":
        own += float(r["backend_cpu_s"])
    return max(0.0, float(r["busy_s"]) - own)


def per_cpu(r):
    cpu = float(r["server_cpu_s"])
    return float(r["ok"]) / cpu if cpu > 0 else 0.0


def table(args):
    results, straces, benches, env = args
    rows = read_tsv(results, ROW_FIELDS)
    bench_ns = {r[0]: float(r[1]) for r in read_tsv(benches)}
    env_lines = read_tsv(env)
    print("```")
    for line in env_lines:
        print(line[0])
    print("```\n")

    for kind, title, gen in (
        ("pass", "Pass-through, k6 (GET with session cookie)", "k6"),
        ("wrk", "Pass-through, wrk cross-check (same request, 1 wrk thread)", "wrk"),
    ):
        passes = [r for r in rows if r["kind"] == kind]
        if not passes:
            continue
        bare = next((per_cpu(r) for r in passes if r["label"] == "bare-pingora"), 0.0)
        print(f"### {title}\n")
        print("| target | requests (200) | errors | req/s | server CPU s | req per server CPU-s "
              f"| vs bare pingora | p50 ms | p99 ms | backend CPU s | {gen} CPU s | other CPU s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in passes:
            wall = float(r["wall_s"]) or 1.0
            pc = per_cpu(r)
            ratio = f"{pc / bare:.2f}x" if bare else "-"
            print(f"| {r['label']} | {r['ok']} | {r['failed']} | {float(r['ok']) / wall:,.0f} "
                  f"| {r['server_cpu_s']} | {pc:,.0f} | {ratio} | {r['p50_ms']} | {r['p99_ms']} "
                  f"| {r['backend_cpu_s']} | {r['k6_cpu_s']} | {other_cpu(r):.2f} |")
        print()

    acs = [r for r in rows if r["kind"] == "acs"]
    if acs:
        verify_rate = 1e9 / bench_ns["full_typical"] if "full_typical" in bench_ns else 0.0
        print("### ACS flood (unique signed Responses, fresh cookie jar per POST)\n")
        print("| samlgate | POSTs | accepted (303) | not accepted | accepted/s | server CPU s "
              "| accepted per server CPU-s | vs 8,400 | vs verify rate | p50 ms | p99 ms "
              "| k6 CPU s | other CPU s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in acs:
            wall = float(r["wall_s"]) or 1.0
            pc = per_cpu(r)
            vr = f"{pc / verify_rate:.2f}x" if verify_rate else "-"
            print(f"| {r['label']} | {r['requests']} | {r['ok']} | {r['failed']} "
                  f"| {float(r['ok']) / wall:,.0f} | {r['server_cpu_s']} | {pc:,.0f} "
                  f"| {pc / ACS_TARGET:.2f}x | {vr} | {r['p50_ms']} | {r['p99_ms']} "
                  f"| {r['k6_cpu_s']} | {other_cpu(r):.2f} |")
        print()
        if bench_ns:
            parts = [f"{k} {v / 1000:.1f} µs" for k, v in bench_ns.items()]
            if verify_rate:
                parts.append(f"verify rate {verify_rate:,.0f}/CPU-s, 0.7x = {0.7 * verify_rate:,.0f}")
            print("criterion (median): " + "; ".join(parts) + "\n")

    st = read_tsv(straces)
    if st:
        print("### Syscalls per request (strace -c -f, 20,000 requests, indicative)\n")
        print("| server | syscalls | per request | top (per request) |")
        print("|---|---:|---:|---|")
        for s in st:
            print(f"| {s[0]} | {s[1]} | {s[2]} | {s[3] if len(s) > 3 else ''} |")
        print()


COMPARE_NAMES = {
    "nginx": "nginx proxy_pass (no auth)",
    "samlgate": "samlgate",
    "mellon": "Apache + mod_auth_mellon",
    "mellon-noca": "Apache + mod_auth_mellon, no system CA bundle",
    "shib": "Apache + mod_shib + shibd",
}


def compare(args):
    """compare.sh's tables: per server, ACS logins and authenticated GETs
    per server CPU-second, latency, errors; shibd's share of Shibboleth's CPU."""
    results, split_path, env = args
    rows = read_tsv(results, ROW_FIELDS)
    # label, kind -> the per-process-tree ticks ("apache+shibd" for shib).
    split = {(r[0], r[1]): [int(t) for t in r[2].split("+")] for r in read_tsv(split_path) if len(r) > 2}
    print("```")
    for line in read_tsv(env):
        print(line[0])
    print("```\n")

    def shibd_share(r):
        ticks = split.get((r["label"], r["kind"]), [])
        if len(ticks) < 2 or sum(ticks) == 0:
            return "-"
        return f"{ticks[1] / CLK:.2f} ({100.0 * ticks[1] / sum(ticks):.0f}%)"

    def server(label):
        return COMPARE_NAMES.get(label.removeprefix("acs-"), label)

    acs = [r for r in rows if r["kind"] == "acs"]
    if acs:
        ref = next((per_cpu(r) for r in acs if r["label"] == "acs-samlgate"), 0.0)
        print("### ACS logins (unique signed Responses, each POSTed once from a fresh cookie jar)\n")
        print("| server | POSTs | accepted | not accepted | logins per server CPU-s | samlgate ÷ this "
              "| server CPU s | of which shibd | p50 ms | p99 ms | accepted/s | k6 CPU s | other CPU s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in acs:
            pc = per_cpu(r)
            wall = float(r["wall_s"]) or 1.0
            ratio = f"{ref / pc:.1f}x" if pc and ref else "-"
            print(f"| {server(r['label'])} | {r['requests']} | {r['ok']} | {r['failed']} | {pc:,.0f} | {ratio} "
                  f"| {r['server_cpu_s']} | {shibd_share(r)} | {r['p50_ms']} | {r['p99_ms']} "
                  f"| {float(r['ok']) / wall:,.0f} | {r['k6_cpu_s']} | {other_cpu(r):.2f} |")
        print()

    for kind, title, gen in (
        ("pass", "Authenticated GET, k6 (the session cookie of one ACS POST)", "k6"),
        ("wrk", "Authenticated GET, wrk (same request, 1 wrk thread)", "wrk"),
        ("rate", "Authenticated GET at one fixed rate for every server (k6 constant-arrival-rate, "
         "`rate` above): latency at the same offered load", "k6"),
    ):
        passes = [r for r in rows if r["kind"] == kind]
        if not passes:
            continue
        ref = next((per_cpu(r) for r in passes if r["label"] == "samlgate"), 0.0)
        print(f"### {title}\n")
        print("| server | requests (200) | errors | GETs per server CPU-s | samlgate ÷ this | server CPU s "
              f"| of which shibd | p50 ms | p99 ms | req/s | backend CPU s | {gen} CPU s | other CPU s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in passes:
            pc = per_cpu(r)
            wall = float(r["wall_s"]) or 1.0
            ratio = f"{ref / pc:.2f}x" if pc and ref else "-"
            print(f"| {server(r['label'])} | {r['ok']} | {r['failed']} | {pc:,.0f} | {ratio} "
                  f"| {r['server_cpu_s']} | {shibd_share(r)} | {r['p50_ms']} | {r['p99_ms']} "
                  f"| {float(r['ok']) / wall:,.0f} | {r['backend_cpu_s']} | {r['k6_cpu_s']} | {other_cpu(r):.2f} |")
        print()
        if kind == "rate":
            rate_medians(passes, server)


def rate_medians(rows, server):
    """The fixed-rate rounds (one row per server per round, servers
    alternating): a single 15 s window's p99 moves by 2x on this host, so
    the medians over the rounds are what the summary quotes."""
    by_server = {}
    for r in rows:
        by_server.setdefault(r["label"], []).append(r)
    print("Medians over the rounds (each round: every server once, in turn):\n")
    print("| server | rounds | p50 ms | p99 ms | p99 of each round, ms | errors |")
    print("|---|---:|---:|---:|---|---:|")
    for label, rs in by_server.items():
        p50 = statistics.median(float(r["p50_ms"]) for r in rs)
        p99 = statistics.median(float(r["p99_ms"]) for r in rs)
        each = ", ".join(f"{float(r['p99_ms']):.2f}" for r in rs)
        errors = sum(int(r["failed"]) for r in rs)
        print(f"| {server(label)} | {len(rs)} | {p50:.3f} | {p99:.3f} | {each} | {errors} |")
    print()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {
        "row": row, "wrkrow": wrkrow, "strace": strace, "bench": bench, "table": table,
        "pair": pair, "pairacs": pairacs, "compare": compare,
    }[cmd](args)


if __name__ == "__main__":
    main()
