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
import math
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
STREAMS = ("tracking", "ads", "orders", "userlogs")
PARTS = {"tracking": ("",), "ads": ("",), "orders": ("",), "userlogs": ("session", "auth", "activity")}


# --- the tally: pure ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Events expected and counted, and how far off, summed over the keys."""

    expected: int
    counted: int
    lost: int
    double_counted: int


def tally(expected: Mapping[Any, int], counted: Mapping[Any, int], per_event: int = 1) -> Tally:
    """Compares per-key counts with the oracle's: a key short by n lost n events, a key over by n
    counted n twice; an event short on one key and extra on another counts in both. An event that
    counts in `per_event` keys (a sliding window's) makes `per_event` units, rounded up per side."""
    lost = sum(max(0, want - counted.get(key, 0)) for key, want in expected.items())
    extra = sum(max(0, got - expected.get(key, 0)) for key, got in counted.items())
    return Tally(
        expected=sum(expected.values()) // per_event,
        counted=sum(counted.values()) // per_event,
        lost=math.ceil(lost / per_event),
        double_counted=math.ceil(extra / per_event),
    )


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Rates:
    tracking: float
    ads: float
    orders: float
    userlogs: float  # loops per second: a session, an auth event and an activity array each


def environment(name: str) -> dict[str, str]:
    """The jobs' settings for this run: its own topics, keyspace, databases and checkpoints."""
    from local import stack, topics

    return {
        **os.environ,
        **stack.tidemark_env(),
        **topics.run_topics(name),
        "TIDEMARK_CDC_JOB_TOPIC": f"{name}.{name}_recruit.job",
        "TIDEMARK_CASSANDRA_KEYSPACE": name,
        "TIDEMARK_MYSQL_DATABASE": name,
        "TIDEMARK_RECRUIT_DATABASE": f"{name}_recruit",
        "TIDEMARK_SHOP_DATABASE": f"{name}_shop",
        "TIDEMARK_CHECKPOINT_DIR": str(stack.STACK / "chaos" / name),
        "TIDEMARK_PUSHGATEWAY": "",
        "TIDEMARK_SCHEMA_REGISTRY_URL": stack.REGISTRY_URL,
        **{f"TIDEMARK_{s.upper()}_ENABLED": "true" for s in STREAMS},
    }


def topic_of(env: Mapping[str, str], stream: str, part: str) -> str:
    """The topic of one of chaos's streams, or of one part (`session`) of its family."""
    from local import topics

    return env[topics.variable(f"{stream}_{part}" if part else stream)]


