package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/tma-portal/tma/server/blob"
	"github.com/tma-portal/tma/server/tma"
)

const (
	testPartSize = blob.MinPartSize
	mib          = 1 << 20
)

// harness is one fresh, empty store plus what the suite needs to look
// behind its back.
type harness struct {
	store tma.BlobStore
	// leftovers names what failed Puts left behind: temporary files for FS,
	// unfinished multipart uploads for S3.
	leftovers func(t *testing.T) []string
	// multipartUploads counts the multipart uploads started so far; nil if
	// the store has no such thing.
	multipartUploads func() int64
}

// TestBlobStores runs one suite against every tma.BlobStore, so that the
// application can switch stores without noticing.
func TestBlobStores(t *testing.T) {
	fake := newFakeS3(t)
	stores := []struct {
		name string
		new  func(t *testing.T) harness
	}{
		{"FS", newFSHarness},
		{"S3", fake.newHarness},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			testBlobStore(t, st.new)
		})
	}
}

func testBlobStore(t *testing.T, newHarness func(t *testing.T) harness) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		h := newHarness(t)
		tests := []struct {
			name      string
			size      int
			multipart bool
		}{
			{"Empty", 0, false},
			{"OneByte", 1, false},
			{"OneMiB", mib, false},
			{"ExactlyOnePart", testPartSize, false},
			{"OnePartPlusOne", testPartSize + 1, true},
			{"ExactlyTwoParts", 2 * testPartSize, true},
			{"TwelveMiB", 12 * mib, true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				data := randomBytes(t, tc.size)
				id := tma.NewID()
				var before int64
				if h.multipartUploads != nil {
					before = h.multipartUploads()
				}
				n, err := h.store.Put(ctx, id, bytes.NewReader(data))
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				if n != int64(tc.size) {
					t.Errorf("Put wrote %d bytes, want %d", n, tc.size)
				}
				if h.multipartUploads != nil {
					if got := h.multipartUploads() - before; got != 0 != tc.multipart {
						t.Errorf("%d multipart uploads started, want multipart=%v", got, tc.multipart)
					}
				}
				rc, err := h.store.Open(ctx, id)
				if got := readAll(t, rc, err); !bytes.Equal(got, data) {
					t.Errorf("Open returned %d bytes, not the %d put", len(got), len(data))
				}
				info, err := h.store.Stat(ctx, id)
				if err != nil {
					t.Fatalf("Stat: %v", err)
				}
				if info.ID != id || info.Size != int64(tc.size) {
					t.Errorf("Stat = %+v, want id %s size %d", info, id, tc.size)
				}
				if d := time.Since(info.ModTime); d < -time.Minute || d > time.Minute {
					t.Errorf("Stat ModTime = %v, want about now", info.ModTime)
				}
				assertNoLeftovers(t, h)
			})
		}
	})

	t.Run("OpenRange", func(t *testing.T) {
		h := newHarness(t)
		const size = 100_000
		data := randomBytes(t, size)
		id := mustPut(t, h.store, data)
		empty := mustPut(t, h.store, nil)
		tests := []struct {
			name    string
			id      string
			off, n  int64
			want    []byte
			errCode string
		}{
			{"Start", id, 0, 10, data[:10], ""},
			{"Middle", id, 40_000, 1234, data[40_000:41_234], ""},
			{"End", id, size - 10, 10, data[size-10:], ""},
			{"ToEndNegativeN", id, size - 10, -1, data[size-10:], ""},
			{"WholeNegativeN", id, 0, -1, data, ""},
			{"MiddleToEnd", id, 123, -1, data[123:], ""},
			{"PastEndClamped", id, size - 5, 100, data[size-5:], ""},
			{"ZeroLength", id, 10, 0, []byte{}, ""},
			{"AtEnd", id, size, -1, []byte{}, ""},
			{"AtEndWithN", id, size, 5, []byte{}, ""},
			{"EmptyBlob", empty, 0, -1, []byte{}, ""},
			{"BeyondEnd", id, size + 1, 1, nil, tma.EINVALID},
			{"NegativeOffset", id, -1, 1, nil, tma.EINVALID},
			{"Missing", tma.NewID(), 0, 1, nil, tma.ENOTFOUND},
			{"MissingZeroLength", tma.NewID(), 0, 0, nil, tma.ENOTFOUND},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rc, err := h.store.OpenRange(ctx, tc.id, tc.off, tc.n)
				if tc.errCode != "" {
					assertCode(t, err, tc.errCode)
					return
				}
				if got := readAll(t, rc, err); !bytes.Equal(got, tc.want) {
					t.Errorf("OpenRange(%d, %d) returned %d bytes, want %d", tc.off, tc.n, len(got), len(tc.want))
				}
			})
		}
	})

	t.Run("Missing", func(t *testing.T) {
		h := newHarness(t)
		id := tma.NewID()
		_, err := h.store.Open(ctx, id)
		assertCode(t, err, tma.ENOTFOUND)
		_, err = h.store.Stat(ctx, id)
		assertCode(t, err, tma.ENOTFOUND)
	})

	t.Run("Duplicate", func(t *testing.T) {
		h := newHarness(t)
		data := randomBytes(t, 1000)
		id := mustPut(t, h.store, data)
		second := &countingReader{r: bytes.NewReader(randomBytes(t, 500))}
		_, err := h.store.Put(ctx, id, second)
		assertCode(t, err, tma.ECONFLICT)
		if second.n != 0 {
			t.Errorf("Put read %d bytes of a conflicting blob, want it refused up front", second.n)
		}
		rc, err := h.store.Open(ctx, id)
		if got := readAll(t, rc, err); !bytes.Equal(got, data) {
			t.Error("conflicting Put changed the stored blob")
		}
	})

	t.Run("InvalidID", func(t *testing.T) {
		h := newHarness(t)
		valid := tma.NewID()
		tests := []struct{ name, id string }{
			{"Empty", ""},
			{"DotDot", "../x"},
			{"DeepTraversal", "../../../../etc/passwd"},
			{"Slash", "ab/cd"},
			{"Absolute", "/" + valid[1:]},
			{"UpperCase", strings.ToUpper(valid)},
			{"SlashInsideUUID", valid[:9] + "/" + valid[10:]},
			{"Tmp", "tmp"},
			{"TooLong", valid + "0"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := h.store.Put(ctx, tc.id, strings.NewReader("x"))
				assertCode(t, err, tma.EINVALID)
				_, err = h.store.Open(ctx, tc.id)
				assertCode(t, err, tma.EINVALID)
				_, err = h.store.OpenRange(ctx, tc.id, 0, 1)
				assertCode(t, err, tma.EINVALID)
				_, err = h.store.Stat(ctx, tc.id)
				assertCode(t, err, tma.EINVALID)
				assertCode(t, h.store.Delete(ctx, tc.id), tma.EINVALID)
			})
		}
		assertList(t, h.store)
	})

	t.Run("Delete", func(t *testing.T) {
		h := newHarness(t)
		id := mustPut(t, h.store, []byte("secret"))
		keep := mustPut(t, h.store, []byte("other"))
		for i := range 2 {
			if err := h.store.Delete(ctx, id); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
			_, err := h.store.Stat(ctx, id)
			assertCode(t, err, tma.ENOTFOUND)
		}
		if err := h.store.Delete(ctx, tma.NewID()); err != nil {
			t.Errorf("Delete of a never stored id: %v", err)
		}
		assertList(t, h.store, keep)
		// The id is free again.
		if _, err := h.store.Put(ctx, id, strings.NewReader("again")); err != nil {
			t.Errorf("Put after Delete: %v", err)
		}
	})

	t.Run("List", func(t *testing.T) {
		h := newHarness(t)
		assertList(t, h.store)
		var ids []string
		for i := range 25 {
			ids = append(ids, mustPut(t, h.store, randomBytes(t, i)))
		}
		assertList(t, h.store, ids...)

		stop := errors.New("stop")
		calls := 0
		err := h.store.List(ctx, func(tma.BlobInfo) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("List with failing fn = %v after %d calls, want stop after 1", err, calls)
		}
	})

	t.Run("FailedPut", func(t *testing.T) {
		h := newHarness(t)
		errBoom := errors.New("boom")
		tests := []struct {
			name string
			// put runs Put with a source that fails after some bytes.
			put     func(id string) error
			wantErr error
		}{
			{"ReaderErrorSmall", func(id string) error {
				_, err := h.store.Put(ctx, id, &failingReader{r: bytes.NewReader(randomBytes(t, 1000)), after: 100, err: errBoom})
				return err
			}, errBoom},
			{"ReaderErrorInSecondPart", func(id string) error {
				_, err := h.store.Put(ctx, id, &failingReader{r: bytes.NewReader(randomBytes(t, 12*mib)), after: 7 * mib, err: errBoom})
				return err
			}, errBoom},
			{"ReaderErrorInLastPart", func(id string) error {
				_, err := h.store.Put(ctx, id, &failingReader{r: bytes.NewReader(randomBytes(t, 12*mib)), after: 11 * mib, err: errBoom})
				return err
			}, errBoom},
			{"CancelledBefore", func(id string) error {
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				_, err := h.store.Put(ctx, id, bytes.NewReader(randomBytes(t, 1000)))
				return err
			}, context.Canceled},
			{"CancelledMidway", func(id string) error {
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				r := &failingReader{r: bytes.NewReader(randomBytes(t, 12*mib)), after: 6 * mib, cancel: cancel}
				_, err := h.store.Put(ctx, id, r)
				return err
			}, context.Canceled},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				id := tma.NewID()
				err := tc.put(id)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Put = %v, want %v", err, tc.wantErr)
				}
				_, err = h.store.Stat(ctx, id)
				assertCode(t, err, tma.ENOTFOUND)
				_, err = h.store.Open(ctx, id)
				assertCode(t, err, tma.ENOTFOUND)
				assertList(t, h.store)
				assertNoLeftovers(t, h)
				// Nothing blocks a retry.
				if _, err := h.store.Put(ctx, id, strings.NewReader("retry")); err != nil {
					t.Fatalf("Put after failed Put: %v", err)
				}
				if err := h.store.Delete(ctx, id); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

func newFSHarness(t *testing.T) harness {
	t.Helper()
	root := filepath.Join(t.TempDir(), "blobs")
	s, err := blob.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return harness{
		store: s,
		leftovers: func(t *testing.T) []string {
			t.Helper()
			entries, err := os.ReadDir(filepath.Join(root, "tmp"))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return names
		},
	}
}

// fakeS3 is one in-process S3 server; each harness gets its own bucket.
type fakeS3 struct {
	client  *s3.Client
	uploads atomic.Int64
	buckets atomic.Int64
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	f := &fakeS3{}
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	handler := faker.Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.URL.Query()["uploads"]; ok && r.Method == http.MethodPost {
			f.uploads.Add(1)
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client, err := blob.NewS3Client(context.Background(), blob.S3Config{
		Endpoint:  srv.URL,
		Region:    "us-east-1",
		AccessKey: "test",
		SecretKey: "test",
		PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.client = client
	return f
}

func (f *fakeS3) newHarness(t *testing.T) harness {
	t.Helper()
	ctx := context.Background()
	bucket := fmt.Sprintf("bucket-%d", f.buckets.Add(1))
	if _, err := f.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	// Objects outside the prefix or not named like blobs belong to
	// someone else; List must not report them.
	for _, key := range []string{"outside", "blobs/not-a-blob", "blobs/nested/" + tma.NewID(), tma.NewID()} {
		if _, err := f.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := blob.NewS3(f.client, bucket, "blobs", blob.WithPartSize(testPartSize))
	if err != nil {
		t.Fatal(err)
	}
	return harness{
		store: s,
		leftovers: func(t *testing.T) []string {
			t.Helper()
			out, err := f.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
			var api smithy.APIError
			if errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload" {
				return nil // gofakes3's answer for a bucket that never had an upload
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, u := range out.Uploads {
				keys = append(keys, aws.ToString(u.Key))
			}
			return keys
		},
		multipartUploads: f.uploads.Load,
	}
}

// TestFSCrashLeavesNoBlob plays a crash in the middle of a Put: the
// temporary file stays, but no blob appears, and CleanTemp removes it once
// it is old enough.
func TestFSCrashLeavesNoBlob(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "blobs")
	s, err := blob.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("root mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	kept := mustPut(t, s, []byte("kept"))
	if fi, err := os.Stat(filepath.Join(root, kept[0:2], kept[2:4], kept)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("blob file: %v, %v; want mode 0600 under ab/cd/<id>", fi, err)
	}

	id := tma.NewID()
	old := filepath.Join(root, "tmp", id+"-123.tmp")
	fresh := filepath.Join(root, "tmp", tma.NewID()+"-456.tmp")
	foreign := filepath.Join(root, "tmp", "README")
	for _, p := range []string{old, fresh, foreign} {
		if err := os.WriteFile(p, []byte("half a blob"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stale := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{old, foreign} {
		if err := os.Chtimes(p, stale, stale); err != nil {
			t.Fatal(err)
		}
	}
	// A stray file in the fan-out tree is no blob either.
	if err := os.WriteFile(filepath.Join(root, kept[0:2], kept[2:4], "stray"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	_, err = s.Open(ctx, id)
	assertCode(t, err, tma.ENOTFOUND)
	_, err = s.Stat(ctx, id)
	assertCode(t, err, tma.ENOTFOUND)
	assertList(t, s, kept)

	removed, err := s.CleanTemp(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 1 {
		t.Errorf("CleanTemp removed %d files, want 1", removed)
	}
	for _, tc := range []struct {
		path string
		want bool
	}{{old, false}, {fresh, true}, {foreign, true}} {
		if _, err := os.Stat(tc.path); (err == nil) != tc.want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(tc.path), err == nil, tc.want)
		}
	}
	if _, err := s.Put(ctx, id, strings.NewReader("whole")); err != nil {
		t.Errorf("Put after crash: %v", err)
	}
}

// TestS3Unavailable checks that outages reach callers as EUNAVAILABLE, which
// the web layer turns into 503 rather than 500 or 404.
func TestS3Unavailable(t *testing.T) {
	ctx := context.Background()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	for _, tc := range []struct{ name, url string }{{"ServerError", failing.URL}, {"Unreachable", closed.URL}} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := blob.NewS3Client(ctx, blob.S3Config{
				Endpoint: tc.url, AccessKey: "test", SecretKey: "test", PathStyle: true,
			}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
			if err != nil {
				t.Fatal(err)
			}
			s, err := blob.NewS3(client, "bucket", "")
			if err != nil {
				t.Fatal(err)
			}
			id := tma.NewID()
			_, err = s.Put(ctx, id, strings.NewReader("x"))
			assertCode(t, err, tma.EUNAVAILABLE)
			_, err = s.Open(ctx, id)
			assertCode(t, err, tma.EUNAVAILABLE)
			_, err = s.Stat(ctx, id)
			assertCode(t, err, tma.EUNAVAILABLE)
			assertCode(t, s.Delete(ctx, id), tma.EUNAVAILABLE)
			assertCode(t, s.List(ctx, func(tma.BlobInfo) error { return nil }), tma.EUNAVAILABLE)
		})
	}
}

func TestNewS3Options(t *testing.T) {
	client := s3.New(s3.Options{Region: "us-east-1"})
	for _, tc := range []struct {
		name   string
		client *s3.Client
		bucket string
		opts   []blob.S3Option
		ok     bool
	}{
		{"Defaults", client, "b", nil, true},
		{"NoBucket", client, "", nil, false},
		{"NoClient", nil, "b", nil, false},
		{"PartTooSmall", client, "b", []blob.S3Option{blob.WithPartSize(blob.MinPartSize - 1)}, false},
		{"MinPart", client, "b", []blob.S3Option{blob.WithPartSize(blob.MinPartSize)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := blob.NewS3(tc.client, tc.bucket, "p", tc.opts...)
			if tc.ok && err != nil {
				t.Errorf("NewS3: %v", err)
			} else if !tc.ok {
				assertCode(t, err, tma.EINVALID)
			}
		})
	}
}

func mustPut(t *testing.T, s tma.BlobStore, data []byte) string {
	t.Helper()
	id := tma.NewID()
	if _, err := s.Put(context.Background(), id, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	return id
}

func readAll(t *testing.T, rc io.ReadCloser, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

func assertCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tma.ErrorCode(err); got != code {
		t.Errorf("error code = %q (%v), want %q", got, err, code)
	}
	var e *tma.Error
	if err != nil && !errors.As(err, &e) {
		t.Errorf("error %v is no *tma.Error", err)
	}
}

func assertList(t *testing.T, s tma.BlobStore, want ...string) {
	t.Helper()
	var got []string
	err := s.List(context.Background(), func(info tma.BlobInfo) error {
		got = append(got, info.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want = append([]string(nil), want...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("List = %v, want %v", got, want)
	}
}

func assertNoLeftovers(t *testing.T, h harness) {
	t.Helper()
	if left := h.leftovers(t); len(left) > 0 {
		t.Errorf("leftovers after Put: %v", left)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// failingReader yields the bytes of r up to after, then fails with err or,
// if cancel is set, cancels the Put's context and keeps going.
type failingReader struct {
	r      io.Reader
	after  int
	err    error
	cancel context.CancelFunc
	n      int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n >= f.after {
		if f.cancel != nil {
			f.cancel()
		} else {
			return 0, f.err
		}
	}
	if f.cancel == nil && len(p) > f.after-f.n {
		p = p[:f.after-f.n]
	}
	n, err := f.r.Read(p)
	f.n += n
	return n, err
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
