package modelbackend

// fileOperations are the format version 3 operations on the model's new
// file types (listening sockets, FIFOs, send/recv flags, pipe sizes).
var fileOperations = map[string]bool{
	"listen_socket": true, "connect": true, "accept4": true, "fifo_open": true,
	"send": true, "recv": true, "fcntl_setpipe_sz": true, "fcntl_getpipe_sz": true,
}
