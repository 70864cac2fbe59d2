"""Driver for bench/carve-speed: builds two ext4 images of the same photos
in mostly free space, one whose free space is random bytes (carving costs
a read and a signature check, finds nothing), one with half the photos
deleted (carving also hashes what it recovers), then times nigehban scan
on each with and without carving, interleaved, the fastest of three runs
of each counting (the machine may be shared)."""
import json, os, random, shutil, subprocess, sys, tempfile, time

cache, nigehban, photos_mb, image_mb, photos_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rounds = 3
base = os.path.join(cache, f"carve-{photos_mb}-{image_mb}")
folder = os.path.join(base, "photos")
deleted, noise = os.path.join(base, "deleted", "disk.img"), os.path.join(base, "noise", "disk.img")


def build():
    marker = os.path.join(base, ".complete-2")
    if os.path.exists(marker):
        return
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(folder)
    os.makedirs(os.path.dirname(deleted))
    os.makedirs(os.path.dirname(noise))
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
    mkfs = ["/usr/sbin/mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0,nodiscard", "-d", folder]
    # deleted: every other photo removed with debugfs, its bytes left in free space.
    subprocess.run(mkfs + [deleted, f"{image_mb}M"], check=True)
    cmds = "\n".join(f"rm /{name}" for name in names[::2])
    subprocess.run(["/usr/sbin/debugfs", "-w", "-f", "-", deleted], input=cmds.encode(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # noise: all photos live, the free space random bytes (mkfs without discard over noise).
    with open(noise, "wb") as f:
        for _ in range(image_mb):
            f.write(rng.randbytes(1 << 20))
    subprocess.run(mkfs + [noise, f"{image_mb}M"], check=True)
    open(marker, "w").close()


def scan(image, extra):
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
print(f"{photos_mb} MiB of photos in {image_mb} MiB images; load {os.getloadavg()[0]:.1f} (2 cores shared)")
for label, image in (("free space of random bytes, nothing to carve", noise), ("half the photos deleted", deleted)):
    free = int(subprocess.run(f"blkls '{image}' | wc -c", shell=True, check=True, capture_output=True).stdout)
    # blkls reads the never-initialised block bitmap of a BLOCK_UNINIT group as
    # if it were one (random bytes here): a lower bound of the free space.
    print(f"{label}: {free >> 20} MiB unallocated (blkls)")
    res, counts = {}, {}
    scan(image, [])  # warm the page cache
    for _ in range(rounds):  # interleaved, the fastest of each counts: the machine is shared
        for name, extra in (("no-carve", ["--no-carve"]), ("carve", [])):
            wall, counts[name] = scan(image, extra)
            res[name] = min(res.get(name, wall), wall)
    for name in ("no-carve", "carve"):
        c = counts[name]
        print(f"  {name:9s} {res[name]:7.1f} s  {c.get('hashed', 0)} hashed, {c.get('carved', 0)} carved, {c.get('deleted', 0)} deleted")
    extra = res["carve"] - res["no-carve"]
    print(f"  ratio carve/no-carve time: {res['carve'] / res['no-carve']:.2f}", end="")
    print(f"; {free / extra / (1 << 20):.0f} MiB/s of unallocated space" if extra > 0 else "; no measurable cost")
