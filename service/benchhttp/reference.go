package benchhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/changzhi/redpoint/service/server"
)

// Answer is one of the server's answers as it went out: what the
// reference must send back byte for byte.
type Answer struct {
	Status int
	Header http.Header // without Date, Content-Length and the framing headers
	Body   []byte
}

// Capture is what the server answered for one path: its 200, and its 304
// to a matching If-None-Match when the 200 carried an ETag.
type Capture struct {
	Path        string // the request URI, query included
	OK          Answer
	NotModified *Answer
}

// Reference serves the captured answers and nothing else, as cheaply as
// net/http allows: the floor a redpoint read is measured against. A
// matching If-None-Match is answered 304, as the server does.
func Reference(captures []Capture) http.Handler {
	byPath := make(map[string]Capture, len(captures))
	for _, c := range captures {
		byPath[c.Path] = c
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := byPath[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		a := c.OK
		if etag := a.Header.Get("ETag"); etag != "" && server.NoneMatch(r.Header.Values("If-None-Match"), etag) {
			a = Answer{Status: http.StatusNotModified, Header: http.Header{"Etag": {etag}}}
			if c.NotModified != nil {
				a = *c.NotModified
			}
		}
		h := w.Header()
		for k, v := range a.Header {
			h[k] = v
		}
		if a.Status != http.StatusNotModified {
			h["Content-Length"] = []string{strconv.Itoa(len(a.Body))} // not chunked: the bare way
		}
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
	})
}

// ServeReference serves the captures in the file at path (JSON, as the
// harness writes them) on addr until ctx ends. The harness runs it as a
// process of its own, pinned like the server.
func ServeReference(ctx context.Context, path, addr string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var captures []Capture
	if err := json.Unmarshal(b, &captures); err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: Reference(captures), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startReference writes the captures for the reference and starts it.
func startReference(ctx context.Context, cfg Config, tmp, addr string, reads []*read) (*child, error) {
	var captures []Capture
	for _, r := range reads {
		if r.answer.Status == http.StatusOK {
			captures = append(captures, Capture{Path: r.path, OK: r.answer})
		} else {
			captures[len(captures)-1].NotModified = &r.answer // the 304 follows its 200
		}
	}
	b, err := json.Marshal(captures)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(tmp, "captures.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return nil, err
	}
	ref, err := startPinned("0", filepath.Join(tmp, "reference.log"), cfg.Self, "reference", "--captures", file, "--addr", addr)
	if err != nil {
		return nil, err
	}
	if err := ref.waitFor(ctx, "http://"+addr+reads[0].path, time.Minute); err != nil {
		ref.stop()
		return nil, err
	}
	for _, r := range reads { // the same answers, or the ratios mean nothing
		got := &read{path: r.path, header: r.header}
		err := got.capture(ctx, "http://"+addr, r.answer.Status)
		if err == nil && !bytes.Equal(got.answer.Body, r.answer.Body) {
			err = fmt.Errorf("%d bytes, not %d", len(got.answer.Body), len(r.answer.Body))
		}
		if err != nil {
			ref.stop()
			return nil, fmt.Errorf("benchhttp: the reference does not answer %s as redpoint did: %w", r.name, err)
		}
	}
	return ref, nil
}
