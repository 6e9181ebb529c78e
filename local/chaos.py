"""The chaos tier: every stream flows at a steady rate while the stack's servers and the jobs
are killed with SIGKILL one at a time, then the pipeline drains and MySQL and Cassandra are
compared with the independent oracles over exactly the events Kafka acknowledged.

    python -m local.chaos [--seed N] [--faults kafka,cassandra,…,lock]  (every kind by default)

The seed (printed first; random unless given) picks the order of the faults and the moment of
each. A server is restarted as the stack would (`local/stack.py up <service>`); a paused one
(pause-kafka, pause-cassandra, pause-mariadb) is frozen with SIGSTOP for 30-60 s and let go; the
`lock` fault kills the MySQL connection holding a running aggregate's lock; the ads stream reads
its writer schemas from the stack's registry (`registry` kills it); a job is simply run again,
as the Deployment (continuous ingest, aggregating each micro-batch) and the CronJobs
(aggregate, dims; Forbid) would. Producers run in this process: a message counts as sent once
Kafka acknowledged it; a message Kafka refused is sent again, and after a broker restart the
last acknowledged messages are sent once more, as an at-least-once producer would, so they must
still count once. Prints a table and writes out/chaos.json; exits 1 on any lost or double
counted event, a raw row count off the oracle, or a fault the pipeline did not survive.

Runs on the stack of the environment (TIDEMARK_STACK_DIR, TIDEMARK_<SERVICE>_PORT), on topics,
a keyspace and databases of its own, dropped at the end (--keep leaves them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.chaos_load import PARTS, STREAMS, Producers, Rates, environment, topic_of
from local.chaos_verdict import TOTALS, RunStores, compare, table

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out"
# Servers killed with SIGKILL and started again as the stack would.
SERVERS = ("kafka", "cassandra", "mariadb", "connect", "registry")
# Gray failures: a server frozen (SIGSTOP) for 30-60 s, then let go (SIGCONT): its sockets stay
# open and nothing answers, which clients see as timeouts rather than refusals.
PAUSES = ("pause-kafka", "pause-cassandra", "pause-mariadb")
JOBS = ("ingest", "aggregate", "dims")
# The MySQL connection holding a running aggregate's lock, killed (a network cut): the run
# must notice and stop without committing, and the next run must store its buckets.
LOCK = "lock"
FAULTS = (*SERVERS, *PAUSES, *JOBS, LOCK)
PAUSE_SECONDS = (30.0, 60.0)
SLOT_SECONDS = 65.0  # of the chaos phase, per fault


# --- the run -----------------------------------------------------------------------------------


BATCH = re.compile(r" batch \d+: (\d+) raw")


@dataclass
class Job:
    """One run of a job: a `python -m jobs <name>` process group of its own, as a pod."""

    kind: str
    proc: subprocess.Popen[bytes]
    log: Path
    started: float
    ended: float | None = None
    killed: bool = False
    read_at: int = 0
    batches: list[float] = field(default_factory=list)  # when each micro-batch with rows was seen

    @property
    def ok(self) -> bool:
        return self.ended is not None and self.proc.returncode == 0

    def scan(self) -> None:
        """Notes the micro-batches the log gained since the last look."""
        try:
            with self.log.open("rb") as f:
                f.seek(self.read_at)
                text = f.read().decode(errors="replace")
        except OSError:
            return
        complete = text.rfind("\n") + 1
        self.read_at += len(text[:complete].encode())
        self.batches += [time.monotonic() for m in BATCH.finditer(text[:complete]) if int(m.group(1)) >= 0]


def kill_offset(seed_offset: float, run_lengths: list[float]) -> float:
    """How far into a job's run to kill it: the seed's offset, cut to 60% of the shortest whole
    run of the kind seen so far. A CronJob run with little to do (continuous ingest aggregates
    as it goes) can end before the seed's offset every time, and the fault would never land."""
    return min(seed_offset, 0.6 * min(run_lengths)) if run_lengths else seed_offset


@dataclass
class Fault:
    kind: str
    at: float  # seconds into the chaos phase, from the seed
    offset: float  # a job: seconds into a run before the kill, from the seed
    injected: float | None = None
    recovered: float | None = None  # a server: up again
    note: str = ""
    survived: bool = False


