package format

// Version is the format version. Bump it on any change of Records.
const Version = 3

// Kind is how a value is written.
type Kind uint8

const (
	Int32  Kind = iota // zig-zag varint, decoded into an int32 (range checked)
	Int64              // zig-zag varint
	Uint32             // uvarint, decoded into a uint32 (range checked)
	Uint64             // uvarint
	Enum               // uvarint no greater than Type.Max, of the Go type Type.Go
	Bool               // one byte, 0 or 1
	Bytes              // uvarint length, then the bytes
	String             // uvarint length, then the bytes
	Page               // exactly Type.Size bytes, no length
	List               // uvarint count, then the elements (Type.Elem)
	Array              // Type.Len elements (Type.Elem), no count
	Struct             // the fields of record Type.Record
)

// Type is a field's type.
type Type struct {
	Kind   Kind
	Go     string // Enum: the Go type
	Max    int    // Enum: the largest valid value
	Size   string // Page: the length, a Go constant
	Len    string // Array: the length, a Go constant
	LenDoc string // Array: the length as the doc shows it
	Elem   *Type  // List and Array: the element type
	Record string // Struct: the record's Name
}

// Field is one field of a record.
type Field struct {
	// Name is the Go selector of the field in the record's value (it may
	// go through a nested struct: "State.Items").
	Name string
	// Doc is the field's name in the doc (the last part of Name if empty).
	Doc  string
	Type Type
	// When is a Go condition on x, the record's value: the field is
	// written only if it holds (a variant). WhenDoc says it in the doc.
	When, WhenDoc string
}

// Record is a Go struct as the format writes it: its fields, in order.
type Record struct {
	Name   string // the doc's name, and the generated functions' suffix
	Go     string // the Go type, as package checkpoint names it
	Fields []Field
}

// Scalars and common types.
var (
	i32  = Type{Kind: Int32}
	i64  = Type{Kind: Int64}
	u32  = Type{Kind: Uint32}
	u64  = Type{Kind: Uint64}
	flag = Type{Kind: Bool}
	byts = Type{Kind: Bytes}
	str  = Type{Kind: String}
)

func list(elem Type) Type       { return Type{Kind: List, Elem: &elem} }
func listOf(record string) Type { return list(Type{Kind: Struct, Record: record}) }
func inline(record string) Type { return Type{Kind: Struct, Record: record} }
func page(size string) Type     { return Type{Kind: Page, Size: size} }
func array(n, doc string, elem Type) Type {
	return Type{Kind: Array, Len: n, LenDoc: doc, Elem: &elem}
}

// Root is the record a checkpoint's body is.
const Root = "Image"

