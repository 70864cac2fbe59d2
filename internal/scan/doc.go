// Package scan triages seized evidence: it walks folders, files and archives
// read-only, fingerprints every file (internal/fingerprint), matches it
// against banks of known material, and writes an evidence manifest whose
// integrity anyone can check later with Verify.
//
// # Output directory
//
//   - manifest.jsonl: one Entry per line, in completion order. It is the
//     record of truth: the other outputs are derived from it when a run ends.
//   - manifest.csv: the same entries in the same order as CSV (CSVColumns),
//     vPDQ summarised as a frame count, matches as "bank/category type d=N
//     (label)" items joined by "; ".
//   - custody.json: chain-of-custody metadata (Custody): case, examiner,
//     tool, host, OS user, every run (start, end, command line, banks and
//     known-file lists as they were), the sources with their own hashes
//     where they are files, counts, and the sha256 of every other output;
//     and (CustodyLog) the run's custody events in the audit log (see
//     Options.Log: scan.start, scan.source, scan.end) with an inclusion
//     proof each and the checkpoint they are proved against, which Verify
//     checks offline, or a note that the scan was not logged.
//   - report.html and report.pdf: the court report, self-contained (case,
//     examiner, notes and declaration, tool and commit, times in PKT with
//     UTC, sources and disk images with their acquisition hashes, counts,
//     matches by category name, an evidence sheet per matched file, a
//     timeline, extension mismatches, errors, banks, the custody record).
//     They never contain image content, and every value is escaped.
//   - custody.json.sig (Options.SignKey): the examiner's or lab's signature
//     of custody.json.
//
// # Entries
//
// Paths are relative to their source (slash-separated); a file source is
// named by its base name. Archive members are named container!member, so
// photo.jpg inside inner.tar inside outer.zip is outer.zip!inner.tar!photo.jpg,
// and Container holds the archive's own path. Member names are recorded as
// the archive spells them: a name such as ../../etc/passwd is only a name,
// nothing is ever extracted to disk. A name repeated within one archive (zip
// and tar allow it) is listed once per occurrence, the later ones suffixed
// #2, #3… in archive order. Names that are not valid UTF-8 keep their exact
// bytes in PathRaw.
//
// Times are RFC 3339 UTC with nanoseconds, taken from lstat before the file
// is opened (birth time where the file system records it); archive members
// carry what their archive stores. Digests appear only when they cover the
// whole content: a file that fails half-way has an Error and no digests.
//
// # What is read, and how
//
// Sources are never written: files are opened O_RDONLY with O_NOATIME where
// the kernel permits (the owner or CAP_FOWNER; otherwise without, which may
// update atime under the mount's atime policy), O_NOFOLLOW and O_NONBLOCK, so
// a file swapped for a symlink or a fifo between listing and reading is
// refused instead of followed or blocking. The output and temporary
// directories must lie outside every source. Videos are decoded by ffmpeg,
// which opens the file by path (read-only), and images larger than the
// decoder's byte limit are digested through fingerprint.File, which opens
// them plainly read-only: neither asks for O_NOATIME.
//
// Symbolic links are recorded (Kind "symlink", LinkTarget) and never
// followed, below the top level: following them could leave the source or
// list a file twice, and loops cannot arise. A link that loops is an error
// entry, a dangling one a Note. A SOURCE argument that is itself a symlink
// is followed. Fifos, sockets and devices are error entries, never opened.
// Directory loops through bind mounts are detected by device and inode.
//
// # Archives
//
// zip, tar, gzip and tar.gz are recognised by content (a zip renamed .jpg is
// opened too) and expanded in memory or through a private temporary file,
// nested up to Limits.MaxDepth. Each archive is listed as a file with its own
// hashes, after its members, with Members set; a gzip that is not a tar is
// one member named without its .gz. A zip bomb is stopped by three limits:
// bytes expanded from one archive on disk (all nesting levels together),
// the expansion ratio of a member or gzip stream, and the nesting depth.
// Broken archives, encrypted or unsupported members, and limit violations
// become error entries; the scan goes on with the next file. 7z and rar are
// hashed as files and not expanded. Office documents, APKs
// and JARs are zips and are expanded too, so pictures embedded in them are
// hashed and matched. The members of one archive are hashed on whichever
// workers are idle, since a device extraction often arrives as a single zip
// or tar.
//
// # Disk images
//
// Raw and E01 disk images among the files on disk are recognised by
// content and opened read-only through internal/diskimage: partitions and
// file systems, their files named image!p2!/path (image!/path when a file
// system fills the image) with the file system's times and ids, deleted
// ones marked (unless SkipDeleted). The image is digested while its files
// are hashed; its entry, written after them, carries the Acquisition (for
// E01 the stored hashes checked against the media). One goroutine lists the
// file systems into a bounded queue (64 files ahead) and every idle worker
// hashes from it, so an image keeps all workers busy as a folder does
// (bench/disk-speed: CPU time of an image scan within a few per cent of the
// same photos' folder scan; the image's own digests are the difference).
//
// Unless SkipCarve, JPEG, PNG and MP4 files are then carved from the
// image's unallocated space (diskimage.Carve: each volume's free clusters
// or blocks, and the disk outside its partitions), contiguous files only.
// A carved member is named image!p2!$carved/0x0001a2b000.jpg: "$carved/",
// the byte offset of its first byte in the image (for E01, in the media)
// in ten or more hex digits, and the format's extension; carved outside
// every partition, image!$carved/0x….png. It is marked Carved, with
// ImageOffset and VolumeOffset (its offset within the partition; absent
// outside them), no times and no file-system id, and is hashed and
// matched like every other member (digests, PDQ, vPDQ). The bytes of a
// deleted file the file system still describes are free space too: when
// the carved file is exactly the deleted file's content (the same image
// offset and size: FAT and exFAT deleted files, whose clusters follow
// their first one, and NTFS deleted files whose data is one run of
// clusters; diskimage.File.Contiguous), it is listed once, as the deleted
// file, and counted in Acquisition.CarvedListed and the summary ("N carved
// files already listed"). Fragmented NTFS files and ext deleted files are
// not compared (ext's layout is not read), so such a file may be listed
// twice: deleted under its name, carved under its offset, with the same
// digests.
//
// # Matching and known files
//
// Every fingerprinted file is looked up by md5, sha1 and sha256 (exact), PDQ
// (Hamming distance; images of quality below MinQuality are not matched)
// and vPDQ (the reference match rule), through the Matcher interface:
// Banks serves hash-list files (LoadFileBanks) and stored banks
// (LoadStoreBanks) through internal/match, the matcher `match` and `serve`
// use too. A file whose
// digest is in a known-file list (KnownSet: NSRL RDS NSRLFile.txt, hashdeep
// output or plain md5/sha1/sha256 lists) is still listed and hashed (it has
// to be, to be recognised) and marked Known; it is not matched, and videos
// among them are not decoded. Images are: their PDQ is computed in the same
// pass as the digests. Known files are never left out of the manifest, which
// must account for every file on the device.
//
// # Interruption
//
// Manifest lines are appended by one writer and flushed to disk in batches
// (fsync at least every second). After a crash or Ctrl-C, Run with Resume
// reads manifest.jsonl, drops a torn last line, skips every file already
// listed (an archive's own line is written after all its members, so a
// listed archive is complete) and appends the rest; custody.json keeps
// every run.
package scan
