package web

import "testing"

func TestDevice(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ua string
		en, de   string
	}{
		{"Firefox on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
			"Firefox on Windows", "Firefox unter Windows"},
		{"Chrome on macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			"Chrome on macOS", "Chrome unter macOS"},
		{"Safari on iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			"Safari on iPhone", "Safari auf dem iPhone"},
		{"Safari on macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
			"Safari on macOS", "Safari unter macOS"},
		{"Safari on iPad", "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			"Safari on iPad", "Safari auf dem iPad"},
		{"Edge on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
			"Edge on Windows", "Edge unter Windows"},
		{"Opera on Linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
			"Opera on Linux", "Opera unter Linux"},
		{"Chrome on Android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
			"Chrome on Android", "Chrome unter Android"},
		{"Samsung Internet", "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
			"Samsung Internet on Android", "Samsung Internet unter Android"},
		{"Chrome on iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
			"Chrome on iPhone", "Chrome auf dem iPhone"},
		{"Firefox on iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15",
			"Firefox on iPhone", "Firefox auf dem iPhone"},
		{"Firefox on Linux", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
			"Firefox on Linux", "Firefox unter Linux"},
		{"Chrome on ChromeOS", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			"Chrome on ChromeOS", "Chrome unter ChromeOS"},
		{"headless Chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
			"Chrome on Linux", "Chrome unter Linux"},
		{"curl", "curl/8.5.0", "curl", "curl"},
		{"Go client on nothing known", "Go-http-client/1.1", "Unknown browser", "Unbekannter Browser"},
		{"empty", "", "Unknown browser", "Unbekannter Browser"},
		{"system only", "SomeBot/1.0 (Windows NT 10.0)", "Unknown browser on Windows", "Unbekannter Browser unter Windows"},
		{"markup stays text", "<b>Firefox/1</b>", "Firefox", "Firefox"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for loc, want := range map[string]string{"en": tc.en, "de": tc.de} {
				v := &view{Locale: loc, catalog: p.catalog}
				if got := v.Device(tc.ua); got != want {
					t.Errorf("%s: Device(%q) = %q, want %q", loc, tc.ua, got, want)
				}
			}
		})
	}
}

func FuzzParseUserAgent(f *testing.F) {
	for _, s := range []string{"", "Firefox/", "Mozilla/5.0 (iPhone; like Mac OS X) Safari/604.1", "\xc3\x28\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		b, s := parseUserAgent(ua)
		if len(b) > 20 || len(s) > 10 {
			t.Fatalf("parseUserAgent(%q) = %q, %q", ua, b, s)
		}
	})
}
