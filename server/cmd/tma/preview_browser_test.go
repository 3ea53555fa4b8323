package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// blackSquarePDF is a one-page PDF (200×200 pt) with a black square of
// 160×160 pt painted on it, so that a rendered preview shows dark pixels.
func blackSquarePDF() []byte {
	const content = "0 0 0 rg 20 20 160 160 re f\n"
	objs := []string{
		"<</Type/Catalog/Pages 2 0 R>>",
		"<</Type/Pages/Kids[3 0 R]/Count 1>>",
		"<</Type/Page/MediaBox[0 0 200 200]/Parent 2 0 R/Contents 4 0 R/Resources<<>>>>",
		fmt.Sprintf("<</Length %d>>stream\n%sendstream", len(content), content),
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	var offsets []int
	for i, o := range objs {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// blackSquarePNG is a 120×120 PNG, black but for a white border.
func blackSquarePNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 120, 120))
	for y := range 120 {
		for x := range 120 {
			c := color.RGBA{A: 255}
			if x < 10 || y < 10 || x >= 110 || y >= 110 {
				c = color.RGBA{255, 255, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// darkPixels counts the nearly black pixels of a PNG screenshot inside a
// rectangle given in CSS pixels (scaled by the device pixel ratio).
func darkPixels(t *testing.T, shot []byte, x, y, w, h, dpr float64) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	r := image.Rect(int(x*dpr), int(y*dpr), int((x+w)*dpr), int((y+h)*dpr)).Intersect(img.Bounds())
	n := 0
	for py := r.Min.Y; py < r.Max.Y; py++ {
		for px := r.Min.X; px < r.Max.X; px++ {
			cr, cg, cb, _ := img.At(px, py).RGBA()
			if cr < 0x2000 && cg < 0x2000 && cb < 0x2000 {
				n++
			}
		}
	}
	return n
}

// saveShot keeps a screenshot in TMA_SCREENSHOTS, if set, for a human to
// look at.
func saveShot(t *testing.T, name string, shot []byte) {
	if dir := os.Getenv("TMA_SCREENSHOTS"); dir != "" {
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Logf("screenshot %s: %v", p, err)
		} else {
			t.Logf("screenshot %s", p)
		}
	}
}

type box struct{ X, Y, W, H, DPR float64 }

// TestBrowserPDFPreviewRenders: in real Chromium, the document page of a
// PDF shows the PDF rendered by Chromium's viewer (the black square drawn
// in the test PDF appears as dark pixels inside the preview frame), and a
// PNG preview shows the image; the preview URL opened on its own renders
// as well. A frame that Chromium refused to fill (its "blocked" page, as
// for a PDF in a sandboxed frame) has no dark pixels and fails the test.
func TestBrowserPDFPreviewRenders(t *testing.T) {
	srv, _, kase, c, lead := docWorld(t, nil)
	pdf := uploadDocument(t, c, kase.ID, "", "Lagebild.pdf", blackSquarePDF())
	img := uploadDocument(t, c, kase.ID, "", "Foto.png", blackSquarePNG())
	pdfPage := "/cases/" + kase.ID + "/documents/" + pdf.ID
	imgPage := "/cases/" + kase.ID + "/documents/" + img.ID

	b := newBrowser(t, "en")
	run := browserSteps(t, b)
	run("sign in", chromedp.EmulateViewport(1280, 1000), chromedp.Navigate(srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SetValue(chromedp.ID("tenant"), "acme"), chromedp.SetValue(chromedp.ID("email"), lead.Email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword), chromedp.Submit(chromedp.ID("login-form")),
		chromedp.WaitVisible(chromedp.ID("dashboard-heading")))

	// rendered waits until the element sel shows at least want dark pixels.
	rendered := func(name, sel string, want int) {
		t.Helper()
		var (
			last []byte
			dark int
			bx   box
		)
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
			var err error
			bx, err = chromedp.Run(b, chromedp.Evaluate[box](`(() => { const e = document.querySelector(`+"`"+sel+"`"+`); e.scrollIntoView({block: "start"});
				const r = e.getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height, DPR: devicePixelRatio}; })()`))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if last, err = chromedp.Run(b, chromedp.CaptureScreenshot()); err != nil {
				t.Fatalf("%s: screenshot: %v", name, err)
			}
			if dark = darkPixels(t, last, bx.X, bx.Y, bx.W, bx.H, bx.DPR); dark >= want {
				break
			}
		}
		saveShot(t, name, last)
		if bx.W < 100 || bx.H < 100 {
			t.Errorf("%s: %s is %.0f×%.0f", name, sel, bx.W, bx.H)
		}
		if dark < want {
			t.Errorf("%s: %d dark pixels inside %s (%+v), want at least %d: the preview did not render", name, dark, sel, bx, want)
		}
	}

	// The PDF's square is 160 pt; the viewer fits the page to the frame or
	// shows it at 100%: at least 100×100 CSS pixels of it are visible.
	run("open the PDF's page", chromedp.Navigate(srv.URL+pdfPage), chromedp.WaitVisible(chromedp.ID("preview")))
	rendered("pdf-document-page", "#preview", 100*100)
	// Opened on its own (a new tab from the viewer), it renders as well.
	run("open the PDF's preview URL", chromedp.Navigate(srv.URL+pdfPage+"/versions/1/preview"))
	rendered("pdf-preview-url", "html", 100*100)

	run("open the PNG's page", chromedp.Navigate(srv.URL+imgPage), chromedp.WaitVisible(chromedp.ID("preview")))
	if tag, err := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector("#preview").tagName + ":" + document.querySelector("#preview").naturalWidth`)); err != nil || tag != "IMG:120" {
		t.Errorf("image preview %q, %v", tag, err)
	}
	rendered("png-document-page", "#preview", 90*90)

	// Whatever renders, the preview keeps its policy.
	code, _, h := c.do(http.MethodGet, pdfPage+"/versions/1/preview", nil, nil)
	if code != http.StatusOK || h.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none';") {
		t.Errorf("preview: %d, %v", code, h)
	}
}
