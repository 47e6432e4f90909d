//go:build !race

package hostsim

// raceEnabled reports whether this binary runs with the race detector.
const raceEnabled = false
