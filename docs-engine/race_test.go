//go:build race

package docsengine

// raceEnabled shrinks the hostile inputs of TestRenderBoundedTime: the race
// detector makes goldmark about five times slower.
const raceEnabled = true
