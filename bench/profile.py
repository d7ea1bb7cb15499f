#!/usr/bin/env python3
"""Where the server's CPU goes, from a folded perf profile (bench/profile.sh).

    bench/profile.py folded.txt [mode.json]

Each sampled stack is put in the first category of CATEGORIES with a frame matching it
(so SHA-512 inside the signature counts as signing, a write(2) under hyper as the
kernel's network path); failing that, by its leaf frame (LEAF: the allocator, the
kernel's scheduler), failing that, by the innermost frame of a crate in OWNERS. With the bench report (mode.json), shares become microseconds
of server CPU per request. Prints a Markdown table, then the same per thread kind.
"""
import json
import re
import sys
from collections import Counter

# Matched anywhere in a stack, in this order: the work a request exists for.
CATEGORIES = [
    ("fsync (kernel, writer thread)", r"fdatasync|__x64_sys_fsync|vfs_fsync|ext4_sync_file|xfs_file_fsync"),
    ("SQLite (statements, commit)", r"sqlite3|rusqlite"),
    ("sign (Ed25519)", r"ED25519|ed25519|x25519_ge|ge_scalarmult|fiat_25519|sc_muladd"),
    ("seal (AEAD)", r"chacha|ChaCha|poly1305|aes_gcm|aes_hw|gcm_|EVP_AEAD|Aead|aead"),
    ("keyed hashes (HMAC-SHA-256)", r"HMAC|hmac|sha256|SHA256|keyed_hash"),
    ("token parse/encode (base64, ids)", r"base64|uuid|RefreshToken|getrandom"),
    ("JSON in/out (serde_json)", r"serde_json|serde::"),
    ("PostgreSQL client (tokio-postgres, pool, its socket I/O)", r"tokio_postgres|postgres_protocol|postgres_types|deadpool"),
    # The metric crates, not `wirecash_core::metrics::store`, which wraps a whole store call.
    ("metrics", r"(^|[<( ])metrics(_util|_exporter_prometheus)?::|quanta|wirecash_core::metrics::(?!store)"),
    ("tracing", r"tracing"),
    ("kernel: loopback TCP, epoll", r"tcp_|__sys_sendto|__sys_recvfrom|sock_|inet_|ip_finish|__netif|net_rx|skb|epoll|do_writev|vfs_write|vfs_read|ksys_write|ksys_read"),
    ("channel hop to the writer", r"tokio::sync::|std::sync::mpmc|std::sync::mpsc"),
]
# Otherwise the leaf frame says it, if it is one of these …
LEAF = [
    ("memory (malloc, free, copies)", r"malloc|_int_free|cfree|realloc|__libc_free|tcache|unlink_chunk|malloc_consolidate|memcpy|memmove|memset|drop_in_place"),
    ("kernel: scheduling, wake-ups", r"_\[k\]"),
]
# … else the innermost frame of a known crate.
OWNERS = [
    ("HTTP/1 parse and response (hyper)", r"hyper|httparse|bytes::|http::"),
    ("routing and middleware (axum, tower)", r"axum|tower|matchit"),
    ("our code (wirecash_*)", r"wirecash"),
    ("tokio scheduler and timers", r"tokio"),
]
COMPILED = [(name, re.compile(p)) for name, p in CATEGORIES]
LEAF_COMPILED = [(name, re.compile(p)) for name, p in LEAF]
OWNERS_COMPILED = [(name, re.compile(p)) for name, p in OWNERS]


def category(frames):
    for name, rx in COMPILED:
        if any(rx.search(f) for f in frames):
            return name
    if frames:
        for name, rx in LEAF_COMPILED:
            if rx.search(frames[-1]):
                return name
    for f in reversed(frames):
        for name, rx in OWNERS_COMPILED:
            if rx.search(f):
                return name
    return "other"


def thread_kind(root):
    if root.startswith("sqlite-writer"):
        return "SQLite writer"
    if root.startswith("argon2"):
        return "Argon2 threads"
    return "request threads"


def main():
    totals, by_thread = Counter(), Counter()
    per_thread = {}
    for line in open(sys.argv[1]):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        kind = thread_kind(frames[0])
        cat = category(frames[1:])
        totals[cat] += n
        by_thread[kind] += n
        per_thread.setdefault(kind, Counter())[cat] += n
    samples = sum(totals.values())
    us_per_request = None
    if len(sys.argv) > 2:
        report = json.load(open(sys.argv[2]))
        cores = (report.get("server_cpu") or {}).get("cores")
        if cores and report.get("ok_per_s"):
            us_per_request = cores * 1e6 / report["ok_per_s"]
    unit = f"µs per request (of {us_per_request:.1f})" if us_per_request else "µs"
    print(f"{samples} samples")
    print()
    print(f"| where | share | {unit} |")
    print("|---|---|---|")
    for cat, n in totals.most_common():
        share = n / samples
        us = f"{share * us_per_request:.1f}" if us_per_request else ""
        print(f"| {cat} | {share:.1%} | {us} |")
    print()
    print("| thread | share | top categories |")
    print("|---|---|---|")
    for kind, n in by_thread.most_common():
        top = ", ".join(f"{c} {m / n:.0%}" for c, m in per_thread[kind].most_common(4))
        print(f"| {kind} | {n / samples:.1%} | {top} |")


if __name__ == "__main__":
    main()
