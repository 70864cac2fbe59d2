//go:build amd64 && !purego

#include "textflag.h"

// func lumaRGBASSE(pix []byte, dst []float32, cr, cg, cb float32) (opaque bool)
//
// Luma of len(dst)&^3 RGBA pixels, 4 per iteration: each channel is masked
// out of the pixel's 32-bit word, converted to float32 (exact for 0..255),
// multiplied by its coefficient and summed as (R + G) + B, the same IEEE
// single-precision operations in the same order as the scalar lumaTab
// route. Alpha is ignored here; the result says whether every alpha was
// 255 (else the caller redoes the translucent pixels).
TEXT ·lumaRGBASSE(SB), NOSPLIT, $0-65
	MOVQ   pix_base+0(FP), SI
	MOVQ   dst_base+24(FP), DI
	MOVQ   dst_len+32(FP), CX
	ANDQ   $-4, CX
	MOVSS  cr+48(FP), X4
	SHUFPS $0, X4, X4
	MOVSS  cg+52(FP), X5
	SHUFPS $0, X5, X5
	MOVSS  cb+56(FP), X6
	SHUFPS $0, X6, X6
	MOVL   $0xff, AX
	MOVQ   AX, X7
	PSHUFD $0, X7, X7
	PCMPEQL X8, X8
	XORQ   AX, AX

loop4:
	CMPQ     AX, CX
	JGE      done
	MOVOU    (SI)(AX*4), X0
	MOVO     X0, X1
	PAND     X7, X1
	MOVO     X0, X2
	PSRLL    $8, X2
	PAND     X7, X2
	MOVO     X0, X3
	PSRLL    $16, X3
	PAND     X7, X3
	PSRLL    $24, X0
	PAND     X0, X8
	CVTPL2PS X1, X1
	CVTPL2PS X2, X2
	CVTPL2PS X3, X3
	MULPS    X4, X1
	MULPS    X5, X2
	MULPS    X6, X3
	ADDPS    X2, X1
	ADDPS    X3, X1
	MOVUPS   X1, (DI)(AX*4)
	ADDQ     $4, AX
	JMP      loop4

done:
	PCMPEQL  X7, X8
	MOVMSKPS X8, AX
	CMPL     AX, $15
	SETEQ    opaque+64(FP)
	RET
