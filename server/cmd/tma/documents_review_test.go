package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// twoLeadDocWorld is docWorld plus a second threat manager who co-leads the
// case, for four-eyes decisions.
func twoLeadDocWorld(t *testing.T) (*testServer, *tma.Tenant, *tma.Case, *client, *client) {
	t.Helper()
	srv, tn, kase, lead, _ := docWorld(t, nil)
	u, err := postgres.NewUserService(srv.DB).CreateUser(systemCtx(context.Background(), tn.ID), tn.ID, tma.NewUser{
		Email: "second@acme.example", DisplayName: "Second lead", Password: testPassword, Roles: []tma.Role{tma.RoleThreatManager},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.DB.Pool.Exec(context.Background(), `INSERT INTO case_members (tenant_id, case_id, user_id, role) VALUES ($1, $2, $3, 'lead')`,
		tn.ID, kase.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	second := srv.client(t)
	second.login("acme", u.Email)
	return srv, tn, kase, lead, second
}

// TestDocumentDeleteRefusedUnderLegalHold: a case under legal hold must keep its
// evidence (DOMAIN.md: "blocking deletion of evidence under legal hold";
// Art. 17 erasure covers attachments, "legal hold is the exception"). The
// four-eyes deletion of a document version must be refused, at the
// request or at the approval, while the hold is set.
func TestDocumentDeleteRefusedUnderLegalHold(t *testing.T) {
	srv, tn, kase, lead, second := twoLeadDocWorld(t)
	doc := uploadDocument(t, lead, kase.ID, "", "evidence.txt", []byte("Threatening letter, scanned.\n"))
	ctx := systemCtx(context.Background(), tn.ID)
	if err := postgres.NewCaseKeyService(srv.DB, nil).SetLegalHold(ctx, tn.ID, kase.ID, true); err != nil {
		t.Fatal(err)
	}
	base := "/cases/" + kase.ID + "/documents/" + doc.ID
	lead.get(base)
	lead.post(base+"/versions/1/delete", nil)
	pending, err := postgres.NewCaseService(srv.DB).Approvals(ctx, tn.ID, kase.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range pending {
		if a.Kind != tma.ApprovalDocumentDelete {
			continue
		}
		second.get("/cases/" + kase.ID)
		second.post("/cases/"+kase.ID+"/approvals/"+a.ID+"/approve", nil)
	}
	var deleted bool
	if err := srv.DB.Pool.QueryRow(context.Background(), `SELECT deleted_at IS NOT NULL FROM document_versions WHERE tenant_id = $1 AND document_id = $2 AND version = 1`,
		tn.ID, doc.ID).Scan(&deleted); err != nil {
		t.Fatal(err)
	}
	if deleted {
		t.Fatal("a document version was deleted (content, name and digest gone) while the case is under legal hold")
	}
	if status, _ := lead.get(base + "/versions/1/download"); status != http.StatusOK {
		t.Fatalf("download after the refused deletion: status %d", status)
	}
}

// TestDocumentReadsDoNotCrowdOutTimeline: every read of a document's bytes
// (each range request of a PDF viewer, too) is an audit event on the case,
// and the timeline reads only the case's first 2000 events before it drops
// the kinds it does not show. A member who downloads a document often
// enough (cheap one-byte range requests) hides every later event (a
// deletion, a state change, an upload) from the timeline and from the
// case-file export.
func TestDocumentReadsDoNotCrowdOutTimeline(t *testing.T) {
	srv, tn, kase, lead, _ := docWorld(t, nil)
	doc := uploadDocument(t, lead, kase.ID, "", "first.txt", []byte("one\n"))
	dl := srv.URL + "/cases/" + kase.ID + "/documents/" + doc.ID + "/versions/1/download"
	const reads = 2000
	var wg sync.WaitGroup
	var failed sync.Once
	jobs := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				req, _ := http.NewRequest(http.MethodGet, dl, nil)
				req.Header.Set("Range", "bytes=0-0")
				resp, err := lead.http.Do(req)
				if err != nil {
					failed.Do(func() { t.Errorf("range read: %v", err) })
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusPartialContent {
					failed.Do(func() { t.Errorf("range read: status %d", resp.StatusCode) })
				}
			}
		}()
	}
	for i := range reads {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	second := uploadDocument(t, lead, kase.ID, "", "second.txt", []byte("two\n"))

	events, err := postgres.NewCaseService(srv.DB).Timeline(systemCtx(context.Background(), tn.ID), tn.ID, kase.ID, "documents")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events {
		if e.Action == tma.AuditDocumentUploaded && strings.Contains(e.Detail, second.ID) {
			found = true
		}
	}
	if !found {
		t.Fatalf("after %d reads of one document, the upload of another is missing from the timeline (%d document events shown)", reads, len(events))
	}
}

// TestUploadOneFilePerRequest: a version upload with two
// file parts is refused ("Upload one file per request.", 400), and the
// first part is not stored either: the client is told that the upload
// failed, so the document must not have changed.
func TestUploadOneFilePerRequest(t *testing.T) {
	srv, tn, kase, lead, _ := docWorld(t, nil)
	doc := uploadDocument(t, lead, kase.ID, "", "report.txt", []byte("version one\n"))
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := range 2 {
		p, err := mw.CreateFormFile("file", fmt.Sprintf("report-%d.txt", i))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(p, "version two, file %d\n", i)
	}
	mw.Close()
	status, body, _ := lead.send(http.MethodPost, "/cases/"+kase.ID+"/documents/"+doc.ID+"/versions", &buf, map[string]string{
		"Content-Type": mw.FormDataContentType(), "X-CSRF-Token": lead.csrf, "Accept": "application/json"})
	if status != http.StatusBadRequest || !strings.Contains(body, "Upload one file per request.") {
		t.Errorf("two files as one version: status %d: %.200s", status, body)
	}
	var versions int
	if err := srv.DB.Pool.QueryRow(context.Background(), `SELECT versions FROM documents WHERE tenant_id = $1 AND id = $2`, tn.ID, doc.ID).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != 1 {
		t.Fatalf("the upload was refused (status %d: %.200s), yet the document now has %d versions", status, body, versions)
	}
}
