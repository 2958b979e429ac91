package checkpoint

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// FuzzDecode feeds arbitrary bytes to Decode, twice: as they are, and with
// a valid checksum appended (so the fuzzer gets past it and explores the
// body). Decode must never panic and must allocate only in proportion to
// its input; whatever it accepts must restore, and the restored kernel
// must tear down completely.
func FuzzDecode(f *testing.F) {
	w := rich(f)
	b := saveWorld(f, w)
	w.close()
	f.Add(b[:len(b)-4])
	types := registry(ReadinessExact)
	types.RegisterMemory(flatType)
	fw := foreignWorld(f)
	b, err := Save(fw.k, fw.tasks, SaveOptions{Types: types})
	must(f, err)
	fw.close()
	f.Add(b[:len(b)-4])
	f.Add([]byte(magic + "\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Decode(data); err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error not wrapping ErrFormat: %v", err)
		}
		body := binary.LittleEndian.AppendUint32(append([]byte(nil), data...), crc32.ChecksumIEEE(data))
		im, err := Decode(body)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not wrapping ErrFormat: %v", err)
			}
			return
		}
		if _, err := Decode(im.Encode()); err != nil {
			t.Fatalf("re-encoded image rejected: %v", err)
		}
		r, err := RestoreImage(im, RestoreOptions{Clock: fs.NewFakeClock(), Types: types})
		if err != nil {
			// Only the embedder's side may refuse a valid image: a host
			// fd or type it does not have, or its types' own bytes.
			if len(im.Hosts) > 0 && errors.Is(err, ErrMissingHost) || embedderTyped(im) {
				return
			}
			t.Fatalf("accepted image does not restore: %v", err)
		}
		for _, task := range r.Tasks {
			task.Exit()
		}
		for _, tab := range r.Tables {
			tab.CloseAll()
		}
		for _, f := range r.Roots {
			f.DecRef()
		}
		if n := r.Kernel.EpollDomain().Watches(); n != 0 {
			t.Fatalf("%d registrations left after teardown", n)
		}
	})
}

// embedderTyped reports whether im holds anything an embedder's type
// restores from bytes of its own format.
func embedderTyped(im *Image) bool {
	if len(im.Foreign) > 0 {
		return true
	}
	for _, m := range im.Memories {
		if m.Type != "" {
			return true
		}
	}
	return false
}
