package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/blob"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// uploaded is the JSON answer of an upload.
type uploaded struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Name    string `json:"name"`
	URL     string `json:"url"`
}

// uploadRequest sends one file as the page's script does: multipart, the
// CSRF token in the header, asking for JSON. documentID "" adds a new
// document.
func uploadRequest(c *client, caseID, documentID, name string, body io.Reader) (int, string) {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreateFormFile("file", name)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := io.Copy(part, body); err != nil {
		c.t.Fatal(err)
	}
	mw.Close()
	path := "/cases/" + caseID + "/documents"
	if documentID != "" {
		path += "/" + documentID + "/versions"
	}
	if c.csrf == "" {
		c.get("/cases/" + caseID)
	}
	status, b, _ := c.send(http.MethodPost, path, &buf, map[string]string{
		"Content-Type": mw.FormDataContentType(), "X-CSRF-Token": c.csrf, "Accept": "application/json"})
	return status, b
}

// uploadDocument uploads a file and fails the test unless it was stored.
func uploadDocument(t *testing.T, c *client, caseID, documentID, name string, content []byte) uploaded {
	t.Helper()
	status, body := uploadRequest(c, caseID, documentID, name, bytes.NewReader(content))
	if status != http.StatusCreated {
		t.Fatalf("upload %s: status %d: %.300s", name, status, body)
	}
	var u uploaded
	if err := json.Unmarshal([]byte(body), &u); err != nil || u.ID == "" {
		t.Fatalf("upload %s: answer %.300s: %v", name, body, err)
	}
	return u
}

// docWorld is a tenant with a threat manager who leads a case.
func docWorld(t *testing.T, extra map[string]string) (*testServer, *tma.Tenant, *tma.Case, *client, *tma.User) {
	t.Helper()
	srv := startServer(t, extra)
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager)
	lead := users[0]
	ctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: lead.ID, TenantID: tn.ID, Label: lead.Email})
	kase, err := postgres.NewCaseService(srv.DB).CreateCase(ctx, tn.ID, tma.NewCase{Title: "Threats at the depot"})
	if err != nil {
		t.Fatal(err)
	}
	c := srv.client(t)
	c.login("acme", lead.Email)
	c.get("/cases/" + kase.ID)
	return srv, tn, kase, c, lead
}

// sessionCookies is the client's cookie header, for raw connections.
func sessionCookies(t *testing.T, srv *testServer, c *client) string {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	var cookies []string
	for _, ck := range c.http.Jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	return strings.Join(cookies, "; ")
}

// pdfStream generates size bytes that sniff as a PDF: a header, then
// blocks of pseudo-random bytes, each marked with its number, so that any
// byte can be computed again from its offset (at).
type pdfStream struct {
	block []byte
	size  int64
	off   int64
}

const pdfBlock = 64 << 10

func newPDFStream(size int64) *pdfStream {
	b := make([]byte, pdfBlock)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	copy(b, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	return &pdfStream{block: b, size: size}
}

// at fills p with the bytes at offset off.
func (s *pdfStream) at(p []byte, off int64) {
	for i := range p {
		o := off + int64(i)
		n, in := o/pdfBlock, o%pdfBlock
		c := s.block[in]
		if n > 0 && in >= 16 && in < 24 {
			var mark [8]byte
			binary.BigEndian.PutUint64(mark[:], uint64(n))
			c ^= mark[in-16]
		}
		p[i] = c
	}
}

func (s *pdfStream) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	if rest := s.size - s.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n := 0
	for n < len(p) {
		pos := s.off + int64(n)
		in := pos % pdfBlock
		k := copy(p[n:], s.block[in:])
		if blk := pos / pdfBlock; blk > 0 {
			var mark [8]byte
			binary.BigEndian.PutUint64(mark[:], uint64(blk))
			for j := max(in, 16); j < 24 && j < in+int64(k); j++ {
				p[int64(n)+j-in] ^= mark[j-16]
			}
		}
		n += k
	}
	s.off += int64(n)
	return n, nil
}

// watchHeap polls the heap every 5 ms until the returned function is
// called, which returns the peak growth over the heap at the start.
func watchHeap() func() int64 {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
		}
	}()
	return func() int64 {
		close(stop)
		wg.Wait()
		return int64(peak.Load()) - int64(before.HeapAlloc)
	}
}

