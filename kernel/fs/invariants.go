package fs

// InvariantChecker is implemented by file types that can verify their
// internal consistency (used by fuzzers and tests). CheckInvariants takes
// the type's state lock.
type InvariantChecker interface {
	CheckInvariants() error
}

// CheckInvariants checks f's implementation if it knows how to, and
// returns nil otherwise.
func CheckInvariants(f *File) error {
	if c, ok := f.impl.(InvariantChecker); ok {
		return c.CheckInvariants()
	}
	return nil
}
