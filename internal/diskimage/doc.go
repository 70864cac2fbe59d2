// Package diskimage reads disk images the way examiners make them, without
// mounting and without writing: raw (dd) images and EnCase E01 (EWF)
// images, MBR and GPT partition tables, and the file systems FAT12/16/32,
// exFAT, ext2/3/4 and NTFS, including the deleted files a file system still
// describes. File.Contiguous gives where a deleted FAT, exFAT or NTFS
// file's content lies when it is one run of clusters, so that a caller can
// tell a carved file that is exactly a listed deleted one.
//
// Everything is read through io.ReaderAt; nothing in this package can
// write. Parsers are bounded: every count, size and chain read from the
// image is checked against the image's own size and against fixed limits
// (Limits), cluster chains and directory trees are walked with loop
// detection, and a hostile image ends in an error, never a hang or an
// allocation it chose.
//
// NTFS is read with www.velocidex.com/golang/go-ntfs (Apache-2.0, reads
// through io.ReaderAt only). No module the Go proxy serves reads EWF,
// FAT12/16 with deleted entries, exFAT or ext4 through io.ReaderAt with
// bounded memory (github.com/diskfs/go-diskfs reads FAT32 only, opens
// images through a read-write backend and lists no deleted entries), so
// those parsers are written here.
//
// # Unallocated space and carving
//
// Image.Unallocated lists the bytes no file system holds, as each file
// system's own allocation records say: free clusters in the FAT, clear
// bits of exFAT's allocation bitmap, of ext's block bitmaps (a group
// whose bitmap was never initialised, BLOCK_UNINIT, is free but for the
// metadata placed in it: its backup superblock, descriptors and reserved
// GDT blocks, and other groups' bitmaps and inode tables under flex_bg)
// and of NTFS's $Bitmap; the bytes of a volume past its file system; a
// volume whose file system is not recognised, whole; and the disk outside
// every partition (after the MBR's sector, gaps, the end). The listing
// streams extents in order (memory does not grow with the volume) and
// agrees with the Sleuth Kit's blkls on every file system, except that
// blkls also counts an uninitialised ext4 group's backup metadata as free.
//
// ExtentReader reads extents as one stream and maps each stream offset
// back to the image. Carve finds JPEG, PNG and MP4 files in such a
// stream, at image offsets that are multiples of CarveOptions.Align (512
// by default: where file systems place files): JPEG by walking markers
// from SOI to EOI (an embedded thumbnail's EOI does not end it), PNG by
// walking chunks with their CRCs to IEND, MP4 along its top-level boxes
// from ftyp (moov required). Only contiguous files are found: a file
// must lie within one extent, so a file fragmented on disk, cut short,
// or partly overwritten by a live file is not carved. Sizes are capped
// (64 MiB JPEG and PNG, 4 GiB MP4), memory is a fixed window, and the
// work spent on candidates is bounded by a budget of a few times the
// stream (ErrCarveBudget), so hostile data ends carving with an error,
// never a hang. In memory, aligned carving runs at about 0.4 times a plain
// read of the same bytes (BenchmarkCarve: 3.2 GB/s against 8.4 GB/s,
// load average 20 on 2 cores); every byte (Align 1) at 350 MB/s.
package diskimage