class Producers:
    """Every stream's generator at its rate, in one thread, through one idempotent acks=all
    producer. `acked[stream]` holds (part, key, value) of each acknowledged send, re-sends included."""

    def __init__(
        self, env: Mapping[str, str], rates: Rates, seed: int, *, customers: int, jobs: int, ad_schema_id: int
    ) -> None:
        from producer.ads import AdEventFactory
        from producer.beacons import BeaconFactory, Mix
        from producer.catalog import synthetic_catalog
        from producer.orders import OrderFactory
        from producer.userlogs import UserLogFactory

        self.env = env
        self.rates = rates
        self.beacons = BeaconFactory(synthetic_catalog(jobs, 20, seed), Mix(late_max_hours=2), seed)
        self.ads = AdEventFactory(seed=seed, schema_id=ad_schema_id)
        self.orders = OrderFactory(customers=customers, seed=seed)
        self.userlogs = UserLogFactory(seed=seed)
        self.acked: dict[str, list[tuple[str, bytes | None, bytes]]] = {s: [] for s in STREAMS}
        self.error: BaseException | None = None
        self.generated = dict.fromkeys(STREAMS, 0)
        self.refused = 0
        self.replayed = 0
        self.failed: deque[tuple[str, str, bytes | None, bytes]] = deque()
        self.in_flight = 0
        self.stop = threading.Event()
        self.replay_request = 0
        self.lock = threading.Lock()
        self.producer = self._producer()
        self.thread = threading.Thread(target=self._run, name="producers", daemon=True)

    def _producer(self) -> Any:
        from confluent_kafka import Producer

        from local import kafka_users

        return Producer(
            {
                **kafka_users.librdkafka(self.env["TIDEMARK_KAFKA_BOOTSTRAP"], kafka_users.PRODUCER),
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 20,
                "message.timeout.ms": 120_000,
                "log_level": 0,
            }
        )

    def _send(self, stream: str, part: str, key: bytes | None, value: bytes) -> None:
        def delivered(error: Any, _message: Any) -> None:
            self.in_flight -= 1
            if error is not None:
                self.refused += 1
                self.failed.append((stream, part, key, value))
                if error.fatal():
                    self.fatal = True
            else:
                self.acked[stream].append((part, key, value))

        while True:
            try:
                self.producer.produce(topic_of(self.env, stream, part), value, key, on_delivery=delivered)
                self.in_flight += 1
                return
            except BufferError:
                self.producer.poll(0.1)

    def _next(self, stream: str, now: datetime) -> list[tuple[str, bytes | None, bytes]]:
        import orjson

        if stream == "tracking":
            beacon = self.beacons.next(now)
            return [("", str(beacon["create_time"]).encode(), orjson.dumps(beacon))]
        if stream == "ads":
            key, value = self.ads.next(now)
            return [("", key, value)]
        if stream == "orders":
            return [("", None, self.orders.next(now))]
        return [(part, None, value) for part, value in self.userlogs.loop(now)]

    fatal = False

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as e:
            self.error = e
            raise

    def _loop(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            now = datetime.now(timezone.utc)
            elapsed = time.monotonic() - started
            for stream in STREAMS:
                due = int(elapsed * getattr(self.rates, stream))
                while self.generated[stream] < due:
                    for part, key, value in self._next(stream, now):
                        self._send(stream, part, key, value)
                    self.generated[stream] += 1
            self._service()
            time.sleep(0.05)
        self._drain()

    def _service(self) -> None:
        """Delivery reports, re-sends of what Kafka refused, and requested replays."""
        self.producer.poll(0)
        if self.fatal:  # an idempotent producer whose state the broker lost: start a new one
            self.producer.flush(10)
            self.producer = self._producer()
            self.fatal = False
        while self.failed:
            self._send(*self.failed.popleft())
        with self.lock:
            count, self.replay_request = self.replay_request, 0
        if count:
            for stream in STREAMS:
                for part, key, value in self.acked[stream][-count:]:
                    self._send(stream, part, key, value)
                    self.replayed += 1

    def _drain(self) -> None:
        deadline = time.monotonic() + 300
        while (self.in_flight or self.failed) and time.monotonic() < deadline:
            self.producer.flush(1)
            self._service()
        if self.in_flight or self.failed:
            raise RuntimeError(f"producers: {self.in_flight + len(self.failed)} messages never acknowledged")

    def replay(self, count: int) -> None:
        """Send the last `count` acknowledged messages of every stream again."""
        with self.lock:
            self.replay_request = count

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()


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
        from jobs.aggregate import lock_name
        from jobs.settings import JobSettings
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


@dataclass(frozen=True)
class RunStores:
    """A run's own database and keyspace on the local stack, both named after the run: what the
    comparison with the oracles reads (the chaos run's, and the node tier's release's)."""

    name: str

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        import mysql.connector

        from local import stack

        conn = mysql.connector.connect(
            host=stack.HOST,
            port=stack.PORTS["mariadb"],
            user=stack.OWNER_USER,
            password=stack.OWNER_PASSWORD,
            database=self.name,
        )
        try:
            cursor = conn.cursor()
            cursor.execute(query)
            return list(cursor.fetchall())
        finally:
            conn.close()

    def execute(self, statement: str) -> None:
        """A statement that returns no rows (KILL, say), as the tables' owner."""
        import mysql.connector

        from local import stack

        conn = mysql.connector.connect(
            host=stack.HOST, port=stack.PORTS["mariadb"], user=stack.OWNER_USER, password=stack.OWNER_PASSWORD
        )
        try:
            conn.cursor().execute(statement)
        finally:
            conn.close()

    def raw_counts(self, tables: list[str]) -> dict[str, int]:
        from local import stack

        cluster = stack.cassandra_cluster()
        try:
            session = cluster.connect()
            return {
                t: int(session.execute(f"SELECT COUNT(*) FROM {self.name}.{t}", timeout=300).one()[0]) for t in tables
            }
        finally:
            cluster.shutdown()


# --- comparing with the oracles ----------------------------------------------------------------


def compare(chaos: RunStores, sends: Mapping[str, list[tuple[str, bytes | None, bytes]]]) -> dict[str, dict[str, Any]]:
    """Per stream: distinct events sent, the aggregate tally and the raw row counts."""
    sys.path.insert(0, str(ROOT))
    from oracles import ads as oracle_ads
    from oracles import orders as oracle_orders
    from oracles import tracking as oracle
    from oracles import userlogs as oracle_userlogs

    out: dict[str, dict[str, Any]] = {}
    acked = {stream: [(part, value) for part, _, value in sent] for stream, sent in sends.items()}

    beacons = [json.loads(v) for _, v in acked["tracking"]]
    companies = {int(j): int(c) for j, c in chaos.sql(f"SELECT id, company_id FROM `{chaos.name}_recruit`.job")}
    want = oracle.expected_events(beacons, companies=companies)
    columns = ("clicks", "conversion", "qualified_application", "disqualified_application", "impressions")
    rows = chaos.sql(
        "SELECT job_id, dates, hours, publisher_id, campaign_id, group_id, "
        + ", ".join(columns)
        + ", company_id, spend_hour, bid_set FROM events"
    )
    got = {tuple(r[:6]): r[6:] for r in rows}
    mismatched = sum(
        1
        for key, row in want.items()
        if key in got
        and (got[key][5], got[key][6], got[key][7]) != (row["company_id"], row["spend_hour"], row["bid_set"])
    )
    out["tracking"] = stream_result(
        tally({k: sum(v[c] for c in columns) for k, v in want.items()}, {k: sum(v[:5]) for k, v in got.items()}),
        sent=len({b["create_time"] for b in beacons}),
        raw=("tracking_raw", len({b["create_time"] for b in beacons})),
        mismatched=mismatched,
    )

    values = [v for _, v in acked["ads"]]
    windows = oracle_ads.expected_windows(values)
    ad_rows = chaos.sql(
        "SELECT ad_id, window_start, event_count, total_clicks, total_views, total_cost FROM ad_window_stats"
    )
    ad_got = {(r[0], r[1]): r[2:] for r in ad_rows}
    distinct_ads = len(set(values))
    out["ads"] = stream_result(
        tally(
            {k: w["event_count"] for k, w in windows.items()}, {k: int(v[0]) for k, v in ad_got.items()}, per_event=2
        ),
        sent=distinct_ads,
        raw=("ads_raw", distinct_ads),
        mismatched=sum(
            1
            for k, w in windows.items()
            if k in ad_got and tuple(ad_got[k][1:]) != (w["total_clicks"], w["total_views"], w["total_cost"])
        ),
    )

    messages = [v for _, v in acked["orders"]]
    customers = {
        int(i): (s, st) for i, s, st in chaos.sql(f"SELECT id, source, state FROM `{chaos.name}_shop`.customers")
    }
    sales = oracle_orders.expected_sales(messages, customers)
    sales_got = {
        (r[0], r[1]): (r[2], int(r[3]))
        for r in chaos.sql("SELECT source, state, total_sum_amount, order_count FROM total_sales_by_source_state")
    }
    out["orders"] = stream_result(
        tally({k: n for k, (_, n) in sales.items()}, {k: n for k, (_, n) in sales_got.items()}),
        sent=len(oracle_orders.orders_of(messages)),
        raw=("orders_raw", len(oracle_orders.orders_of(messages))),
        mismatched=sum(1 for k, (t, _) in sales.items() if k in sales_got and abs(sales_got[k][0] - t) > 1e-6),
    )

    logs = oracle_userlogs.expected(acked["userlogs"])
    want_logs: dict[Any, int] = {("sessions", h): n for h, (n, _) in logs.sessions_hourly().items()}
    want_logs |= {("auth", *k): n for k, n in logs.auth_hourly().items()}
    want_logs |= {("activity", *k): n for k, n in logs.activity_hourly().items()}
    got_logs: dict[Any, int] = {
        ("sessions", r[0]): int(r[1]) for r in chaos.sql("SELECT hour, sessions FROM user_sessions_hourly")
    }
    got_logs |= {
        ("auth", r[0], r[1], r[2]): int(r[3])
        for r in chaos.sql("SELECT hour, outcome, detail, events FROM user_auth_hourly")
    }
    got_logs |= {
        ("activity", r[0], r[1]): int(r[2])
        for r in chaos.sql("SELECT hour, event_type, events FROM user_activity_hourly")
    }
    raw_want = {
        "user_session_raw": len(logs.sessions),
        "user_auth_raw": len(logs.auth),
        "user_activity_raw": len(logs.activity),
    }
    out["userlogs"] = stream_result(
        tally(want_logs, got_logs), sent=sum(raw_want.values()), raw=None, mismatched=0, raw_many=raw_want
    )

    tables = ["tracking_raw", "ads_raw", "orders_raw", "user_session_raw", "user_auth_raw", "user_activity_raw"]
    counts = chaos.raw_counts(tables)
    for result in out.values():
        wanted = result.pop("_raw")
        result["raw_expected"] = sum(wanted.values())
        result["raw_rows"] = sum(counts[t] for t in wanted)
    return out


def stream_result(
    t: Tally, sent: int, raw: tuple[str, int] | None, mismatched: int, raw_many: dict[str, int] | None = None
) -> dict[str, Any]:
    return {
        "events_sent": sent,
        "events_expected": t.expected,
        "events_counted": t.counted,
        "lost": t.lost,
        "double_counted": t.double_counted,
        "mismatched_keys": mismatched,
        "_raw": raw_many if raw_many is not None else dict([raw]) if raw else {},
    }


TOTALS = ("events_sent", "events_expected", "events_counted", "lost", "double_counted", "mismatched_keys")


def table(result: Mapping[str, Any]) -> str:
    head = (
        f"{'stream':10} {'faults':>6} {'survived':>8} {'sent':>8} {'expected':>8} {'counted':>8} "
        f"{'lost':>5} {'twice':>5} {'raw rows/expected':>18} {'wrong':>5}"
    )
    lines = [head, "-" * len(head)]
    rows = [*result["streams"].items(), ("total", result)]
    for name, r in rows:
        lines.append(
            f"{name:10} {r['faults_injected']:>6} {r['faults_survived']:>8} {r['events_sent']:>8} "
            f"{r['events_expected']:>8} {r['events_counted']:>8} {r['lost']:>5} {r['double_counted']:>5} "
            f"{str(r['raw_rows']) + '/' + str(r['raw_expected']):>18} {r['mismatched_keys']:>5}"
        )
    return "\n".join(lines)


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
