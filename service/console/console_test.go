package console_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/changzhi/redpoint/service/console"
)

func serve(t *testing.T, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, console.Handler())
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

// Every answer, a file or a refusal, carries the headers that keep the
// console from being framed, sniffed or fed a script from elsewhere.
func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/console/", 200},
		{"GET", "/console/app.js", 200},
		{"GET", "/console/screens/overview.js", 200},
		{"GET", "/console/no-such-file.js", 404},
		{"POST", "/console/", 405},
	} {
		rec := serve(t, tc.method, tc.path, nil)
		if rec.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.status)
		}
		h := rec.Header()
		for name, want := range map[string]string{
			"Content-Security-Policy": console.SecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s %s: %s = %q, want %q", tc.method, tc.path, name, got, want)
			}
		}
	}
	for _, must := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(console.SecurityPolicy, must) {
			t.Errorf("the policy lacks %s", must)
		}
	}
	if strings.Contains(console.SecurityPolicy, "unsafe-") {
		t.Errorf("the policy allows something unsafe: %s", console.SecurityPolicy)
	}
}

// The files go out with their types (a module script must be JavaScript
// under nosniff), and an unchanged file is answered 304 by its ETag.
func TestFilesAreTypedAndRevalidated(t *testing.T) {
	for path, want := range map[string]string{
		"/console/":                             "text/html; charset=utf-8",
		"/console/app.js":                       "text/javascript; charset=utf-8",
		"/console/app.css":                      "text/css; charset=utf-8",
		"/console/favicon.svg":                  "image/svg+xml",
		"/console/vendor/echarts.common.min.js": "text/javascript; charset=utf-8",
	} {
		rec := serve(t, "GET", path, nil)
		if got := rec.Header().Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q, want %q", path, got, want)
		}
		tag := rec.Header().Get("ETag")
		if tag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s: ETag %q, Cache-Control %q: want a tag and no-cache", path, tag, rec.Header().Get("Cache-Control"))
		}
		again := serve(t, "GET", path, http.Header{"If-None-Match": {"W/" + tag}})
		if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("%s with If-None-Match: %d, %d bytes; want 304, none", path, again.Code, again.Body.Len())
		}
	}
}

// The page has no inline script or style for the policy to have to allow,
// and no script writes markup: every string from the API reaches the page
// as text (ui.js's h builds elements and text nodes).
func TestNoInlineScriptAndNoMarkupFromStrings(t *testing.T) {
	index, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(\s[^>]*)?>[^<]+</script>`), // inline script
		regexp.MustCompile(`<script(?:\s(?:[^s>]|s[^r>])*)?>`), // a script without src
		regexp.MustCompile(`\son[a-z]+\s*=`),                   // an inline handler
		regexp.MustCompile(`\sstyle\s*=`),                      // an inline style
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`https?://`), // another origin
	} {
		if m := bad.Find(index); m != nil {
			t.Errorf("index.html has %q", m)
		}
	}
	markup := regexp.MustCompile(`\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|\beval\(|new Function\(|setAttribute\(\s*'on`)
	err = filepath.WalkDir("static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") || strings.HasPrefix(path, filepath.Join("static", "vendor")) {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := markup.Find(src); m != nil {
			t.Errorf("%s writes markup: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// index.html preloads every module, so a cold load fetches them at once
// instead of one import level per round trip; a module added without its
// line here, or a line left for a module removed, fails.
func TestIndexPreloadsEveryModule(t *testing.T) {
	index, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	preloaded := map[string]bool{}
	for _, m := range regexp.MustCompile(`<link rel="modulepreload" href="([^"]+)">`).FindAllSubmatch(index, -1) {
		preloaded[string(m[1])] = true
	}
	err = filepath.WalkDir("static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") {
			return err
		}
		name := filepath.ToSlash(strings.TrimPrefix(path, "static"+string(filepath.Separator)))
		if name == "app.js" || strings.HasPrefix(name, "vendor/") {
			return nil
		}
		if !preloaded[name] {
			t.Errorf("index.html does not preload %s", name)
		}
		delete(preloaded, name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range preloaded {
		t.Errorf("index.html preloads %s, which is not a module", name)
	}
}
