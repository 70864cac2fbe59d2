// Package diskimage reads disk images the way examiners make them, without
// mounting and without writing: raw (dd) images and EnCase E01 (EWF)
// images, MBR and GPT partition tables, and the file systems FAT12/16/32,
// exFAT, ext2/3/4 and NTFS, including the deleted files a file system still
// describes.
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
package diskimage
