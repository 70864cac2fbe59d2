"""Driver for bench/hash-speed: CPU time per image, best of N repetitions."""
import glob, json, os, resource, subprocess, sys, time

cache, reps = sys.argv[1], int(sys.argv[2])
photos = sorted(glob.glob(os.path.join(cache, "photos", "*")))

def run(cmds):
    """Runs the commands in sequence; returns (cpu seconds, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    for c in cmds:
        subprocess.run(c, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall

# Keep photos of at least 2 megapixels (dimensions from nigehban itself).
out = subprocess.run([os.path.join(cache, "nigehban-cgo"), "hash", "--workers", "1"] + photos,
                     check=True, capture_output=True, text=True).stdout
recs = [json.loads(l) for l in out.splitlines()]
photos = [r["path"] for r in recs if r.get("width", 0) * r.get("height", 0) >= 2_000_000 and r["format"] == "jpeg"]
mp = sum(r["width"] * r["height"] for r in recs if r["path"] in photos) / 1e6 / len(photos)
print(f"{len(photos)} JPEG photos, {mp:.1f} megapixels on average")

def best(cmds):
    return min((run(cmds) for _ in range(reps)), key=lambda t: t[0])

djpeg = best([["djpeg", "-scale", "1/8", "-outfile", "/dev/null", p] for p in photos])
ours = best([[os.path.join(cache, "nigehban-cgo"), "hash", "--workers", "1"] + photos])
pure = best([[os.path.join(cache, "nigehban-purego"), "hash", "--workers", "1"] + photos])
n = len(photos)
print(f"djpeg -scale 1/8 (decode only):   {djpeg[0]/n*1000:7.1f} ms CPU/image ({djpeg[1]/n*1000:.1f} ms wall)")
print(f"nigehban hash (libjpeg-turbo):    {ours[0]/n*1000:7.1f} ms CPU/image ({ours[1]/n*1000:.1f} ms wall)")
print(f"nigehban hash (CGO_ENABLED=0):    {pure[0]/n*1000:7.1f} ms CPU/image ({pure[1]/n*1000:.1f} ms wall)")
print(f"ratio nigehban/djpeg: {ours[0]/djpeg[0]:.2f} (target <= 1.5); pure Go: {pure[0]/djpeg[0]:.2f}")