class Chaos:
    def __init__(self, args: argparse.Namespace, name: str) -> None:
        self.args = args
        self.name = name
        self.env = environment(name)
        self.logs = OUT / "chaos-logs" / name
        self.logs.mkdir(parents=True, exist_ok=True)
        self.t0 = time.monotonic()
        self.runs: list[Job] = []
        self.counter = 0
        self.restarting: dict[str, threading.Thread] = {}
        self.up_results: dict[str, int] = {}
        self.ad_schema_id = 0  # the registry's id of AdEvent for this run (setup)

    def say(self, what: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.0f}s] {what}", flush=True)

    # --- processes -------------------------------------------------------------------------

    def spawn(self, kind: str, extra: Mapping[str, str] | None = None) -> Job:
        self.counter += 1
        log = self.logs / f"{self.counter:03d}-{kind}.log"
        argv = [sys.executable, "-m", "jobs", kind]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**self.env, **(extra or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: a kill takes the JVM with it, as a pod's
            )
        job = Job(kind, proc, log, time.monotonic())
        self.runs.append(job)
        return job

    def reap(self) -> None:
        for job in self.runs:
            if job.ended is None:
                job.scan()
                if job.proc.poll() is not None:
                    job.ended = time.monotonic()
                    job.scan()
                    if job.proc.returncode != 0 and not job.killed:
                        self.say(f"{job.kind} exited {job.proc.returncode} (log {job.log})")

    def running(self, kind: str) -> Job | None:
        return next((j for j in reversed(self.runs) if j.kind == kind and j.ended is None), None)

    def kill(self, job: Job) -> None:
        job.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.proc.pid, signal.SIGKILL)

    def stack(self, *args: str) -> int:
        with (self.logs / "stack.log").open("ab") as out:
            return subprocess.run(
                [sys.executable, str(ROOT / "local" / "stack.py"), *args], cwd=ROOT, stdout=out, stderr=out
            ).returncode

    def continuous_ingest(self) -> Job:
        return self.spawn(
            "ingest",
            {
                "TIDEMARK_INGEST_TRIGGER": "continuous",
                "TIDEMARK_INGEST_INTERVAL_SECONDS": str(self.args.interval),
                "TIDEMARK_INGEST_AGGREGATES": "true",
                "TIDEMARK_SPARK_UI_PORT": "14140",
            },
        )

    # --- setup -----------------------------------------------------------------------------

    def setup(self, producers_jobs: int, customers: int) -> None:
        from local import debezium, topics
        from producer import orders, recruit
        from producer.ads import register_schema
        from producer.catalog import synthetic_catalog
        from producer.settings import ProducerSettings

        every = [topic_of(self.env, s, p) for s in STREAMS for p in PARTS[s]]
        topics.ensure(self.env["TIDEMARK_KAFKA_BOOTSTRAP"], every)
        migrate = self.spawn("migrate")
        if migrate.proc.wait() != 0:
            raise SystemExit(f"chaos: migrate failed (log {migrate.log})")
        migrate.ended = time.monotonic()
        settings = ProducerSettings(
            mysql_host=self.env["TIDEMARK_MYSQL_HOST"],
            mysql_port=int(self.env["TIDEMARK_MYSQL_PORT"]),
            recruit_database=f"{self.name}_recruit",
        )
        conn = recruit.connect(settings)
        recruit.seed(conn, recruit.catalog_rows(synthetic_catalog(producers_jobs, 20, self.args.seed)))
        conn.close()
        shop = recruit.connect(settings, database=f"{self.name}_shop")
        orders.upsert_customers(shop, orders.synthetic_customers(customers, self.args.seed))
        shop.close()
        # The ads producers frame the id the registry gives AdEvent, as a producer with the
        # registry in use does; ingest reads the writer schema back by that id.
        self.ad_schema_id = register_schema(self.env["TIDEMARK_SCHEMA_REGISTRY_URL"], f"{self.name}.ads-value")
        config = debezium.config(f"{self.name}_recruit", self.name, server_id=random.randrange(10_000, 1_000_000))
        debezium.grant(self.name)
        self.connect_call(f"/connectors/{self.name}/config", config, "PUT")

    def connect_call(self, path: str, body: Any = None, method: str = "GET") -> Any:
        from local import stack

        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://{stack.HOST}:{stack.PORTS['connect']}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def connector_state(self) -> str | None:
        try:
            tasks = self.connect_call(f"/connectors/{self.name}/status")["tasks"]
        except (OSError, KeyError, ValueError):
            return None
        return str(tasks[0]["state"]) if tasks else None

    # --- faults ----------------------------------------------------------------------------

    def schedule(self, kinds: list[str], seconds: float) -> list[Fault]:
        """Each fault in its own slot of the chaos phase, at a moment the seed picks."""
        rng = random.Random(self.args.seed)
        order = list(kinds)
        rng.shuffle(order)
        slot = seconds / max(len(order), 1)
        return [
            Fault(kind, at=slot * i + rng.uniform(0.15, 0.75) * slot, offset=rng.uniform(3, 20))
            for i, kind in enumerate(order)
        ]

    def inject(self, fault: Fault, now: float) -> bool:
        """Injects the fault if its moment came; False while a job of its kind is not far enough in."""
        if fault.kind in PAUSES:
            return self.pause(fault, now)
        if fault.kind == LOCK:
            return self.cut_lock(fault, now)
        if fault.kind in SERVERS:
            from local import stack, supervisor

            service = next(s for s in stack.SERVICES if s.name == fault.kind)
            pid = service.pid()
            if pid is None:
                fault.note = "was not running"
                return False
            os.killpg(pid, signal.SIGKILL)
            fault.injected = now
            self.say(f"fault: kill -9 {fault.kind} (pid {pid})")

            def restart() -> None:
                # The kill lands: the process is gone, and so is its port (a JVM's other threads
                # still hold its sockets a moment after its main thread became a zombie).
                deadline = time.monotonic() + 60
                while (service.pid() is not None or supervisor.port_open(service.port)) and time.monotonic() < deadline:
                    time.sleep(0.2)
                rc = self.stack("up", fault.kind)
                self.up_results[fault.kind] = rc
                fault.recovered = time.monotonic() if rc == 0 else None
                self.say(f"{fault.kind}: `stack.py up {fault.kind}` exited {rc}")

            thread = threading.Thread(target=restart, daemon=True)
            thread.start()
            self.restarting[fault.kind] = thread
            return True
        job = self.running(fault.kind)
        lengths = [j.ended - j.started for j in self.runs if j.kind == fault.kind and j.ok and j.ended is not None]
        offset = kill_offset(fault.offset, lengths)
        if job is None or now - job.started < offset:
            return False
        self.kill(job)
        fault.injected = now
        fault.recovered = now
        self.say(f"fault: kill -9 {fault.kind} {offset:.0f}s into its run (pid {job.proc.pid})")
        return True

    def pause(self, fault: Fault, now: float) -> bool:
        """SIGSTOP of a server's process group for 30-60 s (from the seed), then SIGCONT."""
        from local import stack

        name = fault.kind.removeprefix("pause-")
        service = next(s for s in stack.SERVICES if s.name == name)
        pid = service.pid()
        if pid is None:
            fault.note = "was not running"
            return False
        low, high = PAUSE_SECONDS
        seconds = low + (fault.offset - 3) / 17 * (high - low)  # the seed's offset (3-20) mapped
        os.killpg(pid, signal.SIGSTOP)
        fault.injected = now
        self.say(f"fault: SIGSTOP {name} (pid {pid}) for {seconds:.0f}s")

        def resume() -> None:
            time.sleep(seconds)
            os.killpg(pid, signal.SIGCONT)
            fault.recovered = time.monotonic()
            self.say(f"{name}: SIGCONT after {fault.recovered - now:.0f}s")

        thread = threading.Thread(target=resume, daemon=True)
        thread.start()
        self.restarting[fault.kind] = thread
        return True

    def cut_lock(self, fault: Fault, now: float) -> bool:
        """Kills the MySQL connections holding the streams' aggregate locks while an aggregate
        run is well into its work (ingest's own aggregation may hold one too)."""
        from jobs.settings import JobSettings
        from jobs.stream_lock import lock_name
        from jobs.streams import STREAMS as SPECS

        job = self.running("aggregate")
        lengths = [j.ended - j.started for j in self.runs if j.kind == "aggregate" and j.ok and j.ended is not None]
        if job is None or now - job.started < kill_offset(fault.offset, lengths):
            return False
        settings = JobSettings(mysql_database=self.name)
        names = [lock_name(settings, spec.name) for spec in SPECS.values()]
        holders = [
            (name, holder)
            for name in names
            for (holder,) in self.sql(f"SELECT IS_USED_LOCK('{name}')")
            if holder is not None
        ]
        if not holders:
            return False
        for _, holder in holders:
            RunStores(self.name).execute(f"KILL CONNECTION {int(holder)}")
        fault.injected = fault.recovered = now
        self.say("fault: killed the lock connections of " + ", ".join(f"{n} ({h})" for n, h in holders))
        return True

    def survived(self, fault: Fault) -> bool:
        """Back up (a server), and every job kind succeeded in a run that started after it."""
        if fault.recovered is None:
            return False
        after = fault.recovered
        kinds = JOBS if fault.kind in (*SERVERS, *PAUSES) else ("aggregate",) if fault.kind == LOCK else (fault.kind,)
        for kind in kinds:
            ok = any(
                j.kind == kind
                and ((j.ok and j.started >= after) or (kind == "ingest" and any(t >= after for t in j.batches)))
                for j in self.runs
            )
            if not ok:
                fault.note = f"no {kind} succeeded after it"
                return False
        return True

    # --- phases ----------------------------------------------------------------------------

    def chaos(self, producers: Producers, faults: list[Fault]) -> None:
        """Runs the Deployment and the CronJobs while the faults land one at a time."""
        started = time.monotonic()
        end = started + self.args.seconds
        self.next_aggregate = started + self.args.cron_seconds / 2
        self.next_dims = started + self.args.cron_seconds * 0.75
        self.ingest_down_since: float | None = None
        pending = deque(faults)
        settled = end
        while time.monotonic() < max(end, settled) or pending or self.busy():
            now = time.monotonic()
            self.workloads(now)
            if pending and now - started >= pending[0].at and not self.busy() and self.inject(pending[0], now):
                fault = pending.popleft()
                if fault.kind == "kafka":
                    self.replay_after_broker(producers)
            if not pending and not self.busy():
                # The pipeline runs on a while after the last fault (or the last server's return).
                last = max((f.recovered or f.injected or 0.0) for f in faults) if faults else 0.0
                settled = max(settled, last + self.args.settle_seconds)
            if now > end + 120:
                for fault in pending:
                    fault.note = "never injected: no run of its kind lasted long enough"
                break
            time.sleep(0.5)
        for thread in self.restarting.values():
            thread.join()

    def workloads(self, now: float) -> None:
        """The Deployment's pod restarted after a back-off, and the CronJobs on their schedule
        (concurrencyPolicy: Forbid); aggregate also overlaps ingest's own aggregation."""
        self.reap()
        if self.running("ingest") is None:
            self.ingest_down_since = self.ingest_down_since or now
            if now - self.ingest_down_since >= self.args.restart_seconds:
                self.continuous_ingest()
                self.ingest_down_since = None
        if now >= self.next_aggregate:
            self.next_aggregate += self.args.cron_seconds
            if self.running("aggregate") is None:
                self.spawn("aggregate")
        if now >= self.next_dims:
            self.next_dims += self.args.cron_seconds * 1.5
            if self.running("dims") is None:
                self.spawn("dims")

    def replay_after_broker(self, producers: Producers) -> None:
        def later() -> None:
            self.restarting["kafka"].join()
            producers.replay(self.args.replay)
            self.say(f"producers: re-sent the last {self.args.replay} acknowledged messages of every stream")

        threading.Thread(target=later, daemon=True).start()

    def busy(self) -> bool:
        return any(t.is_alive() for t in self.restarting.values())

    def drain(self) -> None:
        """Stops the Deployment, lets the CronJobs' runs end, then runs the jobs until nothing is
        dirty and ingest reads nothing new."""
        ingest = self.running("ingest")
        if ingest is not None:
            os.killpg(ingest.proc.pid, signal.SIGTERM)
            try:
                ingest.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.kill(ingest)
                ingest.proc.wait()
        for job in self.runs:
            if job.ended is None:
                job.proc.wait()
        self.reap()
        self.heal_connector()
        deadline = time.monotonic() + self.args.drain_seconds
        rounds = 0
        while time.monotonic() < deadline:
            rounds += 1
            # Ingest to the end of every topic (aggregating what it wrote), then aggregate and
            # dims side by side, as their CronJobs would run.
            ingest = self.spawn("ingest", {"TIDEMARK_INGEST_AGGREGATES": "true"})
            ingest.proc.wait()
            jobs = [self.spawn("aggregate"), self.spawn("dims")]
            for job in jobs:
                job.proc.wait()
            self.reap()
            dirty = int(self.sql("SELECT COUNT(*) FROM dirty_buckets")[0][0])
            lag = self.lag()
            stale = self.stale_dimensions()
            self.say(f"drain round {rounds}: lag {lag} messages, {dirty} dirty buckets, {stale} stale job_dim rows")
            if lag == 0 and dirty == 0 and stale == 0 and all(j.ok for j in (ingest, *jobs)):
                return
        self.say("drain: not drained by the deadline")

    def lag(self) -> int:
        """Messages on the streams' topics past the offsets ingest's checkpoints committed."""
        from kafka import KafkaConsumer, TopicPartition

        from jobs.offsets import parse_offsets

        committed: dict[tuple[str, int], int] = {}
        for query in Path(self.env["TIDEMARK_CHECKPOINT_DIR"]).glob("ingest-*"):
            done = [int(f.name) for f in (query / "commits").glob("[0-9]*")]
            if done:
                offsets = parse_offsets((query / "offsets" / str(max(done))).read_text())
                for topic, by_partition in offsets.items():
                    committed |= {(topic, int(part)): offset for part, offset in by_partition.items()}
        topics = [topic_of(self.env, s, p) for s in STREAMS for p in PARTS[s]]
        from local import kafka_users

        consumer = KafkaConsumer(**kafka_users.kafka_python(self.env["TIDEMARK_KAFKA_BOOTSTRAP"]))
        try:
            partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
            ends = consumer.end_offsets(partitions)
        finally:
            consumer.close()
        return sum(max(0, int(end) - committed.get((tp.topic, tp.partition), 0)) for tp, end in ends.items())

    def heal_connector(self) -> None:
        """What Strimzi's autoRestart does: a FAILED Debezium task is restarted."""
        for _ in range(60):
            state = self.connector_state()
            if state == "RUNNING":
                return
            if state == "FAILED":
                self.say("debezium: task FAILED; restarting it (as Strimzi's autoRestart would)")
                with contextlib.suppress(OSError):
                    self.connect_call(
                        f"/connectors/{self.name}/restart?includeTasks=true&onlyFailed=true", None, "POST"
                    )
            time.sleep(2)

    def stale_dimensions(self) -> int:
        return int(
            self.sql(
                f"SELECT COUNT(*) FROM `{self.name}_recruit`.job j LEFT JOIN job_dim d ON d.job_id = j.id "
                "WHERE d.company_id IS NULL OR d.company_id <> j.company_id"
            )[0][0]
        )

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        return RunStores(self.name).sql(query)


