package docsengine

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// wikiBenchOnce runs the measurement once per process: the testing package
// calls a benchmark several times while it settles on b.N, and the line must
// be printed once.
var wikiBenchOnce sync.Once

// BenchmarkWikiRender compares docs-engine (parse, render, sanitize, and the
// TOC, links, tasks and text walk) with cmark, the CommonMark reference
// implementation in C, on the same bytes: the CommonMark spec examples as one
// document plus testdata/process.md, repeated to about 4 MiB. docs-engine
// renders it document by document (each is under the 2 MiB limit); cmark
// reads all of it from one pipe per sample, and its start-up time (measured
// with an empty input) is subtracted. Each figure is the median of 7 samples.
func BenchmarkWikiRender(b *testing.B) {
	wikiBenchOnce.Do(func() { benchWikiRender(b) })
}

func benchWikiRender(b *testing.B) {
	cmark, err := exec.LookPath("cmark")
	if err != nil {
		b.Skip("cmark is not installed (scripts/cmark.sh or apt-get install cmark); skipping the comparison")
	}
	docs := wikiBenchCorpus(b)
	var all bytes.Buffer
	for _, d := range docs {
		all.Write(d)
		all.WriteString("\n\n")
	}
	e := New(Config{})
	const samples = 7
	var ours, theirs []float64
	startup := medianDuration(samples, func() time.Duration { return runCmark(b, cmark, nil) })
	for i := 0; i < samples; i++ {
		start := time.Now()
		for _, d := range docs {
			if _, err := e.Render(d, Options{Resolver: mapResolver{}}); err != nil {
				b.Fatal(err)
			}
		}
		ours = append(ours, mbps(all.Len(), time.Since(start)))
		theirs = append(theirs, mbps(all.Len(), runCmark(b, cmark, all.Bytes())-startup))
	}
	o, t := median(ours), median(theirs)
	fmt.Printf("\nwiki_render_MBps=%.1f cmark_MBps=%.1f ratio=%.2f\n", o, t, o/t)
	fmt.Printf("# corpus %d bytes in %d documents; cmark start-up %v subtracted\n", all.Len(), len(docs), startup)
}

// wikiBenchCorpus is the spec examples (if TMA_FIXTURES_DIR is set) and the
// process page, repeated to about 4 MiB.
func wikiBenchCorpus(b *testing.B) [][]byte {
	process, err := os.ReadFile(filepath.Join("testdata", "process.md"))
	if err != nil {
		b.Fatal(err)
	}
	base := [][]byte{process}
	if os.Getenv("TMA_FIXTURES_DIR") != "" {
		var spec strings.Builder
		for _, ex := range loadSpec(b) {
			spec.WriteString(ex.Markdown)
			spec.WriteString("\n\n")
		}
		base = append(base, []byte(spec.String()))
	}
	var docs [][]byte
	for size := 0; size < 4<<20; {
		for _, d := range base {
			docs = append(docs, d)
			size += len(d)
		}
	}
	return docs
}

func runCmark(b *testing.B, cmark string, input []byte) time.Duration {
	cmd := exec.Command(cmark)
	cmd.Stdin = bytes.NewReader(input)
	var out bytes.Buffer
	cmd.Stdout = &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func medianDuration(n int, f func() time.Duration) time.Duration {
	var ds []float64
	for i := 0; i < n; i++ {
		ds = append(ds, float64(f()))
	}
	return time.Duration(median(ds))
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

func mbps(n int, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }
