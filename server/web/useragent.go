package web

import "strings"

// userAgentRules name the browser and the system of a User-Agent header, so
// that a session list can say "Firefox on Windows". The first rule whose
// token the header contains wins, so the order matters: Edge, Opera and
// Samsung Internet also say "Chrome", Chrome also says "Safari", an iPhone
// also says "Mac OS X", and Android also says "Linux". It is a few lines on
// purpose: a session list needs a recognisable name, not a device database.
var (
	browserRules = []struct{ token, name string }{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
		{"OPR/", "Opera"}, {"OPiOS/", "Opera"},
		{"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"HeadlessChrome/", "Chrome"}, {"Chrome/", "Chrome"}, {"CriOS/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Safari/", "Safari"},
		{"curl/", "curl"},
	}
	systemRules = []struct{ token, code string }{
		{"iPhone", "iphone"}, {"iPad", "ipad"},
		{"Android", "android"},
		{"Windows", "windows"},
		{"CrOS", "chromeos"},
		{"Macintosh", "macos"}, {"Mac OS X", "macos"},
		{"Linux", "linux"},
	}
)

// parseUserAgent returns the browser's name and a code for the system
// ("windows", "iphone"), each "" if unknown.
func parseUserAgent(ua string) (browser, system string) {
	for _, r := range browserRules {
		if strings.Contains(ua, r.token) {
			browser = r.name
			break
		}
	}
	for _, r := range systemRules {
		if strings.Contains(ua, r.token) {
			system = r.code
			break
		}
	}
	return browser, system
}

// Device names a session's browser and system in the view's language:
// "Firefox on Windows", "Safari auf dem iPhone".
func (v *view) Device(ua string) string {
	browser, system := parseUserAgent(ua)
	if browser == "" {
		if system == "" {
			return v.T("device.unknown")
		}
		browser = v.T("device.browser.unknown")
	}
	if system == "" {
		return browser
	}
	return v.T("device."+system, browser)
}
