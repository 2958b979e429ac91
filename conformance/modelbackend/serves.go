package modelbackend

// ServesOperation implements conformance.OperationServer: the version 3
// file operations (v3files.go).
func (m *Machine) ServesOperation(op string) bool { return fileOperations[op] }
