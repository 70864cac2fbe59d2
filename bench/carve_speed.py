"""Driver for bench/carve-speed: builds an ext4 image of photos, half of
them deleted, in mostly free space, then times nigehban scan on it with
and without carving (warm: the second of two runs counts)."""
import json, os, random, shutil, subprocess, sys, tempfile, time

cache, nigehban, photos_mb, image_mb, photos_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
base = os.path.join(cache, f"carve-{photos_mb}-{image_mb}")
folder, image = os.path.join(base, "photos"), os.path.join(base, "image", "disk.img")


def build():
    marker = os.path.join(base, ".complete-1")
    if os.path.exists(marker):
        return
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(folder)
    os.makedirs(os.path.dirname(image))
    rng = random.Random(17)
    src = sorted(os.path.join(d, f) for d, _, fs in os.walk(photos_dir) for f in fs if f.lower().endswith((".jpg", ".jpeg")))
    total, n, names = 0, 0, []
    while total < photos_mb << 20:
        data = open(src[n % len(src)], "rb").read()
        name = f"IMG_{n:06d}.jpg"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
            f.write(rng.randbytes(8))
        names.append(name)
        total += len(data) + 8
        n += 1
    subprocess.run(["/usr/sbin/mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-d", folder, image, f"{image_mb}M"], check=True)
    cmds = "\n".join(f"rm /{name}" for name in names[::2])
    subprocess.run(["/usr/sbin/debugfs", "-w", "-f", "-", image], input=cmds.encode(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    open(marker, "w").close()


def scan(extra):
    out = tempfile.mkdtemp(prefix="carve-speed-", dir=cache)
    shutil.rmtree(out)
    t0 = time.perf_counter()
    subprocess.run([nigehban, "scan", "--no-log", "--case", "bench", "--examiner", "bench", "--out", out, *extra,
                    os.path.dirname(image)], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    counts = json.load(open(os.path.join(out, "custody.json")))["counts"]
    shutil.rmtree(out)
    return wall, counts


build()
free = int(subprocess.run(f"blkls '{image}' | wc -c", shell=True, check=True, capture_output=True).stdout)
print(f"image {os.path.getsize(image) >> 20} MiB, {free >> 20} MiB unallocated (blkls), load {os.getloadavg()[0]:.1f}")
res = {}
for name, extra in (("no-carve", ["--no-carve"]), ("carve", [])):
    scan(extra)
    res[name], counts = scan(extra)
    print(f"{name:9s} {res[name]:7.1f} s  {counts.get('hashed', 0)} hashed, {counts.get('carved', 0)} carved, "
          f"{counts.get('deleted', 0)} deleted")
extra = res["carve"] - res["no-carve"]
print(f"ratio carve/no-carve time: {res['carve'] / res['no-carve']:.2f}")
if extra > 0:
    print(f"carving: {free / extra / (1 << 20):.0f} MiB/s of unallocated space (including hashing what it carves)")
else:
    print("carving added no measurable time")
