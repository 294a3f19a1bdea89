"""Ebb's benchmark, run by ci/bench/run.sh: writes reports/bench.json and reports/bench.md.

Every figure is a median over repeated runs with its spread (min..max), measured on this
machine in this run; Chaos Toolkit runs the equivalent experiments beside Ebb, and so does
the baseline build of Ebb (EBB_BASELINE_BIN, the revision in EBB_BASELINE_REV) when given:
the comparison table puts Ebb before and after beside Chaos Toolkit, runs interleaved.
"""
import itertools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EBB = os.environ["EBB_RELEASE_BIN"]
BASELINE = os.environ.get("EBB_BASELINE_BIN")
BASELINE_REV = os.environ.get("EBB_BASELINE_REV", "baseline")
# The Ebb builds compared: "before" (the baseline revision) and "after" (this tree).
VARIANTS = {**({"before": BASELINE} if BASELINE else {}), "after": EBB}
QUICK = "--quick" in sys.argv
COMPARE_ONLY = "--compare-only" in sys.argv
# --rounds N: the runner-overhead comparison N times over; the first table is the first round.
def rounds_option():
    if "--rounds" not in sys.argv:
        return 1
    value = sys.argv[sys.argv.index("--rounds") + 1:][:1]
    if not value or not value[0].isdigit() or int(value[0]) < 1:
        sys.exit("error: --rounds takes a whole number of rounds, 1 or more (ci/bench/run.sh --compare-only --rounds 8)")
    return int(value[0])


ROUNDS = rounds_option()
# A multiple of 6: the rounds go through every order of three commands (see repeat_interleaved()).
REPEATS = 6 if QUICK else 18
WARMUPS = 2
SCALE = 100 if QUICK else 1000
# Earlier runs kept in the state directory for the history measurement (as a nightly job keeps them).
HISTORY = 50 if QUICK else 200
WORK = Path(tempfile.mkdtemp(prefix="ebb-bench-"))
# Journals of finished runs, kept until the benchmark ends (see fresh()).
SPENT = WORK / "spent"
# Registry copies (part of every run's cost) go under the work folder, not the machine's own registry.
os.environ.setdefault("EBB_REGISTRY_DIR", str(WORK / "registry"))
CHAOS_VERSION = "1.19.0"


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def timed(command, cwd=WORK, env=None):
    """Wall seconds and peak RSS (KiB) of one command, through GNU time."""
    out = WORK / "time.out"
    result = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", str(out)] + command, cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds, rss = out.read_text().split()[-2:]
    return float(seconds), int(rss), result.returncode, result.stderr


def repeat(command, runs=REPEATS, **kwargs):
    return repeat_interleaved({"only": (command, None)}, runs, **kwargs)["only"]


def settle_page_cache():
    """Peak RSS counts the file pages a process maps, and the kernel maps up to 16 cached
    neighbours of each page a process touches (fault-around). Right after a build or an install
    every page of a binary is cached, so the same run then reads megabytes higher than once the
    pages it never touches have left the cache. Dropping the page cache (root only) before the
    untimed warm-up runs makes RSS count what a run touches, for every tool alike."""
    if os.geteuid() != 0:
        return
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("1\n")


def repeat_interleaved(commands, runs=REPEATS, **kwargs):
    """`commands` (name -> (argv, prepare or None)) run in turn, `runs` rounds, so the machine's
    drift weighs on all alike; `prepare` runs before each run (a fresh state folder). Two untimed
    rounds after the page cache is settled warm every command up first.

    A run leaves work behind for the next, and the baseline leaves the most, so:
    - the rounds go through every order of the commands in turn, and each command follows every
      other equally often (rotating one order would keep each command behind the same one:
      "after" always ran right after "before");
    - the dirty pages earlier runs left are written back (sync) before the clock starts, so
      no run is billed for another's writeback."""
    walls = {name: [] for name in commands}
    peaks = {name: [] for name in commands}
    codes = {name: set() for name in commands}
    settle_page_cache()
    orders = list(itertools.permutations(commands))
    for index in range(WARMUPS + runs):
        for name in orders[index % len(orders)]:
            command, prepare = commands[name]
            if prepare:
                prepare()
            os.sync()
            start = time.perf_counter()
            _, rss, code, err = timed(command, **kwargs)
            if index < WARMUPS:
                continue
            walls[name].append(time.perf_counter() - start)
            peaks[name].append(rss)
            codes[name].add(code)
    return {name: {"seconds": summary(walls[name]), "peakRSSKiB": summary(peaks[name]), "exitCodes": sorted(codes[name])}
            for name in commands}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown")
    memory = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {"cores": os.cpu_count(), "cpu": cpu, "memoryGiB": round(memory / 1048576, 1), "kernel": platform.release(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "pageCacheDropped": os.geteuid() == 0}


def install_chaos_toolkit():
    venv = WORK / "ctk"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/pip"), "install", "-q", f"chaostoolkit=={CHAOS_VERSION}"], check=True)
    return str(venv / "bin/chaos")


def start_demo(port):
    process = subprocess.Popen([EBB, "demo-target", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the demo target did not start")


def ebb_suite(faults, port, path):
    lines = ["suite: overhead", "checks:", "  - name: health",
             f'    http: {{ url: "http://127.0.0.1:{port}/healthz", timeout: 1s }}',
             "    phases: [before, after]", "    before_samples: 1",
             "scenarios:", "  - name: overhead", "    duration: 0s", "    faults:"]
    for index in range(faults):
        lines += [f"      - name: f{index}",
                  f"        command: {{ inject: [touch, marker-{index}], rollback: [rm, -f, marker-{index}] }}"]
    path.write_text("\n".join(lines) + "\n")


def chaos_experiment(faults, port, path):
    probe = {"type": "probe", "name": "health", "tolerance": 200,
             "provider": {"type": "http", "url": f"http://127.0.0.1:{port}/healthz", "timeout": 1}}
    path.write_text(json.dumps({
        "version": "1.0.0", "title": "overhead", "description": "the same experiment as Ebb's overhead suite",
        "steady-state-hypothesis": {"title": "the service answers", "probes": [probe]},
        "method": [{"type": "action", "name": f"inject-{i}", "provider": {"type": "process", "path": "touch", "arguments": f"marker-{i}"}}
                   for i in range(faults)],
        "rollbacks": [{"type": "action", "name": f"rollback-{i}", "provider": {"type": "process", "path": "rm", "arguments": f"-f marker-{i}"}}
                      for i in range(faults)],
    }))


def fresh(folder):
    """A preparation step: `folder` moved aside into SPENT (removed with the work folder when the
    benchmark ends), so every run starts from an empty journal. Not removed in between: on an
    ext4 without a journal (as on the machine these numbers come from), a new file skips every
    inode of its block group freed in the last minute (six, while the freed inode's table block
    is not yet written back), so deleting the last run's journal, which no tool does as part of
    a run, billed the harness's own clean-up to the next tool that makes files."""
    def prepare():
        if folder.exists():
            SPENT.mkdir(exist_ok=True)
            folder.rename(SPENT / f"{folder.name}-{time.monotonic_ns()}")
    return prepare


def overhead(chaos, port):
    results = {}
    for faults in (1, 50):
        suite, experiment = WORK / f"overhead-{faults}.yaml", WORK / f"overhead-{faults}.json"
        ebb_suite(faults, port, suite)
        chaos_experiment(faults, port, experiment)
        commands = {}
        for variant, binary in VARIANTS.items():
            state = WORK / f"state-{variant}"
            commands[variant] = ([binary, "run", str(suite), "--state-dir", str(state), "--report-dir", str(WORK / "reports"), "--quiet"],
                                 fresh(state))
        commands["chaosToolkit"] = ([chaos, "--no-version-check", "--log-file", str(WORK / "chaos.log"), "run", "--rollback-strategy",
                                     "always", "--journal-path", str(WORK / "journal.json"), str(experiment)], None)
        measured = repeat_interleaved(commands)
        ctk = measured["chaosToolkit"]
        row = {"ebb": measured["after"], "chaosToolkit": ctk,
               "wallRatio": measured["after"]["seconds"]["median"] / ctk["seconds"]["median"],
               "rssRatio": measured["after"]["peakRSSKiB"]["median"] / ctk["peakRSSKiB"]["median"]}
        if "before" in measured:
            row["ebbBefore"] = measured["before"]
        results[f"{faults}fault"] = row
    return results


def history():
    """One fault with a state directory that keeps HISTORY earlier 50-fault runs, as a nightly job's does:
    before an `ebb run` looks for dead runs to recover, this measures what reading that history costs.
    Uses the suites overhead() wrote; the history is written by this tree's build (its runs settled)."""
    state = WORK / "state-history"
    for _ in range(HISTORY):
        subprocess.run([EBB, "run", str(WORK / "overhead-50.yaml"), "--state-dir", str(state), "--report-dir", str(WORK / "reports"),
                        "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    commands = {variant: ([binary, "run", str(WORK / "overhead-1.yaml"), "--state-dir", str(state), "--report-dir", str(WORK / "reports"),
                           "--quiet"], None) for variant, binary in VARIANTS.items()}
    return {"earlierRuns": HISTORY, **repeat_interleaved(commands)}


def process_state(pid):
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.rindex(")") + 2]
    except (OSError, ValueError):
        return None


def rollback_at_scale(how, binary=EBB, label="after"):
    """SCALE paused processes; `how` (SIGTERM or SIGKILL) hits the runner mid-hold; time until
    every process runs again (and, after SIGKILL, until the guardian closed the run)."""
    sleepers = [subprocess.Popen(["sleep", "3600"], start_new_session=True) for _ in range(SCALE)]
    try:
        suite = WORK / f"scale-{how}-{label}.yaml"
        lines = ["suite: scale", "scenarios:", "  - name: scale", "    duration: 10m", "    faults:"]
        for index, sleeper in enumerate(sleepers):
            lines += [f"      - name: p{index}", f"        process.pause: {{ pid: {sleeper.pid} }}"]
        suite.write_text("\n".join(lines) + "\n")
        state, log = WORK / f"state-{how}-{label}", WORK / f"scale-{how}-{label}.log"
        with open(log, "w") as output:
            runner = subprocess.Popen([binary, "run", str(suite), "--state-dir", str(state), "--report-dir", str(WORK / f"reports-{how}-{label}")],
                                      stdout=output, stderr=subprocess.STDOUT, cwd=WORK)
        deadline = time.time() + 600
        while "holding for" not in log.read_text():
            if runner.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the scale run did not reach its hold: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        stopped = sum(process_state(s.pid) == "T" for s in sleepers)
        start = time.perf_counter()
        runner.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
        # Polled while the runner (or guardian) works, oldest first: the rollback runs newest
        # first, so this reads one /proc file per poll until the last one resumes.
        while any(process_state(s.pid) == "T" for s in sleepers):
            time.sleep(0.005)
        resumed = time.perf_counter() - start
        result = {"faults": SCALE, "stoppedBefore": stopped, "secondsUntilAllResumed": resumed}
        if how == "SIGTERM":
            runner.wait()
            result["secondsUntilRunnerExited"] = time.perf_counter() - start
            result["exitCode"] = runner.returncode
        else:
            runner.wait()
            run_json = next(state.glob("rollback/*/run.json"))
            while '"crashed-' not in run_json.read_text():
                time.sleep(0.01)
            result["secondsUntilGuardianClosedTheRun"] = time.perf_counter() - start
            result["runStatus"] = json.loads(run_json.read_text())["status"]
        result["leftStopped"] = sum(process_state(s.pid) == "T" for s in sleepers)
        return result
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


def junit_bench(binary=EBB, flavors=("portable", "ant")):
    rows = {}
    for flavor in flavors:
        file = WORK / f"junit-{flavor}.xml"
        write = timed([binary, "report", "synthesize", "--testcases", "100000", "--output", str(file), "--flavor", flavor])
        validate = timed([binary, "report", "validate", str(file), "--flavor", flavor])
        rows[flavor] = {"writeSeconds": write[0], "writePeakRSSKiB": write[1], "validateSeconds": validate[0],
                        "validatePeakRSSKiB": validate[1], "fileMiB": round(file.stat().st_size / 1048576, 1)}
        file.unlink()
    return rows


def script_lines(command, prefix):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return [line for line in result.stdout.splitlines() if line.startswith(prefix)]


def main():
    report = {"machine": machine(), "quick": QUICK, "baselineRevision": BASELINE_REV if BASELINE else None}
    report["ebbVersion"] = subprocess.run([EBB, "--version"], capture_output=True, text=True).stdout.strip()
    chaos = install_chaos_toolkit()
    report["chaosToolkitVersion"] = CHAOS_VERSION
    port = free_port()
    demo = start_demo(port)
    try:
        if not COMPARE_ONLY:
            report["startup"] = {
                "ebbVersion": repeat([EBB, "--version"]),
                "ebbValidateDemo": repeat([EBB, "validate", str(ROOT / "Scenarios/demo.yaml")]),
                "chaosVersion": repeat([chaos, "--no-version-check", "--version"]),
            }
            report["startup"]["versionRatio"] = (report["startup"]["ebbVersion"]["seconds"]["median"]
                                                 / report["startup"]["chaosVersion"]["seconds"]["median"])
        report["overhead"] = overhead(chaos, port)
        if ROUNDS > 1:
            report["overheadRounds"] = [report["overhead"]] + [overhead(chaos, port) for _ in range(ROUNDS - 1)]
        report["history"] = history()
    finally:
        demo.kill()
        demo.wait()
    if not COMPARE_ONLY:
        journal = subprocess.run([EBB, "bench", "journal", "--records", "1000", "--rounds", "5", "--directory", str(WORK)],
                                 capture_output=True, text=True, check=True)
        report["journal"] = json.loads(journal.stdout)
    report["rollbackAtScale"] = {"SIGTERM": rollback_at_scale("SIGTERM"), "SIGKILL": rollback_at_scale("SIGKILL")}
    report["junit100k"] = junit_bench(flavors=("portable",) if COMPARE_ONLY else ("portable", "ant"))
    if BASELINE:
        report["before"] = {"rollbackAtScale": {how: rollback_at_scale(how, BASELINE, "before") for how in ("SIGTERM", "SIGKILL")},
                            "junit100k": junit_bench(BASELINE, flavors=("portable",))}
    if not COMPARE_ONLY:
        report["probes"] = script_lines(["bash", "ci/bench/probes.sh", "3" if QUICK else "5"], ("cadence:", "outage:"))
        report["torture"] = script_lines(["bash", "ci/bench/torture.sh", "10" if QUICK else "30"], ("torture:",))
    out = ROOT / "reports"
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out / "bench.md").write_text(markdown(report))
    print((out / "bench.md").read_text())
    shutil.rmtree(WORK, ignore_errors=True)


def seconds(entry):
    s = entry["seconds"]
    return f"{s['median'] * 1000:.0f} ms ({s['min'] * 1000:.0f}..{s['max'] * 1000:.0f})"


def rss(entry):
    return f"{entry['peakRSSKiB']['median'] / 1024:.1f} MiB"


def comparison(r):
    """The table of issue 20: Ebb before and after beside Chaos Toolkit, with each target."""
    before = r.get("before")
    o = r["overhead"]
    scale = r["rollbackAtScale"]
    headers = (["measurement"] + ([f"Ebb before ({r['baselineRevision']})"] if before else []) + ["Ebb after", f"Chaos Toolkit {r['chaosToolkitVersion']}",
               "target", "met"])
    lines = ["## Before, after and Chaos Toolkit", "", "| " + " | ".join(headers) + " |", "|" + " --- |" + " ---: |" * (len(headers) - 3) + " --- | :---: |"]

    def row(label, values, ctk, target, met):
        cells = [label] + (values if before else values[1:]) + [ctk, target, "" if met is None else "yes" if met else "**no**"]
        lines.append("| " + " | ".join(cells) + " |")

    for key, faults, share in (("1fault", 1, 5), ("50fault", 50, 3)):
        entry, ctk = o[key], o[key]["chaosToolkit"]
        after = entry["ebb"]["seconds"]["median"]
        row(f"{faults} fault{'s' if faults > 1 else ''} + HTTP probe, wall", [seconds(entry["ebbBefore"]) if before else "", seconds(entry["ebb"])],
            seconds(ctk), f"<= 1/{share} of Chaos Toolkit's", after <= ctk["seconds"]["median"] / share)
    h = r["history"]
    row(f"1 fault + HTTP probe, {h['earlierRuns']} earlier 50-fault runs kept", [seconds(h["before"]) if before else "", seconds(h["after"])],
        "", "", None)
    entry = o["50fault"]
    row("peak RSS (50 faults)", [rss(entry["ebbBefore"]) if before else "", rss(entry["ebb"])], rss(entry["chaosToolkit"]),
        "not above Chaos Toolkit's", entry["ebb"]["peakRSSKiB"]["median"] <= entry["chaosToolkit"]["peakRSSKiB"]["median"])
    for how, limit in (("SIGTERM", 0.5), ("SIGKILL", 1.0)):
        label = f"{scale[how]['faults']:,} paused processes, {how} to all resumed" + (" (guardian)" if how == "SIGKILL" else "")
        values = [f"{before['rollbackAtScale'][how]['secondsUntilAllResumed']:.2f} s" if before else "",
                  f"{scale[how]['secondsUntilAllResumed']:.2f} s ({scale[how]['leftStopped']} left stopped)"]
        row(label, values, "", f"< {limit} s", scale[how]["secondsUntilAllResumed"] < limit and scale[how]["leftStopped"] == 0)
    junit = r["junit100k"]["portable"]
    values = [f"{before['junit100k']['portable']['writePeakRSSKiB'] / 1024:.0f} MiB" if before else "",
              f"{junit['writePeakRSSKiB'] / 1024:.0f} MiB ({junit['writeSeconds']:.2f} s)"]
    row("JUnit of 100,000 testcases, peak RSS", values, "", "< 64 MiB", junit["writePeakRSSKiB"] < 64 * 1024)
    return lines


def rounds(measured):
    """The wall-time ratios of every round of `--rounds`: both tools' medians move from one
    round to the next on a shared machine, so one round's verdict on a target near its edge is
    a draw; this shows how often it is met."""
    lines = ["", f"## Wall-time ratios over {len(measured)} rounds", "",
             "| round | 1 fault: Ebb / Chaos Toolkit | ratio | 50 faults: Ebb / Chaos Toolkit | ratio |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    for index, o in enumerate(measured, 1):
        cells = [str(index)]
        for key in ("1fault", "50fault"):
            ebb, ctk = o[key]["ebb"]["seconds"]["median"], o[key]["chaosToolkit"]["seconds"]["median"]
            cells += [f"{ebb * 1000:.0f} / {ctk * 1000:.0f} ms", f"{o[key]['wallRatio']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for key, label, share in (("1fault", "1 fault", 5), ("50fault", "50 faults", 3)):
        ratios = [o[key]["wallRatio"] for o in measured]
        met = sum(ratio <= 1 / share for ratio in ratios)
        lines.append(f"- {label}: median ratio {statistics.median(ratios):.3f} ({min(ratios):.3f}..{max(ratios):.3f}); "
                     f"at most 1/{share} in {met} of {len(ratios)} rounds.")
    return lines


def markdown(r):
    m = r["machine"]
    runs = r["overhead"]["1fault"]["ebb"]["seconds"]["runs"]
    lines = ["# Ebb benchmark", "",
             f"{m['date']} on {m['cores']} cores ({m['cpu']}), {m['memoryGiB']} GiB, Linux {m['kernel']}; "
             f"{r['ebbVersion']} (release build) vs Chaos Toolkit {r['chaosToolkitVersion']}. "
             f"Medians (min..max) over {runs} runs, after two warm-up rounds"
             + (" on a page cache dropped first (see settle_page_cache)." if m["pageCacheDropped"] else
                " (not root: the page cache was not dropped, so peak RSS includes cached pages a run never touches)."),
             ""]
    lines += comparison(r)
    if "overheadRounds" in r:
        lines += rounds(r["overheadRounds"])
    if "startup" not in r:
        return "\n".join(lines) + "\n"
    lines += ["", "## Start-up", "", "| command | wall | peak RSS |", "| --- | ---: | ---: |"]
    names = {"ebbVersion": "ebb --version", "ebbValidateDemo": "ebb validate Scenarios/demo.yaml", "chaosVersion": "chaos --version"}
    for key, label in names.items():
        lines.append(f"| `{label}` | {seconds(r['startup'][key])} | {rss(r['startup'][key])} |")
    lines += ["", f"`ebb --version` takes {r['startup']['versionRatio']:.2f}x the time of `chaos --version`.", "",
              "## Runner overhead", "",
              "An HTTP steady-state probe before and after, N `touch` faults each rolled back with `rm -f` "
              "(Ebb: `command` faults with durable undo records and the guardian; Chaos Toolkit: process actions, "
              "`--rollback-strategy always`).", "",
              "| faults | Ebb wall | Chaos Toolkit wall | ratio | Ebb RSS | Chaos Toolkit RSS | ratio |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for key, faults in (("1fault", 1), ("50fault", 50)):
        o = r["overhead"][key]
        lines.append(f"| {faults} | {seconds(o['ebb'])} | {seconds(o['chaosToolkit'])} | {o['wallRatio']:.2f} | "
                     f"{rss(o['ebb'])} | {rss(o['chaosToolkit'])} | {o['rssRatio']:.2f} |")
    j = r["journal"]
    lines += ["", "## Journal cost", "",
              f"Arming {j['records']} undo records: {j['armMicrosecondsPerRecord']:.0f} us each; this disk's floor "
              f"(write + fsync + rename + directory fsync): {j['floorMicrosecondsPerWrite']:.0f} us; ratio {j['ratio']:.2f}.", "",
              "## Rollback latency at scale", "", "| how the runner ended | paused processes | all resumed after | run closed after | left stopped |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for how, s in r["rollbackAtScale"].items():
        closed = s.get("secondsUntilRunnerExited", s.get("secondsUntilGuardianClosedTheRun"))
        lines.append(f"| {how} | {s['faults']} | {s['secondsUntilAllResumed']:.2f} s | {closed:.2f} s | {s['leftStopped']} |")
    lines += ["", "## JUnit, 100,000 testcases", "", "| flavor | write | write RSS | validate | validate RSS | file |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for flavor, j in r["junit100k"].items():
        lines.append(f"| {flavor} | {j['writeSeconds']:.2f} s | {j['writePeakRSSKiB'] / 1024:.0f} MiB | {j['validateSeconds']:.2f} s | "
                     f"{j['validatePeakRSSKiB'] / 1024:.0f} MiB | {j['fileMiB']} MiB |")
    lines += ["", "## Probes and crash torture", ""] + [f"- {line}" for line in r["probes"] + r["torture"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