// TestUploadConstantMemory streams a 1 GiB upload through the real server
// with a real session and CSRF header: the heap grows by less than 64 MiB
// while it is stored and while it downloads, byte for byte (SHA-256 of both
// streams), and a range request returns the right bytes.
func TestUploadConstantMemory(t *testing.T) {
	const size = 1 << 30
	srv, _, kase, c, _ := docWorld(t, map[string]string{"TMA_UPLOAD_LIMIT": fmt.Sprint(2 << 30)})
	began := time.Now()

	// The multipart body, generated on the fly, with its exact length.
	boundary := "tma-test-boundary-7f3a"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	sent := sha256.New()
	body := io.MultiReader(strings.NewReader(head), io.TeeReader(newPDFStream(size), sent), strings.NewReader(tail))
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/cases/"+kase.ID+"/documents", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(head)) + size + int64(len(tail))
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	req.Header.Set("X-CSRF-Token", c.csrf)
	req.Header.Set("Accept", "application/json")

	upGrowth := watchHeap()
	client := &http.Client{Jar: c.http.Jar, Timeout: 10 * time.Minute}
	resp, err := client.Do(req)
	growth := upGrowth()
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: status %d: %.300s", resp.StatusCode, answer)
	}
	t.Logf("1 GiB upload in %s; heap growth %d MiB", time.Since(began).Round(time.Millisecond), growth>>20)
	if growth > 64<<20 {
		t.Errorf("the heap grew by %d MiB during the upload, want < 64 MiB", growth>>20)
	}
	var u uploaded
	if err := json.Unmarshal(answer, &u); err != nil {
		t.Fatal(err)
	}

	// The whole file back, hashed as it streams.
	dl := "/cases/" + kase.ID + "/documents/" + u.ID + "/versions/1/download"
	get := func(rng string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+dl, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	downGrowth := watchHeap()
	resp = get("")
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	if growth := downGrowth(); growth > 64<<20 {
		t.Errorf("the heap grew by %d MiB during the download, want < 64 MiB", growth>>20)
	}
	if err != nil || resp.StatusCode != http.StatusOK || n != size {
		t.Fatalf("download: status %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatal("the download differs from the upload")
	}
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "application/octet-stream" || !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("download headers: Content-Type %q, Content-Disposition %q", ct, cd)
	}

	// A range in the middle, across a block boundary.
	off := int64(700<<20) - 100
	resp = get(fmt.Sprintf("bytes=%d-%d", off, off+999))
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := make([]byte, 1000)
	newPDFStream(size).at(want, off)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, want) {
		t.Fatalf("range: status %d, %d bytes, equal %v", resp.StatusCode, len(part), bytes.Equal(part, want))
	}
	if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", off, off+999, size) {
		t.Errorf("Content-Range %q", cr)
	}
	resp = get("bytes=-10")
	part, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	want = make([]byte, 10)
	newPDFStream(size).at(want, size-10)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, want) {
		t.Fatalf("suffix range: status %d, % x", resp.StatusCode, part)
	}
	resp = get(fmt.Sprintf("bytes=%d-", size))
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
		t.Fatalf("unsatisfiable range: status %d, Content-Range %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	t.Logf("whole test %s", time.Since(began).Round(time.Millisecond))
}

// rawExchange sends head (request line and headers) and then body, without
// finishing the body the headers announce, and reads the response. If the
// server tried to read the announced body before answering, it would wait
// for bytes that never come, and the read times out.
func rawExchange(t *testing.T, srv *testServer, head string, body []byte) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	type result struct {
		resp *http.Response
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp: resp, body: string(b)}
	}()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write(body) // the server may refuse and close before all of it
	r := <-done
	if r.err != nil {
		t.Fatalf("no response (did the server wait for the body?): %v", r.err)
	}
	return r.resp, r.body
}

