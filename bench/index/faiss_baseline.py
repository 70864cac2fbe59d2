"""FAISS baseline for bench/index: the same hashes and queries, one thread.

Usage: /usr/bin/python3 faiss_baseline.py multihash|flat HASHES.bin QUERIES.bin COUNTS-PREFIX
(32-byte big-endian hashes, as bench/index writes them). Prints lines in the
format of bench/index: build time, memory per hash (RSS delta), and per
threshold queries/second and p50/p99 latency of range_search; writes the
number of matches of each query to COUNTS-PREFIX-<index>.txt, for run.sh to
check against bench/index's. One index per process, so that the RSS delta
is that index's alone.
"""
import sys, time
import numpy as np
import faiss


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


faiss.omp_set_num_threads(1)
kind, hashes_path, queries_path, counts_prefix = sys.argv[1:5]
hashes = np.fromfile(hashes_path, dtype=np.uint8).reshape(-1, 32)
queries = np.fromfile(queries_path, dtype=np.uint8).reshape(-1, 32)
n = len(hashes)

makers = {"multihash": lambda: faiss.IndexBinaryMultiHash(256, 16, 16),
          "flat": lambda: faiss.IndexBinaryFlat(256)}
for name, make in [("faiss-" + kind, makers[kind])]:
    before = rss_kib()
    t0 = time.perf_counter()
    index = make()
    index.add(hashes)
    build = time.perf_counter() - t0
    per_hash = (rss_kib() - before) * 1024 / n
    counts = open(f"{counts_prefix}-{name}.txt", "w")
    print(f"{name} n={n} build_s={build:.2f} bytes_per_hash={per_hash:.1f}", flush=True)
    for th in (0, 16, 31, 47):
        # FAISS takes 10-300 ms a query at 10M: fewer queries keep the run
        # to minutes; a few hundred still give a meaningful p99. Both
        # indexes see a prefix of the same query list (alternately near
        # copies and unrelated hashes).
        budget = 200_000_000 // n  # ~2,000 queries at 100k, 20 at 10M
        qs = queries[:max(50, min(len(queries), budget if name == "faiss-flat" or th == 47 else 3 * budget + 200))]
        if name == "faiss-multihash":
            index.nflip = th // 16
        lat = []
        found = 0
        per_query = []
        t0 = time.perf_counter()
        for q in qs:
            s = time.perf_counter()
            lims, D, I = index.range_search(q.reshape(1, 32), th + 1)  # FAISS's radius is strict
            lat.append(time.perf_counter() - s)
            found += len(I)
            per_query.append(len(I))
        total = time.perf_counter() - t0
        lat.sort()
        print(f"{name} threshold={th} queries={len(qs)} qps={len(qs)/total:.1f} p50_us={lat[len(lat)//2]*1e6:.1f} "
              f"p99_us={lat[len(lat)*99//100]*1e6:.1f} matches={found}", flush=True)
        print(th, *per_query, file=counts)
    counts.close()
    del index
