package syscalls

import "math/bits"

// stageSmallSize is the size of the in-task staging buffer: enough for the
// 8-byte values of eventfd and timerfd, the staged types guests use most.
const stageSmallSize = 16

// growIOBuf makes t.ioBuf at least min(need, ioBufSize) bytes long before a
// staged read or write, so that the transfer sees exactly the bytes it
// would with a full ioBufSize buffer. The buffer is made lazily, since most
// tasks never stage anything (and a restored task starts without one): up
// to stageSmallSize bytes use the array inside the task, more a heap buffer
// of the next power of two (at most ioBufSize), replaced only by a larger
// one, so a task allocates at most a few times in its life and never once
// its largest transfer has been seen.
func (t *Task) growIOBuf(need uint64) {
	need = min(need, ioBufSize)
	if uint64(len(t.ioBuf)) >= need {
		return
	}
	if need <= stageSmallSize {
		t.ioBuf = t.stageSmall[:]
		return
	}
	t.ioBuf = make([]byte, min(uint64(1)<<bits.Len64(need-1), ioBufSize))
}
