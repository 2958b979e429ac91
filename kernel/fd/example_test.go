package fd_test

import (
	"fmt"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// A new number is always the lowest free one: after closing fd 0, the next
// dup reuses it. FD_CLOEXEC belongs to the number, not the file, so a dup
// starts without it unless asked. A closed number is EBADF.
func Example() {
	t := fd.NewTable()
	defer t.CloseAll()

	r, w := fs.NewPipe(0)
	rfd, _ := t.Install(r, 0, false)
	wfd, _ := t.Install(w, 0, true)
	fmt.Println("pipe:", rfd, wfd)

	dupfd, _ := t.Dup(wfd, false)
	cloexecW, _ := t.CloseOnExec(wfd)
	cloexecDup, _ := t.CloseOnExec(dupfd)
	fmt.Println("dup of", wfd, "is", dupfd, "cloexec:", cloexecW, cloexecDup)

	fmt.Println("close", rfd, t.Close(rfd))
	again, _ := t.Dup(wfd, true)
	cloexecAgain, _ := t.CloseOnExec(again)
	fmt.Println("next dup is", again, "cloexec:", cloexecAgain)

	fmt.Println("close 7:", t.Close(7))
	fmt.Println("open:", t.Len())
	// Output:
	// pipe: 0 1
	// dup of 1 is 2 cloexec: true false
	// close 0 <nil>
	// next dup is 0 cloexec: true
	// close 7: bad file descriptor
	// open: 3
}
