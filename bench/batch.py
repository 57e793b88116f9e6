#!/usr/bin/env python3
"""BatchJob benchmark driver (measurement only; the scheduler under test is capstan-batch).

1. Fan-out: one BatchJob whose step `work` fans out over N items (default 10,000), each a
   process that only exits (`true`), parallelism P (default 16). Measured: wall time, steps
   started per second, the runner's own CPU per step (user+sys of the capstan-batch process,
   children excluded: its overhead beyond the steps' own work), peak RSS of the runner.
   Anchor, same run: the same N `true` processes started by `xargs -P P`, the floor of process
   start-up on this machine.
2. Start latency: a chain of C steps (default 300), each depending on the one before; each step
   writes the time it started running; latency = that time - when the ledger recorded its
   dependency done. p50 and p99.
3. Crash-resume equivalence on a 1,000-step DAG (10 layers of 100; every step depends on one
   step of the layer before and hashes its output): an uninterrupted run, and a run killed with
   SIGKILL mid-way then resumed; resume_equal=true when every step's outputs are equal.

Usage: batch.py CAPSTAN_BATCH POSTGRES_URL WORKDIR
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import time


BIN, URL, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
N = int(os.environ.get("BENCH_ITEMS", "10000"))
P = int(os.environ.get("BENCH_PARALLELISM", "16"))
CHAIN = int(os.environ.get("BENCH_CHAIN", "300"))
ENV = dict(os.environ, CAPSTAN_POSTGRES_URL=URL)
os.makedirs(WORK, exist_ok=True)


def write_job(name, spec_yaml):
    path = os.path.join(WORK, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"apiVersion: ml.capstan.dev/v1alpha1\nkind: BatchJob\nmetadata:\n  name: {name}\nspec:\n{spec_yaml}")
    return path


def run_batch(args, kill_after=None):
    """Runs capstan-batch; returns (seconds, runner cpu seconds, peak rss MB)."""
    start = time.monotonic()
    proc = subprocess.Popen([BIN] + args + ["--state-dir", os.path.join(WORK, "state"), "--json"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    cpu = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            with open(f"/proc/{proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / tick
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
        if kill_after is not None and kill_after():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return time.monotonic() - start, cpu, peak / 1024, None
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"capstan-batch {' '.join(args)} failed ({proc.returncode}):\n{out}\n{err}")
    return time.monotonic() - start, cpu, peak / 1024, out


def sql(query):
    out = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-F", "\t", URL, "-c", query], capture_output=True, text=True, check=True)
    return [line.split("\t") for line in out.stdout.strip().splitlines() if line]


stamp = str(int(time.time()))

# 1. fan-out
items = ", ".join(f'"{i}"' for i in range(N))
fan = write_job(f"fanout-{stamp}", f"""  parallelism: {P}
  steps:
    - name: work
      cache: false
      forEach:
        items: [{items}]
      command:
        command: ["true"]
