package modelbackend

// ServesOperation implements conformance.OperationServer: the version 3
// file operations (v3files.go) and the process and signal ones
// (processes.go).
func (m *Machine) ServesOperation(op string) bool {
	return fileOperations[op] || processOperations[op]
}
