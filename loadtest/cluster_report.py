#!/usr/bin/env python3
"""Helpers and result lines for loadtest/cluster_pair.sh (standard library
only; wrk and k6 parsing shared with report.py).

  cluster_report.py revoke ADMIN_URL TOKEN COUNT FIRST
      COUNT admin revocations (users gone<FIRST>..) on one keep-alive
      connection; prints how many the node stored.
  cluster_report.py churn ADMIN_URL TOKEN RATE SECONDS FIRST
      RATE revocations per second for SECONDS (a live revocation feed).
  cluster_report.py acs LABEL K6_REDIS TICKS_REDIS K6_MEMORY TICKS_MEMORY CMD_BEFORE CMD_AFTER REPLAYED SAMPLED
  cluster_report.py pass LABEL WRK_REDIS TICKS_REDIS WRK_MEMORY TICKS_MEMORY CMD_BEFORE CMD_AFTER
  cluster_report.py summary ROUNDS_TSV

CMD_* are `redis-cli INFO commandstats` outputs. Each acs/pass line is
also appended, tab-separated, to $ROUNDS_TSV for `summary`.
"""

import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import load_summary, metric, parse_wrk  # noqa: E402

CLK = float(os.sysconf("SC_CLK_TCK"))
ROUNDS_TSV = os.environ.get("ROUNDS_TSV")
NAME_A = os.environ.get("NAME_A", "redis store")


def commandstats(path):
    """command -> calls, from INFO commandstats."""
    calls = {}
    with open(path) as f:
        for line in f:
            if line.startswith("cmdstat_"):
                name, rest = line.strip()[len("cmdstat_"):].split(":", 1)
                fields = dict(kv.split("=", 1) for kv in rest.split(","))
                calls[name] = int(fields["calls"])
    return calls


def delta(before, after):
    b, a = commandstats(before), commandstats(after)
    return {k: a[k] - b.get(k, 0) for k in a if a[k] - b.get(k, 0)}


def record(kind, label, *values):
    if ROUNDS_TSV:
        with open(ROUNDS_TSV, "a") as f:
            f.write("\t".join([kind, label] + [str(v) for v in values]) + "\n")


