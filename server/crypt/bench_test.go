package crypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// BenchmarkCryptStream compares the stream format with bare AES-256-GCM on
// the same 64 MiB, interleaved in each iteration so that all three see the
// same machine. raw_sha256_MBps is reported because the Writer must hash
// the plaintext: on one stream the seal rate cannot exceed it.
func BenchmarkCryptStream(b *testing.B) {
	const size = 64 << 20
	key, doc := testKey("bench"), testDoc("bench")
	plaintext := randomBytes(size, 42)
	ct := mustSeal(b, key, doc, plaintext, 0)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	dst := make([]byte, 0, seg+tagSize)
	h := sha256.New()

	var seal, open, raw, hash time.Duration
	timed := func(d *time.Duration, f func()) {
		start := time.Now()
		f()
		*d += time.Since(start)
	}
	for b.Loop() {
		timed(&seal, func() {
			w, err := NewWriter(io.Discard, key, doc)
			if err == nil {
				_, err = w.Write(plaintext)
			}
			if err == nil {
				err = w.Close()
			}
			if err != nil {
				b.Fatal(err)
			}
		})
		timed(&open, func() {
			r, err := NewReader(bytes.NewReader(ct), key, doc)
			if err == nil {
				_, err = io.Copy(io.Discard, r)
			}
			if err != nil {
				b.Fatal(err)
			}
		})
		timed(&raw, func() {
			for p := plaintext; len(p) > 0; p = p[seg:] {
				dst = aead.Seal(dst[:0], nonce, p[:seg], nil)
			}
		})
		timed(&hash, func() { h.Reset(); h.Write(plaintext) })
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(seal), "crypt_stream_seal_MBps")
	b.ReportMetric(mbps(open), "crypt_stream_open_MBps")
	b.ReportMetric(mbps(raw), "raw_gcm_MBps")
	b.ReportMetric(mbps(hash), "raw_sha256_MBps")
	b.ReportMetric(mbps(seal)/mbps(raw), "ratio_seal")
	b.ReportMetric(mbps(open)/mbps(raw), "ratio_open")
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
// through Writer, a pipe and Reader while the peak heap is sampled.
func BenchmarkCryptStream1GiB(b *testing.B) {
	const size = 1 << 30
	key, doc := testKey("bench"), testDoc("bench")
	src := patternReader{randomBytes(4093, 7)} // odd length: segments differ
	var peak uint64
	for b.Loop() {
		runtime.GC()
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Go(func() {
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			tick := time.NewTicker(2 * time.Millisecond)
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
		go func() {
			w, err := NewWriter(pw, key, doc)
			if err == nil {
				_, err = io.Copy(w, io.LimitReader(src, size))
			}
			if err == nil {
				err = w.Close()
			}
			pw.CloseWithError(err)
		}()
		r, err := NewReader(pr, key, doc)
		var n int64
		if err == nil {
			n, err = io.Copy(io.Discard, r)
		}
		close(stop)
		sampler.Wait()
		if err != nil || n != size {
			b.Fatalf("streamed %d bytes: %v", n, err)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "crypt_stream_1GiB_peak_heap_MiB")
}
