#include "textflag.h"

// Wrappers of the epoll system calls that load their number as an
// immediate right before the syscall instruction, as the C library's do
// (cwrappers_linux_amd64.go says why).

// func epollWrapper(nr, a1, a2, a3, a4, a5, a6 uintptr) (r, errno uintptr)
TEXT ·epollWrapper(SB),NOSPLIT,$0-72
	MOVQ	a1+8(FP), DI
	MOVQ	a2+16(FP), SI
	MOVQ	a3+24(FP), DX
	MOVQ	a4+32(FP), R10
	MOVQ	a5+40(FP), R8
	MOVQ	a6+48(FP), R9
	MOVQ	nr+0(FP), AX
	CMPQ	AX, $213 // epoll_create
	JEQ	create
	CMPQ	AX, $291 // epoll_create1
	JEQ	create1
	CMPQ	AX, $233 // epoll_ctl
	JEQ	ctl
	CMPQ	AX, $232 // epoll_wait
	JEQ	wait
	CMPQ	AX, $281 // epoll_pwait
	JEQ	pwait
	CMPQ	AX, $441 // epoll_pwait2
	JEQ	pwait2
	MOVQ	$-1, r+56(FP)
	MOVQ	$38, errno+64(FP) // ENOSYS
	RET
create:
	MOVL	$213, AX
	SYSCALL
	JMP	done
create1:
	MOVL	$291, AX
	SYSCALL
	JMP	done
ctl:
	MOVL	$233, AX
	SYSCALL
	JMP	done
wait:
	MOVL	$232, AX
	SYSCALL
	JMP	done
pwait:
	MOVL	$281, AX
	SYSCALL
	JMP	done
pwait2:
	MOVL	$441, AX
	SYSCALL
done:
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, r+56(FP)
	NEGQ	AX
	MOVQ	AX, errno+64(FP)
	RET
ok:
	MOVQ	AX, r+56(FP)
	MOVQ	$0, errno+64(FP)
	RET