// Records is the format: the body is the root record.
var Records = []Record{
	{Name: "Image", Go: "Image", Fields: []Field{
		{Name: "Kernel", Doc: "kernel", Type: inline("Kernel")},
		{Name: "Files", Doc: "files", Type: inline("Files")},
		{Name: "Epolls", Doc: "epolls", Type: listOf("Epoll")},
		{Name: "Hosts", Doc: "hosts", Type: listOf("Host")},
		{Name: "Foreign", Doc: "foreign", Type: listOf("Foreign")},
		{Name: "Tables", Doc: "tables", Type: listOf("Table")},
		{Name: "Memories", Doc: "memories", Type: listOf("Memory")},
		{Name: "Tasks", Doc: "tasks", Type: listOf("Task")},
		{Name: "Processes", Doc: "processes", Type: listOf("Process")},
		{Name: "Pidfds", Doc: "pidfds", Type: listOf("Pidfd")},
		{Name: "Signalfds", Doc: "signalfds", Type: listOf("Signalfd")},
		{Name: "Roots", Doc: "roots", Type: list(i32)},
	}},
	{Name: "Kernel", Go: "syscalls.KernelState", Fields: []Field{
		{Name: "Epoll.MaxUserWatches", Type: i64},
		{Name: "Epoll.KeepWakeup", Type: flag},
		{Name: "NextIno", Type: u64},
		{Name: "Inos", Type: listOf("Ino")},
		{Name: "NextPid", Type: i32},
	}},
	{Name: "Ino", Go: "syscalls.InoState", Fields: []Field{
		{Name: "File", Type: i32},
		{Name: "Ino", Type: u64},
	}},
	{Name: "Files", Go: "fs.FilesState", Fields: []Field{
		{Name: "Files", Type: listOf("File")},
		{Name: "Pipes", Type: listOf("Pipe")},
		{Name: "Sockets", Type: listOf("Socket")},
		{Name: "FIFONodes", Type: i32},
		{Name: "Paths", Type: listOf("Path")},
		{Name: "UnixAutobind", Type: u32},
	}},
	{Name: "Path", Go: "fs.PathState", Fields: []Field{
		{Name: "Path", Type: str},
		{Name: "FIFO", Type: i32},
	}},
	{Name: "File", Go: "fs.FileState", Fields: []Field{
		{Name: "Kind", Type: Type{Kind: Enum, Go: "fs.FileKind", Max: 255}},
		{Name: "Flags", Type: u32},
		{Name: "Object", Type: i32},
		{Name: "FPipe", Type: u32},
		{Name: "Eventfd", Type: inline("Eventfd"), When: "x.Kind == fs.KindEventfd", WhenDoc: "Kind is eventfd"},
		{Name: "Timer", Type: inline("Timer"), When: "x.Kind == fs.KindTimerfd", WhenDoc: "Kind is timerfd"},
		{Name: "Regular", Type: inline("Regular"), When: "x.Kind == fs.KindRegular", WhenDoc: "Kind is regular"},
	}},
	{Name: "Eventfd", Go: "fs.EventfdState", Fields: []Field{
		{Name: "Count", Type: u64},
		{Name: "Semaphore", Type: flag},
	}},
	{Name: "Timer", Go: "fs.TimerState", Fields: []Field{
		{Name: "ClockID", Type: i32},
		{Name: "Ticks", Type: u64},
		{Name: "Expired", Type: flag},
		{Name: "Armed", Type: flag},
		{Name: "HasExpiry", Type: flag},
		{Name: "Expiry", Type: i64},
		{Name: "Interval", Type: i64},
	}},
	{Name: "Regular", Go: "fs.RegularState", Fields: []Field{
		{Name: "Size", Type: i64},
		{Name: "Pos", Type: i64},
		{Name: "Pages", Type: listOf("RegularPage")},
	}},
	{Name: "RegularPage", Go: "fs.RegularPage", Fields: []Field{
		{Name: "Index", Type: i64},
		{Name: "Data", Type: page("fs.RegularPageSize")},
	}},
	{Name: "Pipe", Go: "fs.PipeState", Fields: []Field{
		{Name: "Readers", Type: i32},
		{Name: "Writers", Type: i32},
		{Name: "Polled", Type: flag},
		{Name: "Slots", Type: listOf("PipeSlot")},
		{Name: "RingSlots", Type: i32},
		{Name: "FIFO", Type: i32},
		{Name: "RCounter", Type: u32},
		{Name: "WCounter", Type: u32},
	}},
	{Name: "PipeSlot", Go: "fs.PipeSlotState", Fields: []Field{
		{Name: "Off", Type: i32},
		{Name: "Packet", Type: flag},
		{Name: "Data", Type: byts},
	}},
	{Name: "Socket", Go: "fs.SocketState", Fields: []Field{
		{Name: "Type", Type: i32},
		{Name: "Connected", Type: flag},
		{Name: "Shutdown", Type: Type{Kind: Enum, Go: "uint8", Max: 255}},
		{Name: "Err", Type: u32},
		{Name: "Peer", Type: i32},
		{Name: "Dead", Type: flag},
		{Name: "Wmem", Type: i64},
		{Name: "Sndbuf", Type: i64},
		{Name: "Recv", Type: listOf("Skb")},
		{Name: "OOB", Type: i32},
		{Name: "Listening", Type: flag},
		{Name: "Backlog", Type: i32},
		{Name: "Pending", Type: list(i32)},
		{Name: "Name", Type: byts},
		{Name: "Bound", Type: flag},
	}},
	{Name: "Skb", Go: "fs.SkbState", Fields: []Field{
		{Name: "Consumed", Type: i64},
		{Name: "Truesize", Type: i64},
		{Name: "Sender", Type: i32},
		{Name: "Data", Type: byts},
	}},
	{Name: "Epoll", Go: "EpollImage", Fields: []Field{
		{Name: "File", Type: i32},
		{Name: "State.Items", Type: listOf("Item")},
		{Name: "State.Ready", Type: list(i32)},
	}},
	{Name: "Item", Go: "epoll.ItemState", Fields: []Field{
		{Name: "Target", Type: i32},
		{Name: "Fd", Type: i32},
		{Name: "Events", Type: u32},
		{Name: "Data", Type: u64},
		{Name: "WatchRank", Type: i32},
		{Name: "Caller", Type: i32},
	}},
	{Name: "Host", Go: "HostImage", Fields: []Field{
		{Name: "File", Type: i32},
		{Name: "Name", Type: str},
	}},
	{Name: "Foreign", Go: "ForeignImage", Fields: []Field{
		{Name: "File", Type: i32},
		{Name: "Type", Type: str},
		{Name: "Pollable", Type: flag},
		{Name: "Refs", Type: list(i32)},
		{Name: "Data", Type: byts},
	}},
	{Name: "Table", Go: "fd.TableState", Fields: []Field{
		{Name: "Soft", Type: u64},
		{Name: "Hard", Type: u64},
		{Name: "Private", Type: flag},
		{Name: "Slots", Type: listOf("Slot")},
	}},
	{Name: "Slot", Go: "fd.SlotState", Fields: []Field{
		{Name: "Fd", Type: i32},
		{Name: "File", Type: i32},
		{Name: "Cloexec", Type: flag},
	}},
	{Name: "Memory", Go: "MemoryImage", Fields: []Field{
		{Name: "Type", Type: str},
		{Name: "Guest", Type: inline("GuestMemory"), When: `x.Type == ""`, WhenDoc: "Type is empty"},
		{Name: "Data", Type: byts, When: `x.Type != ""`, WhenDoc: "Type is not empty"},
	}},
	{Name: "GuestMemory", Go: "syscalls.MemoryState", Fields: []Field{
		{Name: "Maps", Type: listOf("Map")},
		{Name: "Pages", Type: listOf("Page")},
	}},
	{Name: "Map", Go: "syscalls.MemoryRange", Fields: []Field{
		{Name: "Start", Type: u64},
		{Name: "End", Type: u64},
	}},
	{Name: "Page", Go: "syscalls.MemoryPage", Fields: []Field{
		{Name: "Addr", Type: u64},
		{Name: "Data", Type: page("syscalls.PageSize")},
	}},
	{Name: "Task", Go: "syscalls.TaskState", Fields: []Field{
		{Name: "Table", Type: i32},
		{Name: "Memory", Type: i32},
		{Name: "Arch", Type: Type{Kind: Enum, Go: "syscalls.Arch", Max: 1}},
		{Name: "Mask", Type: u64},
		{Name: "Pending", Type: u64},
		{Name: "Delivered", Type: array("64", "64", u32)},
		{Name: "Rlimits", Type: array("syscalls.RlimitCount", "16", array("2", "2", u64))},
		{Name: "Process", Type: i32},
		{Name: "Tid", Type: i32},
	}},
	{Name: "Process", Go: "syscalls.ProcessState", Fields: []Field{
		{Name: "Pid", Type: i32},
		{Name: "Parent", Type: i32},
		{Name: "State", Type: Type{Kind: Enum, Go: "uint8", Max: 2}},
		{Name: "Status", Type: u32},
		{Name: "Table", Type: i32},
		{Name: "Memory", Type: i32},
		{Name: "Forked", Type: flag},
		{Name: "Implicit", Type: flag},
		{Name: "Shared", Type: u64},
		{Name: "Ignored", Type: u64},
		{Name: "Caught", Type: u64},
	}},
	{Name: "Pidfd", Go: "PidfdImage", Fields: []Field{
		{Name: "File", Type: i32},
		{Name: "Process", Type: i32},
	}},
	{Name: "Signalfd", Go: "SignalfdImage", Fields: []Field{
		{Name: "File", Type: i32},
		{Name: "Mask", Type: u64},
		{Name: "Creator", Type: i32},
		{Name: "Owner", Type: i32},
	}},
}
