package objects

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Bucket lookups: how requests name the bucket.
const (
	// LookupDNS names the bucket in the host: https://bucket.host/key
	// (virtual-hosted style; Aliyun OSS and Tencent COS require it).
	LookupDNS = "dns"
	// LookupPath names it in the path: https://host/bucket/key (MinIO).
	LookupPath = "path"
	// LookupAuto lets minio-go choose: virtual-hosted for Amazon, Aliyun
	// and Google hosts, path otherwise. It is the lookup when the URL
	// names none.
	LookupAuto = "auto"
)

// Settings are the parts of an object store URL.
type Settings struct {
	Endpoint  string // host[:port]
	Secure    bool   // https
	AccessKey string
	SecretKey string
	Bucket    string
	Prefix    string // "" or segments joined by '/', without a trailing '/'
	Region    string // "" to ask the server
	Lookup    string // LookupDNS, LookupPath or LookupAuto
}

// String is the URL without the secret key, for messages and logs.
func (s Settings) String() string {
	scheme := "http"
	if s.Secure {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, User: url.UserPassword(s.AccessKey, "REDACTED"), Host: s.Endpoint, Path: "/" + s.Bucket}
	if s.Prefix != "" {
		u.Path += "/" + s.Prefix
	}
	q := url.Values{}
	if s.Region != "" {
		q.Set("region", s.Region)
	}
	q.Set("lookup", s.Lookup)
	u.RawQuery = q.Encode()
	return u.String()
}

// ParseURL checks an object store URL (the package doc gives its form)
// without connecting, for configuration checks; its errors name the part
// that is wrong and never repeat the secret key.
//
//	https://ACCESS_KEY:SECRET_KEY@host[:port]/bucket[/prefix]?region=REGION&lookup=dns|path
//	http://ACCESS_KEY:SECRET_KEY@host[:port]/bucket[/prefix]?lookup=path
func ParseURL(rawURL string) (Settings, error) {
	var set Settings
	u, err := url.Parse(rawURL)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // url.Error repeats the URL, secret key and all
		}
		return set, fmt.Errorf("objects URL: %w", err)
	}
	switch u.Scheme {
	case "https":
		set.Secure = true
	case "http":
	default:
		return set, fmt.Errorf("objects URL: scheme %q: want https, or http for a server on a private network", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return set, errors.New("objects URL: host: missing (https://ACCESS_KEY:SECRET_KEY@host/bucket)")
	}
	set.Endpoint = u.Host
	if u.Port() == "" && strings.HasSuffix(u.Host, ":") {
		return set, errors.New("objects URL: host: empty port")
	}
	if u.User == nil || u.User.Username() == "" {
		return set, errors.New("objects URL: credentials: missing ACCESS_KEY:SECRET_KEY@ before the host")
	}
	set.AccessKey = u.User.Username()
	secret, ok := u.User.Password()
	if !ok || secret == "" {
		return set, errors.New("objects URL: credentials: secret key missing (ACCESS_KEY:SECRET_KEY@)")
	}
	set.SecretKey = secret
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if bucket == "" {
		return set, errors.New("objects URL: bucket: missing (the path's first segment)")
	}
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return set, fmt.Errorf("objects URL: bucket %q: %w", bucket, err)
	}
	set.Bucket = bucket
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		for seg := range strings.SplitSeq(prefix, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\\") {
				return set, fmt.Errorf("objects URL: prefix %q: empty, \".\", \"..\" or backslash segment", prefix)
			}
		}
	}
	set.Prefix = prefix
	if u.Fragment != "" {
		return set, errors.New("objects URL: fragment: not allowed")
	}
	query := u.Query()
	set.Lookup = LookupAuto
	for name, values := range query {
		if len(values) != 1 {
			return set, fmt.Errorf("objects URL: parameter %q: given %d times", name, len(values))
		}
		switch v := values[0]; name {
		case "region":
			if v == "" {
				return set, errors.New("objects URL: region: empty")
			}
			set.Region = v
		case "lookup":
			if v != LookupDNS && v != LookupPath && v != LookupAuto {
				return set, fmt.Errorf("objects URL: lookup %q: want dns or path", v)
			}
			set.Lookup = v
		default:
			return set, fmt.Errorf("objects URL: parameter %q: unknown (region and lookup are)", name)
		}
	}
	return set, nil
}
