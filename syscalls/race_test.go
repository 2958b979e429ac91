//go:build race

package syscalls

const raceEnabled = true
