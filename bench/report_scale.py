"""Benchmark: `relaypot report` over a million synthetic sessions in SQLite.

Generates N sessions (a realistic mix: connect-and-quit scanners, spam bots, open-relay scanners,
AUTH guessers, VRFY harvesters, from a heavy-tailed set of sources over 30 days) through the real
SQL sink, with what enrichment would have found about every source and HELO name, then times
`relaypot report --format json` and `--html`, with peak memory.
The generated store is kept in bench/out/ and reused when N and the seed match.

    python3 bench/report_scale.py [--sessions 1000000] [--seed 1]

Targets (issue 3): the JSON report under 10 s and 500 MB peak memory on the benchmark machine.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from relaypot.events import (
    Auth,
    Command,
    DnsblResult,
    GeoFound,
    Helo,
    HeloDns,
    MailFrom,
    MessageReceived,
    OsFingerprint,
    RcptTo,
    Record,
    ReverseDns,
    SessionClosed,
    SessionOpened,
)
from relaypot.sinks.sql import SqlSink

OUT = Path(__file__).resolve().parent / "out"
SENSOR_IP = "198.51.100.25"
HOSTNAME = "mail.example.com"
START = 1_793_000_000  # 2026-10-26


def ts(t: float) -> str:
    whole = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e6):06d}Z"


class Mix:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.sources = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                        for _ in range(50_000)]
        self.helos = ([f"user-{rng.getrandbits(40):010x}" for _ in range(20_000)]
                      + [f"mta{n}.{rng.choice(['mail', 'mx', 'smtp'])}{n % 97}"
                         f".example.{rng.choice(['com', 'net', 'org'])}"
                         for n in range(5_000)]
                      + ["localhost", "ylmf-pc", "WIN-ABC123", HOSTNAME])
        self.campaigns = [f"{word} {{n}}" for word in
                          ("Cheap meds order", "Your invoice", "Account suspended ref", "Win a prize #", "Re: meeting",
                           "Delivery failure id", "Bitcoin gains", "Important notice", "Hot singles", "Loan approved")]
        self.bodies = [f"{rng.getrandbits(64):016x}" for _ in range(2_000)]
        self.drop_boxes = [f"drop{n}@box{n % 7}.example.net" for n in range(20)]
        self.users = ["admin", "root", "test", "info", "postmaster", "sales", "user", "webmaster"] + \
                     [f"user{n}" for n in range(200)]
        self.passwords = ["123456", "password", "admin", "qwerty", "letmein"] + [f"pw{n}" for n in range(1000)]

    def source(self) -> str:
        index = int(self.rng.paretovariate(1.2)) - 1
        return self.sources[index % len(self.sources)]

    def helo(self) -> tuple[str, str] | None:
        r = self.rng.random()
        if r < 0.05:
            return None
        if r < 0.15:
            return "HELO", f"{self.rng.randint(1, 223)}.{self.rng.randint(0, 255)}.1.{self.rng.randint(1, 254)}"
        if r < 0.20:
            return "EHLO", f"[{self.rng.randint(1, 223)}.{self.rng.randint(0, 255)}.7.{self.rng.randint(1, 254)}]"
        return self.rng.choice(("HELO", "EHLO")), self.rng.choice(self.helos)


def session(mix: Mix, n: int, t: float) -> list[Record]:
    rng = mix.rng
    sid = f"{int(t * 1000):011x}{n:013x}"
    src = mix.source()
    events: list = [SessionOpened(src_port=rng.randint(1024, 65535), dst_ip=SENSOR_IP, dst_port=25,
                                  listener="0.0.0.0:25", persona="exchange2000", hostname=HOSTNAME,
                                  banner=f"220 {HOSTNAME} Microsoft ESMTP MAIL Service ready")]
    shape: list[str] = []

    def command(verb: str, argument: str, code: int) -> None:
        events.append(Command(verb=verb, argument=argument, raw_line=f"{verb} {argument}\r\n".encode(),
                              reply_code=code, reply=f"{code} ok"))
        shape.append(verb)

    kind = rng.random()
    greeting = mix.helo() if kind > 0.10 else None
    if greeting:
        events.append(Helo(verb=greeting[0], hostname=greeting[1]))
        command(greeting[0], greeting[1], 250)
    messages = 0
    if kind < 0.30:
        pass  # connect, maybe greet, and leave
    elif kind < 0.70 or kind < 0.80:
        probe = kind >= 0.70
        sender = f"bulk{rng.randint(1, 9999)}@{rng.choice(['spam', 'promo', 'deals'])}{rng.randint(1, 300)}.example"
        rcpts = [rng.choice(mix.drop_boxes)] if probe else [
            f"victim{rng.randint(1, 99999)}@{rng.choice(['gmail.example', 'yahoo.example', 'corp.example'])}"
            for _ in range(rng.randint(1, 3))]
        events.append(MailFrom(address=sender, parameters={}, reply_code=250))
        command("MAIL", f"FROM:<{sender}>", 250)
        for rcpt in rcpts:
            events.append(RcptTo(address=rcpt, parameters={}, reply_code=250))
            command("RCPT", f"TO:<{rcpt}>", 250)
        command("DATA", "", 354)
        if probe:
            subject = (f"Super webscan open relay check succeded, hostname = {SENSOR_IP}" if rng.random() < 0.7
                       else f"Relay test {rng.randint(1, 999)}")
            body, excerpt = "probe", f"relay check for {SENSOR_IP}"
        else:
            subject = rng.choice(mix.campaigns).replace("{n}", str(rng.randint(1, 99999)))
            body = rng.choice(mix.bodies)
            excerpt = f"Dear friend, buy now http://{body[:6]}.example/ {body}"
        events.append(MessageReceived(sha256=(body * 4)[:64].ljust(64, "0"), size=rng.randint(400, 60_000),
                                      path="messages/x.eml", transfer="DATA", mail_from=sender, rcpt_to=tuple(rcpts),
                                      subject=subject, excerpt=excerpt,
                                      urls=() if probe else (f"http://{body[:6]}.example/",), reply_code=250))
        messages = 1
    elif kind < 0.95:
        command("AUTH", "LOGIN", 334)
        for _ in range(rng.randint(1, 3)):
            events.append(Auth(mechanism="LOGIN", advertised=True, outcome="rejected", username=rng.choice(mix.users),
                               password=rng.choice(mix.passwords), reply_code=535))
    else:
        for _ in range(5):
            command("VRFY", rng.choice(mix.users), 252)
    command("QUIT", "", 221)
    events.append(SessionClosed(reason="quit", duration=round(rng.random() * 5, 3), bytes_in=500, bytes_out=800,
                                commands=len(shape), messages=messages, shape=" ".join(shape)))
    return [Record(sid, i + 1, ts(t + i * 0.01), "bench", src, e) for i, e in enumerate(events)]


def generate(path: Path, sessions: int, seed: int) -> None:
    rng = random.Random(seed)
    mix = Mix(rng)
    sink = SqlSink(f"sqlite:///{path}")
    sink.open()
    batch: list[Record] = []
    span = 30 * 86400
    began = time.monotonic()
    for n in range(sessions):
        batch.extend(session(mix, n, START + span * n / sessions))
        if len(batch) >= 20_000:
            sink.write(batch)
            batch = []
        if n and n % 100_000 == 0:
            print(f"  {n} sessions ({time.monotonic() - began:.0f} s)", file=sys.stderr, flush=True)
    sink.write(batch)
    sink.close()


COUNTRIES = ("CN", "US", "BR", "IN", "RU", "VN", "TW", "KR", "ID", "DE", "FR", "TR", "AR", "MX", "NL", "UA")
ZONES = ("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org")
SYSTEMS = (("Windows", "XP"), ("Windows", "7 or 8"), ("Linux", "2.2.x-3.x"), ("Linux", "3.11 and newer"), None)


def enrich(path: Path, seed: int) -> None:
    """What the sensor's enrichment would have recorded: every source's geography, reverse DNS,
    DNSBL verdicts and OS, and every (HELO name, source) pair's lookup, through the real SQL sink."""
    rng = random.Random(seed + 1)
    sink = SqlSink(f"sqlite:///{path}")
    sink.open()
    db = sink.db
    sources = [row[0] for row in db.query("SELECT DISTINCT src_ip FROM sessions", [])]
    pairs = db.query("SELECT DISTINCT helo, src_ip FROM sessions WHERE helo_syntax IN ('fqdn', 'non_fqdn')", [])
    stamp = ts(START + 30 * 86400)
    batch: list[Record] = []

    def add(ip: str, event) -> None:
        batch.append(Record(f"{rng.getrandbits(96):024x}", 1, stamp, "bench", ip, event))
        if len(batch) >= 20_000:
            sink.write(batch)
            batch.clear()

    for ip in sources:
        country = rng.choice(COUNTRIES)
        asn = rng.randint(1000, 60000)
        add(ip, GeoFound(for_session="", country=country, country_source="city_db", city=f"City {asn % 300}",
                         asn=asn, organisation=f"Org {asn}", network=ip.rsplit(".", 1)[0] + ".0/24"))
        generic = rng.random() < 0.6
        add(ip, ReverseDns(for_session="", ptr=f"{ip.replace('.', '-')}.dyn.example" if generic else None,
                           confirmed=generic, generic="the address is in the name" if generic else None))
        for zone in ZONES:
            listed = rng.random() < 0.4
            add(ip, DnsblResult(for_session="", zone=zone, listed=listed, codes=("127.0.0.2",) if listed else ()))
        system = rng.choice(SYSTEMS)
        if system:
            add(ip, OsFingerprint(for_session="", os=system[0], flavor=system[1], match_quality=0, distance=12))
    for name, ip in pairs:
        resolves = rng.random() < 0.3
        add(ip, HeloDns(for_session="", name=name, resolves=resolves, addresses=("192.0.2.1",) if resolves else (),
                        matches_peer=False))
    sink.write(batch)
    sink.close()
    print(f"# enrichment for {len(sources)} sources and {len(pairs)} HELO names", file=sys.stderr)


