package crypt

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"io"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"
)

// Benchmarks for `make bench BENCH=crypt`. This machine is shared and
// noisy, so a figure from one pass means little: each throughput figure is
// the median of at least benchMinSamples samples, and every sample of the
// format is taken right next to a sample of its baseline (format, baseline,
// format, baseline, ...), so that both see the same machine. The medians are
// reported with b.ReportMetric; scripts/benchfmt.awk only arranges them.
const (
	benchSize       = 64 << 20
	benchMinSamples = 5
	uploadWriteSize = 32 << 10 // io.Copy's buffer: the size of an upload's writes
)

// BenchmarkCryptStream measures what the stream format costs over the
// cryptography it cannot avoid. Both directions use the default segment
// size and the arrangement of an upload or a download:
//
//   - seal: the Writer gets 32 KiB writes, as from io.Copy. Such writes are
//     hashed inline (only writes of parallelHashN or more hash on a second
//     goroutine), so the baseline hashes the same 32 KiB pieces with SHA-256
//     on the same goroutine and seals the same 64 KiB segments with
//     AES-256-GCM and associated data of the same size.
//   - open: the Reader reads from a bytes.Reader and io.Copy takes whole
//     segments from its WriteTo. The baseline reads the same ciphertext
//     segments from a bytes.Reader into one buffer and opens them in place
//     with AES-256-GCM.
//
// ratio_seal and ratio_open are the medians of the per-pair ratios (format
// over the baseline taken next to it), which cancel slow drifts of the
// machine better than a ratio of two medians.
func BenchmarkCryptStream(b *testing.B) {
	key, doc := testKey("bench"), testDoc("bench")
	plaintext := randomBytes(benchSize, 42)
	ct := mustSeal(b, key, doc, plaintext, uploadWriteSize)
	id := idOf(ct, doc)
	seg := DefaultSegmentSize
	aead, err := newGCM(testKey("baseline"))
	if err != nil {
		b.Fatal(err)
	}
	baseCT := sealSegments(aead, plaintext, seg)
	buf := make([]byte, seg+tagSize)
	nonce := make([]byte, segNonceSize)
	ad := make([]byte, segADSize)

	sealFormat := func() {
		w, err := NewWriter(io.Discard, key, doc)
		for p := plaintext; err == nil && len(p) > 0; p = p[min(len(p), uploadWriteSize):] {
			_, err = w.Write(p[:min(len(p), uploadWriteSize)])
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	sealBaseline := func() {
		h := sha256.New()
		for p := plaintext; len(p) > 0; p = p[min(len(p), seg):] {
			s := p[:min(len(p), seg)]
			for c := s; len(c) > 0; c = c[min(len(c), uploadWriteSize):] {
				h.Write(c[:min(len(c), uploadWriteSize)])
			}
			_, _ = io.Discard.Write(aead.Seal(buf[:0], nonce, s, ad))
		}
		h.Sum(nil)
	}
	openFormat := func() {
		r, err := NewReader(bytes.NewReader(ct), key, doc, id)
		var n int64
		if err == nil {
			n, err = io.Copy(io.Discard, r)
		}
		if err != nil || n != benchSize {
			b.Fatalf("opened %d bytes: %v", n, err)
		}
	}
	openBaseline := func() {
		src := bytes.NewReader(baseCT)
		for {
			n, err := io.ReadFull(src, buf)
			if err == io.EOF {
				return
			}
			if err != nil && err != io.ErrUnexpectedEOF {
				b.Fatal(err)
			}
			pt, err := aead.Open(buf[:0], nonce, buf[:n], ad)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Discard.Write(pt)
		}
	}

	var seal, sealBase, open, openBase []float64
	round := func() {
		seal = append(seal, throughput(benchSize, sealFormat))
		sealBase = append(sealBase, throughput(benchSize, sealBaseline))
		open = append(open, throughput(benchSize, openFormat))
		openBase = append(openBase, throughput(benchSize, openBaseline))
	}
	for b.Loop() {
		round()
	}
	for len(seal) < benchMinSamples { // -benchtime 3x asks for fewer rounds than a median needs
		round()
	}
	b.ReportMetric(median(seal), "crypt_seal_MBps")
	b.ReportMetric(median(sealBase), "crypt_seal_baseline_MBps")
	b.ReportMetric(median(ratios(seal, sealBase)), "ratio_seal")
	b.ReportMetric(median(open), "crypt_open_MBps")
	b.ReportMetric(median(openBase), "crypt_open_baseline_MBps")
	b.ReportMetric(median(ratios(open, openBase)), "ratio_open")
	b.ReportMetric(float64(len(seal)), "samples")
}

// sealSegments seals p in segments of seg bytes, each followed by its tag,
// as the baseline of opening reads them.
func sealSegments(aead cipher.AEAD, p []byte, seg int) []byte {
	nonce, ad := make([]byte, segNonceSize), make([]byte, segADSize)
	out := make([]byte, 0, len(p)+(len(p)/seg+1)*tagSize)
	for ; len(p) > 0; p = p[min(len(p), seg):] {
		out = aead.Seal(out, nonce, p[:min(len(p), seg)], ad)
	}
	return out
}

// throughput runs f once and returns its rate over n bytes in MB/s.
func throughput(n int, f func()) float64 {
	start := time.Now()
	f()
	return float64(n) / time.Since(start).Seconds() / 1e6
}

func ratios(a, b []float64) []float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return r
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// patternReader yields an endless cheap, deterministic byte stream.
type patternReader struct{ block []byte }

func (p patternReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		n += copy(b[n:], p.block)
	}
	return n, nil
}

// BenchmarkCryptStream1GiB checks that memory stays constant: 1 GiB goes
// through a Writer fed by io.Copy (32 KiB writes, as an upload), a pipe and
// a Reader. Before the stream starts, a GC settles the heap and its live
// bytes are the baseline; the figure is the largest growth over it, sampled
// every millisecond, and the largest of all rounds.
func BenchmarkCryptStream1GiB(b *testing.B) {
	const size = 1 << 30
	key, doc := testKey("bench"), testDoc("bench")
	src := patternReader{randomBytes(4093, 7)} // odd length: segments differ
	var growth uint64
	for b.Loop() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		runtime.GC()
		metrics.Read(sample)
		base := sample[0].Value.Uint64()
		peak := base

		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				metrics.Read(sample)
				peak = max(peak, sample[0].Value.Uint64())
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		})
		pr, pw := io.Pipe()
		w, err := NewWriter(pw, key, doc)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			// LimitReader has no WriteTo and Writer no ReadFrom, so
			// io.Copy writes through its own 32 KiB buffer.
			_, err := io.Copy(w, io.LimitReader(src, size))
			if err == nil {
				err = w.Close()
			}
			pw.CloseWithError(err)
		}()
		r, err := NewReader(pr, key, doc, w.SealingID())
		var n int64
		if err == nil {
			n, err = io.Copy(io.Discard, r)
		}
		close(stop)
		sampler.Wait()
		if err != nil || n != size {
			b.Fatalf("streamed %d bytes: %v", n, err)
		}
		growth = max(growth, peak-base)
	}
	b.ReportMetric(float64(growth)/(1<<20), "crypt_stream_1GiB_heap_growth_MiB")
}