""")
wall, cpu, rss, out = run_batch(["run", "-f", fan, "--logical-time", "2026-12-07T00:00:00Z"])
phase = json.loads(out.strip().splitlines()[-1])["phase"]
assert phase == "Succeeded", out
own = float(sql(f"SELECT sum(extract(epoch FROM finished_at - started_at)) FROM capstan_batch_steps WHERE run_id = 'fanout-{stamp}-20261207000000'")[0][0])
anchor_start = time.monotonic()
subprocess.run(f"seq {N} | xargs -P {P} -n 1 sh -c 'true'", shell=True, check=True)
anchor = time.monotonic() - anchor_start
print(f"FANOUT items={N} parallelism={P} wall_s={wall:.2f} runner_cpu_s={cpu:.2f} steps_own_s={own:.2f} rss_mb={rss:.1f} anchor_xargs_s={anchor:.2f}")

# 2. start latency along a chain
steps = []
for i in range(CHAIN):
    dep = f"\n      dependsOn: [s{i - 1}]" if i else ""
    steps.append(f"""    - name: s{i}{dep}
      cache: false
      command:
        command: ["/bin/sh", "-c", "echo t=$(date +%s.%N) >> $CAPSTAN_OUTPUTS"]""")
chain = write_job(f"chain-{stamp}", "  steps:\n" + "\n".join(steps) + "\n")
run_batch(["run", "-f", chain, "--logical-time", "2026-12-07T00:00:00Z"])
rows = sql(f"""SELECT step, outputs->>'t', extract(epoch FROM finished_at) FROM capstan_batch_steps
               WHERE run_id = 'chain-{stamp}-20261207000000'""")
began = {r[0]: float(r[1]) for r in rows}
done = {r[0]: float(r[2]) for r in rows}
lat = sorted((began[f"s{i}"] - done[f"s{i - 1}"]) * 1000 for i in range(1, CHAIN))
p50 = statistics.median(lat)
p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
print(f"LATENCY chain={CHAIN} start_p50_ms={p50:.2f} start_p99_ms={p99:.2f}")


# 3. crash-resume equivalence on a 1,000-step DAG
def dag(name):
    out = []
    for layer in range(10):
        for k in range(100):
            step = f"l{layer}-{k}"
            if layer == 0:
                cmd = f"echo h=$(printf '%s' '{step}' | sha256sum | cut -c1-16) >> $CAPSTAN_OUTPUTS"
                dep = ""
            else:
                parent = f"l{layer - 1}-{(k * 7) % 100}"
                cmd = f"echo h=$(printf '%s' '{step}-{{{{steps.{parent}.outputs.h}}}}' | sha256sum | cut -c1-16) >> $CAPSTAN_OUTPUTS"
                dep = f"\n      dependsOn: [{parent}]"
            out.append(f"""    - name: {step}{dep}
      command:
        command: ["/bin/sh", "-c", "{cmd}"]""")
    return write_job(name, f"  parallelism: {P}\n  steps:\n" + "\n".join(out) + "\n")


straight, crashed = dag(f"dag-a-{stamp}"), dag(f"dag-b-{stamp}")
run_batch(["run", "-f", straight, "--logical-time", "2026-12-07T00:00:00Z"])
run_b = f"dag-b-{stamp}-20261207000000"


def halfway():
    try:
        return int(sql(f"SELECT count(*) FROM capstan_batch_steps WHERE run_id = '{run_b}' AND state = 'succeeded'")[0][0]) >= 400
    except subprocess.CalledProcessError:
        return False


run_batch(["run", "-f", crashed, "--logical-time", "2026-12-07T00:00:00Z"], kill_after=halfway)
killed_at = int(sql(f"SELECT count(*) FROM capstan_batch_steps WHERE run_id = '{run_b}' AND state = 'succeeded'")[0][0])
run_batch(["resume", run_b])
a = dict((r[0], r[1]) for r in sql(f"SELECT step, outputs->>'h' FROM capstan_batch_steps WHERE run_id = 'dag-a-{stamp}-20261207000000'"))
b = dict((r[0], r[1]) for r in sql(f"SELECT step, outputs->>'h' FROM capstan_batch_steps WHERE run_id = '{run_b}'"))
equal = len(a) == 1000 and a == b
print(f"RESUME steps=1000 killed_after={killed_at} resume_equal={'true' if equal else 'false'}")

overhead = (cpu / N) * 1000
print(f"overhead per step: runner CPU {overhead:.2f} ms (goal <= 5); wall {wall:.2f} s vs xargs anchor {anchor:.2f} s ({wall / anchor:.2f}x)")
print(f"RESULT batch fanout_items={N} wall_s={wall:.2f} steps_per_s={N / wall:.0f} overhead_ms_per_step={overhead:.2f} "
      f"start_p50_ms={p50:.2f} start_p99_ms={p99:.2f} rss_mb={rss:.1f} resume_equal={'true' if equal else 'false'} anchor_xargs_s={anchor:.2f}")