def timed(argv: list[str]) -> tuple[float, float, int]:
    began = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    error = proc.stderr.read().decode()
    if status:
        raise RuntimeError(error)
    return time.monotonic() - began, usage.ru_maxrss / 1024, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    store = OUT / f"report-{args.sessions}-{args.seed}.sqlite"
    if not store.exists():
        print(f"# generating {args.sessions} sessions into {store}", file=sys.stderr)
        partial = store.with_suffix(".partial")
        for leftover in OUT.glob(partial.name + "*"):
            leftover.unlink()
        generate(partial, args.sessions, args.seed)
        partial.rename(store)
    # A store made by an older version gains its missing columns and indexes here, once, as the
    # sensor would do on start; that one-time work is not what is measured.
    from relaypot.analysis.report import prepare
    from relaypot.storage.database import Database

    began = time.monotonic()
    db = Database(f"sqlite:///{store}")
    prepare(db)
    enriched = db.query("SELECT count(*) FROM sources", [])[0][0]
    db.close()
    print(f"# store brought up to date in {time.monotonic() - began:.1f} s", file=sys.stderr)
    if not enriched:
        enrich(store, args.seed)
    size = store.stat().st_size / 2**20
    base = [sys.executable, "-m", "relaypot.cli", "report", "--store", f"sqlite:///{store}"]
    html = OUT / "report.html"
    print(f"# relaypot report over {args.sessions} sessions ({size:.0f} MiB SQLite store); Python "
          f"{sys.version.split()[0]}")
    print(f"{'command':40} {'seconds':>8} {'peak RSS MiB':>13}")
    for label, argv in (("report --format json", [*base, "--format", "json"]),
                        ("report --html FILE", [*base, "--html", str(html)]),
                        ("report (terminal text)", base)):
        seconds, rss, _ = timed(argv)
        print(f"{label:40} {seconds:8.1f} {rss:13.0f}")
    print("targets: the JSON report under 10 s and under 500 MB peak memory")
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    sys.exit(main())
