"""Driver for bench/disk-speed: builds the photo folder and its ext4 image,
then times nigehban scan on each (warm: the second of two runs counts) and
prints the throughput ratio image/folder."""
import os, random, shutil, subprocess, sys, tempfile, time

cache, nigehban, size_gb, photos_dir = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
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
    out = tempfile.mkdtemp(prefix="disk-speed-", dir=cache)
    shutil.rmtree(out)
    t0 = time.perf_counter()
    subprocess.run([nigehban, "scan", "--no-log", "--case", "bench", "--examiner", "bench", "--out", out, src],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    shutil.rmtree(out)
    return wall


build()
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)
files = sum(len(fs) for _, _, fs in os.walk(folder))
print(f"{files} photos, {size / (1 << 30):.2f} GiB; image {os.path.getsize(image) / (1 << 30):.2f} GiB")
res = {}
for name, src in (("folder", folder), ("image", os.path.dirname(image))):
    scan(src)
    res[name] = scan(src)
    print(f"{name:7s} {res[name]:7.1f} s  {size / res[name] / (1 << 20):7.1f} MiB/s of photos")
print(f"ratio image/folder: {res['folder'] / res['image']:.2f} (target >= 0.8)")
