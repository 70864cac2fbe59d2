package hasher

import "encoding/binary"

// Colour matrix codes (ITU-T H.273 matrix_coefficients, the numbering of
// ffmpeg's AVColorSpace) the page needs by name.
const (
	MatrixRGB         = 0
	MatrixBT709       = 1
	MatrixUnspecified = 2
)

// trackColour reads how a video track's stream declares its colours, as
// ffmpeg's decoder ends up tagging the frames it converts for
// `nigehban hash`: the H.264 sequence parameter set's VUI when it carries
// a colour description (and its range flag when it has a video signal
// type), else the sample entry's 'colr' box, else unspecified (which
// libswscale converts as BT.601) in limited range. Browsers report their
// own guess for an undeclared stream (Chromium says BT.709), so the page
// uses this instead.
func trackColour(stsd []byte) (matrix int, fullRange bool) {
	matrix = MatrixUnspecified
	if len(stsd) < 8 {
		return matrix, false
	}
	for _, typ := range []string{"avc1", "avc3", "hvc1", "hev1", "vp09", "av01", "mp4v"} {
		entry := first(stsd[8:], typ)
		if len(entry) < 78 {
			continue
		}
		children := entry[78:]
		if colr := first(children, "colr"); len(colr) >= 10 {
			switch string(colr[:4]) {
			case "nclx":
				matrix = int(binary.BigEndian.Uint16(colr[8:]))
				fullRange = len(colr) >= 11 && colr[10]&0x80 != 0
			case "nclc":
				matrix = int(binary.BigEndian.Uint16(colr[8:]))
			}
		}
		if avcC := first(children, "avcC"); len(avcC) >= 8 && avcC[5]&0x1f > 0 {
			n := int(binary.BigEndian.Uint16(avcC[6:]))
			if 8+n <= len(avcC) {
				v := parseSPSColour(avcC[8 : 8+n])
				if v.signalType {
					fullRange = v.fullRange
				}
				if v.described {
					matrix = v.matrix
				}
			}
		}
		return matrix, fullRange
	}
	return matrix, fullRange
}

// bitReader reads an H.264 RBSP (emulation prevention bytes removed)
// most significant bit first; reading past the end yields zeros and sets
// short.
type bitReader struct {
	b     []byte
	pos   int
	short bool
}

func (r *bitReader) u(n int) uint32 {
	var v uint32
	for range n {
		bit := uint32(0)
		if r.pos>>3 < len(r.b) {
			bit = uint32(r.b[r.pos>>3]>>(7-r.pos&7)) & 1
		} else {
			r.short = true
		}
		v = v<<1 | bit
		r.pos++
	}
	return v
}

// ue reads an unsigned Exp-Golomb code.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.u(1) == 0 {
		if zeros++; zeros > 31 || r.short {
			r.short = true
			return 0
		}
	}
	return 1<<zeros - 1 + r.u(zeros)
}

// se reads a signed Exp-Golomb code.
func (r *bitReader) se() int32 {
	k := r.ue()
	if k&1 == 1 {
		return int32((k + 1) / 2)
	}
	return -int32(k / 2)
}

// spsColour is the colour part of an SPS's VUI.
type spsColour struct {
	signalType, fullRange, described bool
	matrix                           int
}

// parseSPSColour walks an H.264 sequence parameter set NAL unit up to its
// VUI's colour description. A malformed or truncated SPS yields nothing.
func parseSPSColour(nal []byte) spsColour {
	var none spsColour
	if len(nal) < 4 || nal[0]&0x1f != 7 {
		return none
	}
	rbsp := make([]byte, 0, len(nal))
	for i := 1; i < len(nal); i++ {
		if i >= 3 && nal[i] == 3 && nal[i-1] == 0 && nal[i-2] == 0 {
			continue // emulation prevention
		}
		rbsp = append(rbsp, nal[i])
	}
	r := &bitReader{b: rbsp}
	profile := r.u(8)
	r.u(16) // constraint flags, level
	r.ue()  // seq_parameter_set_id
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma := r.ue()
		if chroma == 3 {
			r.u(1) // separate_colour_plane_flag
		}
		r.ue()           // bit_depth_luma_minus8
		r.ue()           // bit_depth_chroma_minus8
		r.u(1)           // qpprime_y_zero_transform_bypass_flag
		if r.u(1) == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if chroma == 3 {
				lists = 12
			}
			for i := range lists {
				if r.u(1) == 0 {
					continue
				}
				size := 16
				if i >= 6 {
					size = 64
				}
				last, next := int32(8), int32(8)
				for range size {
					if next != 0 {
						next = (last + r.se() + 256) % 256
					}
					if next != 0 {
						last = next
					}
				}
			}
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue()
	case 1:
		r.u(1)
		r.se()
		r.se()
		n := r.ue()
		if n > 255 {
			return none
		}
		for range n {
			r.se()
		}
	}
	r.ue()           // max_num_ref_frames
	r.u(1)           // gaps_in_frame_num_value_allowed_flag
	r.ue()           // pic_width_in_mbs_minus1
	r.ue()           // pic_height_in_map_units_minus1
	if r.u(1) == 0 { // frame_mbs_only_flag
		r.u(1) // mb_adaptive_frame_field_flag
	}
	r.u(1)           // direct_8x8_inference_flag
	if r.u(1) == 1 { // frame_cropping_flag
		r.ue()
		r.ue()
		r.ue()
		r.ue()
	}
	if r.u(1) == 0 || r.short { // vui_parameters_present_flag
		return none
	}
	if r.u(1) == 1 { // aspect_ratio_info_present_flag
		if r.u(8) == 255 {
			r.u(32) // sar_width, sar_height
		}
	}
	if r.u(1) == 1 { // overscan_info_present_flag
		r.u(1)
	}
	var c spsColour
	if r.u(1) == 1 { // video_signal_type_present_flag
		c.signalType = true
		r.u(3) // video_format
		c.fullRange = r.u(1) == 1
		if r.u(1) == 1 { // colour_description_present_flag
			r.u(16) // colour_primaries, transfer_characteristics
			c.described = true
			c.matrix = int(r.u(8))
		}
	}
	if r.short {
		return none
	}
	return c
}
