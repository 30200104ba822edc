# SPDX-License-Identifier: GPL-3.0-or-later
"""A soak: a live DECTRIS stream V2 at 80 % of the measured capacity, with injected faults (drops,
duplicates, reordering, corrupt blocks and a disconnect in every series), all sinks on and a
headless browser on the dashboard, for MINUTES. At the end every series reconciles exactly with the
injector's log (frames sent = kept + dropped by reason; coverage 0 exactly where the log says);
RSS and open file descriptors are sampled every 10 s (their slopes are reported; what must stay flat
is their level: the second half's peak against the first half's) and
the end-to-end latency p50/p99 comes from the engine's Prometheus histogram.

    soak.py BUILD_DIR MINUTES OUT_DIR

Exit 0 when everything reconciles, the memory and descriptors stay flat and the browser stayed
attached; 1 otherwise (the report says what failed).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import h5py
import numpy as np

FRAME = 128
SERIES_SECONDS = 15  # each series lasts about this long: a disconnect every 15 s
FAULTS = "drop=0.001,duplicate=0.001,reorder=0.001,corrupt=0.001"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(port, path, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.read().decode()


def config(path, out_dir, endpoint, metrics, dashboard):
    with open(path, "w") as f:
        f.write(f"""[input]
source = "zmq"
protocol = "dectris-stream2"
endpoint = "{endpoint}"
series_timeout = 5.0
[pipeline]
memory_limit = "256MiB"
[[operators]]
type = "virtual_image"
name = "bf"
detector = "circle"
center = [{FRAME // 2}, {FRAME // 2}]
radius = 10
[[operators]]
type = "center_of_mass"
name = "com"
[outputs.hdf5]
path = "{out_dir}/soak.h5"
flush_interval = 1.0
[outputs.metrics]
listen = "127.0.0.1:{metrics}"
[outputs.dashboard]
listen = "127.0.0.1:{dashboard}"
update_interval = 0.5
""")


def engine_rate(log):
    """frames/s of the last series line of an engine log."""
    for line in reversed(open(log).read().splitlines()):
        if " processed, " in line and " frames/s" in line:
            return float(line.split(" frames/s")[0].split()[-1])
    raise RuntimeError(f"no series line in {log}")


def sim(build, args, log):
    return subprocess.Popen([f"{build}/sim/stemflow-sim", "synth", "--frame", f"{FRAME}x{FRAME}",
                             "--protocol", "dectris-stream2", "--unique", "256"] + args,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)


def engine(build, cfg, series, log):
    return subprocess.Popen([f"{build}/pipeline/stemflow", "run", cfg, "--series", str(series)],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)


def rss_and_fds(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024.0
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def quantile(buckets, q):
    """A quantile from Prometheus cumulative buckets [(le, count)], interpolated as Prometheus
    does (linearly inside a bucket)."""
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    prev_le, prev_c = 0.0, 0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1)
        prev_le, prev_c = le, c
    return buckets[-1][0]


def latency_buckets(text):
    out = []
    for line in text.splitlines():
        if line.startswith("stemflow_end_to_end_latency_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out.append((float("inf") if le == "+Inf" else float(le), int(float(line.split()[-1]))))
    return sorted(out)


def slope_per_minute(ts, ys):
    if len(ts) < 2:
        return 0.0
    return float(np.polyfit(np.array(ts) / 60.0, np.array(ys, dtype=float), 1)[0])


def main():
    build, minutes, out = os.path.abspath(sys.argv[1]), float(sys.argv[2]), os.path.abspath(sys.argv[3])
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    failures = []
    load_before = os.getloadavg()[0]

    # Capacity: the same stream unpaced (sender and engine on this machine, as in the soak).
    port = free_port()
    config(f"{out}/probe.toml", out + "/probe", f"tcp://127.0.0.1:{port}", free_port(), free_port())
    os.makedirs(out + "/probe")
    e = engine(build, f"{out}/probe.toml", 1, f"{out}/probe-engine.log")
    s = sim(build, ["--scan", "64x128", "--bind", f"tcp://127.0.0.1:{port}"], f"{out}/probe-sim.log")
    s.wait(120)
    e.wait(120)
    capacity = engine_rate(f"{out}/probe-engine.log")
    rate = 0.8 * capacity
    cols = 128
    rows = max(8, int(rate * SERIES_SECONDS / cols))
    series = max(1, round(minutes * 60 / SERIES_SECONDS))
    frames = rows * cols

    # The soak.
    port, metrics, dashboard = free_port(), free_port(), free_port()
    config(f"{out}/soak.toml", out, f"tcp://127.0.0.1:{port}", metrics, dashboard)
    eng = engine(build, f"{out}/soak.toml", series, f"{out}/engine.log")
    time.sleep(1.0)
    chromium = shutil.which("chromium")
    browser = None
    if chromium:
        browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                    "--disable-dev-shm-usage", "--no-first-run",
                                    f"--user-data-dir={out}/chromium-profile",
                                    "--remote-debugging-port=0", f"http://127.0.0.1:{dashboard}/"],
                                   stdout=open(f"{out}/chromium.log", "w"), stderr=subprocess.STDOUT)
    else:
        failures.append("chromium is not installed: no browser on the dashboard")
    snd = sim(build, ["--scan", f"{rows}x{cols}", "--rate", f"{rate:.0f}", "--loop", str(series),
                      "--seed", "5", "--inject", f"{FAULTS},disconnect={frames // 2}",
                      "--inject-log", f"{out}/inject.json", "--bind", f"tcp://127.0.0.1:{port}"],
              f"{out}/sim.log")
    t0 = time.time()
    samples = []  # (seconds, rss MiB, fds, dashboard clients)
    last_metrics = ""
    sampling_errors = []
    while eng.poll() is None:
        try:
            rss, fds = rss_and_fds(eng.pid)
            clients = json.loads(http(dashboard, "/api/health")).get("clients", 0)
            last_metrics = http(metrics, "/metrics")
            samples.append((time.time() - t0, rss, fds, clients))
        except Exception as ex:  # the engine ending between two reads, or a refused request
            if eng.poll() is None:
                sampling_errors.append(f"{time.time() - t0:.0f} s: {ex}")
        for _ in range(100):
            if eng.poll() is not None:
                break
            time.sleep(0.1)
        if time.time() - t0 > minutes * 60 * 2 + 120:
            failures.append("the engine did not finish in twice the soak's time")
            eng.send_signal(signal.SIGINT)
            eng.wait(30)
    snd.wait(60)
    if browser:
        if browser.poll() is not None:
            failures.append("the browser exited during the soak")
        browser.kill()
        browser.wait()
    if eng.returncode != 0:
        failures.append(f"the engine exited {eng.returncode}")
    # A sample lost now and then (the servers closing as the last series ends) is not a failure;
    # a sampler that cannot reach the engine is.
    if len(sampling_errors) > max(2, len(samples) // 4):
        failures.append("sampling failed: " + "; ".join(sampling_errors))

    # Reconcile every series with the injector's log.
    log = json.load(open(f"{out}/inject.json"))
    files = sorted(f for f in os.listdir(out) if f.startswith("soak") and f.endswith(".h5"))
    rows_out = []
    if len(files) != len(log):
        failures.append(f"{len(files)} results files for {len(log)} series")
    for entry, name in zip(log, files):
        with h5py.File(f"{out}/{name}", "r") as f:
            prov = f["stemflow/metadatabundle/provenance"]
            got = {
                "received": int(prov["frames_received"][()]),
                "processed": int(prov["frames_processed"][()]),
                "duplicate": int(prov["frames_dropped_duplicate"][()]),
                "decode_error": int(prov["frames_dropped_decode_error"][()]),
            }
            coverage = f["stemflow/coverage/data"][()].ravel()
        lost = len(entry["dropped"]) + len(entry["lost_in_disconnect"])
        expect = np.ones(entry["frames"], np.uint8)
        for k in ("dropped", "corrupted", "lost_in_disconnect"):
            expect[entry[k]] = 0
        want = {
            "received": entry["frames"] - lost + len(entry["duplicated"]),
            "processed": int(expect.sum()),
            "duplicate": len(entry["duplicated"]),
            "decode_error": len(entry["corrupted"]),
        }
        # Every frame message sent is kept or dropped with its reason.
        sent = entry["sent"]
        accounted = got["processed"] + got["duplicate"] + got["decode_error"]
        ok = got == want and np.array_equal(coverage, expect) and sent == accounted
        if not ok:
            failures.append(f"series {entry['series_id']}: got {got}, want {want}, sent {sent}, "
                            f"accounted {accounted}, coverage equal "
                            f"{np.array_equal(coverage, expect)}")
        rows_out.append((entry["series_id"], sent, got["processed"], got["duplicate"],
                         got["decode_error"], lost, ok))

    ts = [s[0] for s in samples]
    warm = [s for s in samples if s[0] >= 20] or samples  # after the first series has started
    rss_slope = slope_per_minute([s[0] for s in warm], [s[1] for s in warm])
    fd_slope = slope_per_minute([s[0] for s in warm], [s[2] for s in warm])
    # Each series allocates its maps at its start and touches their pages as frames arrive, so RSS
    # climbs within a series; what must not grow is the level from one series to the next: the
    # largest RSS of the run's second half against its first half (after the first 20 s).
    half = len(warm) // 2
    first_peak = max((s[1] for s in warm[:half]), default=0.0)
    second_peak = max((s[1] for s in warm[half:]), default=0.0)
    if half >= 2 and second_peak > 1.1 * first_peak + 16:
        failures.append(f"RSS grows: peak {first_peak:.0f} MiB in the first half, "
                        f"{second_peak:.0f} MiB in the second")
    # Descriptors by the same rule as RSS, levels not a slope: the count moves by one or two for a
    # moment (the dashboard's client, a metrics scrape, the sender's reconnect in every series), and
    # over the four samples of a 1-minute run such a blip gave slopes of -1.2 and +0.6 per minute
    # with no leak. A leak (a descriptor per series or per connection) raises the level from the
    # first half of the run to the second beyond those transients.
    first_fds = max((s[2] for s in warm[:half]), default=0)
    second_fds = max((s[2] for s in warm[half:]), default=0)
    if half >= 2 and second_fds > first_fds + 2:
        failures.append(f"open file descriptors grow: at most {first_fds} in the first half, "
                        f"{second_fds} in the second")
    if browser and samples and max(s[3] for s in samples) < 1:
        failures.append("no dashboard client was ever attached")
    buckets = latency_buckets(last_metrics)
    p50 = quantile(buckets, 0.5) if buckets else float("nan")
    p99 = quantile(buckets, 0.99) if buckets else float("nan")

    print(f"soak: {minutes:g} min requested, {ts[-1] if ts else 0:.0f} s sampled, "
          f"{time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {os.cpu_count()} cores, "
          f"load {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"capacity {capacity:.0f} frames/s (unpaced, same machine); soak at {rate:.0f} frames/s; "
          f"{series} series of {rows}x{cols} frames of {FRAME}x{FRAME} u16, bslz4; faults "
          f"{FAULTS} and a disconnect at frame {frames // 2} of every series\n")
    print("| series | frames sent | kept | dropped duplicate | dropped decode_error | "
          "lost (dropped, disconnect) | reconciles |")
    print("|---|---|---|---|---|---|---|")
    for r in rows_out:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {'yes' if r[6] else 'NO'} |")
    print("\n| t (s) | RSS (MiB) | open fds | dashboard clients |\n|---|---|---|---|")
    for s in samples:
        print(f"| {s[0]:.0f} | {s[1]:.1f} | {s[2]} | {s[3]} |")
    if sampling_errors:
        print(f"\nsamples lost: {'; '.join(sampling_errors)}")
    print(f"\nRSS peak {first_peak:.0f} MiB (first half) and {second_peak:.0f} MiB (second half), "
          f"slope {rss_slope:+.2f} MiB/min; fd slope {fd_slope:+.3f}/min (after 20 s); "
          f"end-to-end latency p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms "
          f"(Prometheus histogram, interpolated within buckets)")
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print("\nall series reconcile; memory and descriptors flat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
