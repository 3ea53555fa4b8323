//go:build !race

package docsengine

const raceEnabled = false