def post_revocations(admin_url, token, first, count, pace=None):
    url = urllib.parse.urlsplit(admin_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    stored = 0
    start = time.monotonic()
    for i in range(count):
        if pace:
            wait = start + i / pace - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        body = json.dumps({"idp": "corp", "name_id": "gone%d@example.org" % (first + i)})
        conn.request("POST", "/sessions/revoke", body,
                     {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        resp = conn.getresponse()
        answer = resp.read()
        if resp.status == 200 and json.loads(answer).get("stored"):
            stored += 1
    conn.close()
    return stored


def revoke(args):
    admin_url, token, count, first = args
    print(post_revocations(admin_url, token, int(first), int(count)))


def churn(args):
    admin_url, token, rate, seconds, first = args
    rate, seconds = float(rate), float(seconds)
    print(post_revocations(admin_url, token, int(first), int(rate * seconds), pace=rate))


def acs(args):
    label, k6_r, ticks_r, k6_m, ticks_m, before, after, replayed, sampled, node_accepted = args
    rates = []
    counts = []
    for path, ticks in ((k6_r, ticks_r), (k6_m, ticks_m)):
        if path.endswith(".txt"):
            # wrk with acs.lua: a 303 is an accepted login, anything else
            # shows as "Non-2xx or 3xx".
            requests, refused, _, _, _ = parse_wrk(path)
            accepted, rejected = requests - refused, refused
        else:
            s = load_summary(path)
            accepted = metric(s, "acs_accepted", "count")
            rejected = metric(s, "acs_rejected", "count")
        cpu = int(ticks) / CLK
        rates.append(accepted / cpu if cpu else 0.0)
        counts.append((int(accepted), int(rejected), cpu))
    d = delta(before, after)
    scripts = d.get("evalsha", 0) + d.get("eval", 0)
    total = sum(d.values())
    # The denominator is what node A counted as accepted (its /metrics):
    # the load generator misses the answers still in flight at its deadline.
    accepted_r = int(node_accepted)
    per_acs = scripts / accepted_r if accepted_r else 0.0
    ratio = rates[0] / rates[1] if rates[1] else 0.0
    other = ", ".join("%s %d" % kv for kv in sorted(d.items()) if kv[0] not in ("evalsha", "eval"))
    print(f"{label}: {NAME_A} {rates[0]:,.0f} accepted/CPU-s ({counts[0][0]} accepted, {counts[0][1]} not, "
          f"{counts[0][2]:.2f} CPU-s); memory store {rates[1]:,.0f} accepted/CPU-s ({counts[1][0]} accepted, "
          f"{counts[1][1]} not, {counts[1][2]:.2f} CPU-s); redis/memory = {ratio:.3f}; "
          f"Redis script calls per accepted ACS = {per_acs:.4f} ({scripts} for the {accepted_r} node A counted); "
          f"all Redis commands in the round {total} (others: {other or 'none'}); "
          f"node B refused {replayed}/{sampled} of node A's Responses as replayed")
    record("acs", label, f"{ratio:.4f}", f"{per_acs:.4f}", rates[0], rates[1], replayed, sampled,
           counts[0][1] + counts[1][1])


def passthrough(args):
    label, wrk_r, ticks_r, wrk_m, ticks_m, before, after = args
    out = []
    for path, ticks in ((wrk_r, ticks_r), (wrk_m, ticks_m)):
        req, bad, _, p50, p99 = parse_wrk(path)
        cpu = int(ticks) / CLK
        out.append(((req - bad) / cpu if cpu else 0.0, req - bad, bad, cpu, p50, p99))
    d = delta(before, after)
    total = sum(d.values())
    ratio = out[0][0] / out[1][0] if out[1][0] else 0.0
    per_req = total / out[0][1] if out[0][1] else 0.0
    detail = ", ".join("%s %d" % kv for kv in sorted(d.items()))
    print(f"{label}: {NAME_A} (revocations on) {out[0][0]:,.0f}/CPU-s ({out[0][1]} ok, {out[0][2]} failed, "
          f"{out[0][3]:.2f} CPU-s, p50 {out[0][4]:.2f} ms, p99 {out[0][5]:.2f} ms); memory store "
          f"{out[1][0]:,.0f}/CPU-s ({out[1][1]} ok, {out[1][2]} failed, {out[1][3]:.2f} CPU-s, "
          f"p50 {out[1][4]:.2f} ms, p99 {out[1][5]:.2f} ms); redis/memory = {ratio:.3f}; "
          f"Redis commands in the round, all clients: {total} ({detail or 'none'}) = "
          f"{per_req:.5f} per proxied request")
    record("pass", label, f"{ratio:.4f}", f"{per_req:.6f}", out[0][0], out[1][0], out[0][2] + out[1][2])


def summary(args):
    rows = {"acs": [], "pass": []}
    with open(args[0]) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            rows[parts[0]].append(parts)
    for kind, target, what in (("acs", 0.9, "ACS accepted per server CPU-s, redis/memory"),
                               ("pass", 0.98, "pass-through per server CPU-s, redis (revocations on)/memory")):
        ratios = [float(r[2]) for r in rows[kind]]
        if not ratios:
            continue
        med = statistics.median(ratios)
        print(f"{what}: median {med:.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}, "
              f"{len(ratios)} rounds); target >= {target}: {'met' if med >= target else 'NOT met'}")
    per_acs = [float(r[3]) for r in rows["acs"]]
    if per_acs:
        exact = all(abs(p - 1.0) < 1e-9 for p in per_acs)
        print(f"Redis script calls per accepted ACS: {', '.join('%.4f' % p for p in per_acs)}; "
              f"target exactly 1: {'met' if exact else 'NOT met'}")
    per_req = [float(r[3]) for r in rows["pass"]]
    if per_req:
        print(f"Redis commands per proxied request (all clients, feed reads included): "
              f"max {max(per_req):.5f}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"revoke": revoke, "churn": churn, "acs": acs, "pass": passthrough, "summary": summary}[cmd](args)


if __name__ == "__main__":
    main()
