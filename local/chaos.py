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
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from local.chaos_faults import FAULTS, SERVERS, SLOT_SECONDS, Fault, Injector, schedule
from local.chaos_jobs import ROOT, Jobs
from local.chaos_load import STREAMS, Producers, environment, producer_settings, stream_topics
from local.chaos_verdict import TOTALS, RunStores, compare, table

OUT = ROOT / "out"


class Chaos:
    """One chaos run: its setup, the chaos phase (the Deployment and CronJobs running while the
    faults land) and the drain."""

    def __init__(self, args: argparse.Namespace, name: str) -> None:
        self.args = args
        self.name = name
        self.env = environment(name)
        self.logs = OUT / "chaos-logs" / name
        self.logs.mkdir(parents=True, exist_ok=True)
        self.t0 = time.monotonic()
        self.jobs = Jobs(self.env, self.logs, self.say)
        self.stores = RunStores(name)
        self.faults = Injector(self.jobs, self.stores, self.logs, self.say)
        # What the producers and the recruit and shop tables are made from: one catalog, one seed.
        self.producer_settings = producer_settings(
            self.env,
            producer_seed=args.seed,
            producer_jobs=200,
            producer_publishers=20,
            producer_customers=200,
            producer_late_max_hours=2,
        )
        self.topics = [t for parts in stream_topics(self.producer_settings).values() for t in parts.values()]

    def say(self, what: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.0f}s] {what}", flush=True)

    def setup(self) -> None:
        from local import debezium, topics
        from producer import orders, recruit
        from producer.catalog import synthetic_catalog

        topics.ensure(self.env["TIDEMARK_KAFKA_BOOTSTRAP"], self.topics)
        migrate = self.jobs.spawn("migrate")
        if migrate.proc.wait() != 0:
            raise SystemExit(f"chaos: migrate failed (log {migrate.log})")
        migrate.ended = time.monotonic()
        settings = self.producer_settings
        conn = recruit.connect(settings)
        catalog = synthetic_catalog(settings.producer_jobs, settings.producer_publishers, settings.producer_seed)
        recruit.seed(conn, recruit.catalog_rows(catalog))
        conn.close()
        shop = recruit.connect(settings, database=settings.shop_database)
        orders.upsert_customers(shop, orders.synthetic_customers(settings.producer_customers, settings.producer_seed))
        shop.close()
        debezium.grant(self.name)
        config = debezium.config(f"{self.name}_recruit", self.name, server_id=random.randrange(10_000, 1_000_000))
        debezium.register(name=self.name, connector=config)

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
        while time.monotonic() < max(end, settled) or pending or self.faults.busy():
            now = time.monotonic()
            self.workloads(now)
            if (
                pending
                and now - started >= pending[0].at
                and not self.faults.busy()
                and self.faults.inject(pending[0], now)
            ):
                fault = pending.popleft()
                if fault.kind == "kafka":
                    self.replay_after_broker(producers)
            if not pending and not self.faults.busy():
                # The pipeline runs on a while after the last fault (or the last server's return).
                last = max((f.recovered or f.injected or 0.0) for f in faults) if faults else 0.0
                settled = max(settled, last + self.args.settle_seconds)
            if now > end + 120:
                for fault in pending:
                    fault.note = "never injected: no run of its kind lasted long enough"
                break
            time.sleep(0.5)
        self.faults.wait()

    def workloads(self, now: float) -> None:
        """The Deployment's pod restarted after a back-off, and the CronJobs on their schedule
        (concurrencyPolicy: Forbid); aggregate also overlaps ingest's own aggregation."""
        self.jobs.reap()
        if self.jobs.running("ingest") is None:
            self.ingest_down_since = self.ingest_down_since or now
            if now - self.ingest_down_since >= self.args.restart_seconds:
                self.jobs.continuous_ingest(self.args.interval)
                self.ingest_down_since = None
        if now >= self.next_aggregate:
            self.next_aggregate += self.args.cron_seconds
            if self.jobs.running("aggregate") is None:
                self.jobs.spawn("aggregate")
        if now >= self.next_dims:
            self.next_dims += self.args.cron_seconds * 1.5
            if self.jobs.running("dims") is None:
                self.jobs.spawn("dims")

    def replay_after_broker(self, producers: Producers) -> None:
        def later() -> None:
            self.faults.restarting["kafka"].join()
            producers.replay(self.args.replay)
            self.say(f"producers: re-sent the last {self.args.replay} acknowledged messages of every stream")

        threading.Thread(target=later, daemon=True).start()

    def drain(self) -> None:
        """Stops the Deployment, lets the CronJobs' runs end, then runs the jobs until nothing is
        dirty and ingest reads nothing new."""
        ingest = self.jobs.running("ingest")
        if ingest is not None:
            os.killpg(ingest.proc.pid, signal.SIGTERM)
            try:
                ingest.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.jobs.kill(ingest)
                ingest.proc.wait()
        for job in self.jobs.runs:
            if job.ended is None:
                job.proc.wait()
        self.jobs.reap()
        self.heal_connector()
        deadline = time.monotonic() + self.args.drain_seconds
        rounds = 0
        while time.monotonic() < deadline:
            rounds += 1
            # Ingest to the end of every topic (aggregating what it wrote), then aggregate and
            # dims side by side, as their CronJobs would run.
            ingest = self.jobs.spawn("ingest", {"TIDEMARK_INGEST_AGGREGATES": "true"})
            ingest.proc.wait()
            jobs = [self.jobs.spawn("aggregate"), self.jobs.spawn("dims")]
            for job in jobs:
                job.proc.wait()
            self.jobs.reap()
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
        from local import kafka_users

        consumer = KafkaConsumer(**kafka_users.kafka_python(self.env["TIDEMARK_KAFKA_BOOTSTRAP"]))
        try:
            partitions = [TopicPartition(t, p) for t in self.topics for p in consumer.partitions_for_topic(t) or ()]
            ends = consumer.end_offsets(partitions)
        finally:
            consumer.close()
        return sum(max(0, int(end) - committed.get((tp.topic, tp.partition), 0)) for tp, end in ends.items())

    def heal_connector(self) -> None:
        """What Strimzi's autoRestart does: a FAILED Debezium task is started again."""
        from local import debezium

        for _ in range(60):
            state = debezium.task_state(self.name)
            if state == "RUNNING":
                return
            if state == "FAILED":
                self.say("debezium: task FAILED; restarting it (as Strimzi's autoRestart would)")
                with contextlib.suppress(OSError):
                    debezium.restart_failed(self.name)
            time.sleep(2)

    def stale_dimensions(self) -> int:
        return int(
            self.sql(
                f"SELECT COUNT(*) FROM `{self.name}_recruit`.job j LEFT JOIN job_dim d ON d.job_id = j.id "
                "WHERE d.company_id IS NULL OR d.company_id <> j.company_id"
            )[0][0]
        )

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        return self.stores.sql(query)


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
    parser.add_argument("--rate", type=float, default=40, help="tracking messages/s")
    parser.add_argument("--side-rate", type=float, default=8, help="every other stream's messages/s")
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
    rates = {stream: args.rate if stream == "tracking" else args.side_rate for stream in STREAMS}
    faults = schedule(kinds, args.seconds, args.seed)
    chaos.say("faults: " + ", ".join(f"{f.kind} at {f.at:.0f}s" for f in faults))
    result: dict[str, Any] = {"seed": args.seed, "name": name}
    producers: Producers | None = None
    try:
        chaos.setup()
        producers = Producers(chaos.env, chaos.producer_settings, rates)
        producers.start()
        chaos.jobs.continuous_ingest(args.interval)
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
            fault.survived = fault.injected is not None and chaos.faults.survived(fault)
        streams = compare(chaos.stores, producers.acked)
    finally:
        chaos.jobs.kill_all()
        if producers is not None and not producers.stop.is_set():
            producers.finish()
        if not args.keep:
            from local import debezium

            with contextlib.suppress(OSError):
                debezium.remove(name)
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
