//go:build !race

package syscalls

const raceEnabled = false
