//go:build amd64 && !purego

#include "textflag.h"

// SSE (amd64 baseline) kernels for the column passes. Each lane performs
// the same IEEE single-precision operations, in the same order, as the
// scalar Go code in cols.go; 8 columns per iteration, scalar tail.

// func slideColsSSE(s, in, old, out []float32, fc float32)
TEXT ·slideColsSSE(SB), NOSPLIT, $0-100
	MOVQ  s_base+0(FP), DI
	MOVQ  s_len+8(FP), CX
	MOVQ  in_base+24(FP), SI
	MOVQ  old_base+48(FP), R8
	MOVQ  out_base+72(FP), R9
	MOVSS fc+96(FP), X7
	SHUFPS $0, X7, X7
	XORQ  AX, AX
	MOVQ  CX, DX
	ANDQ  $-8, DX

slide8:
	CMPQ   AX, DX
	JGE    slide1
	MOVUPS (DI)(AX*4), X0
	MOVUPS 16(DI)(AX*4), X1
	MOVUPS (SI)(AX*4), X2
	MOVUPS 16(SI)(AX*4), X3
	ADDPS  X2, X0
	ADDPS  X3, X1
	MOVUPS (R8)(AX*4), X4
	MOVUPS 16(R8)(AX*4), X5
	SUBPS  X4, X0
	SUBPS  X5, X1
	MOVUPS X0, (DI)(AX*4)
	MOVUPS X1, 16(DI)(AX*4)
	DIVPS  X7, X0
	DIVPS  X7, X1
	MOVUPS X0, (R9)(AX*4)
	MOVUPS X1, 16(R9)(AX*4)
	ADDQ   $8, AX
	JMP    slide8

slide1:
	CMPQ  AX, CX
	JGE   slidedone
	MOVSS (DI)(AX*4), X0
	ADDSS (SI)(AX*4), X0
	SUBSS (R8)(AX*4), X0
	MOVSS X0, (DI)(AX*4)
	DIVSS X7, X0
	MOVSS X0, (R9)(AX*4)
	INCQ  AX
	JMP   slide1

slidedone:
	RET

// func growColsSSE(s, in, out []float32, fc float32)
TEXT ·growColsSSE(SB), NOSPLIT, $0-76
	MOVQ  s_base+0(FP), DI
	MOVQ  s_len+8(FP), CX
	MOVQ  in_base+24(FP), SI
	MOVQ  out_base+48(FP), R9
	MOVSS fc+72(FP), X7
	SHUFPS $0, X7, X7
	XORQ  AX, AX
	MOVQ  CX, DX
	ANDQ  $-8, DX

grow8:
	CMPQ   AX, DX
	JGE    grow1
	MOVUPS (DI)(AX*4), X0
	MOVUPS 16(DI)(AX*4), X1
	MOVUPS (SI)(AX*4), X2
	MOVUPS 16(SI)(AX*4), X3
	ADDPS  X2, X0
	ADDPS  X3, X1
	MOVUPS X0, (DI)(AX*4)
	MOVUPS X1, 16(DI)(AX*4)
	DIVPS  X7, X0
	DIVPS  X7, X1
	MOVUPS X0, (R9)(AX*4)
	MOVUPS X1, 16(R9)(AX*4)
	ADDQ   $8, AX
	JMP    grow8

grow1:
	CMPQ  AX, CX
	JGE   growdone
	MOVSS (DI)(AX*4), X0
	ADDSS (SI)(AX*4), X0
	MOVSS X0, (DI)(AX*4)
	DIVSS X7, X0
	MOVSS X0, (R9)(AX*4)
	INCQ  AX
	JMP   grow1

growdone:
	RET

// func shrinkColsSSE(s, old, out []float32, fc float32)
TEXT ·shrinkColsSSE(SB), NOSPLIT, $0-76
	MOVQ  s_base+0(FP), DI
	MOVQ  s_len+8(FP), CX
	MOVQ  old_base+24(FP), R8
	MOVQ  out_base+48(FP), R9
	MOVSS fc+72(FP), X7
	SHUFPS $0, X7, X7
	XORQ  AX, AX
	MOVQ  CX, DX
	ANDQ  $-8, DX

shrink8:
	CMPQ   AX, DX
	JGE    shrink1
	MOVUPS (DI)(AX*4), X0
	MOVUPS 16(DI)(AX*4), X1
	MOVUPS (R8)(AX*4), X4
	MOVUPS 16(R8)(AX*4), X5
	SUBPS  X4, X0
	SUBPS  X5, X1
	MOVUPS X0, (DI)(AX*4)
	MOVUPS X1, 16(DI)(AX*4)
	DIVPS  X7, X0
	DIVPS  X7, X1
	MOVUPS X0, (R9)(AX*4)
	MOVUPS X1, 16(R9)(AX*4)
	ADDQ   $8, AX
	JMP    shrink8

shrink1:
	CMPQ  AX, CX
	JGE   shrinkdone
	MOVSS (DI)(AX*4), X0
	SUBSS (R8)(AX*4), X0
	MOVSS X0, (DI)(AX*4)
	DIVSS X7, X0
	MOVSS X0, (R9)(AX*4)
	INCQ  AX
	JMP   shrink1

shrinkdone:
	RET
