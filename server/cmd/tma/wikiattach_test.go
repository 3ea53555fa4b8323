package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// uploadAttachment sends one file to a wiki page as the page's script
// does: multipart, the CSRF token in the header, asking for JSON.
func uploadAttachment(t *testing.T, c *client, pagePath, name string, content []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := part.Write(content); err != nil {
		t.Fatal(err)
	}
	mw.Close()
	status, body, _ := c.send(http.MethodPost, pagePath+"/attachments", &buf, map[string]string{
		"Content-Type": mw.FormDataContentType(), "X-CSRF-Token": c.csrf, "Accept": "application/json"})
	return status, body
}

// pngWithMarker is a small PNG with marker after its end, where image
// viewers ignore it but the stored bytes must hide it.
func pngWithMarker(t *testing.T, marker string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	buf.WriteString(marker)
	return buf.Bytes()
}

// TestWikiAttachments: an image and a PDF attached to a page are stored
// encrypted (no plaintext in the blob store); the image renders inline in
// the page through the attachment route with the preview CSP; the PDF
// downloads as an attachment, byte for byte; a reader whom the page is
// narrowed away from gets 404 for the file, as for a missing page; and
// after a KEK rotation and the retirement of the old version, the files
// still open (their data keys were rewrapped), while the old wrapping no
// longer does.
func TestWikiAttachments(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{"tm": tma.RoleThreatManager, "legal": tma.RoleLegal})
	clients := w.signIn(t)
	tm, legal := clients["tm"], clients["legal"]

	const marker = "WIKI-ATTACHMENT-PLAINTEXT-MARKER-7f3a9c"
	pngBytes := pngWithMarker(t, marker)
	pdfBytes := []byte("%PDF-1.4\n% " + marker + "\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

	path := createWikiPage(t, tm, "Site plan", "", "")
	var ids []string
	for _, f := range []struct {
		name    string
		content []byte
	}{{"plan.png", pngBytes}, {"Formular A.pdf", pdfBytes}} {
		status, body := uploadAttachment(t, tm, path, f.name, f.content)
		if status != http.StatusCreated {
			t.Fatalf("upload %s: %d %.300s", f.name, status, body)
		}
		var u uploaded
		if err := json.Unmarshal([]byte(body), &u); err != nil || u.ID == "" {
			t.Fatalf("upload %s: answer %.300s: %v", f.name, body, err)
		}
		ids = append(ids, u.ID)
	}
	// Legal reads the page but may not edit it.
	if status, _ := uploadAttachment(t, legal, path, "x.png", pngBytes); status != http.StatusForbidden {
		t.Fatalf("legal's upload: %d, want 403", status)
	}

	base := editBase(t, tm, path)
	md := "# Plan\n\n![Site plan](attachment:plan.png)\n\nThe [form](attachment:Formular%20A.pdf).\n"
	if status, b := tm.post(path, url.Values{"title": {"Site plan"}, "body": {md}, "base": {base}}); status != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", status, b)
	}
	imgURL, pdfURL := path+"/attachments/plan.png", path+"/attachments/Formular%20A.pdf"
	status, page := legal.get(path)
	if status != http.StatusOK || !strings.Contains(page, `<img src="`+imgURL+`"`) || !strings.Contains(page, `href="`+pdfURL+`"`) {
		t.Fatalf("page %d: no inline image or file link: %.3000s", status, page)
	}

	// The image: inline, its own type, the strict preview CSP, nosniff.
	status, body, h := request(legal, http.MethodGet, imgURL)
	if status != http.StatusOK || body != string(pngBytes) {
		t.Fatalf("image: %d, %d bytes", status, len(body))
	}
	if h.Get("Content-Type") != "image/png" || !strings.HasPrefix(h.Get("Content-Disposition"), "inline;") ||
		h.Get("Content-Security-Policy") != "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox" ||
		h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("image headers: %v", h)
	}
	// The PDF: a download, byte for byte, with a range too.
	status, body, h = request(tm, http.MethodGet, pdfURL)
	if status != http.StatusOK || body != string(pdfBytes) {
		t.Fatalf("pdf: %d %q", status, body)
	}
	if h.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(h.Get("Content-Disposition"), `attachment; filename="Formular A.pdf"`) {
		t.Fatalf("pdf headers: %v", h)
	}
	if status, part, _ := tm.send(http.MethodGet, pdfURL, nil, map[string]string{"Range": "bytes=11-20"}); status != http.StatusPartialContent || part != string(pdfBytes[11:21]) {
		t.Fatalf("range: %d %q", status, part)
	}
	if n := srv.countEvents(t, w.tenant.ID, tma.AuditWikiAttachmentAdded); n != 2 {
		t.Errorf("upload events = %d, want 2", n)
	}
	if n := srv.countEvents(t, w.tenant.ID, tma.AuditWikiAttachmentRead); n < 3 {
		t.Errorf("read events = %d, want at least 3", n)
	}

	// No plaintext on disk.
	blobs := 0
	err := filepath.WalkDir(srv.Config.BlobDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		blobs++
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("blob %s holds the plaintext marker", p)
		}
		return nil
	})
	if err != nil || blobs < 2 {
		t.Fatalf("blob dir: %d files, %v", blobs, err)
	}

	// Narrowed to threat managers: legal gets what a missing page gives.
	if status, b := tm.post(path+"/access", url.Values{"narrow": {"on"}, "read": {"threat_manager"}}); status != http.StatusOK {
		t.Fatalf("narrow: %d %.300s", status, b)
	}
	for _, u := range []string{imgURL, pdfURL, "/wiki/process/no-such-page/attachments/plan.png"} {
		if status, _ := legal.get(u); status != http.StatusNotFound {
			t.Errorf("legal GET %s: %d, want 404", u, status)
		}
	}
	if status, _ := uploadAttachment(t, legal, path, "x.png", pngBytes); status != http.StatusNotFound {
		t.Errorf("legal's upload to the narrowed page: %d, want 404", status)
	}
	if status, b := tm.get(imgURL); status != http.StatusOK || b != string(pngBytes) {
		t.Fatalf("tm image after narrowing: %d", status)
	}

	// KEK rotation and retirement of the old version.
	var old tma.WrappedKey
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT kek_provider, kek_id, kek_version, wrapped_key FROM wiki_attachments WHERE id = $1`, ids[1]).
		Scan(&old.KEK.Provider, &old.KEK.KeyID, &old.KEK.Version, &old.Ciphertext); err != nil {
		t.Fatal(err)
	}
	kp := loadKeyring(t, srv.Config.KEKFile)
	keys := postgres.NewCaseKeyService(srv.DB, kp).WithSecrets(crypt.NewSecretBox(kp))
	target, err := keys.RotateTenant(systemCtx(ctx, w.tenant.ID), w.tenant.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var now tma.KEKRef
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT kek_provider, kek_id, kek_version FROM wiki_attachments WHERE id = $1`, ids[1]).
		Scan(&now.Provider, &now.KeyID, &now.Version); err != nil || now != target || now == old.KEK {
		t.Fatalf("attachment key under %+v (%v) after rotation to %+v from %+v", now, err, target, old.KEK)
	}
	time.Sleep(20 * time.Millisecond) // past the rotation's end: retention 0 has passed
	rep, err := keys.RetireTenant(systemCtx(ctx, w.tenant.ID), w.tenant.ID, 0)
	if err != nil || len(rep.Retired) != 1 || rep.Retired[0].KEK != old.KEK {
		t.Fatalf("retire: %+v, %v; want %+v retired", rep, err, old.KEK)
	}
	fresh := loadKeyring(t, srv.Config.KEKFile)
	if k, err := fresh.Unwrap(ctx, tma.AttachmentKeyScope(w.tenant.ID, ids[1]), old); err == nil {
		clear(k)
		t.Fatal("the old wrapping of the attachment key still opens after the retirement")
	}
	if status, b := tm.get(pdfURL); status != http.StatusOK || b != string(pdfBytes) {
		t.Fatalf("pdf after retirement: %d %.300s", status, b)
	}
	// A new process, with only the keys left in the keyring.
	svc := postgres.NewWikiAttachmentService(srv.DB, crypt.NewAttachments(fresh), srv.Blobs, srv.Extractor)
	actx := tma.NewContextWithActor(ctx, tma.Actor{UserID: w.users["tm"].ID, TenantID: w.tenant.ID, Label: "tm"})
	rc, err := svc.Open(actx, w.tenant.ID, "process", "site-plan", ids[0], 0, -1, tma.AccessDownload, w.users["tm"])
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, pngBytes) {
		t.Fatalf("image through a fresh keyring: %d bytes, %v", len(got), err)
	}
}