def summary(faults: list[Fault], streams: dict[str, dict[str, Any]], t0: float) -> dict[str, Any]:
    """The run's totals over the streams, and what became of each fault."""
    injected = sum(1 for f in faults if f.injected is not None)
    survived = sum(1 for f in faults if f.survived)
    for r in streams.values():
        r["faults_injected"], r["faults_survived"] = injected, survived
    result: dict[str, Any] = {"faults_injected": injected, "faults_survived": survived, "faults_planned": len(faults)}
    for key in (*TOTALS, "raw_rows", "raw_expected"):
        result[key] = sum(r[key] for r in streams.values())
    result["streams"] = streams
    result["faults"] = [
        {
            "kind": f.kind,
            "planned_at_s": round(f.at, 1),
            "injected_at_s": round(f.injected - t0, 1) if f.injected else None,
            "down_s": round(f.recovered - f.injected, 1) if f.recovered and f.injected else None,
            "survived": f.survived,
            "note": f.note,
        }
        for f in faults
    ]
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=None, help="picks the faults' order and moments (default random)")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of {', '.join(FAULTS)}")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help=f"length of the chaos phase (default {SLOT_SECONDS:.0f}s per fault: a pause and its recovery fit in one)",
    )
    parser.add_argument("--rate", type=float, default=40, help="tracking events/s")
    parser.add_argument("--side-rate", type=float, default=8, help="ads and orders events/s, userlogs loops/s /4")
    parser.add_argument("--interval", type=int, default=5, help="continuous ingest's micro-batch interval, seconds")
    parser.add_argument("--cron-seconds", type=float, default=60, help="aggregate's schedule; dims' is 1.5x")
    parser.add_argument("--restart-seconds", type=float, default=5, help="a restarted pod's back-off")
    parser.add_argument("--replay", type=int, default=200, help="messages per stream re-sent after a broker kill")
    parser.add_argument("--settle-seconds", type=float, default=20, help="load kept on after the last fault")
    parser.add_argument("--drain-seconds", type=float, default=600)
    parser.add_argument("--out", type=Path, default=OUT / "chaos.json")
    parser.add_argument("--keep", action="store_true", help="keep the run's keyspace, databases and topics")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    print(f"chaos seed {args.seed}", flush=True)
    kinds = [f for f in args.faults.split(",") if f]
    if set(kinds) - set(FAULTS):
        parser.error(f"--faults: unknown {sorted(set(kinds) - set(FAULTS))}; known: {', '.join(FAULTS)}")
    if args.seconds is None:
        args.seconds = SLOT_SECONDS * len(kinds)

    from local import cleanup, stack

    down = [s for s in SERVERS if next(x for x in stack.SERVICES if x.name == s).pid() is None]  # registry too
    if down:
        sys.exit(f"chaos: the local stack is not up ({', '.join(down)}): run `make stack-up`")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    name = f"chaos_{uuid.uuid4().hex[:8]}"
    chaos = Chaos(args, name)
    chaos.say(f"run {name} on the stack in {stack.STACK}; logs in {chaos.logs}")
    rates = Rates(args.rate, args.side_rate, args.side_rate, args.side_rate / 4)
    faults = chaos.schedule(kinds, args.seconds)
    chaos.say("faults: " + ", ".join(f"{f.kind} at {f.at:.0f}s" for f in faults))
    result: dict[str, Any] = {"seed": args.seed, "name": name}
    producers: Producers | None = None
    try:
        chaos.setup(producers_jobs=200, customers=200)
        producers = Producers(chaos.env, rates, args.seed, customers=200, jobs=200, ad_schema_id=chaos.ad_schema_id)
        producers.start()
        chaos.continuous_ingest()
        chaos.say(f"producers and the pipeline running; chaos for {args.seconds:.0f}s")
        chaos.chaos(producers, faults)
        chaos.say("stopping the producers")
        producers.finish()
        if producers.error is not None:
            raise SystemExit(f"chaos: the producers failed: {producers.error!r}")
        chaos.say(
            f"producers: {sum(len(v) for v in producers.acked.values())} acknowledged sends "
            f"({producers.refused} refused and sent again, {producers.replayed} re-sent after a broker restart)"
        )
        chaos.say("draining")
        chaos.drain()
        for fault in faults:
            fault.survived = fault.injected is not None and chaos.survived(fault)
        streams = compare(RunStores(chaos.name), producers.acked)
    finally:
        for job in chaos.runs:
            if job.ended is None and job.proc.poll() is None:
                chaos.kill(job)
        if producers is not None and not producers.stop.is_set():
            producers.finish()
        if not args.keep:
            with contextlib.suppress(OSError):
                chaos.connect_call(f"/connectors/{name}", None, "DELETE")
            cleanup.drop([name])
            shutil.rmtree(stack.STACK / "chaos" / name, ignore_errors=True)
    result |= summary(faults, streams, chaos.t0)
    result["seconds"] = round(time.monotonic() - chaos.t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print()
    for f in result["faults"]:
        print(
            f"fault {f['kind']:10} at {f['injected_at_s']}s, down {f['down_s']}s, survived {f['survived']} {f['note']}"
        )
    print(table(result))
    print(f"\nseed {args.seed}; {result['seconds']}s; wrote {args.out}")
    bad = (
        result["lost"]
        or result["double_counted"]
        or result["mismatched_keys"]
        or result["raw_rows"] != result["raw_expected"]
        or result["faults_survived"] != len(faults)
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
