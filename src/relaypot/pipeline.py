"""Recorder (stamps identity, time and order on events) and EventBus (fans records out to sinks).

The journal (`events.jsonl`) is written in the event loop: every record is appended as it is
published, and committed (one write(2)) every flush interval, whenever 64 KiB are waiting, and
before a message is acknowledged, so a message a client got 250 for is in the kernel's hands
whatever happens to the process next. Every other sink has its own queue and worker thread, so a
slow or failing sink never delays the event loop or the other sinks. Queues are bounded: past the
high-water mark (or with the journal unable to write) the bus reports itself congested and the
transport stops reading from clients until the sinks catch up (backpressure), so an event once
accepted is not dropped for lack of room.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import os
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from relaypot.escape import log_error
from relaypot.events import Event, Record
from relaypot.sinks.base import Sink
from relaypot.sinks.jsonl import JsonlSink
from relaypot.spool import Spool, SpoolFull

log = logging.getLogger(__name__)

PROBE_EVERY = 5.0  # seconds between resends of a failing sink's spool
JOURNAL_MEMORY = 64 * 1024 * 1024  # bytes of records waiting for the journal before clients pause
JOURNAL_MAX = 4 * JOURNAL_MEMORY  # ... and past which they are given up (counted, said at the stop)
# A sink takes at most this much JSON in one batch, and is woken once half of it waits. What a
# batch costs in memory is several times its JSON (the records, then their rows): batches of
# 20,000 records took the sensor from 44 to 100 MiB under a flood, batches of about 1 MiB of JSON
# (3,000 one-message-session records) keep it near 55 MiB for a few percent more sink CPU.
BATCH_BYTES = 1024 * 1024
# An output (sinks/base.py: policy "output") waits for at most this much; past it records are
# dropped and counted, and the clients never pause for it.
OUTPUT_QUEUE_RECORDS = 10_000
OUTPUT_QUEUE_BYTES = 8 * 1024 * 1024

_second = -1
_prefix = ""


def utc_timestamp(now: float | None = None) -> str:
    """Fixed-width ISO-8601 UTC with microseconds: `2026-11-27T08:45:30.123456Z`."""
    global _second, _prefix
    if now is None:
        now = time.time()
    second = int(now)
    if second != _second:
        _prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = second
    return f"{_prefix}.{int((now - second) * 1_000_000):06d}Z"


# Session ids need to be unique across a fleet, not secret (no client ever sees one): a generator
# seeded once from the kernel saves a getrandom(2) per connection.
_ids = random.Random(os.urandom(32))


def new_session_id() -> str:
    """24 hex digits: milliseconds since the epoch, then 52 random bits.

    Ids sort by start time, so the store's indexes grow at one end instead of everywhere
    (about 40% cheaper inserts than random ids), and a fleet's sensors never collide.
    """
    return f"{int(time.time() * 1000):011x}{_ids.getrandbits(52):013x}"


def name_os_thread(name: str) -> None:
    """Give the calling thread `name` in the OS too (Linux, 15 bytes), so `top -H`, `ps -L` and
    /proc/PID/task/*/comm tell the sink threads apart. Best effort: elsewhere it does nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).prctl(15, name.encode("ascii", "replace")[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


class Recorder:
    """Binds one session's identity once; the attacker can never supply it."""

    __slots__ = ("bus", "sensor", "seq", "session", "src_ip")

    def __init__(self, bus: EventBus, session: str, sensor: str, src_ip: str) -> None:
        self.bus = bus
        self.session = session
        self.sensor = sensor
        self.src_ip = src_ip
        self.seq = 0

    def record(self, event: Event, ts: str | None = None) -> Record:
        """Stamp and publish; events produced by one input share one `ts` (one clock read)."""
        self.seq += 1
        record = Record(self.session, self.seq, ts or utc_timestamp(), self.sensor, self.src_ip, event)
        self.bus.publish(record)
        return record


REMIND_FIRST, REMIND_MAX = 60.0, 3600.0  # seconds between a store outage's reminders


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


# A sink's catch-up with what an earlier run left unwritten; it calls its argument between batches.
CatchUp = Callable[[Callable[[], None]], object]


class SinkWorker:
    """One sink, its bounded queue and its thread; failures are counted and logged, never raised.

    A batch is retried with backoff for `retry_for` seconds, then handed to the sink's spool (kept
    on disk, resent once the sink writes again) or, for a sink without one, dropped, loudly.
    While the sink is failing, or its spool still holds anything, new batches go to the spool
    behind what waits there: a store away for an hour neither pauses the clients nor costs a
    record, and the store gets every record in the order it happened.
    """

    def __init__(self, sink: Sink, bus: EventBus, flush_interval: float, batch_size: int, retry_for: float,
                 spool: Spool | None = None, probe_every: float = PROBE_EVERY,
                 batch_bytes: int = BATCH_BYTES, catch_up: CatchUp | None = None) -> None:
        self.sink = sink
        self.output = getattr(sink, "policy", "store") == "output"
        self.catch_up = catch_up
        self.bus = bus
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        # JSON bytes queued: `bytes_in` is added to by the loop alone, `bytes_out` by this
        # worker's thread alone, so neither needs a lock; what waits is their difference.
        self.bytes_in = 0
        self.bytes_out = 0
        self.retry_for = retry_for
        self.spool = spool
        self.probe_every = probe_every
        self.queue: deque[Record] = deque()
        self.wake = threading.Event()
        self.stopping = False
        self.failing = False
        self.failures = 0
        self.written = 0
        self.spooled = 0
        self.dropped = 0
        self.dropped_unjournaled = 0  # of the dropped, those events.jsonl had given up too
        self.thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)
        self.opened = threading.Event()
        self.open_error: BaseException | None = None
        self._next_resend = 0.0
        self._held_until = 0.0
        self._outage_since: float | None = None  # the store's current outage began (monotonic)
        self._remind_at = 0.0
        self._remind_every = REMIND_FIRST
        self._last_error = ""
        self.open_later = False  # set by the bus: may start unreachable, spooling

    def start(self) -> None:
        self.thread.start()
        self.opened.wait()
        if self.open_error is not None:
            raise self.open_error

    def _run(self) -> None:
        name_os_thread(self.thread.name)
        try:
            self.sink.open()
        except BaseException as exc:  # noqa: BLE001 (reported to the starting thread)
            if not (self.open_later and isinstance(exc, Exception)):
                self.open_error = exc
                self.opened.set()
                return
            # Start anyway: every batch goes to the spool, whose resends probe the sink.
            log.error("sink %s cannot be opened (%s); starting anyway and spooling its records until it can",
                      self.sink.name, log_error(exc))
            self.failing = True
            self._probe_later()
        self.opened.set()  # the sensor may listen now: catching up happens here, behind it
        if self.catch_up is not None and not self.failing:
            self._catch_up(self.catch_up)
        self._resend()  # what an earlier run spooled
        while True:
            self.wake.wait(self.flush_interval)
            self.wake.clear()
            self._drain()
            if self.stopping and not self.queue:
                break
            self._resend()
        try:
            self.sink.close()
        except Exception:
            log.exception("sink %s failed to close", self.sink.name)

    def _catch_up(self, catch_up: CatchUp) -> None:
        """What an earlier run left unwritten (the journal's tail), while the listeners are open.
        Between its batches, live records that pile up go to the spool, behind it and in order,
        so a long catch-up under a flood neither pauses the clients nor reorders the store."""
        try:
            catch_up(self._spool_if_piling)
        except Exception as exc:  # noqa: BLE001 (the store went away: the failing path takes over)
            log.error("sink %s: catching up with the journal failed (%s); what it lacks is in events.jsonl "
                      "(relaypot import)", self.sink.name, log_error(exc))

    def _spool_if_piling(self) -> None:
        piling = len(self.queue) >= self.bus.low_water or self.queued_bytes >= self.bus.high_water_bytes // 2
        if self.spool is None or not piling:
            return
        batch = list(self.queue)
        try:
            self.spool.keep(batch)
        except (OSError, SpoolFull):
            return  # the queue keeps them; the bus's bound pauses the clients meanwhile
        for _ in batch:
            self.queue.popleft()
        self.bytes_out += sum(len(record.to_json()) for record in batch)
        self.spooled += len(batch)
        self.bus.sink_progressed()

    def _drain(self) -> None:
        if time.monotonic() < self._held_until:
            return  # neither the store nor the spool could take records: they wait in the queue
        queue = self.queue
        while queue:
            batch: list[Record] = []
            size = 0
            while queue and len(batch) < self.batch_size and size < self.batch_bytes:
                record = queue.popleft()
                size += len(record.to_json())  # encoded once, by the journal in the loop
                batch.append(record)
            kept = self._write(batch)
            if kept:
                self.bytes_out += size
            self.bus.sink_progressed()
            if not kept:
                break

    def _write(self, batch: list[Record]) -> bool:
        """Write, spool or drop `batch`; False when it went back to the queue to wait."""
        if self.output:
            return self._write_once(batch)
        if self.spool is not None and (self.failing or self.spool.used):
            # Behind the spool: the store gets records in the order they happened, so a session's
            # rows are derived as they would have been live (resend probes for a failing store).
            return self._keep_or_drop(batch, loud=False)
        # A locked database or a restarting server for a moment costs a pause, not a spool file.
        deadline = time.monotonic() + (0.0 if self.failing else self.retry_for)
        attempt = 0
        while True:
            try:
                self.sink.write(batch)
                self.written += len(batch)
                if self.failing:
                    self.failing = False
                    self._recovered("")
                return True
            except Exception as exc:  # one failing sink must not stop the rest
                self.failures += 1
                self._last_error = log_error(exc)
                if self._outage_since is None:
                    # One line: a store that is away is an outage to report, not a bug to trace.
                    self._outage_begins(time.monotonic())
                    log.error("sink %s failed: %s", self.sink.name, self._last_error)
                    log.debug("sink %s failure", self.sink.name, exc_info=True)
            delay = min(0.25 * 2**attempt, 8.0)
            if (self.stopping and attempt >= 1) or time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            attempt += 1
        self.failing = True
        self._probe_later()
        return self._keep_or_drop(batch, loud=True)

    def _write_once(self, batch: list[Record]) -> bool:
        """An output's write: one try; what it cannot take is dropped and counted."""
        try:
            self.sink.write(batch)
            self.written += len(batch)
        except Exception as exc:  # noqa: BLE001 (an output's failure is its own)
            self.failures += 1
            self._drop(batch)
            if self.failures == 1 or self.failures % 100 == 0:
                log.error("output %s failed (failure %d, %d records dropped so far; events.jsonl and the store "
                          "have them): %s", self.sink.name, self.failures, self.dropped, log_error(exc))
        return True

    def _keep_or_drop(self, batch: list[Record], loud: bool) -> bool:
        try:
            kept = self.spool.keep(batch) if self.spool is not None else None
        except OSError:
            if self.stopping:
                self._drop(batch)  # nowhere left to keep it: said at the stop
                log.error("sink %s dropped %d records at the stop: neither it nor its spool could take them",
                          self.sink.name, len(batch))
                return True
            # The spool's disk cannot take it either (full): the batch waits in memory, first in
            # line, until the next probe; the bus's bound pauses the clients meanwhile.
            self.queue.extendleft(reversed(batch))
            self.failing = True
            self._held_until = time.monotonic() + max(self.probe_every, self.flush_interval)
            return False
        except SpoolFull:
            kept = None
        if kept is not None:
            self.spooled += len(batch)
            # Once per failure, not once a second for the length of an outage.
            (log.error if loud else log.debug)(
                "sink %s: %d records spooled to %s, to be written once it writes again (%d so far)",
                self.sink.name, len(batch), kept, self.spooled)
            return True
        self._drop(batch)
        log.error("sink %s dropped %d records after repeated failures", self.sink.name, len(batch))
        return True

    def _drop(self, batch: list[Record]) -> None:
        self.dropped += len(batch)
        self.dropped_unjournaled += sum(1 for record in batch if record.unjournaled)

    def _resend(self) -> None:
        """Resend the oldest spooled file: at once while catching up, every few seconds while the
        sink is failing (the resend is the probe that finds it writing again)."""
        if self.spool is None or self.stopping or not self.spool.used:
            return
        now = time.monotonic()
        if self.failing and now < self._next_resend:
            return
        if self.spool.resend_oldest():
            if self.failing:
                self.failing = False
                self._recovered("; resending its spool")
            if self.spool.used:
                self.wake.set()  # the next file on the next turn: live records go first
            else:
                log.info("sink %s has caught up: its spool is empty", self.sink.name)
        else:
            self.failing = True
            self._remind()
            self._probe_later()

    def _remind(self) -> None:
        """While an outage lasts, a reminder with its figures at a slowing pace (1, 2, 4 ... minutes,
        then hourly), not a line per probe: an hour away is a few lines in the journal, not 720."""
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_begins(now)
            return
        if now < self._remind_at:
            return
        log.warning("sink %s still failing after %s: %d records spooled, %d bytes of them waiting; last: %s",
                    self.sink.name, _duration(now - self._outage_since), self.spooled,
                    self.spool.used if self.spool is not None else 0, self._last_error or "-")
        self._remind_every = min(self._remind_every * 2, REMIND_MAX)
        self._remind_at = now + self._remind_every

    def _outage_begins(self, now: float) -> None:
        self._outage_since, self._remind_every, self._remind_at = now, REMIND_FIRST, now + REMIND_FIRST

    def _recovered(self, then: str) -> None:
        since, self._outage_since = self._outage_since, None
        away = f" after {_duration(time.monotonic() - since)}" if since is not None else ""
        log.info("sink %s writes again%s%s", self.sink.name, away, then)

    def _probe_later(self) -> None:
        """A failing sink's spool is tried again (its resend is the probe) in probe_every seconds."""
        self._next_resend = time.monotonic() + max(self.probe_every, self.flush_interval)

    @property
    def queued_bytes(self) -> int:
        return self.bytes_in - self.bytes_out

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()


class EventBus:
    """Fan-out of records to sink workers, and to in-loop listeners (the terminal summary, tests)."""

    def __init__(self, sinks: Iterable[Sink] = (), flush_interval: float = 1.0, high_water: int = 100_000,
                 batch_size: int = 20_000, retry_for: float = 30.0, spools: Mapping[str, Spool] | None = None,
                 journal: JsonlSink | None = None, probe_every: float = PROBE_EVERY,
                 high_water_bytes: int = 32 * 1024 * 1024, batch_bytes: int = BATCH_BYTES,
                 open_later: Iterable[str] = (), catch_ups: Mapping[str, CatchUp] | None = None) -> None:
        # A batch is at most batch_size records and batch_bytes of JSON (whichever comes first); a
        # sink wakes every flush_interval, or once half a batch is waiting. Clients pause once a
        # sink is high_water records or high_water_bytes of JSON behind.
        spools = spools or {}
        catch_ups = catch_ups or {}
        self.workers = [SinkWorker(s, self, flush_interval, batch_size, retry_for, spools.get(s.name), probe_every,
                                   batch_bytes, catch_ups.get(s.name)) for s in sinks]
        # Sinks that may start unreachable (a spool behind them): their records are spooled until
        # the sink opens, where the others refuse to start.
        later = set(open_later)
        for worker in self.workers:
            worker.open_later = worker.sink.name in later and worker.spool is not None
        self.journal = journal
        self.journal_dropped = 0
        # Records the journal has not written yet: the sinks get a record only once the journal
        # has it (or gave it up), so after a kill -9 the store never holds what events.jsonl lacks.
        self._held: deque[Record] = deque()
        self._published = 0
        self.flush_interval = flush_interval
        self.listeners: list[Callable[[Record], None]] = []
        self.high_water = high_water
        self.low_water = high_water // 2
        self.high_water_bytes = high_water_bytes
        self.congested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._on_drained: list[Callable[[], None]] = []
        self._after_commit: list[Callable[[], None]] = []
        self._wake_at = max(1, batch_size // 2)
        self._wake_bytes = max(1, batch_bytes // 2)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        if self.journal is not None:
            self.journal.open()
            if loop is not None:
                self._tick = loop.call_later(self.flush_interval, self._commit_tick)
        for worker in self.workers:
            worker.start()

    def publish(self, record: Record) -> None:
        journal = self.journal
        if journal is not None:
            self._published += 1
            journal.append(record)
            if journal.failing and journal.pending_bytes > JOURNAL_MEMORY and not self.congested:
                self.congested = True
                log.warning("%s cannot be written and %d bytes of records wait: pausing clients", journal.path,
                            journal.pending_bytes)
            if self.workers:
                self._held.append(record)
                self._hand_over()  # the append may have written (64 KiB, a rotation)
        elif self.workers:
            self._to_sinks(record)
        for listener in self.listeners:
            try:
                listener(record)
            except Exception:
                log.exception("event listener failed")

    def _unjournaled(self, lost: int) -> None:
        """Mark the records the journal just gave up: the newest `lost` of those it had not yet
        written, which are the tail of the held ones (each is appended to it as it is held)."""
        for record in itertools.islice(reversed(self._held), lost):
            record.unjournaled = True

    def _hand_over(self) -> None:
        """Give the sinks the held records the journal has now written or given up."""
        held = self._held
        if not held or self.journal is None:
            return
        unsettled = self._published - self.journal.written - self.journal_dropped
        for _ in range(len(held) - max(unsettled, 0)):
            self._to_sinks(held.popleft())

    def _to_sinks(self, record: Record) -> None:
        encoded = len(record.to_json())  # the journal's encoding, or the sink's, done once
        wake_bytes = self._wake_bytes
        for worker in self.workers:
            queue = worker.queue
            if worker.output and (len(queue) >= OUTPUT_QUEUE_RECORDS or worker.queued_bytes >= OUTPUT_QUEUE_BYTES):
                worker.dropped += 1  # best effort: an output that cannot keep up never pauses a client
                continue
            queue.append(record)
            size = len(queue)
            before = worker.bytes_in
            worker.bytes_in = after = before + encoded
            # Woken once per half batch that arrives (records or bytes), not on every record.
            if (size >= self._wake_at and size % self._wake_at == 0) or after // wake_bytes != before // wake_bytes:
                worker.wake.set()
            if worker.output:
                continue
            if (size >= self.high_water or after - worker.bytes_out >= self.high_water_bytes) and not self.congested:
                self.congested = True
                log.warning("sink %s is %d records (%d bytes of JSON) behind: pausing clients", worker.sink.name,
                            size, after - worker.bytes_out)

    def commit(self) -> None:
        """Hand the journal's records to the kernel now (and then to the sinks)."""
        if self.journal is not None:
            self.journal.commit()
            self._hand_over()

    def commit_soon(self, then: Callable[[], None]) -> None:
        """Commit the journal at the end of this turn of the loop, then call `then` (which sends
        a 250): every message acknowledged in one turn shares one write(2)."""
        self._after_commit.append(then)
        if len(self._after_commit) > 1:
            return
        if self._loop is None:
            self._commit_and_go_on()
        else:
            self._loop.call_soon(self._commit_and_go_on)

    def _commit_and_go_on(self) -> None:
        self.commit()
        waiting, self._after_commit = self._after_commit, []
        for then in waiting:
            then()

    def _commit_tick(self) -> None:
        journal = self.journal
        assert journal is not None and self._loop is not None
        journal.commit()
        if journal.pending_bytes > JOURNAL_MAX:
            lost = journal.drop_pending()
            self._unjournaled(lost)
            self.journal_dropped += lost
            log.error("gave up %d records that %s could not take (%d so far): the disk is still full",
                      lost, journal.path, self.journal_dropped)
        self._hand_over()
        self.sink_progressed()
        self._tick = self._loop.call_later(self.flush_interval, self._commit_tick)

    def close_journal(self) -> None:
        """Write what the journal holds and close it; in the loop, once nothing more is published."""
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        if self.journal is not None:
            self.journal.close()
            lost = self.journal.drop_pending()
            self._unjournaled(lost)
            self.journal_dropped += lost
            self._hand_over()

    def when_drained(self, callback: Callable[[], None]) -> None:
        """Call `callback` in the loop once the queues are back under the low-water mark."""
        self._on_drained.append(callback)

    def sink_progressed(self) -> None:
        """A sink wrote a batch (any thread): end the congestion once every queue is low."""
        if not self.congested or any(len(w.queue) > self.low_water or w.queued_bytes > self.high_water_bytes // 2
                                     for w in self.workers if not w.output):
            return
        if self.journal is not None and self.journal.pending_bytes > JOURNAL_MEMORY // 2:
            return
        self.congested = False
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._resume)

    def _resume(self) -> None:
        callbacks, self._on_drained = self._on_drained, []
        for callback in callbacks:
            callback()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued record has been written (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        if self._loop is None:
            self.commit()  # no loop to tick: what the journal holds goes now
        for worker in self.workers:
            worker.wake.set()
        # Held records reach the queues at the loop's next journal commit.
        while self._held or any(w.queue for w in self.workers if w.thread.is_alive()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 60.0) -> None:
        """Write everything still queued, then close every sink (and the journal, if still open)."""
        if self._loop is None:
            self.close_journal()
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            worker.thread.join(timeout)
            if worker.thread.is_alive():
                log.error("sink %s did not finish within %.0fs: %d records unwritten",
                          worker.sink.name, timeout, len(worker.queue))

    def stats(self) -> dict[str, dict[str, int]]:
        found = {w.sink.name: {"written": w.written, "queued": len(w.queue), "failures": w.failures,
                               "spooled": w.spooled, "dropped": w.dropped,
                               # of the dropped and the left, those events.jsonl does not have either
                               "unjournaled": w.dropped_unjournaled + sum(1 for r in w.queue if r.unjournaled),
                               "spool_bytes": w.spool.used if w.spool is not None else 0,
                               "output": int(w.output)} for w in self.workers}
        if self.journal is not None:
            found[self.journal.name] = {"written": self.journal.written, "queued": 0, "failures": 0, "spooled": 0,
                                        "dropped": self.journal_dropped, "spool_bytes": 0, "output": 0,
                                        "unjournaled": 0}
        return found
