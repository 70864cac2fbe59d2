"""Driver for bench/scan-speed: builds the tree, then times hashdeep and
nigehban scan on it (warm: the second of two runs counts) and prints the
throughput ratio."""
import os, random, resource, shutil, subprocess, sys, tempfile, time

cache, nigehban, scale = sys.argv[1], sys.argv[2], float(sys.argv[3])
TREE_VERSION = "1"
tree = os.path.join(cache, f"scan-tree-{scale:g}")


def build_tree():
    marker = os.path.join(tree, ".complete-" + TREE_VERSION)
    if os.path.exists(marker):
        return
    shutil.rmtree(tree, ignore_errors=True)
    rng = random.Random(42)
    photos = sorted(os.path.join(cache, "photos", p) for p in os.listdir(os.path.join(cache, "photos")))
    os.makedirs(os.path.join(tree, "photos"))
    n = 0
    for copy in range(max(1, round(13 * scale))):
        for p in photos:
            data = open(p, "rb").read()
            ext = [".jpg", ".JPG", ".jpeg", ".dat"][n % 4]  # .dat: a renamed photo
            d = os.path.join(tree, "photos", f"album{copy:02d}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"IMG_{n:05d}{ext}"), "wb") as f:
                f.write(data)
                f.write(rng.randbytes(8))  # after the end of the image: new digests, same pixels
            n += 1
    os.makedirs(os.path.join(tree, "large"))
    for i in range(max(1, round(12 * scale))):
        with open(os.path.join(tree, "large", f"backup-{i:02d}.bin"), "wb") as f:
            for _ in range(16):
                f.write(rng.randbytes(16 << 20))
    for i in range(max(1, round(2000 * scale))):
        d = os.path.join(tree, "docs", f"d{i % 40:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"doc{i:05d}.txt"), "wb") as f:
            f.write(rng.randbytes(rng.randint(4 << 10, 64 << 10)))
    open(marker, "w").close()


def size_of(path):
    total = files = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            if not name.startswith(".complete"):
                total += os.path.getsize(os.path.join(dirpath, name))
                files += 1
    return total, files


def timed(cmd):
    """Runs cmd; returns (wall seconds, CPU seconds of children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def warm(make_cmd):
    """Runs twice, returns the second (warm) timing."""
    timed(make_cmd())
    return timed(make_cmd())


def scan_cmd(path):
    def make():
        out = os.path.join(tempfile.gettempdir(), "nigehban-scan-bench-out")
        shutil.rmtree(out, ignore_errors=True)
        return [nigehban, "scan", "--case", "bench", "--examiner", "bench", "--out", out, "--no-log", path]
    return make


def compare(label, path):
    size, files = size_of(path)
    hd = warm(lambda: ["hashdeep", "-c", "md5,sha1,sha256", "-r", path])
    ng = warm(scan_cmd(path))
    mb = size / 1e6
    print(f"{label}: {files} files, {mb:.0f} MB")
    print(f"  hashdeep -c md5,sha1,sha256 -r: {hd[0]:6.1f} s wall, {hd[1]:6.1f} s CPU, {mb / hd[0]:6.1f} MB/s, {files / hd[0]:7.1f} files/s")
    print(f"  nigehban scan (+PDQ, manifest): {ng[0]:6.1f} s wall, {ng[1]:6.1f} s CPU, {mb / ng[0]:6.1f} MB/s, {files / ng[0]:7.1f} files/s")
    ratio = hd[0] / ng[0]
    print(f"  throughput ratio nigehban/hashdeep: {ratio:.2f}")
    return ratio


build_tree()
print(f"{os.cpu_count()} CPUs; warm page cache; second of two runs each")
r = compare("whole tree", tree)
compare("photos only", os.path.join(tree, "photos"))
print(f"RESULT ratio {r:.2f} on the whole tree (target >= 1.0)")