// TestUploadLimitHolds: uploads over the limit are refused with 413 and a
// clear message whether or not they announce their length, without the
// server reading what was announced; uploads without a session or a CSRF
// token are refused before the body is read; and a form route refuses a
// chunked body over the body limit.
func TestUploadLimitHolds(t *testing.T) {
	srv, _, kase, c, _ := docWorld(t, map[string]string{"TMA_UPLOAD_LIMIT": "1048576", "TMA_BODY_LIMIT": "65536"})
	cookies := sessionCookies(t, srv, c)
	upload := "POST /cases/" + kase.ID + "/documents HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n" +
		"Content-Type: multipart/form-data; boundary=b\r\n"
	// fasthttp reads up to 8 KiB of a body before any handler runs; 16 KiB
	// is more than that, and far less than what the headers announce.
	partHead := append([]byte("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.txt\"\r\n\r\n"), bytes.Repeat([]byte("some text\n"), 1600)...)

	t.Run("announced length over the limit", func(t *testing.T) {
		resp, body := rawExchange(t, srv, upload+"Cookie: "+cookies+"\r\nX-CSRF-Token: "+c.csrf+"\r\nContent-Length: 10737418240\r\n\r\n", partHead)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than the limit of 1 MiB") {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
	})
	t.Run("German message", func(t *testing.T) {
		resp, body := rawExchange(t, srv, upload+"Accept-Language: de\r\nContent-Length: 10737418240\r\n\r\n", partHead)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "größer als die Grenze von 1 MiB") {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
	})
	t.Run("no session", func(t *testing.T) {
		resp, body := rawExchange(t, srv, upload+"Content-Length: 1000000\r\n\r\n", partHead)
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
	})
	t.Run("no CSRF token", func(t *testing.T) {
		resp, body := rawExchange(t, srv, upload+"Cookie: "+cookies+"\r\nContent-Length: 1000000\r\n\r\n", partHead)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
	})
	t.Run("CSRF token in the body only", func(t *testing.T) {
		b := append([]byte("--b\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n"+c.csrf+"\r\n"), partHead...)
		resp, body := rawExchange(t, srv, upload+"Cookie: "+cookies+"\r\nContent-Length: 1000000\r\n\r\n", b)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
	})
	t.Run("chunked over the limit", func(t *testing.T) {
		var b bytes.Buffer
		chunk := func(p []byte) { fmt.Fprintf(&b, "%x\r\n", len(p)); b.Write(p); b.WriteString("\r\n") }
		chunk(partHead)
		line := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
		for range 17 {
			chunk(line)
		}
		resp, body := rawExchange(t, srv, upload+"Cookie: "+cookies+"\r\nX-CSRF-Token: "+c.csrf+"\r\nTransfer-Encoding: chunked\r\n\r\n", b.Bytes())
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than the limit of 1 MiB") {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
	})
	t.Run("form route, announced length over the body limit", func(t *testing.T) {
		resp, body := rawExchange(t, srv, "POST /cases/"+kase.ID+"/notes HTTP/1.1\r\nHost: x\r\nCookie: "+cookies+"\r\nX-CSRF-Token: "+c.csrf+
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\n", append([]byte("title=a&body="), bytes.Repeat([]byte("a"), 16<<10)...))
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
	})
	t.Run("form route, chunked over the body limit", func(t *testing.T) {
		var b bytes.Buffer
		for range 3 {
			p := bytes.Repeat([]byte("a"), 32<<10)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
		}
		b.WriteString("0\r\n\r\n")
		resp, body := rawExchange(t, srv, "POST /cases/"+kase.ID+"/notes HTTP/1.1\r\nHost: x\r\nCookie: "+cookies+"\r\nX-CSRF-Token: "+c.csrf+
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n", append([]byte("5\r\nbody=\r\n"), b.Bytes()...))
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
	})
	t.Run("form route, chunked under the body limit", func(t *testing.T) {
		form := "title=Chunked&body=It+works.&_csrf=" + url.QueryEscape(c.csrf)
		resp, body := rawExchange(t, srv, "POST /cases/"+kase.ID+"/notes HTTP/1.1\r\nHost: x\r\nCookie: "+cookies+
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
			[]byte(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(form), form)))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
	})
	t.Run("a file within the limit", func(t *testing.T) {
		uploadDocument(t, c, kase.ID, "", "fits.txt", bytes.Repeat([]byte("fits\n"), 200<<10/5))
	})
}

// TestAbortedUploadLeavesNothing cuts the connection in the middle of an
// upload: no document exists afterwards, and blob GC leaves no blob or
// temporary file that nothing refers to.
func TestAbortedUploadLeavesNothing(t *testing.T) {
	srv, tn, kase, c, lead := docWorld(t, nil)
	cookies := sessionCookies(t, srv, c)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	head := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"half.pdf\"\r\n\r\n"
	fmt.Fprintf(conn, "POST /cases/%s/documents HTTP/1.1\r\nHost: x\r\nCookie: %s\r\nX-CSRF-Token: %s\r\nAccept: application/json\r\n"+
		"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n%s", kase.ID, cookies, c.csrf, 8<<20, head)
	if _, err := io.CopyN(conn, newPDFStream(8<<20), 4<<20); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the server store some of it
	conn.Close()
	ctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: lead.ID, TenantID: tn.ID, Label: lead.Email})
	// The server's next read fails at once; give the handler a moment to
	// unwind.
	time.Sleep(time.Second)
	var rows int
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE case_id = $1`, kase.ID).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Fatalf("%d document rows after an aborted upload", rows)
	}

	store, err := blob.NewFS(srv.Config.BlobDir)
	if err != nil {
		t.Fatal(err)
	}
	gc := &tma.BlobGC{Store: store, Registry: postgres.NewBlobRegistry(srv.DB), Grace: tma.MinBlobGrace,
		Now: func() time.Time { return time.Now().Add(24 * time.Hour) }}
	// Temporary files are aged by their real modification time: age them.
	old := time.Now().Add(-2 * time.Hour)
	_ = filepath.WalkDir(srv.Config.BlobDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			_ = os.Chtimes(p, old, old)
		}
		return nil
	})
	rep, err := gc.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("blob GC: %+v", rep)
	var left []string
	_ = filepath.WalkDir(srv.Config.BlobDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			left = append(left, filepath.Base(p))
		}
		return nil
	})
	if len(left) > 0 {
		refs, err := postgres.NewBlobRegistry(srv.DB).ReferencedBlobs(ctx, left)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range left {
			if !refs[id] {
				t.Errorf("file %s is left in the blob store, and nothing refers to it", id)
			}
		}
	}
}

// TestPreviewIsSandboxed: PDFs and PNGs are shown inline only with the
// sandbox policy and nosniff; HTML (even when the tenant accepts it), SVG
// and a mislabelled file are only ever attachments.
func TestPreviewIsSandboxed(t *testing.T) {
	srv, tn, kase, c, _ := docWorld(t, nil)
	types := append([]string{"text/html", "image/svg+xml"}, tma.DefaultDocumentTypes...)
	if err := postgres.NewTenantService(srv.DB).SetDocumentTypes(systemCtx(context.Background(), tn.ID), tn.ID, types); err != nil {
		t.Fatal(err)
	}
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	pdf := []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/MediaBox[0 0 200 200]/Parent 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
	html := []byte("<!doctype html><html><head><title>x</title></head><body><script>alert(document.cookie)</script></body></html>")
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>`)
	tests := []struct {
		name    string
		content []byte
		inline  string // the type it is shown inline with, or "" for an attachment
	}{
		{"scan.pdf", pdf, "application/pdf"},
		{"photo.png", png, "image/png"},
		{"page.html", html, ""},
		{"page.pdf", html, ""},
		{"drawing.svg", svg, ""},
		{"x.pdf", png, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := uploadDocument(t, c, kase.ID, "", tc.name, tc.content)
			status, body, h := c.do(http.MethodGet, "/cases/"+kase.ID+"/documents/"+u.ID+"/versions/1/preview", nil, nil)
			if status != http.StatusOK || body != string(tc.content) {
				t.Fatalf("status %d, %d bytes", status, len(body))
			}
			if h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", h.Get("X-Content-Type-Options"))
			}
			cd, ct, csp := h.Get("Content-Disposition"), h.Get("Content-Type"), h.Get("Content-Security-Policy")
			if tc.inline == "" {
				if !strings.HasPrefix(cd, "attachment;") || ct != "application/octet-stream" {
					t.Fatalf("not an attachment: Content-Disposition %q, Content-Type %q", cd, ct)
				}
				return
			}
			if !strings.HasPrefix(cd, "inline;") || ct != tc.inline {
				t.Fatalf("Content-Disposition %q, Content-Type %q; want inline %s", cd, ct, tc.inline)
			}
			if h.Get("X-Frame-Options") != "SAMEORIGIN" {
				t.Errorf("X-Frame-Options %q", h.Get("X-Frame-Options"))
			}
			for _, d := range []string{"default-src 'none'", "frame-ancestors 'self'", "sandbox"} {
				if !strings.Contains(csp, d) {
					t.Errorf("CSP %q lacks %q", csp, d)
				}
			}
			if strings.Contains(csp, "script-src") || strings.Contains(csp, "allow-scripts") {
				t.Errorf("CSP %q allows scripts", csp)
			}
		})
	}
}
