"""FAISS baseline for bench/index: the same hashes and queries, one thread.

Usage: /usr/bin/python3 faiss_baseline.py DIR  (DIR holds hashes.bin and queries.bin)
"""
import resource, sys, time
import numpy as np
import faiss

def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

d = sys.argv[1]
faiss.omp_set_num_threads(1)
hashes = np.fromfile(d + "/hashes.bin", dtype=np.uint8).reshape(-1, 32)
queries = np.fromfile(d + "/queries.bin", dtype=np.uint8).reshape(-1, 32)
n = len(hashes)

for name, make in [("faiss-multihash", lambda: faiss.IndexBinaryMultiHash(256, 16, 16)),
                   ("faiss-flat", lambda: faiss.IndexBinaryFlat(256))]:
    # Fewer queries where FAISS is slow keep the run bounded (minutes, not
    # hours); percentiles over a few hundred queries are still meaningful.
    if n > 2_000_000:
        qs_all = queries[:300] if name == "faiss-multihash" else queries[:100]
    else:
        qs_all = queries
    before = rss_kib()
    t0 = time.perf_counter()
    index = make()
    index.add(hashes)
    build = time.perf_counter() - t0
    per_hash = (rss_kib() - before) * 1024 / n
    print(f"{name} n={n} build_s={build:.2f} bytes_per_hash={per_hash:.1f}", flush=True)
    for th in (0, 16, 31, 47):
        if th == 47 and n > 2_000_000 and name == "faiss-multihash":
            qs = qs_all[:50]
        else:
            qs = qs_all
        if name == "faiss-multihash":
            index.nflip = th // 16
        lat = []
        found = 0
        t0 = time.perf_counter()
        for q in qs:
            s = time.perf_counter()
            lims, D, I = index.range_search(q.reshape(1, 32), th + 1)  # FAISS radius is strict
            lat.append(time.perf_counter() - s)
            found += len(I)
        total = time.perf_counter() - t0
        lat.sort()
        print(f"{name} threshold={th} qps={len(qs)/total:.1f} p50_us={lat[len(lat)//2]*1e6:.1f} "
              f"p99_us={lat[len(lat)*99//100]*1e6:.1f} matches={found}", flush=True)
    del index
