-- relaypot store schema. Runs unchanged on SQLite and PostgreSQL: the dialect module only fills
-- {autoid} and {blob}. A column added here is added to an existing store when it is opened
-- (ALTER TABLE ... ADD COLUMN), so it needs a DEFAULT if it is NOT NULL. Timestamps are fixed-width ISO-8601 UTC text
-- (2026-11-27T08:45:30.123456Z), so substr() gives hour and day buckets in both engines.
-- Every table keyed by (session_id, seq) is written with ON CONFLICT DO NOTHING: replaying the
-- same records (a JSONL import, a retried batch) is idempotent.

CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);

-- Every record, as the JSON line the JSONL sink writes.
CREATE TABLE IF NOT EXISTS events (
    id {autoid},
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (session_id, seq)
);
-- No index beyond (session_id, seq): every index costs each insert, and the sensor writes far
-- more than it reads. Analyses read the typed tables below.

-- One row per connection, written when its records reach the store (opened, first HELO/EHLO,
-- TLS, closed), merged with what an earlier batch wrote.
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    sensor TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    src_port INTEGER,
    dst_ip TEXT,
    dst_port INTEGER,
    listener TEXT,
    persona TEXT,
    hostname TEXT,
    started TEXT NOT NULL,
    hour TEXT,
    ended TEXT,
    helo_verb TEXT,
    helo TEXT,
    tls INTEGER NOT NULL DEFAULT 0,
    commands INTEGER,
    messages INTEGER,
    bytes_in BIGINT,
    bytes_out BIGINT,
    close_reason TEXT,
    duration DOUBLE PRECISION,
    shape TEXT,
    -- Derived as records arrive (analysis/derive.py), so reports stay plain GROUP BYs:
    helo_class TEXT,
    helo_syntax TEXT,
    helo_peer INTEGER,
    relay INTEGER NOT NULL DEFAULT 0,
    probe INTEGER NOT NULL DEFAULT 0,
    auth INTEGER NOT NULL DEFAULT 0,
    harvest INTEGER NOT NULL DEFAULT 0,
    -- The client's TLS fingerprints (its first ClientHello's): bots share them
    tls_ja3 TEXT,
    tls_ja4 TEXT
);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions (started);
-- The report's main pass: GROUP BY in this column order streams over the index with no sort
-- (hour is started's first 13 characters, stored, because GROUP BY substr(...) always sorts).
CREATE INDEX IF NOT EXISTS sessions_hourly ON sessions (hour, helo_class, helo_syntax, helo_verb, shape, sensor,
    listener, hostname, dst_ip, started, helo_peer, messages, relay);
CREATE INDEX IF NOT EXISTS sessions_hour_source ON sessions (hour, src_ip);
-- Covering indexes the report reads instead of the table: per source (with what each did), and
-- per HELO class and name. Each costs one entry per session, written once.
CREATE INDEX IF NOT EXISTS sessions_source ON sessions (src_ip, helo_class, started, messages, probe, auth, harvest, relay);
CREATE INDEX IF NOT EXISTS sessions_helo_source ON sessions (helo_class, helo, src_ip, helo_syntax);

CREATE TABLE IF NOT EXISTS commands (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    verb TEXT NOT NULL,
    argument TEXT NOT NULL,
    raw_line {blob} NOT NULL,
    reply_code INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX IF NOT EXISTS commands_verb ON commands (verb, session_id);

-- MAIL FROM and RCPT TO, with the domain split out for the relay and campaign analyses.
CREATE TABLE IF NOT EXISTS envelopes (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    domain TEXT NOT NULL,
    reply_code INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX IF NOT EXISTS envelopes_domain_source ON envelopes (kind, domain, src_ip);

CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    path TEXT NOT NULL,
    transfer TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt_to TEXT NOT NULL,
    subject TEXT,
    header_from TEXT,
    header_to TEXT,
    header_date TEXT,
    message_id TEXT,
    attachments TEXT NOT NULL,
    urls TEXT NOT NULL,
    excerpt TEXT NOT NULL DEFAULT '',
    subject_template TEXT,
    relay INTEGER NOT NULL DEFAULT 0,
    probe_family TEXT,
    probe_signature TEXT,
    -- the decoded text with whitespace normalised, and the attachments' hashes: what a campaign's
    -- copies share though their headers differ (NULL in rows from before it was computed)
    body_sha256 TEXT,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX IF NOT EXISTS messages_body ON messages (sha256, src_ip);
CREATE INDEX IF NOT EXISTS messages_body_text ON messages (body_sha256, src_ip);
CREATE INDEX IF NOT EXISTS messages_template ON messages (subject_template, subject);
CREATE INDEX IF NOT EXISTS messages_probe ON messages (probe_family, ts);

-- The URLs and attachments of each message, one row each (the same lists as the JSON columns
-- above, in a form both engines can group without JSON functions).
CREATE TABLE IF NOT EXISTS urls (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    n INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL,
    host TEXT NOT NULL,
    PRIMARY KEY (session_id, seq, n)
);
CREATE TABLE IF NOT EXISTS attachments (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    n INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL DEFAULT '',
    filename TEXT,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (session_id, seq, n)
);

CREATE TABLE IF NOT EXISTS credentials (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    advertised INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    username TEXT,
    password TEXT,
    authzid TEXT,
    response TEXT,
    PRIMARY KEY (session_id, seq)
);
-- Each `relaypot prune`: records older than `cutoff` were removed, and are never brought back
-- (not by the start's catch-up with events.jsonl, a spool's resend, nor `relaypot import`).
CREATE TABLE IF NOT EXISTS pruned (
    cutoff TEXT NOT NULL,
    pruned_at TEXT NOT NULL
);
-- Relay probes [deception] delivered, or refused to (deliver.probe): one row per decision.
CREATE TABLE IF NOT EXISTS deliveries (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    for_session TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    recipients TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    relay TEXT,
    reply TEXT,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX IF NOT EXISTS deliveries_source ON deliveries (src_ip, outcome, ts);

-- The logins [deception] let in are few among millions of attempts: found by index.
CREATE INDEX IF NOT EXISTS credentials_outcome ON credentials (outcome, session_id, seq);

CREATE TABLE IF NOT EXISTS violations (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    violation TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX IF NOT EXISTS violations_kind ON violations (violation);

-- Bytes a client sent that are no accepted message (smtp.fragment): unfinished messages, the heads
-- of oversize ones, XEXCH50 blobs, over-long lines, unread input, stored under messages/.
CREATE TABLE IF NOT EXISTS fragments (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    what TEXT NOT NULL,
    reason TEXT NOT NULL,
    size INTEGER NOT NULL,
    received INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT,
    received_sha256 TEXT,
    mail_from TEXT,
    rcpt_to TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- What the attack catalogue named in a session (smtp.attack): few rows, read by attack and source.
CREATE TABLE IF NOT EXISTS attacks (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    sensor TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    attack TEXT NOT NULL,
    attack_class TEXT NOT NULL,
    cves TEXT NOT NULL,
    place TEXT NOT NULL,
    excerpt TEXT NOT NULL,
    indicators TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX IF NOT EXISTS attacks_attack ON attacks (attack, src_ip, ts);
CREATE INDEX IF NOT EXISTS attacks_source ON attacks (src_ip, attack_class);

-- What enrichment found out about each source (enrich.geo, enrich.rdns, enrich.os): one row per
-- address, each group of columns replaced by its newest answer. A lookup that failed (a DNS
-- timeout, p0f without a fingerprint) replaces nothing.
CREATE TABLE IF NOT EXISTS sources (
    src_ip TEXT PRIMARY KEY,
    country TEXT,
    country_source TEXT,
    city TEXT,
    region TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    asn BIGINT,
    organisation TEXT,
    network TEXT,
    geo_checked TEXT,
    ptr TEXT,
    ptr_confirmed INTEGER,
    ptr_generic TEXT,
    rdns_checked TEXT,
    os TEXT,
    os_flavor TEXT,
    os_quality INTEGER,
    os_distance INTEGER,
    os_checked TEXT
);

-- One row per source and DNSBL zone (enrich.dnsbl): the newest verdict, and an error answer after a
-- verdict keeps the verdict and notes the error. listed is 1, 0, or NULL (never answered).
CREATE TABLE IF NOT EXISTS dnsbl (
    src_ip TEXT NOT NULL,
    zone TEXT NOT NULL,
    listed INTEGER,
    codes TEXT NOT NULL,
    meaning TEXT NOT NULL,
    error TEXT,
    checked TEXT NOT NULL,
    PRIMARY KEY (src_ip, zone)
);

-- HELO/EHLO names in the DNS (enrich.helo), per name as sent and source, as dnsbl above.
CREATE TABLE IF NOT EXISTS helo_names (
    name TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    resolves INTEGER,
    matches_peer INTEGER,
    addresses TEXT NOT NULL,
    error TEXT,
    checked TEXT NOT NULL,
    PRIMARY KEY (name, src_ip)
);

-- Indexes of earlier versions, superseded by the covering ones above: every index costs writes.
DROP INDEX IF EXISTS sessions_helo;
DROP INDEX IF EXISTS sessions_src_ip;
DROP INDEX IF EXISTS envelopes_domain;
DROP INDEX IF EXISTS messages_sha256;
