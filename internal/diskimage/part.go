package diskimage

import (
	"fmt"
	"io"
	"strings"
)

// Partition is one entry of an MBR or GPT partition table.
type Partition struct {
	Name         string // "p1"… in table order (MBR logical partitions from p5)
	Offset, Size int64  // in bytes
	Scheme, Type string
}

const sector = 512

// maxPartitions bounds GPT entries and extended-partition chains.
const maxPartitions = 256

// Partitions reads the partition table of a disk image: GPT when the MBR
// is protective, else MBR with its extended partitions. Entries outside the
// image are errors (ErrCorrupt); no valid table is ErrNotImage.
func Partitions(r io.ReaderAt, size int64) ([]Partition, error) {
	mbr := make([]byte, sector)
	if err := readFull(r, mbr, 0); err != nil || mbr[510] != 0x55 || mbr[511] != 0xAA {
		return nil, ErrNotImage
	}
	type ent struct {
		status, typ byte
		lba, n      uint32
	}
	var ents [4]ent
	for i := range 4 {
		b := mbr[446+16*i:]
		ents[i] = ent{b[0], b[4], le32(b[8:]), le32(b[12:])}
		if ents[i].status != 0 && ents[i].status != 0x80 {
			return nil, ErrNotImage
		}
	}
	for _, e := range ents {
		if e.typ == 0xEE {
			return gptPartitions(r, size)
		}
	}
	var out []Partition
	for i, e := range ents {
		if e.typ == 0 || e.n == 0 {
			continue
		}
		off, n := int64(e.lba)*sector, int64(e.n)*sector
		if e.lba == 0 || off+n > size {
			return nil, fmt.Errorf("%w: MBR partition %d lies outside the image", ErrNotImage, i+1)
		}
		if e.typ == 0x05 || e.typ == 0x0F || e.typ == 0x85 {
			logical, err := extended(r, size, int64(e.lba))
			if err != nil {
				return nil, err
			}
			out = append(out, logical...)
			continue
		}
		out = append(out, Partition{Name: fmt.Sprintf("p%d", i+1), Offset: off, Size: n, Scheme: "mbr", Type: fmt.Sprintf("0x%02x", e.typ)})
	}
	if len(out) == 0 {
		return nil, ErrNotImage
	}
	return out, nil
}

// extended follows the chain of extended boot records from base (in sectors).
func extended(r io.ReaderAt, size, base int64) ([]Partition, error) {
	var out []Partition
	ebr := make([]byte, sector)
	seen := map[int64]bool{}
	for cur := base; len(out) < maxPartitions; {
		if seen[cur] {
			return out, fmt.Errorf("%w: extended partition chain loops", ErrCorrupt)
		}
		seen[cur] = true
		if err := readFull(r, ebr, cur*sector); err != nil || ebr[510] != 0x55 || ebr[511] != 0xAA {
			return out, fmt.Errorf("%w: extended boot record at sector %d unreadable", ErrCorrupt, cur)
		}
		a, b := ebr[446:], ebr[462:]
		if a[4] != 0 && le32(a[12:]) != 0 {
			off, n := (cur+int64(le32(a[8:])))*sector, int64(le32(a[12:]))*sector
			if off+n > size {
				return out, fmt.Errorf("%w: logical partition lies outside the image", ErrCorrupt)
			}
			out = append(out, Partition{Name: fmt.Sprintf("p%d", 5+len(out)), Offset: off, Size: n, Scheme: "mbr", Type: fmt.Sprintf("0x%02x", a[4])})
		}
		if b[4] == 0 || le32(b[8:]) == 0 {
			return out, nil
		}
		cur = base + int64(le32(b[8:]))
	}
	return out, nil
}

// gptPartitions reads the primary GPT header at LBA 1 (512-byte sectors).
func gptPartitions(r io.ReaderAt, size int64) ([]Partition, error) {
	h := make([]byte, sector)
	if err := readFull(r, h, sector); err != nil || string(h[:8]) != "EFI PART" {
		return nil, fmt.Errorf("%w: protective MBR without a GPT header", ErrNotImage)
	}
	lba, count, esize := int64(le64(h[72:])), int64(le32(h[80:])), int64(le32(h[84:]))
	if esize < 128 || esize > 4096 || count <= 0 || count > 4096 || lba*sector+count*esize > size {
		return nil, fmt.Errorf("%w: GPT header out of bounds", ErrCorrupt)
	}
	tab := make([]byte, count*esize)
	if err := readFull(r, tab, lba*sector); err != nil {
		return nil, fmt.Errorf("%w: GPT entries: %v", ErrCorrupt, err)
	}
	var out []Partition
	for i := range count {
		e := tab[i*esize:]
		if isZero(e[:16]) {
			continue
		}
		first, last := int64(le64(e[32:])), int64(le64(e[40:]))
		if first <= 0 || last < first || (last+1)*sector > size {
			return out, fmt.Errorf("%w: GPT partition %d lies outside the image", ErrCorrupt, i+1)
		}
		out = append(out, Partition{Name: fmt.Sprintf("p%d", i+1), Offset: first * sector, Size: (last - first + 1) * sector,
			Scheme: "gpt", Type: guid(e[:16])})
		if len(out) >= maxPartitions {
			break
		}
	}
	if len(out) == 0 {
		return nil, ErrNotImage
	}
	return out, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// guid formats a mixed-endian GUID as GPT stores it.
func guid(b []byte) string {
	return strings.ToUpper(fmt.Sprintf("%08x-%04x-%04x-%x-%x", le32(b), le16(b[4:]), le16(b[6:]), b[8:10], b[10:16]))
}
