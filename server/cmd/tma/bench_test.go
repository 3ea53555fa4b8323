package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

const (
	benchConns   = 64
	benchSamples = 3
)

// benchSample is how long each sample runs; TMA_BENCH_SAMPLE shortens it
// while profiling.
var benchSample = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("TMA_BENCH_SAMPLE")); err == nil {
		return d
	}
	return 10 * time.Second
}()

// benchOnce runs the measurement once per process: the testing package
// calls a benchmark more than once, and this one takes a minute.
var benchOnce sync.Once

// BenchmarkHTTP measures the signed-in dashboard of the real server (session
// cache, CSRF token, authorization, template, request log at the default
// level) against a plain Fiber handler in the same process that sends the
// same bytes with no session and no database: the same body and the same
// response headers (security headers, request id, language), so that the
// difference is the session, authorization and rendering, not the cost of
// writing and parsing a dozen headers. (With the body alone the baseline is
// about 1.5 times faster.) Each figure is the median of
// interleaved samples of 64 keep-alive connections for 10 s each. It prints
// one line:
//
//	http_page_rps=<n> http_page_p99_ms=<n> http_static_rps=<n> ratio_page=<n>
func BenchmarkHTTP(b *testing.B) {
	benchOnce.Do(func() { benchHTTP(b) })
}

func benchHTTP(b *testing.B) {
	ctx := context.Background()
	srv := startServer(b, map[string]string{"TMA_LOG_LEVEL": "info"}) // the default level
	m, base := srv.Main, srv.URL

	tn := &tma.Tenant{Slug: "bench", Name: "Bench"}
	if err := postgres.NewTenantService(m.DB).CreateTenant(ctx, tn); err != nil {
		b.Fatal(err)
	}
	if _, err := postgres.NewUserService(m.DB).CreateUser(systemCtx(ctx, tn.ID), tn.ID, tma.NewUser{Email: "tm@bench.example", DisplayName: "Bench",
		Password: testPassword, Roles: []tma.Role{tma.RoleThreatManager}}); err != nil {
		b.Fatal(err)
	}
	cookie := benchLogin(b, base)

	// The same bytes, headers included, from a plain handler on a second
	// listener.
	page, header := benchGetHeader(b, base, cookie)
	for deadline := time.Now().Add(10 * time.Second); m.DB.CachedSessions() == 0; benchGet(b, base, cookie) {
		if time.Now().After(deadline) {
			b.Fatal("the session cache never filled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	static := fiber.New(fiber.Config{DisableStartupMessage: true})
	static.Get("/", func(c *fiber.Ctx) error {
		for k, vs := range header {
			switch k {
			case fiber.HeaderDate, fiber.HeaderContentLength:
			default:
				c.Set(k, vs[0])
			}
		}
		return c.Send(page)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = static.Listener(ln) }()
	b.Cleanup(func() { _ = static.Shutdown() })
	if got := benchGet(b, "http://"+ln.Addr().String(), cookie); string(got) != string(page) {
		b.Fatal("the static handler sends other bytes")
	}

	b.ResetTimer()
	var pageRPS, pageP99, staticRPS []float64
	for range benchSamples {
		rps, _ := benchLoad(b, "http://"+ln.Addr().String(), cookie)
		staticRPS = append(staticRPS, rps)
		rps, p99 := benchLoad(b, base, cookie)
		pageRPS, pageP99 = append(pageRPS, rps), append(pageP99, p99)
	}
	b.StopTimer()
	pr, sr := median(pageRPS), median(staticRPS)
	// On a line of its own: the testing package has printed the
	// benchmark's name without a newline.
	fmt.Printf("\nhttp_page_rps=%.0f http_page_p99_ms=%.1f http_static_rps=%.0f ratio_page=%.2f\n", pr, median(pageP99), sr, pr/sr)
	fmt.Printf("# samples: page_rps=%.0f page_p99_ms=%.1f static_rps=%.0f\n", pageRPS, pageP99, staticRPS)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchLogin signs in and returns the session cookie.
func benchLogin(b *testing.B, base string) *http.Cookie {
	b.Helper()
	jar := &cookieJar{}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRe.FindSubmatch(body)
	if m == nil {
		b.Fatal("no CSRF token on the login page")
	}
	form := url.Values{"tenant": {"bench"}, "email": {"tm@bench.example"}, "password": {testPassword}, "_csrf": {string(m[1])}}
	resp, err = c.Post(base+"/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	for _, k := range jar.cookies {
		if k.Name == "tma_session" && k.Value != "" {
			return k
		}
	}
	b.Fatalf("login: %s", resp.Status)
	return nil
}

// cookieJar keeps every cookie, whatever the URL: one server.
type cookieJar struct {
	mu      sync.Mutex
	cookies []*http.Cookie
}

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		j.cookies = slices.DeleteFunc(j.cookies, func(x *http.Cookie) bool { return x.Name == c.Name })
		j.cookies = append(j.cookies, c)
	}
}

func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.cookies)
}

func benchGet(b *testing.B, base string, cookie *http.Cookie) []byte {
	body, _ := benchGetHeader(b, base, cookie)
	return body
}

// benchGetHeader is benchGet with the response header.
func benchGetHeader(b *testing.B, base string, cookie *http.Cookie) ([]byte, http.Header) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET /: %s", resp.Status)
	}
	return body, resp.Header
}

// benchLoad sends GET / from benchConns keep-alive connections for
// benchSample and returns the requests per second and the 99th percentile
// latency in milliseconds.
func benchLoad(b *testing.B, base string, cookie *http.Cookie) (rps, p99ms float64) {
	tr := &http.Transport{MaxIdleConnsPerHost: benchConns, MaxConnsPerHost: benchConns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	lat := make([][]time.Duration, benchConns)
	errs := make([]error, benchConns)
	stop := time.Now().Add(benchSample)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range benchConns {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
			req.AddCookie(cookie)
			for time.Now().Before(stop) {
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs[i] = err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs[i] = fmt.Errorf("GET %s/: %s", base, resp.Status)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		b.Fatal("no requests completed")
	}
	p99 := all[min(len(all)-1, len(all)*99/100)]
	return float64(len(all)) / elapsed.Seconds(), float64(p99) / float64(time.Millisecond)
}
