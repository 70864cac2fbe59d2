"""Driver for bench/disk-speed: builds the photo folder and its ext4 image,
reads both once into the page cache, then times nigehban scan on each,
alternating folder and image RUNS times (the best of each counts, so a
change in the machine's load between runs biases neither), and prints the
throughput ratio image/folder with the CPU time each scan used."""
import os, random, resource, shutil, subprocess, sys, tempfile, time

cache, nigehban, size_gb, photos_dir = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
runs = int(sys.argv[5]) if len(sys.argv) > 5 else 2
base = os.path.join(cache, f"disk-{size_gb:g}g")
folder, image = os.path.join(base, "photos"), os.path.join(base, "image", "photos.img")


def build():
    marker = os.path.join(base, ".complete-1")
    if os.path.exists(marker):
        return
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(folder)
    os.makedirs(os.path.dirname(image))
    rng = random.Random(17)
    src = sorted(os.path.join(d, f) for d, _, fs in os.walk(photos_dir) for f in fs if f.lower().endswith((".jpg", ".jpeg")))
    target, total, n = int(size_gb * (1 << 30)), 0, 0
    while total < target:
        p = src[n % len(src)]
        data = open(p, "rb").read()
        d = os.path.join(folder, f"album{n // 500:03d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"IMG_{n:06d}.jpg"), "wb") as f:
            f.write(data)
            f.write(rng.randbytes(8))
        total += len(data) + 8
        n += 1
    mb = int(total * 1.08 / (1 << 20)) + 64
    subprocess.run(["/usr/sbin/mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-d", folder, image, f"{mb}M"], check=True)
    open(marker, "w").close()


def scan(src):
    """Runs one scan; returns its wall time and the CPU time (user + system)
    the scan process used."""
    out = tempfile.mkdtemp(prefix="disk-speed-", dir=cache)
    shutil.rmtree(out)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([nigehban, "scan", "--no-log", "--case", "bench", "--examiner", "bench", "--out", out, src],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(out)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def warm(path):
    """Reads every file under path once, so the scans find them in the page cache."""
    for d, _, fs in os.walk(path):
        for f in fs:
            with open(os.path.join(d, f), "rb") as fh:
                while fh.read(8 << 20):
                    pass


build()
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)
files = sum(len(fs) for _, _, fs in os.walk(folder))
print(f"{files} photos, {size / (1 << 30):.2f} GiB; image {os.path.getsize(image) / (1 << 30):.2f} GiB; "
      f"{runs} run(s) each, interleaved, best counts; load average {os.getloadavg()[0]:.1f}", flush=True)
srcs = (("folder", folder), ("image", os.path.dirname(image)))
for _, src in srcs:
    warm(src)
res = {}
for i in range(runs):
    for name, src in srcs:
        wall, cpu = scan(src)
        print(f"  run {i + 1} {name:7s} {wall:7.1f} s  {size / wall / (1 << 20):7.1f} MiB/s of photos  cpu {cpu:7.1f} s  "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
        best = res.get(name)
        if best is None or wall < best[0]:
            res[name] = (wall, cpu)
for name, (wall, cpu) in res.items():
    print(f"{name:7s} {wall:7.1f} s  {size / wall / (1 << 20):7.1f} MiB/s of photos  cpu {cpu:7.1f} s")
print(f"ratio image/folder: {res['folder'][0] / res['image'][0]:.2f} (target >= 0.8); "
      f"cpu time ratio: {res['folder'][1] / res['image'][1]:.2f}; load average {os.getloadavg()[0]:.1f}")
