package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/guestpoll/guestpoll/checkpoint/internal/format"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// TestFormatGenerated: format_gen.go and doc.go's format section are what
// the description in package format generates (run go generate in this
// directory after changing it).
func TestFormatGenerated(t *testing.T) {
	code, err := format.Codec()
	must(t, err)
	got, err := os.ReadFile("format_gen.go")
	must(t, err)
	if !bytes.Equal(got, code) {
		t.Error("format_gen.go is stale: run go generate ./checkpoint")
	}
	doc, err := os.ReadFile("doc.go")
	must(t, err)
	want, err := format.Doc(doc)
	must(t, err)
	if !bytes.Equal(doc, want) {
		t.Error("doc.go's format section is stale: run go generate ./checkpoint")
	}
}

// goTypes are the Go types the description's records name.
var goTypes = map[string]reflect.Type{
	"Image":                 reflect.TypeFor[Image](),
	"EpollImage":            reflect.TypeFor[EpollImage](),
	"HostImage":             reflect.TypeFor[HostImage](),
	"ForeignImage":          reflect.TypeFor[ForeignImage](),
	"MemoryImage":           reflect.TypeFor[MemoryImage](),
	"syscalls.KernelState":  reflect.TypeFor[syscalls.KernelState](),
	"syscalls.InoState":     reflect.TypeFor[syscalls.InoState](),
	"syscalls.TaskState":    reflect.TypeFor[syscalls.TaskState](),
	"syscalls.MemoryState":  reflect.TypeFor[syscalls.MemoryState](),
	"syscalls.MemoryRange":  reflect.TypeFor[syscalls.MemoryRange](),
	"syscalls.MemoryPage":   reflect.TypeFor[syscalls.MemoryPage](),
	"fs.FilesState":         reflect.TypeFor[fs.FilesState](),
	"fs.FileState":          reflect.TypeFor[fs.FileState](),
	"fs.EventfdState":       reflect.TypeFor[fs.EventfdState](),
	"fs.TimerState":         reflect.TypeFor[fs.TimerState](),
	"fs.RegularState":       reflect.TypeFor[fs.RegularState](),
	"fs.RegularPage":        reflect.TypeFor[fs.RegularPage](),
	"fs.PipeState":          reflect.TypeFor[fs.PipeState](),
	"fs.PipeSlotState":      reflect.TypeFor[fs.PipeSlotState](),
	"fs.SocketState":        reflect.TypeFor[fs.SocketState](),
	"fs.SkbState":           reflect.TypeFor[fs.SkbState](),
	"fs.PathState":          reflect.TypeFor[fs.PathState](),
	"epoll.ItemState":       reflect.TypeFor[epoll.ItemState](),
	"fd.TableState":         reflect.TypeFor[fd.TableState](),
	"fd.SlotState":          reflect.TypeFor[fd.SlotState](),
	"syscalls.ProcessState": reflect.TypeFor[syscalls.ProcessState](),
	"PidfdImage":            reflect.TypeFor[PidfdImage](),
	"SignalfdImage":         reflect.TypeFor[SignalfdImage](),
}

// TestFormatCoversTheTypes: every field of every record's Go type is in
// the description exactly once, with a wire kind that fits its Go kind,
// so a field added to a state type cannot be silently left out of the
// checkpoint.
func TestFormatCoversTheTypes(t *testing.T) {
	for _, r := range format.Records {
		rt, ok := goTypes[r.Go]
		if !ok {
			t.Errorf("record %s: Go type %s unknown to this test", r.Name, r.Go)
			continue
		}
		described := map[string]bool{}
		for _, f := range r.Fields {
			if described[f.Name] {
				t.Errorf("record %s: field %s described twice", r.Name, f.Name)
			}
			described[f.Name] = true
			ft, ok := fieldType(rt, f.Name)
			if !ok {
				t.Errorf("record %s: %s has no field %s", r.Name, r.Go, f.Name)
				continue
			}
			if err := fits(&f.Type, ft); err != "" {
				t.Errorf("record %s: field %s (%v): %s", r.Name, f.Name, ft, err)
			}
		}
		for _, name := range leafFields(rt, "", described) {
			t.Errorf("record %s: field %s of %s is not in the format", r.Name, name, r.Go)
		}
	}
}

func fieldType(rt reflect.Type, path string) (reflect.Type, bool) {
	for _, name := range strings.Split(path, ".") {
		f, ok := rt.FieldByName(name)
		if !ok {
			return nil, false
		}
		rt = f.Type
	}
	return rt, true
}

// leafFields lists the fields of rt (under prefix) that described does not
// cover: a struct field that is not described is walked into.
func leafFields(rt reflect.Type, prefix string, described map[string]bool) []string {
	var out []string
	for i := range rt.NumField() {
		name := prefix + rt.Field(i).Name
		switch {
		case described[name]:
		case rt.Field(i).Type.Kind() == reflect.Struct:
			out = append(out, leafFields(rt.Field(i).Type, name+".", described)...)
		default:
			out = append(out, name)
		}
	}
	return out
}

// fits reports why wire type w cannot hold Go type rt ("" if it can).
func fits(w *format.Type, rt reflect.Type) string {
	want := map[format.Kind]reflect.Kind{
		format.Int32: reflect.Int32, format.Int64: reflect.Int64,
		format.Uint32: reflect.Uint32, format.Uint64: reflect.Uint64,
		format.Bool: reflect.Bool, format.String: reflect.String,
	}
	switch w.Kind {
	case format.Enum:
		bits := 8 * rt.Size()
		if rt.Kind() >= reflect.Int && rt.Kind() <= reflect.Int64 {
			bits-- // values are never negative
		} else if rt.Kind() < reflect.Uint || rt.Kind() > reflect.Uint64 {
			return "not an integer type"
		}
		if w.Max < 0 || uint64(w.Max) > 1<<bits-1 {
			return "cannot hold the maximum"
		}
	case format.Bytes, format.Page:
		if rt != reflect.TypeFor[[]byte]() {
			return "not []byte"
		}
	case format.List, format.Array:
		if w.Kind == format.List && rt.Kind() != reflect.Slice || w.Kind == format.Array && rt.Kind() != reflect.Array {
			return "not a slice or array as described"
		}
		return fits(w.Elem, rt.Elem())
	case format.Struct:
		for _, r := range format.Records {
			if r.Name == w.Record && goTypes[r.Go] != rt {
				return "record " + r.Name + " is of another Go type"
			}
		}
	default:
		if rt.Kind() != want[w.Kind] {
			return "wrong kind"
		}
	}
	return ""
}

// TestRejectsOtherVersion: a checkpoint of another version (version 1,
// from before foreign types) is refused with an error naming both.
func TestRejectsOtherVersion(t *testing.T) {
	w := rich(t)
	defer w.close()
	b := saveWorld(t, w)
	old := bytes.Clone(b[:len(b)-4])
	old[len(magic)] = 1 // the version, one uvarint byte
	old = binary.LittleEndian.AppendUint32(old, crc32.ChecksumIEEE(old))
	_, err := Decode(old)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "version 1, this build reads 3") {
		t.Fatalf("got %v", err)
	}
}
