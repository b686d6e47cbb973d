#!/usr/bin/env python3
"""Side-by-side metrics benchmark: Sightline vs Prometheus 2.42 receiving the
same remote-write 1.0 stream (the driver next to this file generates it).

One command runs, for each server in turn (never both at once, so that each
gets the machine's cores):

  ingest   fresh data dir, default 2h blocks; `--series` node_exporter-shaped
           series x `--scrapes` samples `--interval` s apart (default 15;
           timestamps end "now"),
           sent as fast as the server acknowledges. Server CPU time
           (/proc/<pid>/stat) -> samples/s per core (first scrape = series
           creation reported apart); RSS (VmRSS) after a settle -> bytes per
           active series (total and above the idle process).
  restart  kill -9, start on the same data dir, poll /-/ready (both answer
           it): time from exec to the first 200, and CPU and RSS at ready.
  restart  (with --restart-from=DIR, the --work dir of an earlier --keep
           run) restart only, on a copy of DIR/<server>-ingest: time to
           ready, CPU and RSS; repeatable without re-ingesting.
  blocks   fresh data dir, 5-minute blocks (Prometheus: the hidden
           --storage.tsdb.{min,max}-block-duration; Sightline:
           metrics.tsdb.block_duration), `--block-series` series x
           `--block-scrapes` scrapes; once blocks are cut: bytes per sample
           of the chunk files (and of whole blocks) over meta.json's
           numSamples.

Prints a JSON document and a Markdown table (docs/benchmarks.md).

  bench/metrics_vs_prometheus/run.py \
      --sightline=build/h-mperf-rel/src/app/sightline \
      --driver=build/h-mperf-rel/bench/metrics_vs_prometheus --series=100000 --scrapes=480
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def http_status(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return 0


class Server:
    """One server process: Prometheus or Sightline, on a data dir."""

    def __init__(self, kind, binary, data, block="", log=None):
        self.kind, self.binary, self.data, self.block = kind, binary, data, block
        self.port = free_port()
        self.log = log
        self.proc = None

    def argv(self):
        if self.kind == "prometheus":
            cfg = os.path.join(self.data, "..", f"prometheus-{self.port}.yml")
            with open(cfg, "w") as f:
                f.write("global:\n  scrape_interval: 15s\n")
            a = [self.binary, f"--config.file={cfg}", f"--storage.tsdb.path={self.data}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 "--web.enable-remote-write-receiver", "--log.level=warn"]
            if self.block:
                a += [f"--storage.tsdb.min-block-duration={self.block}",
                      f"--storage.tsdb.max-block-duration={self.block}"]
            return a
        a = [self.binary, f"--http.listen=127.0.0.1:{self.port}", "--grpc.listen=127.0.0.1:0",
             f"--data.dir={self.data}", "--metrics.self_scrape.enabled=false",
             "--log.level=warn"]
        if self.block:
            a.append(f"--metrics.tsdb.block_duration={self.block}")
        return a

    @property
    def write_url(self):
        return f"http://127.0.0.1:{self.port}/api/v1/write"

    def start(self):
        """Starts the process; returns seconds from exec to /-/ready == 200."""
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=out)
        ready = f"http://127.0.0.1:{self.port}/-/ready"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}; see {self.log}")
            if http_status(ready, timeout=0.5) == 200:
                return time.monotonic() - t0
            time.sleep(0.01)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()

    def blocks_dirs(self):
        if self.kind == "prometheus":
            roots = [self.data]
        else:
            roots = [os.path.join(self.data, "metrics", "anonymous", "blocks")]
        out = []
        for r in roots:
            if not os.path.isdir(r):
                continue
            for name in sorted(os.listdir(r)):
                d = os.path.join(r, name)
                if len(name) == 26 and os.path.exists(os.path.join(d, "meta.json")):
                    out.append(d)
        return out


def run_driver(args, server, series, scrapes, start_ms, name):
    cmd = [args.driver, f"--url={server.write_url}", f"--pid={server.proc.pid}",
           f"--series={series}", f"--scrapes={scrapes}", f"--start-ms={start_ms}",
           f"--interval-ms={args.interval * 1000}",
           f"--batch={args.batch}", f"--conns={args.conns}", f"--name={name}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 1) or not r.stdout.strip():
        raise RuntimeError(f"driver failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def dir_bytes(d):
    n = 0
    for root, _, files in os.walk(d):
        for f in files:
            n += os.path.getsize(os.path.join(root, f))
    return n


def start_ms_for(scrapes, interval_s=15):
    # Timestamps end about now, on a whole second.
    return (int(time.time() * 1000) - scrapes * interval_s * 1000) // 1000 * 1000


def phase_ingest_restart(args, kind, binary, work):
    data = os.path.join(work, f"{kind}-ingest")
    os.makedirs(data)
    s = Server(kind, binary, data, log=os.path.join(work, f"{kind}-ingest.log"))
    res = {"start_empty_s": s.start()}
    time.sleep(2)
    res["idle_rss_kb"] = proc_kb(s.proc.pid, "VmRSS:")
    d = run_driver(args, s, args.series, args.scrapes, start_ms_for(args.scrapes, args.interval), kind)
    res["driver"] = d
    time.sleep(args.settle)
    rss = proc_kb(s.proc.pid, "VmRSS:")
    res["rss_kb"] = rss
    res["hwm_kb"] = proc_kb(s.proc.pid, "VmHWM:")
    res["rss_per_series_b"] = rss * 1024 / args.series
    res["rss_above_idle_per_series_b"] = (rss - res["idle_rss_kb"]) * 1024 / args.series
    res["cpu_total_s"] = proc_cpu(s.proc.pid)
    res["wal_bytes"] = dir_bytes(os.path.join(data, "wal") if kind == "prometheus"
                                 else os.path.join(data, "metrics", "anonymous", "wal"))
    s.kill9()
    res["restart_s"] = s.start()
    res["restart_cpu_s"] = proc_cpu(s.proc.pid)
    time.sleep(1)
    res["restart_rss_kb"] = proc_kb(s.proc.pid, "VmRSS:")
    s.stop()
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    return res


def phase_restart_from(args, kind, binary, work):
    """Restart only: a copy of --restart-from=<dir>/<kind>-ingest (a data dir
    kept by an earlier --keep run), then exec and time to /-/ready."""
    src = os.path.join(args.restart_from, f"{kind}-ingest")
    data = os.path.join(work, f"{kind}-restart")
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run(["cp", "-a", src, data], check=True)
    s = Server(kind, binary, data, log=os.path.join(work, f"{kind}-restart.log"))
    res = {"from": src, "restart_s": s.start()}
    res["restart_cpu_s"] = proc_cpu(s.proc.pid)
    time.sleep(1)
    res["restart_rss_kb"] = proc_kb(s.proc.pid, "VmRSS:")
    res["restart_hwm_kb"] = proc_kb(s.proc.pid, "VmHWM:")
    if args.series:
        res["restart_rss_per_series_b"] = res["restart_rss_kb"] * 1024 / args.series
    if args.restart_settle > 0:
        # RSS again once the process has been idle a while (allocator decay).
        time.sleep(args.restart_settle)
        res["restart_rss_settled_kb"] = proc_kb(s.proc.pid, "VmRSS:")
        res["restart_cpu_settled_s"] = proc_cpu(s.proc.pid)
    s.kill9()
    shutil.rmtree(data, ignore_errors=True)
    return res


def phase_blocks(args, kind, binary, work):
    data = os.path.join(work, f"{kind}-blocks")
    os.makedirs(data)
    s = Server(kind, binary, data, block="5m", log=os.path.join(work, f"{kind}-blocks.log"))
    s.start()
    d = run_driver(args, s, args.block_series, args.block_scrapes,
                   start_ms_for(args.block_scrapes, args.interval), kind + "-blocks")
    # The head keeps >= 1.5 block ranges; everything older is cut. Wait for
    # the cuts to settle (Prometheus also compacts on a 1-minute timer).
    deadline = time.monotonic() + args.block_wait
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        cur = len(s.blocks_dirs())
        if cur != last:
            last, stable_since = cur, time.monotonic()
        elif cur > 0 and time.monotonic() - stable_since > 75:
            break
        time.sleep(2)
    s.stop()
    samples = chunk_bytes = total = 0
    blocks = s.blocks_dirs()
    for b in blocks:
        with open(os.path.join(b, "meta.json")) as f:
            meta = json.load(f)
        samples += meta.get("stats", {}).get("numSamples", 0)
        chunk_bytes += dir_bytes(os.path.join(b, "chunks"))
        total += dir_bytes(b)
    res = {"driver": d, "blocks": len(blocks), "samples_in_blocks": samples,
           "chunk_bytes": chunk_bytes, "block_bytes": total,
           "chunk_bytes_per_sample": chunk_bytes / samples if samples else None,
           "block_bytes_per_sample": total / samples if samples else None}
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    return res


def table(results):
    rows = []
    p, s = results.get("prometheus", {}), results.get("sightline", {})

    def g(r, *path):
        for k in path:
            if r is None or k not in r:
                return None
            r = r[k]
        return r

    def fmt(v, f="{:,.0f}"):
        return "—" if v is None else f.format(v)

    def ratio(a, b, higher_better=True):
        if a is None or b is None or a == 0 or b == 0:
            return "—"
        return f"{(b / a if higher_better else a / b):.2f}x"

    def row(name, path, f="{:,.0f}", higher_better=True):
        a, b = g(p, *path), g(s, *path)
        rows.append(f"| {name} | {fmt(a, f)} | {fmt(b, f)} | {ratio(a, b, higher_better)} |")

    rows.append("| | Prometheus 2.42 | Sightline | Sightline better by |")
    rows.append("|---|---|---|---|")
    row("ingest, steady, samples/s per core (server CPU)",
        ("ingest", "driver", "steady_samples_per_cpu_s"))
    row("ingest, steady, samples/s wall", ("ingest", "driver", "steady_samples_per_wall_s"))
    row("first scrape (series creation), server CPU s", ("ingest", "driver", "create_cpu_s"),
        "{:.2f}", False)
    row("RSS per active series, bytes", ("ingest", "rss_per_series_b"), "{:,.0f}", False)
    row("RSS above idle per active series, bytes", ("ingest", "rss_above_idle_per_series_b"),
        "{:,.0f}", False)
    row("peak RSS (VmHWM), MiB", ("ingest", "hwm_kb"), "{:,.0f}", False)
    row("WAL bytes on disk", ("ingest", "wal_bytes"), "{:,.0f}", False)
    row("restart to ready (kill -9), s", ("ingest", "restart_s"), "{:.2f}", False)
    row("restart CPU until ready, s", ("ingest", "restart_cpu_s"), "{:.2f}", False)
    row("RSS after restart, MiB", ("ingest", "restart_rss_kb"), "{:,.0f}", False)
    row("blocks: chunk bytes per sample", ("blocks", "chunk_bytes_per_sample"), "{:.3f}", False)
    row("blocks: whole block bytes per sample", ("blocks", "block_bytes_per_sample"), "{:.3f}",
        False)
    out = "\n".join(rows)
    return out.replace("| peak RSS (VmHWM), MiB | ", "| peak RSS (VmHWM), KiB | ").replace(
        "| RSS after restart, MiB | ", "| RSS after restart, KiB | ")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sightline", default=os.path.join(ROOT, "build/h-mperf-rel/src/app/sightline"))
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus")
    ap.add_argument("--driver",
                    default=os.path.join(ROOT, "build/h-mperf-rel/bench/metrics_vs_prometheus"))
    ap.add_argument("--series", type=int, default=100000)
    ap.add_argument("--scrapes", type=int, default=480, help="480 = 2 h at 15 s")
    ap.add_argument("--interval", type=int, default=15,
                    help="seconds between a series' samples (60 with --scrapes=120: 2 h, "
                         "one full 120-sample chunk per series)")
    ap.add_argument("--block-series", type=int, default=20000)
    ap.add_argument("--block-scrapes", type=int, default=120, help="120 = 30 min at 15 s")
    ap.add_argument("--block-wait", type=float, default=240)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--settle", type=float, default=10)
    ap.add_argument("--servers", default="prometheus,sightline")
    ap.add_argument("--phases", default="ingest,blocks")
    ap.add_argument("--work", default="")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs")
    ap.add_argument("--restart-from", default="",
                    help="with --phases restart: the --work dir of an earlier --keep run; "
                         "restarts each server on a copy of its kept data dir")
    ap.add_argument("--restart-settle", type=float, default=0,
                    help="with --phases restart: also read RSS this many seconds after ready")
    args = ap.parse_args()
    if "restart" in args.phases.split(",") and not args.restart_from:
        ap.error("--phases restart needs --restart-from")

    work = args.work or tempfile.mkdtemp(prefix="metrics_vs_prometheus.")
    os.makedirs(work, exist_ok=True)
    binaries = {"prometheus": args.prometheus, "sightline": args.sightline}
    results = {"args": vars(args), "nproc": os.cpu_count(),
               "loadavg_start": open("/proc/loadavg").read().split()[:3]}
    for kind in args.servers.split(","):
        results[kind] = {}
        if "ingest" in args.phases:
            results[kind]["ingest"] = phase_ingest_restart(args, kind, binaries[kind], work)
            print(f"# {kind} ingest: {json.dumps(results[kind]['ingest'])}", file=sys.stderr)
        if "restart" in args.phases.split(","):
            results[kind]["restart"] = phase_restart_from(args, kind, binaries[kind], work)
            print(f"# {kind} restart: {json.dumps(results[kind]['restart'])}", file=sys.stderr)
        if "blocks" in args.phases:
            results[kind]["blocks"] = phase_blocks(args, kind, binaries[kind], work)
            print(f"# {kind} blocks: {json.dumps(results[kind]['blocks'])}", file=sys.stderr)
    results["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(results, indent=1))
    print()
    print(table(results))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
